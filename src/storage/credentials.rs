//! Admin credentials: the store only ever sees a token's SHA-256.

use sqlx::any::AnyRow;
use sqlx::Row as _;
use uuid::Uuid;

use super::{Result, Store, WriteTx};

/// One credential as listed: never its hash.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: String,
    pub label: String,
    pub scope: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, label, scope, created_at, revoked_at";

fn row(r: &AnyRow) -> Result<CredentialRow> {
    Ok(CredentialRow {
        id: r.try_get("id")?,
        label: r.try_get("label")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl WriteTx<'_> {
    /// Stores a new credential's hash; its id.
    pub async fn insert_admin_token(
        &mut self,
        sha256_hex: &str,
        label: &str,
        scope: &str,
        at: i64,
    ) -> Result<String> {
        let id = Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO admin_tokens (id, token_sha256, label, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(sha256_hex)
            .bind(label)
            .bind(scope)
            .bind(at)
            .execute(self.conn())
            .await?;
        Ok(id)
    }

    pub async fn admin_credential(&mut self, id: &str) -> Result<Option<CredentialRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM admin_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// Credentials in force with every right (the ones that can manage the rest).
    /// On PostgreSQL they are locked first, so two revocations at once cannot both
    /// see another one left (SQLite has one writer already).
    pub async fn full_admin_credentials(&mut self) -> Result<i64> {
        if self.backend == crate::config::Backend::Postgres {
            sqlx::query(
                "SELECT id FROM admin_tokens WHERE scope = 'all' AND revoked_at IS NULL FOR UPDATE",
            )
            .execute(self.conn())
            .await?;
        }
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM admin_tokens WHERE scope = 'all' AND revoked_at IS NULL",
        )
        .fetch_one(self.conn())
        .await?)
    }

    pub async fn revoke_admin_token(&mut self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn admin_token_count(&self) -> Result<i64> {
        let mut c = self.read().await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(&mut *c)
            .await?)
    }

    /// The label and scope of the credential in force with this hash, if any.
    pub async fn admin_token(&self, sha256_hex: &str) -> Result<Option<(String, String)>> {
        let mut c = self.read().await?;
        let r = sqlx::query(
            "SELECT label, scope FROM admin_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(sha256_hex)
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| Ok((r.try_get("label")?, r.try_get("scope")?)))
            .transpose()
    }

    /// Every credential, newest first.
    pub async fn admin_credentials(&self) -> Result<Vec<CredentialRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM admin_tokens ORDER BY created_at DESC, id"
        ))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(row).collect()
    }
}

//! Signing keys and issued access tokens.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::batch::{AnyQuery, BulkRow, Sql};
use super::rows::{json, to_json, uuid};
use super::{Result, Store, WriteTx};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub sealed_private: Vec<u8>,
    pub kek_id: String,
    pub public_jwk: Value,
    pub active_from: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub jti: String,
    pub client_id: String,
    pub org_id: Uuid,
    pub pupil_id: Uuid,
    pub audience: String,
    pub purpose: String,
    pub scopes: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub(super) fn token_from(r: &AnyRow) -> Result<IssuedToken> {
    Ok(IssuedToken {
        jti: r.try_get("jti")?,
        client_id: r.try_get("client_id")?,
        org_id: uuid(r, "org_id")?,
        pupil_id: uuid(r, "pupil_id")?,
        audience: r.try_get("audience")?,
        purpose: r.try_get("purpose")?,
        scopes: json(r, "scopes")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl WriteTx<'_> {
    pub async fn insert_key(&mut self, k: &KeyRow, at: i64) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, alg, sealed_private, kek_id, public_jwk, created_at, active_from, retired_at) VALUES ($1, 'ES256', $2, $3, $4, $5, $6, $7)")
            .bind(&k.kid)
            .bind(k.sealed_private.clone())
            .bind(&k.kek_id)
            .bind(to_json(&k.public_jwk)?)
            .bind(at)
            .bind(k.active_from)
            .bind(k.retired_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn set_key_times(
        &mut self,
        kid: &str,
        active_from: i64,
        retired_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET active_from = $1, retired_at = $2 WHERE kid = $3")
            .bind(active_from)
            .bind(retired_at)
            .bind(kid)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn keys_in_tx(&mut self) -> Result<Vec<KeyRow>> {
        keys(self.conn()).await
    }
}

async fn keys(c: &mut sqlx::AnyConnection) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query("SELECT kid, sealed_private, kek_id, public_jwk, active_from, retired_at FROM signing_keys ORDER BY active_from, kid")
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.try_get("kid")?,
                sealed_private: r.try_get("sealed_private")?,
                kek_id: r.try_get("kek_id")?,
                public_jwk: json(r, "public_jwk")?,
                active_from: r.try_get("active_from")?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect()
}

impl Store {
    pub async fn keys(&self) -> Result<Vec<KeyRow>> {
        let mut c = self.read().await?;
        keys(&mut c).await
    }

    pub async fn token(&self, jti: &str) -> Result<IssuedToken> {
        let mut c = self.read().await?;
        token_from(
            &sqlx::query("SELECT * FROM issued_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_one(&mut *c)
                .await?,
        )
    }
}

impl WriteTx<'_> {
    pub async fn revoke_token(&mut self, jti: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE issued_tokens SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(jti)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl WriteTx<'_> {
    /// Several tokens, in as few statements as the shapes allow (`batch`).
    pub async fn insert_tokens_in_tx(&mut self, ts: &[&IssuedToken]) -> Result<()> {
        let rows = ts
            .iter()
            .map(|t| {
                Ok(TokenRow {
                    t,
                    org_id: t.org_id.to_string(),
                    pupil_id: t.pupil_id.to_string(),
                    scopes: to_json(&t.scopes)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.insert_rows("issued_tokens", TOKEN_COLUMNS, &rows, "")
            .await?;
        Ok(())
    }
}

struct TokenRow<'a> {
    t: &'a IssuedToken,
    org_id: String,
    pupil_id: String,
    scopes: String,
}

const TOKEN_COLUMNS: &[(&str, Sql)] = &[
    ("jti", Sql::Text),
    ("client_id", Sql::Text),
    ("org_id", Sql::Text),
    ("pupil_id", Sql::Text),
    ("audience", Sql::Text),
    ("purpose", Sql::Text),
    ("scopes", Sql::Text),
    ("issued_at", Sql::BigInt),
    ("expires_at", Sql::BigInt),
    ("revoked_at", Sql::BigInt),
];

impl BulkRow for TokenRow<'_> {
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(self.t.jti.as_str())
            .bind(self.t.client_id.as_str())
            .bind(self.org_id.as_str())
            .bind(self.pupil_id.as_str())
            .bind(self.t.audience.as_str())
            .bind(self.t.purpose.as_str())
            .bind(self.scopes.as_str())
            .bind(self.t.issued_at)
            .bind(self.t.expires_at)
            .bind(self.t.revoked_at)
    }
}

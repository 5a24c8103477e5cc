//! Admin credentials: the store only ever sees a token's SHA-256.

use super::{Result, Store, WriteTx};
use uuid::Uuid;

impl WriteTx<'_> {
    pub async fn insert_admin_token(
        &mut self,
        sha256_hex: &str,
        label: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO admin_tokens (id, token_sha256, label, created_at) VALUES ($1, $2, $3, $4)")
            .bind(Uuid::new_v4().to_string())
            .bind(sha256_hex)
            .bind(label)
            .bind(at)
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

    /// The label of the credential with this hash, if any.
    pub async fn admin_token_label(&self, sha256_hex: &str) -> Result<Option<String>> {
        let mut c = self.read().await?;
        Ok(
            sqlx::query_scalar("SELECT label FROM admin_tokens WHERE token_sha256 = $1")
                .bind(sha256_hex)
                .fetch_optional(&mut *c)
                .await?,
        )
    }
}

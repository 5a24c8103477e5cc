//! The catalogue, stored as versioned documents: every change is a new version.

use ring::digest;
use sqlx::Row;

use super::{Result, Store, StoreError, WriteTx};
use crate::domain::catalogue::Catalogue;

impl WriteTx<'_> {
    /// Stores `c` as the next version and returns its number.
    pub async fn insert_catalogue(&mut self, c: &Catalogue, at: i64) -> Result<i64> {
        let doc = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let hash = hex::encode(digest::digest(&digest::SHA256, doc.as_bytes()));
        let current: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM catalogue_versions")
                .fetch_one(self.conn())
                .await?;
        let version = current.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO catalogue_versions (version, document, content_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(doc)
            .bind(hash)
            .bind(at)
            .execute(self.conn())
            .await?;
        Ok(version)
    }
}

impl Store {
    /// The newest catalogue and its version, if any was ever stored.
    pub async fn catalogue(&self) -> Result<Option<(i64, Catalogue)>> {
        let mut c = self.read().await?;
        let row = sqlx::query(
            "SELECT version, document FROM catalogue_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *c)
        .await?;
        row.map(|r| {
            let doc: String = r.try_get("document")?;
            let cat = serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt(format!("catalogue: {e}")))?;
            Ok((r.try_get("version")?, cat))
        })
        .transpose()
    }
}

//! Staff roles for the compliance console, by keyed hash of the identity number.

use sqlx::Row as _;

use super::{Result, Store, WriteTx};

impl WriteTx<'_> {
    pub async fn grant_role(&mut self, lookup_hex: &str, role: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO staff_roles (lookup_hash, role, created_at) VALUES ($1, $2, $3) ON CONFLICT (lookup_hash, role) DO NOTHING",
        )
        .bind(lookup_hex)
        .bind(role)
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Every (lookup hash, role).
    pub async fn staff_roles(&self) -> Result<Vec<(String, String)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT lookup_hash, role FROM staff_roles")
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("lookup_hash")?, r.try_get("role")?)))
            .collect()
    }
}

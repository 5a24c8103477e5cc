//! Sessions of the pupil pages, keyed by the SHA-256 of the cookie value.

use sqlx::Row;

use super::{Result, Store};

/// A stored session: its JSON data and when it began and was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub data: String,
    pub created_at: i64,
    pub touched_at: i64,
}

impl Store {
    pub async fn insert_session(&self, id_hash: &str, data: &str, at: i64) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, data, created_at, touched_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(id_hash)
        .bind(data)
        .bind(at)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let mut c = self.read().await?;
        let row =
            sqlx::query("SELECT data, created_at, touched_at FROM web_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(&mut *c)
                .await?;
        row.map(|r| {
            Ok(SessionRow {
                data: r.try_get("data")?,
                created_at: r.try_get("created_at")?,
                touched_at: r.try_get("touched_at")?,
            })
        })
        .transpose()
    }

    /// Replaces the data only if it is still `expected`: a second request that
    /// raced this one (a double submit) finds the data changed and does nothing.
    pub async fn swap_session(
        &self,
        id_hash: &str,
        expected: &str,
        data: &str,
        at: i64,
    ) -> Result<bool> {
        let mut c = self.writer().await?;
        let done = sqlx::query(
            "UPDATE web_sessions SET data = $1, touched_at = $2 WHERE id_hash = $3 AND data = $4",
        )
        .bind(data)
        .bind(at)
        .bind(id_hash)
        .bind(expected)
        .execute(&mut *c)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Forgets sessions idle since before `idle_before` or begun before `begun_before`.
    pub async fn purge_sessions(&self, idle_before: i64, begun_before: i64) -> Result<u64> {
        let mut c = self.writer().await?;
        let done = sqlx::query("DELETE FROM web_sessions WHERE touched_at < $1 OR created_at < $2")
            .bind(idle_before)
            .bind(begun_before)
            .execute(&mut *c)
            .await?;
        Ok(done.rows_affected())
    }
}

//! Where the pages' sessions are kept: by the SHA-256 of the cookie, with their
//! data as JSON. The pages own the cookie and the data's shape; this owns storage.

use super::{Result, Services};

/// A stored session: its data and when it began and was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub data: String,
    pub created_at: i64,
    pub touched_at: i64,
}

impl Services {
    pub async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>> {
        Ok(self.store.session(id_hash).await?.map(|r| StoredSession {
            data: r.data,
            created_at: r.created_at,
            touched_at: r.touched_at,
        }))
    }

    pub async fn create_session(&self, id_hash: &str, data: &str) -> Result<()> {
        Ok(self.store.insert_session(id_hash, data, self.now()).await?)
    }

    /// Replaces the data only if it is still `expected`: of two racing requests
    /// (a double submit) only one changes it.
    pub async fn swap_session(&self, id_hash: &str, expected: &str, data: &str) -> Result<bool> {
        Ok(self
            .store
            .swap_session(id_hash, expected, data, self.now())
            .await?)
    }

    pub async fn end_session(&self, id_hash: &str) -> Result<()> {
        Ok(self.store.delete_session(id_hash).await?)
    }

    /// Forgets sessions idle longer than `idle_ms` or older than `absolute_ms`.
    pub async fn purge_sessions(&self, idle_ms: i64, absolute_ms: i64) -> Result<u64> {
        let now = self.now();
        Ok(self
            .store
            .purge_sessions(now - idle_ms, now - absolute_ms)
            .await?)
    }
}

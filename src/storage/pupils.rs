//! Pupils: a keyed hash and a sealed number, never the number itself.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::rows::uuid;
use super::{Result, Store, StoreError, WriteTx};
use crate::crypto::SealedPupil;

#[derive(Debug, Clone)]
pub struct PupilRow {
    pub id: Uuid,
    pub sealed_identity: Option<Vec<u8>>,
    pub wrapped_key: Option<Vec<u8>>,
    pub created_at: i64,
    pub erased_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<PupilRow> {
    Ok(PupilRow {
        id: uuid(row, "id")?,
        sealed_identity: row.try_get("sealed_identity")?,
        wrapped_key: row.try_get("wrapped_key")?,
        created_at: row.try_get("created_at")?,
        erased_at: row.try_get("erased_at")?,
    })
}

const COLS: &str = "id, sealed_identity, wrapped_key, created_at, erased_at";

impl WriteTx<'_> {
    pub async fn pupil_by_lookup_in_tx(&mut self, lookup: &[u8]) -> Result<Option<PupilRow>> {
        let q = format!("SELECT {COLS} FROM pupils WHERE lookup_hash = $1");
        sqlx::query(&q)
            .bind(lookup.to_vec())
            .fetch_optional(self.conn())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn pupil_in_tx(&mut self, id: Uuid) -> Result<Option<PupilRow>> {
        let q = format!("SELECT {COLS} FROM pupils WHERE id = $1");
        sqlx::query(&q)
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn insert_pupil(&mut self, id: Uuid, sealed: &SealedPupil, at: i64) -> Result<()> {
        sqlx::query("INSERT INTO pupils (id, lookup_hash, sealed_identity, wrapped_key, kek_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.to_string())
            .bind(sealed.lookup_hash.clone())
            .bind(sealed.sealed_identity.clone())
            .bind(sealed.wrapped_key.clone())
            .bind(&sealed.kek_id)
            .bind(at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Crypto-shredding: the data key and lookup hash go; the pseudonymous id stays.
    pub async fn erase_pupil(&mut self, id: Uuid, at: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE pupils SET lookup_hash = NULL, sealed_identity = NULL, wrapped_key = NULL, kek_id = NULL, erased_at = $1 \
             WHERE id = $2 AND erased_at IS NULL",
        )
        .bind(at)
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

impl Store {
    /// The pupil with this keyed hash, if enrolled and not erased: one probe of
    /// the unique index, nothing else read.
    pub async fn pupil_id_by_lookup(&self, lookup: &[u8]) -> Result<Option<Uuid>> {
        let mut c = self.read().await?;
        sqlx::query("SELECT id FROM pupils WHERE lookup_hash = $1")
            .bind(lookup.to_vec())
            .fetch_optional(&mut *c)
            .await?
            .map(|r| uuid(&r, "id"))
            .transpose()
    }

    pub async fn pupil(&self, id: Uuid) -> Result<PupilRow> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM pupils WHERE id = $1");
        from_row(
            &sqlx::query(&q)
                .bind(id.to_string())
                .fetch_one(&mut *c)
                .await?,
        )
    }

    /// One pupil's lookup hash; `None` once erased.
    pub async fn lookup_of(&self, id: Uuid) -> Result<Option<Vec<u8>>> {
        let mut c = self.read().await?;
        Ok(
            sqlx::query_scalar("SELECT lookup_hash FROM pupils WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *c)
                .await?
                .flatten(),
        )
    }
}

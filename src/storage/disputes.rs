//! Pupils' disputes of lines on their access page.

use sqlx::any::AnyRow;
use sqlx::Row as _;
use uuid::Uuid;

use super::{Result, Store, StoreError, WriteTx};

#[derive(Debug, Clone)]
pub struct DisputeRow {
    pub id: Uuid,
    pub pupil: Uuid,
    pub entry_seq: i64,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub outcome: Option<String>,
}

const COLUMNS: &str = "id, pupil_id, entry_seq, opened_at, closed_at, outcome";

fn uuid(r: &AnyRow, col: &str) -> Result<Uuid> {
    let s: String = r.try_get(col)?;
    Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(format!("disputes.{col}")))
}

fn row(r: &AnyRow) -> Result<DisputeRow> {
    Ok(DisputeRow {
        id: uuid(r, "id")?,
        pupil: uuid(r, "pupil_id")?,
        entry_seq: r.try_get("entry_seq")?,
        opened_at: r.try_get("opened_at")?,
        closed_at: r.try_get("closed_at")?,
        outcome: r.try_get("outcome")?,
    })
}

impl WriteTx<'_> {
    /// The pupil's dispute of this entry: a new one (`true`), or the one there is
    /// (a second click, or two at once: the unique key keeps it one).
    pub async fn open_dispute(&mut self, pupil: Uuid, seq: i64, at: i64) -> Result<(Uuid, bool)> {
        let id = Uuid::new_v4();
        let made = sqlx::query(
            "INSERT INTO disputes (id, pupil_id, entry_seq, opened_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pupil_id, entry_seq) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(pupil.to_string())
        .bind(seq)
        .bind(at)
        .execute(self.conn())
        .await?;
        if made.rows_affected() == 1 {
            return Ok((id, true));
        }
        let found: String =
            sqlx::query_scalar("SELECT id FROM disputes WHERE pupil_id = $1 AND entry_seq = $2")
                .bind(pupil.to_string())
                .bind(seq)
                .fetch_one(self.conn())
                .await?;
        let id = Uuid::parse_str(&found).map_err(|_| StoreError::Corrupt("disputes.id".into()))?;
        Ok((id, false))
    }

    pub async fn dispute(&mut self, id: Uuid) -> Result<Option<DisputeRow>> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM disputes WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// Closes an open dispute; `false` if it was closed already.
    pub async fn close_dispute(&mut self, id: Uuid, outcome: &str, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE disputes SET closed_at = $1, outcome = $2 WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(at)
        .bind(outcome)
        .bind(id.to_string())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// A pupil's disputes, newest first.
    pub async fn disputes_of(&self, pupil: Uuid) -> Result<Vec<DisputeRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM disputes WHERE pupil_id = $1 ORDER BY opened_at DESC"
        ))
        .bind(pupil.to_string())
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Open disputes, oldest first, then those closed since `closed_since`.
    pub async fn disputes_to_review(&self, closed_since: i64) -> Result<Vec<DisputeRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM disputes WHERE closed_at IS NULL OR closed_at >= $1 \
             ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, opened_at LIMIT 500"
        ))
        .bind(closed_since)
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(row).collect()
    }
}

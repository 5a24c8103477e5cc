//! Withdrawal notices and their delivery state.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::rows::{json, to_json, uuid};
use super::tokens::IssuedToken;
use super::{Result, Store, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: Uuid,
    pub client_id: String,
    pub pupil_id: Uuid,
    pub consent_id: Uuid,
    pub scopes: Vec<String>,
    /// `withdrawn`, `superseded` or `erased`.
    pub reason: String,
    pub set_jwt: String,
    pub webhook_url: Option<String>,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub gave_up_at: Option<i64>,
}

fn from_row(r: &AnyRow) -> Result<Notice> {
    Ok(Notice {
        id: uuid(r, "id")?,
        client_id: r.try_get("client_id")?,
        pupil_id: uuid(r, "pupil_id")?,
        consent_id: uuid(r, "consent_id")?,
        scopes: json(r, "scopes")?,
        reason: r.try_get("reason")?,
        set_jwt: r.try_get("set_jwt")?,
        webhook_url: r.try_get("webhook_url")?,
        created_at: r.try_get("created_at")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        gave_up_at: r.try_get("gave_up_at")?,
    })
}

impl Store {
    /// Notices whose next attempt is due, oldest first.
    pub async fn due_notices(&self, now: i64, limit: i64) -> Result<Vec<Notice>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT * FROM withdrawal_notices WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2")
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Takes one attempt: only the instance whose update lands sends it.
    pub async fn claim_notice(&self, id: Uuid, seen_next: i64, lease_until: i64) -> Result<bool> {
        let mut c = self.writer().await?;
        let done = sqlx::query("UPDATE withdrawal_notices SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3")
            .bind(lease_until)
            .bind(id.to_string())
            .bind(seen_next)
            .execute(&mut *c)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn notice_delivered(&self, id: Uuid, at: i64) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query("UPDATE withdrawal_notices SET attempts = attempts + 1, acknowledged_at = $1, next_attempt_at = NULL, last_error = NULL WHERE id = $2")
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Records a failed attempt; `next` is `None` when delivery gives up.
    pub async fn notice_failed(
        &self,
        id: Uuid,
        error: &str,
        next: Option<i64>,
        at: i64,
    ) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query("UPDATE withdrawal_notices SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, gave_up_at = $3 WHERE id = $4")
            .bind(error)
            .bind(next)
            .bind(next.is_none().then_some(at))
            .bind(id.to_string())
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    pub async fn notices(&self, unacknowledged_only: bool) -> Result<Vec<Notice>> {
        let mut c = self.read().await?;
        let q = if unacknowledged_only {
            "SELECT * FROM withdrawal_notices WHERE acknowledged_at IS NULL ORDER BY created_at DESC, id"
        } else {
            "SELECT * FROM withdrawal_notices ORDER BY created_at DESC, id"
        };
        let rows = sqlx::query(q).fetch_all(&mut *c).await?;
        rows.iter().map(from_row).collect()
    }
}

impl WriteTx<'_> {
    pub async fn insert_notice(&mut self, n: &Notice) -> Result<()> {
        sqlx::query(
            "INSERT INTO withdrawal_notices (id, client_id, pupil_id, consent_id, scopes, reason, set_jwt, webhook_url, created_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)",
        )
        .bind(n.id.to_string())
        .bind(&n.client_id)
        .bind(n.pupil_id.to_string())
        .bind(n.consent_id.to_string())
        .bind(to_json(&n.scopes)?)
        .bind(&n.reason)
        .bind(&n.set_jwt)
        .bind(n.webhook_url.clone())
        .bind(n.created_at)
        .bind(n.next_attempt_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Every token issued about a pupil, to find who must hear of a withdrawal.
    pub async fn tokens_of_pupil_in_tx(&mut self, pupil: Uuid) -> Result<Vec<IssuedToken>> {
        let rows =
            sqlx::query("SELECT * FROM issued_tokens WHERE pupil_id = $1 ORDER BY issued_at")
                .bind(pupil.to_string())
                .fetch_all(self.conn())
                .await?;
        rows.iter().map(super::tokens::token_from).collect()
    }
}

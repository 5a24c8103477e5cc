//! The audit events the authorization server appends.

use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::rows::uuid;
use super::{Result, Store, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: i64,
    /// `token`, `introspection` or `revocation`.
    pub kind: String,
    /// `client:<id>` when the client was authenticated, else `unauthenticated`.
    pub actor: String,
    pub pupil_id: Option<Uuid>,
    /// `issued`, `refused`, `active`, `inactive`, `revoked`.
    pub outcome: String,
    /// The OAuth error or the reason, never anything from the pupil's data.
    pub reason: String,
    /// Scopes asked and granted, the token's jti: no identity number.
    pub detail: String,
    pub request_id: Option<String>,
}

impl Store {
    /// Appends the event (and its chain entry) in a transaction of its own.
    pub async fn append_audit(&self, e: &AuditEvent) -> Result<()> {
        let mut tx = self.write().await?;
        tx.append_audit_in_tx(e).await?;
        tx.commit().await
    }

    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT * FROM audit_events ORDER BY at DESC, id LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: uuid(r, "id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    pupil_id: r
                        .try_get::<Option<String>, _>("pupil_id")?
                        .and_then(|p| Uuid::parse_str(&p).ok()),
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect()
    }
}

async fn append_audit_on(c: &mut sqlx::AnyConnection, e: &AuditEvent) -> Result<()> {
    sqlx::query("INSERT INTO audit_events (id, at, kind, actor, pupil_id, outcome, reason, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(e.id.to_string())
            .bind(e.at)
            .bind(&e.kind)
            .bind(&e.actor)
            .bind(e.pupil_id.map(|p| p.to_string()))
            .bind(&e.outcome)
            .bind(&e.reason)
            .bind(&e.detail)
            .bind(e.request_id.clone())
            .execute(&mut *c)
            .await?;
    Ok(())
}

impl WriteTx {
    pub async fn append_audit_in_tx(&mut self, e: &AuditEvent) -> Result<()> {
        append_audit_on(self.conn(), e).await?;
        self.chain(&[super::chain::event_entry(e)]).await
    }

    /// Several events in one statement.
    pub async fn append_audits_in_tx(&mut self, es: &[AuditEvent]) -> Result<()> {
        self.append_audit_rows(es).await?;
        let entries: Vec<_> = es.iter().map(super::chain::event_entry).collect();
        self.chain(&entries).await
    }

    /// The rows alone: the caller puts their entries in the chain.
    pub async fn append_audit_rows(&mut self, es: &[AuditEvent]) -> Result<()> {
        for chunk in super::batch::chunked(es, self.row_at_a_time(), 500) {
            let sql = format!(
                "INSERT INTO audit_events (id, at, kind, actor, pupil_id, outcome, reason, detail, request_id) VALUES {}",
                super::batch::placeholders(chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.id.to_string())
                    .bind(e.at)
                    .bind(e.kind.clone())
                    .bind(e.actor.clone())
                    .bind(e.pupil_id.map(|p| p.to_string()))
                    .bind(e.outcome.clone())
                    .bind(e.reason.clone())
                    .bind(e.detail.clone())
                    .bind(e.request_id.clone());
            }
            q.execute(self.conn()).await?;
        }
        Ok(())
    }
}

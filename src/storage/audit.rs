//! The audit events the authorization server appends.

use serde::Serialize;
use uuid::Uuid;

use super::{Result, Store, StoreError, WriteTx};

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

/// The kinds of entry `AuditEvent`s are kept as.
const EVENT_KINDS: &str = "'token', 'introspection', 'revocation', 'login'";

impl Store {
    /// Appends the event to the audit log in a transaction of its own.
    pub async fn append_audit(&self, e: &AuditEvent) -> Result<()> {
        let mut tx = self.write().await?;
        tx.append_audits_in_tx(std::slice::from_ref(e)).await?;
        tx.commit().await
    }

    /// The newest `limit` events, newest first, as the audit log keeps them.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>> {
        let mut c = self.read().await?;
        let bodies: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT body FROM audit_log WHERE kind IN ({EVENT_KINDS}) ORDER BY seq DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        super::chain::entries(&bodies)?
            .iter()
            .map(|e| {
                super::chain::event_of(e)
                    .ok_or_else(|| StoreError::Corrupt("audit_log event".into()))
            })
            .collect()
    }
}

impl WriteTx<'_> {
    /// Events are kept in the audit log alone: one chain entry each.
    pub async fn append_audits_in_tx(&mut self, es: &[AuditEvent]) -> Result<()> {
        let entries: Vec<_> = es.iter().map(super::chain::event_entry).collect();
        self.chain(&entries).await
    }
}

//! The hash-chained audit log (see `crate::audit`): appends inside the writing
//! transaction, reads for verification and export, signed checkpoints.

use serde_json::json;
use sqlx::Row as _;

use super::batch::{AnyQuery, BulkRow, Sql};
use super::{Result, Store, WriteTx};
use crate::audit::{self, Checkpoint, Entry, Row};
use crate::config::Backend;

/// An entry made ready to be appended by the request that records it: its
/// searchable columns (copied out of the entry) and its canonical body up to its
/// position (`audit::body_head`). The appending writer adds only the position and
/// the hash, so the work of many requests does not queue behind one writer.
#[derive(Debug, Clone)]
pub struct ReadyEntry {
    at: i64,
    kind: String,
    actor: String,
    pupil_id: Option<String>,
    org_id: Option<String>,
    category: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    head: String,
}

impl From<&Entry> for ReadyEntry {
    fn from(e: &Entry) -> Self {
        let text = |k: &str| e.detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let outcome = text("outcome").or_else(|| {
            e.detail
                .get("allowed")
                .and_then(serde_json::Value::as_bool)
                .map(|a| if a { "allowed" } else { "denied" }.to_owned())
        });
        Self {
            at: e.at,
            kind: e.kind.clone(),
            actor: e.actor.clone(),
            pupil_id: e.pupil.map(|p| p.to_string()),
            org_id: text("org"),
            category: text("category"),
            outcome,
            reason: text("reason"),
            head: audit::body_head(e),
        }
    }
}

/// An `audit_log` row: a ready entry at its position, with its body and hash.
struct LogRow<'a> {
    entry: &'a ReadyEntry,
    seq: i64,
    body: String,
    hash: String,
}

const LOG_COLUMNS: &[(&str, Sql)] = &[
    ("seq", Sql::BigInt),
    ("at", Sql::BigInt),
    ("kind", Sql::Text),
    ("actor", Sql::Text),
    ("pupil_id", Sql::Text),
    ("org_id", Sql::Text),
    ("category", Sql::Text),
    ("outcome", Sql::Text),
    ("reason", Sql::Text),
    ("body", Sql::Text),
    ("hash", Sql::Text),
];

impl BulkRow for LogRow<'_> {
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        let e = self.entry;
        q.bind(self.seq)
            .bind(e.at)
            .bind(e.kind.as_str())
            .bind(e.actor.as_str())
            .bind(e.pupil_id.as_deref())
            .bind(e.org_id.as_deref())
            .bind(e.category.as_deref())
            .bind(e.outcome.as_deref())
            .bind(e.reason.as_deref())
            .bind(self.body.as_str())
            .bind(self.hash.as_str())
    }
}

impl WriteTx<'_> {
    /// Appends `entries` after the current head, in this transaction: they become
    /// part of the chain exactly when (and only if) the rest of it commits. On
    /// PostgreSQL the head row is locked, so instances append one after another.
    pub async fn chain(&mut self, entries: &[Entry]) -> Result<()> {
        let ready: Vec<ReadyEntry> = entries.iter().map(ReadyEntry::from).collect();
        self.chain_ready(&ready.iter().collect::<Vec<_>>()).await
    }

    /// `chain` for entries made ready beforehand.
    pub async fn chain_ready(&mut self, entries: &[&ReadyEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let (mut seq, mut prev): (i64, String) = sqlx::query_as(&format!(
            "SELECT seq, hash FROM audit_head WHERE id = 1{lock}"
        ))
        .fetch_one(self.conn())
        .await?;
        let mut rows = Vec::with_capacity(entries.len());
        for &entry in entries {
            seq += 1;
            let body = audit::body_at(&entry.head, seq);
            let hash = audit::link(&prev, &body);
            prev = hash.clone();
            rows.push(LogRow {
                entry,
                seq,
                body,
                hash,
            });
        }
        self.insert_rows("audit_log", LOG_COLUMNS, &rows, "")
            .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(prev)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// One operator action, in the chain with the change it records.
    pub async fn chain_admin(
        &mut self,
        at: i64,
        what: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.chain(&[Entry::new(
            at,
            &format!("admin.{what}"),
            "operator",
            None,
            detail,
        )])
        .await
    }
}

impl Store {
    /// Appends entries in a transaction of their own.
    pub async fn append_chain(&self, entries: &[&ReadyEntry]) -> Result<()> {
        let mut tx = self.write().await?;
        tx.chain_ready(entries).await?;
        tx.commit().await
    }

    /// Up to `limit` entries after position `after`, in order.
    pub async fn chain_rows(&self, after: i64, limit: i64) -> Result<Vec<Row>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT seq, body, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Row {
                    seq: r.try_get("seq")?,
                    body: r.try_get("body")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The recorded end of the chain: its size and head hash.
    pub async fn chain_head(&self) -> Result<(i64, String)> {
        let mut c = self.read().await?;
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *c)
                .await?,
        )
    }

    /// The hash of entry `seq` (0: the genesis hash).
    pub async fn chain_hash_at(&self, seq: i64) -> Result<Option<String>> {
        if seq == 0 {
            return Ok(Some(audit::GENESIS.to_owned()));
        }
        let mut c = self.read().await?;
        Ok(
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&mut *c)
                .await?,
        )
    }

    /// A pupil's entries of the given kinds, newest first, as the log keeps them.
    pub async fn chain_of_pupil(
        &self,
        pupil: uuid::Uuid,
        kinds: &[&str],
        limit: i64,
    ) -> Result<Vec<Entry>> {
        let mut c = self.read().await?;
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT body FROM audit_log WHERE pupil_id = $1 AND kind IN ({}) ORDER BY seq DESC LIMIT $2",
            marks.join(", ")
        );
        let mut q = sqlx::query_scalar(&sql).bind(pupil.to_string()).bind(limit);
        for k in kinds {
            q = q.bind(*k);
        }
        let bodies: Vec<String> = q.fetch_all(&mut *c).await?;
        entries(&bodies)
    }

    pub async fn insert_checkpoint(&self, cp: &Checkpoint, jws: &str) -> Result<()> {
        let mut c = self.writer().await?;
        sqlx::query("INSERT INTO audit_checkpoints (size, head, at, jws) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(cp.size)
            .bind(cp.head.clone())
            .bind(cp.at)
            .bind(jws)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Every checkpoint with its JWS, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<(Checkpoint, String)>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT size, head, at, jws FROM audit_checkpoints ORDER BY size")
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Checkpoint {
                        size: r.try_get("size")?,
                        head: r.try_get("head")?,
                        at: r.try_get("at")?,
                    },
                    r.try_get("jws")?,
                ))
            })
            .collect()
    }
}

/// Stored bodies read back as entries.
pub(super) fn entries(bodies: &[String]) -> Result<Vec<Entry>> {
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str(b).map_err(|_| super::StoreError::Corrupt("audit_log.body".into()))
        })
        .collect()
}

/// An entry for a decision, as the log keeps it.
pub fn decision_entry(d: &super::DecisionRow) -> Entry {
    let mut detail = json!({
        "decision": d.id, "org": d.org_id, "category": d.category, "action": d.action,
        "purpose": d.purpose, "allowed": d.allowed, "reason": d.reason,
        "baseline_rule": d.baseline_rule, "consent": d.consent_id,
    });
    if let Some(h) = d.holder_id {
        detail["holder"] = json!(h);
    }
    Entry {
        at: d.at,
        kind: "decision".into(),
        actor: d.caller.clone(),
        pupil: d.pupil_id,
        detail,
        request_id: d.request_id.clone(),
    }
}

/// The decision an entry of kind `decision` records.
pub fn decision_of(e: &Entry) -> Option<super::DecisionRow> {
    #[derive(serde::Deserialize)]
    struct Detail {
        decision: uuid::Uuid,
        org: uuid::Uuid,
        category: String,
        action: String,
        purpose: String,
        allowed: bool,
        reason: String,
        baseline_rule: Option<String>,
        consent: Option<uuid::Uuid>,
        #[serde(default)]
        holder: Option<uuid::Uuid>,
    }
    let d: Detail = serde_json::from_value(e.detail.clone()).ok()?;
    (e.kind == "decision").then(|| super::DecisionRow {
        id: d.decision,
        at: e.at,
        caller: e.actor.clone(),
        org_id: d.org,
        pupil_id: e.pupil,
        category: d.category,
        action: d.action,
        purpose: d.purpose,
        allowed: d.allowed,
        reason: d.reason,
        baseline_rule: d.baseline_rule,
        consent_id: d.consent,
        holder_id: d.holder,
        request_id: e.request_id.clone(),
    })
}

/// An entry for an authorization-server or login event.
pub fn event_entry(e: &super::AuditEvent) -> Entry {
    Entry {
        at: e.at,
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        pupil: e.pupil_id,
        detail: json!({ "event": e.id, "outcome": e.outcome, "reason": e.reason, "detail": e.detail }),
        request_id: e.request_id.clone(),
    }
}

/// The event an entry made by `event_entry` records.
pub fn event_of(e: &Entry) -> Option<super::AuditEvent> {
    #[derive(serde::Deserialize)]
    struct Detail {
        event: uuid::Uuid,
        outcome: String,
        reason: String,
        detail: String,
    }
    let d: Detail = serde_json::from_value(e.detail.clone()).ok()?;
    Some(super::AuditEvent {
        id: d.event,
        at: e.at,
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        pupil_id: e.pupil,
        outcome: d.outcome,
        reason: d.reason,
        detail: d.detail,
        request_id: e.request_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AuditEvent, DecisionRow};

    #[test]
    fn decisions_and_events_read_back_from_their_entries() {
        let d = DecisionRow {
            id: uuid::Uuid::new_v4(),
            at: 7,
            caller: "client:c".into(),
            org_id: uuid::Uuid::new_v4(),
            pupil_id: Some(uuid::Uuid::new_v4()),
            category: "grades".into(),
            action: "read".into(),
            purpose: "follow_up".into(),
            allowed: false,
            reason: "not_granted".into(),
            baseline_rule: Some("r1".into()),
            consent_id: None,
            holder_id: Some(uuid::Uuid::new_v4()),
            request_id: Some("req".into()),
        };
        assert_eq!(decision_of(&decision_entry(&d)), Some(d.clone()));
        let e = AuditEvent {
            id: uuid::Uuid::new_v4(),
            at: 9,
            kind: "token".into(),
            actor: "client:c".into(),
            pupil_id: None,
            outcome: "refused".into(),
            reason: "invalid_scope".into(),
            detail: "scopes=x".into(),
            request_id: None,
        };
        assert_eq!(event_of(&event_entry(&e)), Some(e.clone()));
        assert_eq!(decision_of(&event_entry(&e)), None);
    }
}

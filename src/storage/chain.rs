//! The hash-chained audit log (see `crate::audit`): appends inside the writing
//! transaction, reads for verification and export, signed checkpoints.

use serde_json::json;
use sqlx::Row as _;

use super::{Result, Store, WriteTx};
use crate::audit::{self, Checkpoint, Entry, Row};
use crate::config::Backend;

impl WriteTx {
    /// Appends `entries` after the current head, in this transaction: they become
    /// part of the chain exactly when (and only if) the rest of it commits. On
    /// PostgreSQL the head row is locked, so instances append one after another.
    pub async fn chain(&mut self, entries: &[Entry]) -> Result<()> {
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
        for e in entries {
            seq += 1;
            let body = audit::body(seq, e);
            let hash = audit::link(&prev, &body);
            prev = hash.clone();
            rows.push((seq, e, body, hash));
        }
        for chunk in super::batch::chunked(&rows, self.row_at_a_time(), 500) {
            let sql = format!(
                "INSERT INTO audit_log (seq, at, kind, actor, pupil_id, org_id, category, outcome, reason, body, hash) VALUES {}",
                super::batch::placeholders(chunk.len(), 11)
            );
            let mut q = sqlx::query(&sql);
            for (seq, e, body, hash) in chunk {
                let text = |k: &str| e.detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let outcome = text("outcome").or_else(|| {
                    e.detail
                        .get("allowed")
                        .and_then(serde_json::Value::as_bool)
                        .map(|a| if a { "allowed" } else { "denied" }.to_owned())
                });
                q = q
                    .bind(*seq)
                    .bind(e.at)
                    .bind(e.kind.clone())
                    .bind(e.actor.clone())
                    .bind(e.pupil.map(|p| p.to_string()))
                    .bind(text("org"))
                    .bind(text("category"))
                    .bind(outcome)
                    .bind(text("reason"))
                    .bind(body.clone())
                    .bind(hash.clone());
            }
            q.execute(self.conn()).await?;
        }
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
    pub async fn append_chain(&self, entries: &[Entry]) -> Result<()> {
        let mut tx = self.write().await?;
        tx.chain(entries).await?;
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

    /// A pupil's entries of one kind, newest first, as the log keeps them.
    pub async fn chain_of_pupil(
        &self,
        pupil: uuid::Uuid,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<Entry>> {
        let mut c = self.read().await?;
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM audit_log WHERE pupil_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(pupil.to_string())
        .bind(kind)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b)
                    .map_err(|_| super::StoreError::Corrupt("audit_log.body".into()))
            })
            .collect()
    }

    pub async fn insert_checkpoint(&self, cp: &Checkpoint, jws: &str) -> Result<()> {
        let mut c = self.read().await?;
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

/// An entry for a decision, as the log keeps it.
pub fn decision_entry(d: &super::DecisionRow) -> Entry {
    Entry {
        at: d.at,
        kind: "decision".into(),
        actor: d.caller.clone(),
        pupil: d.pupil_id,
        detail: json!({
            "decision": d.id, "org": d.org_id, "category": d.category, "action": d.action,
            "purpose": d.purpose, "allowed": d.allowed, "reason": d.reason,
            "baseline_rule": d.baseline_rule, "consent": d.consent_id,
        }),
        request_id: d.request_id.clone(),
    }
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

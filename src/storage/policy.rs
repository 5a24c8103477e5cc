//! Decisions, runtime policy rules, assertion replay protection, and the
//! cross-instance change notifications.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;
use uuid::Uuid;

use super::rows::uuid;
use super::{Result, Store, StoreError, WriteTx};
use crate::config::Backend;
use crate::domain::consent::Consent;
use crate::policy::baseline::{Effect, Rule};

/// The PostgreSQL channel instances tell each other about changes on.
pub const CHANNEL: &str = "samtykke_changes";

/// One recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DecisionRow {
    pub id: Uuid,
    pub at: i64,
    /// Who asked: `client:<id>`, `admin:<label>` or `cli`.
    pub caller: String,
    pub org_id: Uuid,
    pub pupil_id: Option<Uuid>,
    pub category: String,
    pub action: String,
    pub purpose: String,
    pub allowed: bool,
    pub reason: String,
    pub baseline_rule: Option<String>,
    pub consent_id: Option<Uuid>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredRule {
    pub id: Uuid,
    #[serde(flatten)]
    pub rule: Rule,
    pub created_by: String,
    pub created_at: i64,
}

fn decision_from(r: &AnyRow) -> Result<DecisionRow> {
    let opt = |col: &str| -> Result<Option<Uuid>> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(col.into())))
            .transpose()
    };
    Ok(DecisionRow {
        id: uuid(r, "id")?,
        at: r.try_get("at")?,
        caller: r.try_get("caller")?,
        org_id: uuid(r, "org_id")?,
        pupil_id: opt("pupil_id")?,
        category: r.try_get("category")?,
        action: r.try_get("action")?,
        purpose: r.try_get("purpose")?,
        allowed: r.try_get::<i64, _>("allowed")? != 0,
        reason: r.try_get("reason")?,
        baseline_rule: r.try_get("baseline_rule")?,
        consent_id: opt("consent_id")?,
        request_id: r.try_get("request_id")?,
    })
}

impl WriteTx {
    pub async fn insert_rule(&mut self, r: &StoredRule) -> Result<()> {
        sqlx::query("INSERT INTO policy_rules (id, org_type, category, action, purpose, effect, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(r.id.to_string())
            .bind(&r.rule.org_type)
            .bind(&r.rule.category)
            .bind(&r.rule.action)
            .bind(&r.rule.purpose)
            .bind(match r.rule.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            })
            .bind(&r.created_by)
            .bind(r.created_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn delete_rule(&mut self, id: Uuid) -> Result<()> {
        let done = sqlx::query("DELETE FROM policy_rules WHERE id = $1")
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Tells the other instances, at commit, that something changed (PostgreSQL).
    pub async fn notify(&mut self, backend: Backend, payload: &str) -> Result<()> {
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Records a decision (and its chain entry) in a transaction of its own.
    pub async fn insert_decision(&self, d: &DecisionRow) -> Result<()> {
        let mut tx = self.write().await?;
        tx.insert_decisions_in_tx(std::slice::from_ref(d)).await?;
        tx.commit().await
    }

    /// A pupil's decisions, newest first.
    pub async fn decisions_of_pupil(&self, pupil: Uuid, limit: i64) -> Result<Vec<DecisionRow>> {
        let mut c = self.read().await?;
        let rows = sqlx::query(
            "SELECT * FROM decisions WHERE pupil_id = $1 ORDER BY at DESC, id LIMIT $2",
        )
        .bind(pupil.to_string())
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(decision_from).collect()
    }

    pub async fn decision_count(&self) -> Result<i64> {
        let mut c = self.read().await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM decisions")
            .fetch_one(&mut *c)
            .await?)
    }

    pub async fn policy_rules(&self) -> Result<Vec<StoredRule>> {
        let mut c = self.read().await?;
        let rows = sqlx::query("SELECT id, org_type, category, action, purpose, effect, created_by, created_at FROM policy_rules ORDER BY created_at, id")
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| {
                let effect: String = r.try_get("effect")?;
                Ok(StoredRule {
                    id: uuid(r, "id")?,
                    rule: Rule {
                        org_type: r.try_get("org_type")?,
                        category: r.try_get("category")?,
                        action: r.try_get("action")?,
                        purpose: r.try_get("purpose")?,
                        effect: if effect == "deny" {
                            Effect::Deny
                        } else {
                            Effect::Allow
                        },
                    },
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Records a client assertion's jti; `Conflict` if it was used before.
    pub async fn use_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> Result<()> {
        let mut c = self.read().await?;
        use_jti_on(&mut c, client_id, jti, expires_at).await
    }

    /// Forgets assertion ids that expired more than a minute ago.
    pub async fn purge_jtis(&self, now: i64) -> Result<u64> {
        let mut c = self.read().await?;
        let done = sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1")
            .bind(now - 60_000)
            .execute(&mut *c)
            .await?;
        Ok(done.rows_affected())
    }

    /// Every consent, grouped by pupil, for the decision index.
    pub async fn all_consents(&self) -> Result<HashMap<Uuid, Vec<Consent>>> {
        let mut out: HashMap<Uuid, Vec<Consent>> = HashMap::new();
        for c in self.consents_batch().await? {
            out.entry(c.pupil_id).or_default().push(c);
        }
        Ok(out)
    }
}

async fn use_jti_on(
    c: &mut sqlx::AnyConnection,
    client_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)")
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(c)
        .await?;
    Ok(())
}

impl WriteTx {
    pub async fn use_jti_in_tx(
        &mut self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<()> {
        use_jti_on(self.conn(), client_id, jti, expires_at).await
    }
}

impl WriteTx {
    /// Several decisions in one statement.
    pub async fn insert_decisions_in_tx(&mut self, ds: &[DecisionRow]) -> Result<()> {
        self.insert_decision_rows(ds).await?;
        let entries: Vec<_> = ds.iter().map(super::chain::decision_entry).collect();
        self.chain(&entries).await
    }

    /// The rows alone: the caller puts their entries in the chain.
    pub async fn insert_decision_rows(&mut self, ds: &[DecisionRow]) -> Result<()> {
        for chunk in super::batch::chunked(ds, self.row_at_a_time(), 1000) {
            insert_decisions_on(self.conn(), chunk).await?;
        }
        Ok(())
    }
}

/// Decisions in one statement (one row or many).
async fn insert_decisions_on(c: &mut sqlx::AnyConnection, ds: &[DecisionRow]) -> Result<()> {
    if ds.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..ds.len())
        .map(|r| {
            let p: Vec<String> = (1..=13).map(|c| format!("${}", r * 13 + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO decisions (id, at, caller, org_id, pupil_id, category, action, purpose, allowed, reason, baseline_rule, consent_id, request_id) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for d in ds {
        q = q
            .bind(d.id.to_string())
            .bind(d.at)
            .bind(d.caller.clone())
            .bind(d.org_id.to_string())
            .bind(d.pupil_id.map(|u| u.to_string()))
            .bind(d.category.clone())
            .bind(d.action.clone())
            .bind(d.purpose.clone())
            .bind(i64::from(d.allowed))
            .bind(d.reason.clone())
            .bind(d.baseline_rule.clone())
            .bind(d.consent_id.map(|u| u.to_string()))
            .bind(d.request_id.clone());
    }
    q.execute(c).await?;
    Ok(())
}

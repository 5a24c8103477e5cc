//! Decisions, runtime policy rules, assertion replay protection, and the
//! cross-instance change notifications.

use sqlx::Row;
use uuid::Uuid;

use super::rows::uuid;
use super::{Result, Store, StoreError, WriteTx};
use crate::config::Backend;
use crate::policy::baseline::{Effect, Rule};

/// The PostgreSQL channel instances tell each other about changes on.
pub const CHANNEL: &str = "samtykke_changes";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub id: Uuid,
    pub rule: Rule,
    pub created_by: String,
    pub created_at: i64,
}

impl WriteTx<'_> {
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
        let mut c = self.writer().await?;
        sqlx::query("INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)")
            .bind(client_id)
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Forgets assertion ids that expired more than a minute ago.
    pub async fn purge_jtis(&self, now: i64) -> Result<u64> {
        let mut c = self.writer().await?;
        let done = sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1")
            .bind(now - 60_000)
            .execute(&mut *c)
            .await?;
        Ok(done.rows_affected())
    }
}

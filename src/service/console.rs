//! What the compliance console asks of the service: staff roles (casbin), the last
//! verification of the chain, statistics with small-cell suppression, alerts.

use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ChainReport, Result, ServiceError, Services};
use crate::domain::consent::ConsentState;
use crate::domain::identity::IdentityNumber;
use crate::domain::statistics::{suppress, Published};
use crate::policy::console::ROLES;
use crate::storage::LogColumn;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone, Serialize)]
pub struct SchoolStatistics {
    pub school: String,
    pub org_types: Vec<String>,
    pub categories: Vec<String>,
    /// Pupils with a grant in force, by organisation type (rows) and category.
    pub grants: Published,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statistics {
    pub year: i32,
    pub schools: Vec<String>,
    /// Per school: pupils with a consent in force, and pupils who withdrew.
    pub overview: Published,
    pub per_school: Vec<SchoolStatistics>,
}

/// Something unusual in the log, for the console's front page.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `alert_pupils` or `alert_denials`: which text describes it.
    pub kind: &'static str,
    pub who: String,
    pub count: i64,
    pub usual: i64,
}

fn year_of(ms: i64) -> i32 {
    OffsetDateTime::from_unix_timestamp(ms / 1000).map_or(0, |t| t.year())
}

impl Services {
    /// The console subject of a staff member: the keyed hash of their number.
    pub fn staff_subject(&self, n: &IdentityNumber) -> String {
        format!("staff:{}", hex::encode(self.vault.lookup_hash(n)))
    }

    pub async fn grant_role(&self, n: &IdentityNumber, role: &str) -> Result<()> {
        if !ROLES.contains(&role) {
            return Err(ServiceError::invalid(
                "role",
                format!("one of {}", ROLES.join(", ")),
            ));
        }
        let subject = self.staff_subject(n);
        let hash = subject.trim_start_matches("staff:");
        let mut tx = self.store.write().await?;
        tx.grant_role(hash, role, self.now()).await?;
        tx.chain_admin(
            self.now(),
            "staff",
            json!({ "action": "role granted", "role": role }),
        )
        .await?;
        tx.notify(self.store.backend(), "console").await?;
        tx.commit().await?;
        self.reload_console().await
    }

    /// Loads the staff's role assignments into the console's casbin enforcer.
    pub async fn reload_console(&self) -> Result<()> {
        let assignments = self
            .store
            .staff_roles()
            .await?
            .into_iter()
            .map(|(h, r)| (format!("staff:{h}"), r))
            .collect();
        self.console
            .load(assignments)
            .await
            .map_err(|e| ServiceError::invalid("console policy", e))
    }

    pub fn console_allows(&self, subject: &str, obj: &str, act: &str) -> bool {
        self.console.allows(subject, obj, act)
    }

    /// Verifies the whole chain and keeps the result for the console.
    pub async fn verify_and_remember(&self) -> Result<ChainReport> {
        let report = self.verify_chain().await?;
        if let Ok(mut slot) = self.last_verification.write() {
            *slot = Some((self.now(), report.clone()));
        }
        Ok(report)
    }

    pub fn last_verification(&self) -> Option<(i64, ChainReport)> {
        self.last_verification.read().ok().and_then(|s| s.clone())
    }

    /// Consents signed in `year`, per school, with every count under 5 hidden.
    pub async fn statistics(&self, year: i32) -> Result<Statistics> {
        let now = self.now();
        let consents: Vec<_> = self
            .store
            .consents_batch()
            .await?
            .into_iter()
            .filter(|c| year_of(c.signed_at) == year)
            .collect();
        let networks = self.store.networks().await?;
        let orgs: HashMap<Uuid, _> = self
            .store
            .orgs()
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut schools = Vec::new();
        let mut overview = Vec::new();
        let mut per_school = Vec::new();
        for n in &networks {
            let mine: Vec<_> = consents.iter().filter(|c| c.network_id == n.id).collect();
            let active: BTreeSet<Uuid> = mine
                .iter()
                .filter(|c| c.state(now) == ConsentState::Active)
                .map(|c| c.pupil_id)
                .collect();
            let withdrew: BTreeSet<Uuid> = mine
                .iter()
                .filter(|c| c.grants.iter().any(|g| g.withdrawn_at.is_some()))
                .map(|c| c.pupil_id)
                .collect();
            schools.push(n.name.clone());
            overview.push(vec![active.len() as u64, withdrew.len() as u64]);
            // (org type, category) → pupils with a grant in force.
            let mut cells: BTreeMap<(String, String), BTreeSet<Uuid>> = BTreeMap::new();
            for c in mine.iter().filter(|c| c.state(now) == ConsentState::Active) {
                for g in c.grants_in_force() {
                    let Some(org) = orgs.get(&g.org_id) else {
                        continue;
                    };
                    cells
                        .entry((
                            org.org_type.as_str().to_owned(),
                            g.category.as_str().to_owned(),
                        ))
                        .or_default()
                        .insert(c.pupil_id);
                }
            }
            let org_types: Vec<String> = cells
                .keys()
                .map(|k| k.0.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let categories: Vec<String> = cells
                .keys()
                .map(|k| k.1.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let counts: Vec<Vec<u64>> = org_types
                .iter()
                .map(|t| {
                    categories
                        .iter()
                        .map(|c| {
                            cells
                                .get(&(t.clone(), c.clone()))
                                .map_or(0, |s| s.len() as u64)
                        })
                        .collect()
                })
                .collect();
            per_school.push(SchoolStatistics {
                school: n.name.clone(),
                grants: suppress(&counts),
                org_types,
                categories,
            });
        }
        Ok(Statistics {
            year,
            schools,
            overview: suppress(&overview),
            per_school,
        })
    }

    /// A client touching far more pupils today than on an ordinary day of the last
    /// week; a burst of denials in the last hour.
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        let now = self.now();
        let today: HashMap<String, i64> = self
            .store
            .pupils_per_actor(now - DAY, now)
            .await?
            .into_iter()
            .collect();
        let week: HashMap<String, i64> = self
            .store
            .pupils_per_actor(now - 8 * DAY, now - DAY)
            .await?
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for (who, count) in today {
            let usual = week.get(&who).copied().unwrap_or(0) / 7;
            if count >= 10 && count > 3 * usual.max(1) {
                out.push(Alert {
                    kind: "alert_pupils",
                    who,
                    count,
                    usual,
                });
            }
        }
        let hour = self
            .store
            .log_counts_by("decision", LogColumn::Outcome, now - HOUR)
            .await?;
        let denied = hour
            .iter()
            .find(|(k, _)| k == "denied")
            .map_or(0, |(_, n)| *n);
        let all: i64 = hour.iter().map(|(_, n)| n).sum();
        if denied >= 20 && denied * 2 > all {
            out.push(Alert {
                kind: "alert_denials",
                who: String::new(),
                count: denied,
                usual: all,
            });
        }
        Ok(out)
    }
}

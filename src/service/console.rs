//! What the compliance console asks of the service: staff roles (casbin), the last
//! verification of the chain, statistics with small-cell suppression, alerts.

use futures_util::Stream;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ChainReport, Found as _, Result, ServiceError, Services};
use crate::audit::event::StaffAccess;
use crate::audit::event::KINDS;
use crate::audit::{Actor, Checkpoint, Entry, Event, Record};
use crate::domain::client::ClientId;
use crate::domain::consent::ConsentState;
use crate::domain::consent::{Consent, ConsentEvent};
use crate::domain::identity::IdentityNumber;
use crate::domain::statistics::{suppress, Published};
use crate::policy::console::ROLES;
use crate::storage::{Found, LogColumn, LogFilter};

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
    /// Per school, in the school year that begins in August of `year`: pupils
    /// followed up by a tutor, and of them those who gave a consent, said no,
    /// narrowed it and withdrew it (the pilot report's figures).
    pub follow_up: Published,
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

/// One school's follow-up figures for a school year: pupils followed up, and of
/// them those who gave a consent, said no, narrowed and withdrew.
fn follow_up_row(
    cases: &[crate::storage::CaseRow],
    consents: &[crate::domain::consent::Consent],
    network: Uuid,
    in_year: &dyn Fn(i64) -> bool,
    start: i64,
    end: i64,
) -> Vec<u64> {
    let followed: BTreeSet<Uuid> = cases
        .iter()
        .filter(|c| {
            c.network_id == network && c.added_at < end && c.ended_at.is_none_or(|e| e >= start)
        })
        .map(|c| c.pupil_id)
        .collect();
    let refused: BTreeSet<Uuid> = cases
        .iter()
        .filter(|c| c.network_id == network && c.refused_at.is_some_and(in_year))
        .map(|c| c.pupil_id)
        .collect();
    let mine: Vec<_> = consents
        .iter()
        .filter(|c| c.network_id == network && followed.contains(&c.pupil_id))
        .collect();
    let pupils = |keep: &dyn Fn(&crate::domain::consent::Consent) -> bool| -> u64 {
        mine.iter()
            .filter(|c| keep(c))
            .map(|c| c.pupil_id)
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    // A grant withdrawn while the consent went on narrowed it; one withdrawn as the
    // consent ended (not replaced by a newer one) withdrew it.
    let replaced = |c: &crate::domain::consent::Consent| {
        mine.iter().any(|n| {
            n.pupil_id == c.pupil_id && n.signed_at > c.signed_at && Some(n.signed_at) == c.ended_at
        })
    };
    let given = pupils(&|c| in_year(c.signed_at));
    let narrowed = pupils(&|c| {
        c.grants
            .iter()
            .filter_map(|g| g.withdrawn_at)
            .any(|w| in_year(w) && c.ended_at.is_none_or(|e| e > w))
    });
    // Ended with the follow-up: the tutor's doing, not the pupil's.
    let closed = |c: &crate::domain::consent::Consent| {
        cases.iter().any(|k| {
            k.pupil_id == c.pupil_id && k.network_id == network && k.ended_at == c.ended_at
        })
    };
    let withdrew = pupils(&|c| {
        c.ended_at
            .is_some_and(|e| in_year(e) && !replaced(c) && !closed(c))
            && c.grants.iter().any(|g| g.withdrawn_at == c.ended_at)
    });
    vec![
        followed.len() as u64,
        given,
        refused.len() as u64,
        narrowed,
        withdrew,
    ]
}

fn year_of(ms: i64) -> i32 {
    OffsetDateTime::from_unix_timestamp(ms / 1000).map_or(0, |t| t.year())
}

impl Services {
    /// The console subject of a staff member: the keyed hash of their number.
    pub fn staff_subject(&self, n: &IdentityNumber) -> String {
        format!("staff:{}", hex::encode(self.vault.lookup_hash(n)))
    }

    /// Gives a staff member a role; a tutor's is for a school network (`network`),
    /// and a tutor may be given several.
    pub async fn grant_role(
        &self,
        n: &IdentityNumber,
        role: &str,
        network: Option<(uuid::Uuid, &str)>,
        by: &Actor,
    ) -> Result<()> {
        if !ROLES.contains(&role) {
            return Err(ServiceError::invalid(
                "role",
                format!("one of {}", ROLES.join(", ")),
            ));
        }
        match (role, network) {
            ("tutor", None) => {
                return Err(ServiceError::invalid(
                    "network_id",
                    "a tutor works in a school network: name it",
                ))
            }
            ("tutor", Some((id, name))) => {
                self.store.network(id).await.found("network")?;
                super::tutor::words(name, "display_name", 60)?;
            }
            (_, Some(_)) => {
                return Err(ServiceError::invalid(
                    "network_id",
                    "only a tutor's role is for a network",
                ))
            }
            (_, None) => {}
        }
        let subject = self.staff_subject(n);
        let hash = subject.trim_start_matches("staff:");
        self.not_oneself(by, hash)?;
        let mut tx = self.store.write().await?;
        tx.grant_role(hash, role, self.now()).await?;
        if let Some((id, name)) = network {
            tx.add_tutor_network(hash, id, name.trim(), self.now())
                .await?;
        }
        tx.chain(&[self.operator(
            by,
            "staff",
            json!({ "action": "role granted", "role": role, "staff": subject,
                "network": network.map(|(id, _)| id), "display_name": network.map(|(_, n)| n) }),
        )])
        .await?;
        tx.notify(self.store.backend(), "console").await?;
        tx.commit().await?;
        self.reload_console().await
    }

    /// Every tutor, by console subject, with the names of the networks they work
    /// in (for the console's search by tutor).
    pub async fn tutors(&self) -> Result<Vec<(String, String)>> {
        let networks = self.store.networks().await?;
        let mut out: Vec<(String, String)> = Vec::new();
        for (hash, network) in self.store.tutors().await? {
            let name = networks
                .iter()
                .find(|n| n.id == network)
                .map_or_else(|| network.to_string(), |n| n.name.clone());
            let subject = format!("staff:{hash}");
            match out.iter_mut().find(|(s, _)| *s == subject) {
                Some((_, names)) => {
                    names.push_str(", ");
                    names.push_str(&name);
                }
                None => out.push((subject, name)),
            }
        }
        Ok(out)
    }

    /// No staff member changes their own roles (an administrator cannot make
    /// themselves a tutor and so reach pupils' data).
    fn not_oneself(&self, by: &Actor, hash: &str) -> Result<()> {
        match by {
            Actor::Staff(h) if h == hash => {
                Err(ServiceError::Forbidden("no one changes their own roles"))
            }
            _ => Ok(()),
        }
    }

    /// Takes a role away at once (a tutor's with all their networks): their next
    /// request is refused, on every instance.
    pub async fn revoke_role(&self, n: &IdentityNumber, role: &str, by: &Actor) -> Result<()> {
        let subject = self.staff_subject(n);
        let hash = subject.trim_start_matches("staff:");
        self.not_oneself(by, hash)?;
        let mut tx = self.store.write().await?;
        tx.revoke_role(hash, role).await.found("role")?;
        tx.chain(&[self.operator(
            by,
            "staff",
            json!({ "action": "role revoked", "role": role, "staff": subject }),
        )])
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
        let cases = self.store.all_cases().await?;
        let all_consents = self.store.consents_batch().await?;
        let year_start = time::Date::from_calendar_date(year, time::Month::August, 1)
            .map_or(0, |d| d.midnight().assume_utc().unix_timestamp() * 1000);
        let year_end = time::Date::from_calendar_date(year + 1, time::Month::August, 1)
            .map_or(0, |d| d.midnight().assume_utc().unix_timestamp() * 1000);
        let in_year = |at: i64| (year_start..year_end).contains(&at);
        let mut follow_up = Vec::new();
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
            follow_up.push(follow_up_row(
                &cases,
                &all_consents,
                n.id,
                &in_year,
                year_start,
                year_end,
            ));
            // (org type, category) → pupils with a grant in force.
            let mut cells: BTreeMap<(String, String), BTreeSet<Uuid>> = BTreeMap::new();
            for c in mine.iter().filter(|c| c.state(now) == ConsentState::Active) {
                for g in c.grants_in_force() {
                    // Cells by who is told: an organisation's type, or the tutor.
                    let to = match g.recipient.org_id() {
                        None => crate::domain::catalogue::TUTOR.to_owned(),
                        Some(id) => match orgs.get(&id) {
                            Some(org) => org.org_type.as_str().to_owned(),
                            None => continue,
                        },
                    };
                    cells
                        .entry((to, g.category.as_str().to_owned()))
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
            follow_up: suppress(&follow_up),
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

/// What to look for in the log; every field narrows the search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub pupil: Option<Uuid>,
    pub org: Option<Uuid>,
    /// `client:<id>`, or any other actor as the log writes it.
    pub actor: Option<String>,
    pub category: Option<String>,
    pub outcome: Option<String>,
    /// A kind, or `admin.*` for every operator change.
    pub kind: Option<String>,
    /// Milliseconds, inclusive.
    pub from: Option<i64>,
    /// Milliseconds, exclusive.
    pub to: Option<i64>,
}

impl LogQuery {
    fn filter(&self) -> LogFilter {
        LogFilter {
            pupil: self.pupil,
            org: self.org,
            actor: self.actor.clone(),
            category: self.category.clone(),
            outcome: self.outcome.clone(),
            kind: self.kind.clone(),
            from: self.from,
            to: self.to,
        }
    }

    /// The query in the console's own words, for the record of who searched.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let text = [
            ("org", self.org.map(|o| o.to_string())),
            ("actor", self.actor.clone()),
            ("category", self.category.clone()),
            ("outcome", self.outcome.clone()),
            ("kind", self.kind.clone()),
            ("from", self.from.map(|t| t.to_string())),
            ("to", self.to.map(|t| t.to_string())),
        ];
        for (k, v) in text {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(" ")
    }
}

/// One entry as found: its position, the entry as stored and what it records.
#[derive(Debug, Clone, PartialEq)]
pub struct LogItem {
    pub seq: i64,
    pub entry: Entry,
    /// `None` for an entry this release cannot read (shown raw).
    pub record: Option<Record>,
}

impl From<Found> for LogItem {
    fn from(f: Found) -> Self {
        Self {
            seq: f.seq,
            record: Record::parse(&f.entry).ok(),
            entry: f.entry,
        }
    }
}

/// The console's front page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub last_checkpoint: Option<Checkpoint>,
    pub verification: Option<(i64, ChainReport)>,
    /// Decisions per (day since the epoch, outcome) over the last two weeks.
    pub decisions_per_day: Vec<(i64, String, i64)>,
    /// Reasons for denial over the last 30 days.
    pub denial_reasons: Vec<(String, i64)>,
    /// Token requests over the last 30 days by the organisation that asked.
    pub tokens_by_org: Vec<(String, i64)>,
    pub alerts: Vec<Alert>,
}

/// Everything about one pupil: consents with their state and history, and every
/// entry of the log that names them (Art. 15).
#[derive(Debug, Clone)]
pub struct PupilReport {
    pub pupil: Uuid,
    pub consents: Vec<(Consent, ConsentState, Vec<ConsentEvent>)>,
    pub entries: Vec<LogItem>,
}

/// The outcomes an entry can record, for the console's filter.
pub const OUTCOMES: &[&str] = &[
    "allowed",
    "denied",
    "issued",
    "refused",
    "succeeded",
    "active",
    "inactive",
    "revoked",
];

/// At most this many entries in one export or report.
pub const EXPORT_MAX: i64 = 100_000;
/// Entries read at a time for a streamed export.
pub const EXPORT_PAGE: i64 = 1000;

impl Services {
    pub async fn console_overview(&self) -> Result<Overview> {
        let now = self.now();
        let decisions_per_day = self
            .store
            .log_counts_by_day("decision", now - 14 * DAY)
            .await?;
        let denial_reasons = self
            .store
            .log_counts_by("decision", LogColumn::Reason, now - 30 * DAY)
            .await?
            .into_iter()
            .filter(|(k, _)| k != "allowed")
            .collect();
        let by_actor = self
            .store
            .log_counts_by("token", LogColumn::Actor, now - 30 * DAY)
            .await?;
        let directory = self.directory().await?;
        let mut tokens_by_org: Vec<(String, i64)> = Vec::new();
        for (actor, n) in by_actor {
            let org = Actor::parse(&actor)
                .client()
                .and_then(|c| ClientId::parse(c).ok())
                .and_then(|id| directory.client(&id))
                .and_then(|c| directory.org(c.org_id))
                .map_or(actor, |o| o.name.clone());
            match tokens_by_org.iter_mut().find(|(o, _)| *o == org) {
                Some((_, total)) => *total += n,
                None => tokens_by_org.push((org, n)),
            }
        }
        Ok(Overview {
            last_checkpoint: self.store.checkpoints().await?.pop().map(|(c, _)| c),
            verification: self.last_verification(),
            decisions_per_day,
            denial_reasons,
            tokens_by_org,
            alerts: self.alerts().await?,
        })
    }

    /// A page of the log, newest first, and how many entries match. The search is
    /// itself recorded, with the pupil it was about.
    pub async fn search_log(
        &self,
        by: &Actor,
        q: &LogQuery,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LogItem>, i64)> {
        self.check_query(q).await?;
        self.record_access(by, q.pupil, "search", q.describe())
            .await?;
        let (found, total) = self.store.search_log(&q.filter(), offset, limit).await?;
        Ok((found.into_iter().map(LogItem::from).collect(), total))
    }

    /// Every matching entry, newest first, for a download; recorded before the
    /// first page is read. Pages of `EXPORT_PAGE` entries, read as the download
    /// is sent, so memory stays one page whatever the log's size.
    pub async fn export_log(
        self: &Arc<Self>,
        by: &Actor,
        q: &LogQuery,
    ) -> Result<impl Stream<Item = Result<Vec<LogItem>>> + Send + 'static> {
        self.check_query(q).await?;
        self.record_access(by, q.pupil, "export", q.describe())
            .await?;
        let services = self.clone();
        let filter = q.filter();
        Ok(futures_util::stream::unfold(
            Some(i64::MAX),
            move |before| {
                let services = services.clone();
                let filter = filter.clone();
                async move {
                    let page = match services
                        .store
                        .search_log_before(&filter, before?, EXPORT_PAGE)
                        .await
                    {
                        Ok(page) => page,
                        Err(e) => return Some((Err(e.into()), None)),
                    };
                    let last = page.last()?.seq;
                    let next = (page.len() as i64 == EXPORT_PAGE).then_some(last);
                    Some((Ok(page.into_iter().map(LogItem::from).collect()), next))
                }
            },
        ))
    }

    /// A pupil's access report; `None` if samtykke has nothing about them. Recorded.
    pub async fn pupil_report(&self, by: &Actor, pupil: Uuid) -> Result<Option<PupilReport>> {
        // Recorded before anything is read, found or not: a probe leaves a trace.
        self.record_access(by, Some(pupil), "report", String::new())
            .await?;
        let now = self.now();
        let mut consents = Vec::new();
        for c in self.store.consents_of_pupil(pupil).await? {
            let events = self.store.consent_events(c.id).await?;
            let state = c.state(now);
            consents.push((c, state, events));
        }
        let filter = LogFilter {
            pupil: Some(pupil),
            ..LogFilter::default()
        };
        let (found, _) = self.store.search_log(&filter, 0, EXPORT_MAX).await?;
        // Only staff looking (this look included) is not something samtykke has
        // about the pupil.
        if consents.is_empty() && found.iter().all(|f| f.entry.kind == "staff.access") {
            return Ok(None);
        }
        Ok(Some(PupilReport {
            pupil,
            consents,
            entries: found.into_iter().map(LogItem::from).collect(),
        }))
    }

    /// Only values samtykke knows go into a search, and so into the record of it:
    /// a crafted URL cannot write free text (an identity number, say) into the log.
    async fn check_query(&self, q: &LogQuery) -> Result<()> {
        let catalogue = self.catalogue();
        if let Some(c) = &q.category {
            if catalogue.categories.iter().all(|k| k.key.as_str() != c) {
                return Err(ServiceError::invalid("category", "unknown category"));
            }
        }
        if let Some(o) = &q.outcome {
            if !OUTCOMES.contains(&o.as_str()) {
                return Err(ServiceError::invalid("outcome", "unknown outcome"));
            }
        }
        if let Some(k) = &q.kind {
            if !KINDS.contains(&k.as_str()) {
                return Err(ServiceError::invalid("kind", "unknown kind"));
            }
        }
        if let Some(a) = &q.actor {
            let directory = self.directory().await?;
            let actor = Actor::parse(a);
            let client = actor
                .client()
                .and_then(|c| ClientId::parse(c).ok())
                .is_some_and(|id| directory.client(&id).is_some());
            // A staff member who acted (a tutor whose role is gone, too): only a
            // subject the chain already holds, never text from the URL.
            let tutor = match &actor {
                Actor::Staff(_) => self.store.actor_seen(a).await?,
                _ => false,
            };
            if !client && !tutor {
                return Err(ServiceError::invalid("client", "unknown client or tutor"));
            }
        }
        Ok(())
    }

    /// A staff member's look at the log, in the log before they see anything.
    pub(super) async fn record_access(
        &self,
        by: &Actor,
        pupil: Option<Uuid>,
        what: &str,
        filter: String,
    ) -> Result<()> {
        let event = Event::StaffAccess(StaffAccess {
            what: what.to_owned(),
            filter,
        });
        self.log(vec![
            Record::new(self.now(), by.clone(), pupil, event).entry()
        ])
        .await
    }
}

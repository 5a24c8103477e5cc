//! Synthetic data at scale, for benchmarks and capacity checks
//! (`samtykke demo generate --pupils N`): schools spread over municipalities, each
//! school a network with its own health service and its municipality's OT, PPT,
//! child welfare and NAV office; every pupil with a consent of 1-6 grants chosen
//! from what their network offers at their age, checked by the journey's own rules
//! (`check_choices`). Some grants were withdrawn, some consents ended or expired,
//! and below a category's age some grants wait for a guardian or were co-signed.
//!
//! Rows go through the same storage calls as a signature, many pupils to a
//! transaction, with their audit-chain entries appended once per transaction.
//! Identity numbers are synthetic (month + 80: never a real person). A running
//! server reads the new pupils when it first decides about them: it holds nothing
//! of a pupil before that.

use std::collections::HashSet;
use time::Date;
use uuid::Uuid;

use super::consents::{consent_record, event, new_grant};
use super::{NewNetwork, NewOrg, Result, ServiceError, Services};
use crate::audit::{Actor, Event, Record};
use crate::clock::{oslo_date, DAY};
use crate::domain::consent::{
    check_choices, Choice, ChoiceContext, Consent, EventKind, Evidence, Party,
};
use crate::domain::guardian::Cosign;
use crate::domain::identity::IdentityNumber;
use crate::domain::org::{Municipality, Network, Organisation};
use crate::domain::template::TemplateStatus;
use crate::domain::Slug;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    pub pupils: usize,
    /// Pupils per school (a network); about 600 in a Norwegian upper secondary.
    pub per_school: usize,
    /// The same seed gives the same choices and states (ids are random).
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Generated {
    pub schools: usize,
    pub municipalities: usize,
    pub pupils: usize,
    pub grants: usize,
    pub withdrawn_grants: usize,
    pub ended_consents: usize,
    pub expired_consents: usize,
    pub waiting_for_guardian: usize,
    pub co_signed: usize,
}

/// Pupils to a transaction: large enough that a commit is rare, small enough that
/// the memory of one batch stays a few megabytes.
const BATCH: usize = 2_000;
/// Fictional municipality numbers (no Norwegian municipality has one from 9000).
const FIRST_MUNICIPALITY: u32 = 9100;
const MUNICIPALITIES: usize = 899;
/// Organisation numbers from here on are the generator's (the demo uses 0-9).
const FIRST_ORG: u32 = 1_000;

/// splitmix64: small, deterministic, and enough for picking.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One school's network, its services and everything its pupils may choose.
struct School {
    network: Network,
    services: Vec<Organisation>,
    candidates: Vec<Choice>,
}

impl Services {
    /// Writes `spec.pupils` synthetic pupils with consents into the store, beside
    /// whatever is there; `progress` is told how many pupils are written so far.
    pub async fn generate(
        &self,
        spec: &GenerateSpec,
        mut progress: impl FnMut(usize),
    ) -> Result<Generated> {
        let by = &Actor::Cli;
        let template = self
            .templates()
            .await?
            .into_iter()
            .filter(|t| t.key == Slug::follow_up() && t.status == TemplateStatus::Published)
            .max_by_key(|t| t.version)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "template",
                    "no published follow_up agreement: start once with demo data, or publish one",
                )
            })?;
        let schools = self.generate_schools(spec, by).await?;
        let mut out = Generated {
            schools: schools.len(),
            municipalities: schools.len().min(MUNICIPALITIES),
            ..Generated::default()
        };
        let catalogue = self.catalogue();
        let purpose = Slug::follow_up();
        let now = self.now();
        let today = oslo_date(now);
        let mut rng = Rng(spec.seed);
        let mut numbers = SyntheticNumbers::new(today);
        // Numbers already enrolled (the demo's pupils, an earlier run) are skipped.
        let taken: HashSet<Vec<u8>> = self
            .store
            .lookups()
            .await?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        while out.pupils < spec.pupils {
            let n = BATCH.min(spec.pupils - out.pupils);
            let mut tx = self.store.write().await?;
            let mut chain = Vec::with_capacity(n * 3);
            for _ in 0..n {
                let identity = numbers
                    .find(|n| !taken.contains(&self.vault.lookup_hash(n)))
                    .ok_or_else(|| {
                        ServiceError::invalid("pupils", "more pupils than synthetic numbers")
                    })?;
                let school = &schools[rng.below(schools.len())];
                // Signed some time in the last school year; a twentieth long enough
                // ago to have expired.
                let signed_at = if rng.chance(5) {
                    now - self.consent_validity
                        - i64::try_from(1 + rng.below(60)).unwrap_or(1) * DAY
                } else {
                    now - i64::try_from(1 + rng.below(300)).unwrap_or(1) * DAY
                };
                // The age rules apply at signing, not today.
                let age = identity.age_on(oslo_date(signed_at));
                let ctx = ChoiceContext {
                    catalogue: &catalogue,
                    services: &school.services,
                    orgs: &school.services,
                    purpose: &purpose,
                    age,
                    born: identity.birth_date(),
                };
                let k = 1 + rng.below(6);
                let choices = pick(&mut rng, &school.candidates, k, |c| {
                    check_choices(&ctx, std::slice::from_ref(c)).is_ok()
                });
                let Ok(grants) = check_choices(&ctx, &choices) else {
                    continue;
                };
                let pupil_id = Uuid::new_v4();
                let sealed = self.vault.seal(pupil_id, &identity)?;
                tx.insert_pupil(pupil_id, &sealed, signed_at).await?;
                chain.push(Record::new(
                    signed_at,
                    by.clone(),
                    Some(pupil_id),
                    Event::PupilEnrolled,
                ));
                let mut consent = Consent {
                    id: Uuid::new_v4(),
                    pupil_id,
                    network_id: school.network.id,
                    template_id: template.id,
                    template_hash: template.content_hash.clone(),
                    purpose: purpose.clone(),
                    valid_from: signed_at,
                    expires_at: template
                        .terms
                        .period
                        .map_or(signed_at + self.consent_validity, |p| p.ends(signed_at)),
                    signed_at,
                    evidence: Evidence {
                        acr: "idporten-loa-substantial".into(),
                        amr: vec!["BankID".into()],
                        session_ref: format!("generated-{}", Uuid::new_v4().simple()),
                    },
                    age_at_signing: age,
                    home_municipality: None,
                    ended_at: None,
                    grants: grants
                        .into_iter()
                        .map(|g| new_grant(g, signed_at))
                        .collect(),
                };
                let expired = consent.expires_at <= now;
                for g in &mut consent.grants {
                    if let Some(part) = g.guardian.as_mut() {
                        // Most guardians answered; a few are still asked.
                        if rng.chance(70) {
                            part.state = Cosign::Signed;
                            out.co_signed += 1;
                        } else {
                            out.waiting_for_guardian += 1;
                        }
                    }
                }
                let signed = event(
                    consent.id,
                    EventKind::Signed,
                    signed_at,
                    &Actor::Pupil,
                    consent.grants.iter().map(|g| g.id).collect(),
                    vec![],
                    Some(consent.evidence.clone()),
                );
                // A withdrawal between signing and now (signed at least a day ago).
                let later = (signed_at + DAY).min(now - 1);
                let mut events = vec![signed];
                // Withdrew everything, or one grant of several.
                let withdrawn = if expired {
                    out.expired_consents += 1;
                    0
                } else if rng.chance(3) {
                    consent.ended_at = Some(later);
                    out.ended_consents += 1;
                    consent.grants.len()
                } else if consent.grants.len() > 1 && rng.chance(10) {
                    out.withdrawn_grants += 1;
                    1
                } else {
                    0
                };
                if withdrawn > 0 {
                    let ids = consent.grants[..withdrawn]
                        .iter_mut()
                        .map(|g| {
                            g.withdrawn_at = Some(later);
                            g.id
                        })
                        .collect();
                    events.push(event(
                        consent.id,
                        EventKind::Withdrawn,
                        later,
                        &Actor::Pupil,
                        vec![],
                        ids,
                        None,
                    ));
                }
                tx.insert_consent(&consent).await?;
                if expired {
                    let at = consent.expires_at;
                    tx.claim_expiry_in_tx(consent.id, at).await?;
                    events.push(event(
                        consent.id,
                        EventKind::Expired,
                        at,
                        &Actor::System,
                        vec![],
                        vec![],
                        None,
                    ));
                }
                for e in &events {
                    tx.append_event(e).await?;
                    chain.push(consent_record(pupil_id, e));
                }
                out.pupils += 1;
                out.grants += consent.grants.len();
            }
            let entries: Vec<_> = chain.iter().map(Record::entry).collect();
            tx.chain(&entries).await?;
            tx.commit().await?;
            progress(out.pupils);
        }
        Ok(out)
    }

    /// The schools, their municipalities' services and their networks.
    async fn generate_schools(&self, spec: &GenerateSpec, by: &Actor) -> Result<Vec<School>> {
        let count = spec.pupils.div_ceil(spec.per_school.max(1)).max(1);
        let first = FIRST_ORG + u32::try_from(self.orgs().await?.len()).unwrap_or(0) * 8;
        let mut next = first;
        let mut org = |name: String, kind: &str, m: &Municipality| {
            let n = next;
            next += 1;
            (name, kind.to_owned(), m.clone(), n)
        };
        let mut municipal: Vec<Vec<Uuid>> = Vec::new();
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let m_no = i % MUNICIPALITIES;
            let m = Municipality::parse(
                &(FIRST_MUNICIPALITY + u32::try_from(m_no).unwrap_or(0)).to_string(),
            )
            .map_err(|e| ServiceError::invalid("municipality", e))?;
            if municipal.len() <= m_no {
                let mut ids = Vec::new();
                for (name, kind) in [
                    ("Oppfølgingstjenesten", "ot"),
                    ("PPT", "ppt"),
                    ("Barnevernstjenesten", "child_welfare"),
                    ("NAV", "nav_office"),
                ] {
                    let spec = org(
                        format!("{name} i kommune {} ({first}, generert)", m.as_str()),
                        kind,
                        &m,
                    );
                    ids.push(self.add_generated_org(spec, by).await?);
                }
                municipal.push(ids);
            }
            let school = self
                .add_generated_org(
                    org(format!("Skole {first}-{i} (generert)"), "school", &m),
                    by,
                )
                .await?;
            let health = self
                .add_generated_org(
                    org(
                        format!("Skolehelsetjenesten ved skole {first}-{i} (generert)"),
                        "school_health",
                        &m,
                    ),
                    by,
                )
                .await?;
            let mut members = vec![health];
            members.extend(&municipal[m_no]);
            let network = self
                .add_network(
                    NewNetwork {
                        name: format!("Skole {first}-{i} (generert)"),
                        school_id: school,
                        member_ids: members,
                        controller: Some("Fylkeskommunen og NAV (generert)".into()),
                        dpo: Some("personvernombud@generert.example".into()),
                    },
                    by,
                )
                .await?;
            let services = self.services_of(&network, None).await?;
            // Everything an adult may choose; each pupil's age narrows it.
            let candidates = self
                .offer_at_age(&network, None, 30)
                .await?
                .into_iter()
                .flat_map(|o| {
                    let to = Party::org(o.org.id);
                    let obtain = o.obtain.into_iter().map({
                        let from = to.clone();
                        move |(c, _)| Choice::new(from.clone(), Party::Tutor, c.key)
                    });
                    let tell = o
                        .tell
                        .into_iter()
                        .map(move |(c, _)| Choice::tell(o.org.id, c.key));
                    let direct = o.direct.into_iter().flat_map(move |(from, cats)| {
                        let to = to.clone();
                        cats.into_iter()
                            .map(move |(c, _)| Choice::new(Party::org(from.id), to.clone(), c.key))
                    });
                    obtain.chain(tell).chain(direct).collect::<Vec<_>>()
                })
                .collect();
            out.push(School {
                network,
                services,
                candidates,
            });
        }
        Ok(out)
    }

    async fn add_generated_org(
        &self,
        (name, kind, m, n): (String, String, Municipality, u32),
        by: &Actor,
    ) -> Result<Uuid> {
        let org = self
            .add_org(
                NewOrg {
                    name,
                    number: crate::demo::org_number(n)?,
                    org_type: Slug::parse(&kind)
                        .map_err(|e| ServiceError::invalid("org_type", e))?,
                    municipality: Some(m),
                },
                by,
            )
            .await?;
        Ok(org.id)
    }
}

/// Up to `k` different candidates that `fits`, in random order.
fn pick(rng: &mut Rng, from: &[Choice], k: usize, fits: impl Fn(&Choice) -> bool) -> Vec<Choice> {
    let mut out: Vec<Choice> = Vec::with_capacity(k);
    for _ in 0..from.len() * 2 {
        if out.len() == k {
            break;
        }
        let c = &from[rng.below(from.len())];
        if !out.contains(c) && fits(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Distinct synthetic numbers of pupils aged 15 to 21, spread over birth dates.
struct SyntheticNumbers {
    first_birthday: Date,
    days: u16,
    day: u16,
    serial: u16,
    seen: HashSet<u64>,
}

impl SyntheticNumbers {
    fn new(today: Date) -> Self {
        let first_birthday = today
            .replace_year(today.year() - 22)
            .unwrap_or(today)
            .next_day()
            .unwrap_or(today);
        Self {
            first_birthday,
            days: 7 * 365,
            day: 0,
            serial: 0,
            seen: HashSet::new(),
        }
    }

    fn find(&mut self, mut fits: impl FnMut(&IdentityNumber) -> bool) -> Option<IdentityNumber> {
        std::iter::from_fn(|| self.next()).find(|n| fits(n))
    }

    fn next(&mut self) -> Option<IdentityNumber> {
        while self.serial < 500 {
            let birth = self.first_birthday + time::Duration::days(i64::from(self.day));
            let serial = self.serial;
            self.day += 1;
            if self.day == self.days {
                self.day = 0;
                self.serial += 1;
            }
            if let Some(n) = IdentityNumber::synthetic(birth, serial) {
                let key: u64 = n.expose_digits().parse().unwrap_or(0);
                if self.seen.insert(key) {
                    return Some(n);
                }
            }
        }
        None
    }
}

//! The decision table in `policies/tests/`: cases a compliance officer can read and
//! extend, run by `samtykke policy test` and by CI.
//!
//! Columns: `org_type, category, action, purpose, consent, age_at_signing, expected,
//! reason`. `consent` describes the pupil: `granted` (a consent in force naming this
//! organisation and category), `none` (no consent), `unknown_pupil`, `withdrawn`
//! (the whole consent), `grant_withdrawn`, `expired`, `pending`, `other_org` or
//! `other_category` (a consent in force that names something else). An optional
//! ninth column names the data holder the partner would get the data from: its
//! organisation type for one the consent names, `school@own` for the school the
//! consent was given at, `type@elsewhere` for neither; empty when no data holder is
//! named (an AuthZEN question).

use uuid::Uuid;

use super::baseline::BaselineTable;
use super::decide::{decide, Action, Holder, Question, Reason};
use super::index::{ConsentRecord, GrantRecord};
use crate::domain::catalogue::Catalogue;
use crate::domain::Slug;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub line: usize,
    pub org_type: Slug,
    pub category: Slug,
    pub action: Action,
    pub purpose: Slug,
    pub consent: String,
    pub age_at_signing: u8,
    pub expected: bool,
    pub reason: Option<String>,
    /// The data holder's type, and where it stands to the consent.
    pub holder: Option<(Slug, Placement)>,
}

/// Where a case's data holder stands to the pupil's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The consent names it (a grant in force to it).
    Named,
    /// The school of the consent's network.
    OwnSchool,
    /// Neither.
    Elsewhere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub case: Case,
    pub allowed: bool,
    pub reason: Reason,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.allowed == self.case.expected
            && self
                .case
                .reason
                .as_deref()
                .is_none_or(|r| r == self.reason.as_str())
    }
}

const CONSENTS: &[&str] = &[
    "granted",
    "none",
    "unknown_pupil",
    "withdrawn",
    "grant_withdrawn",
    "expired",
    "pending",
    "other_org",
    "other_category",
];

pub fn parse(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("org_type") {
            continue;
        }
        let err = |m: &str| format!("line {}: {m}", i + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 7 || f.len() > 9 {
            return Err(err("expected 7 to 9 columns"));
        }
        let slug = |v: &str, what: &str| {
            Slug::parse(v).map_err(|_| err(&format!("{what} {v:?} is not a key")))
        };
        if !CONSENTS.contains(&f[4]) {
            return Err(err(&format!(
                "consent {:?} is not one of {}",
                f[4],
                CONSENTS.join(", ")
            )));
        }
        cases.push(Case {
            line: i + 1,
            org_type: slug(f[0], "org_type")?,
            category: slug(f[1], "category")?,
            action: Action::parse(f[2]).ok_or_else(|| err("action is read or write"))?,
            holder: match f.get(8).filter(|h| !h.is_empty()) {
                None => None,
                Some(h) => Some(match h.split_once('@') {
                    None => (slug(h, "holder")?, Placement::Named),
                    Some((t, "own")) => (slug(t, "holder")?, Placement::OwnSchool),
                    Some((t, "elsewhere")) => (slug(t, "holder")?, Placement::Elsewhere),
                    Some(_) => return Err(err("holder is type, type@own or type@elsewhere")),
                }),
            },
            purpose: slug(f[3], "purpose")?,
            consent: f[4].to_owned(),
            age_at_signing: f[5]
                .parse()
                .map_err(|_| err("age_at_signing is a number"))?,
            expected: match f[6] {
                "allow" => true,
                "deny" => false,
                _ => return Err(err("expected is allow or deny")),
            },
            reason: f.get(7).filter(|r| !r.is_empty()).map(|r| (*r).to_owned()),
        });
    }
    Ok(cases)
}

const NOW: i64 = 1_000_000_000;
const NETWORK: Uuid = Uuid::from_u128(70);
const ELSEWHERE: Uuid = Uuid::from_u128(71);

const HOLDER: Uuid = Uuid::from_u128(2);

/// The pupil a case describes.
fn pupil(c: &Case, org: Uuid) -> Option<Vec<ConsentRecord>> {
    let grant = |org_id, category: &Slug, withdrawn_at| GrantRecord {
        org_id,
        category: category.clone(),
        withdrawn_at,
    };
    let record = |grants, valid_from, expires_at, ended_at| ConsentRecord {
        consent_id: Uuid::from_u128(7),
        network_id: NETWORK,
        purpose: Slug::follow_up(),
        valid_from,
        expires_at,
        ended_at,
        age_at_signing: c.age_at_signing,
        grants,
    };
    let other = Slug::parse("other_category").ok()?;
    // A data holder the consent names has a grant of its own in it.
    let named = matches!(c.holder, Some((_, Placement::Named)));
    let in_force = |mut grants: Vec<GrantRecord>| {
        if named {
            grants.push(grant(HOLDER, &other, None));
        }
        vec![record(grants, NOW - 10, NOW + 10, None)]
    };
    Some(match c.consent.as_str() {
        "unknown_pupil" => return None,
        "none" => vec![],
        "granted" => in_force(vec![grant(org, &c.category, None)]),
        "grant_withdrawn" => in_force(vec![grant(org, &c.category, Some(NOW - 1))]),
        "other_org" => in_force(vec![grant(Uuid::from_u128(99), &c.category, None)]),
        "other_category" => in_force(vec![grant(org, &other, None)]),
        "withdrawn" => vec![record(
            vec![grant(org, &c.category, Some(NOW - 1))],
            NOW - 10,
            NOW + 10,
            Some(NOW - 1),
        )],
        "expired" => vec![record(
            vec![grant(org, &c.category, None)],
            NOW - 10,
            NOW,
            None,
        )],
        _ => vec![record(
            vec![grant(org, &c.category, None)],
            NOW + 5,
            NOW + 10,
            None,
        )],
    })
}

/// Runs every case through the one decision function.
pub fn run(cases: &[Case], baseline: &BaselineTable, catalogue: &Catalogue) -> Vec<Outcome> {
    let org = Uuid::from_u128(1);
    cases
        .iter()
        .map(|c| {
            let consents = pupil(c, org);
            let holder = c.holder.as_ref().map(|(t, place)| Holder {
                org_id: HOLDER,
                org_type: t,
                school_of: if *place == Placement::OwnSchool {
                    std::slice::from_ref(&NETWORK)
                } else {
                    std::slice::from_ref(&ELSEWHERE)
                },
            });
            let q = Question {
                org_id: org,
                org_type: &c.org_type,
                category: &c.category,
                action: c.action,
                purpose: &c.purpose,
                holder,
            };
            let d = decide(baseline, catalogue, consents.as_deref(), &q, NOW);
            Outcome {
                case: c.clone(),
                allowed: d.allowed,
                reason: d.reason,
            }
        })
        .collect()
}

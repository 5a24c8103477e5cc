//! The decision table in `policies/tests/`: cases a compliance officer can read and
//! extend, run by `samtykke policy test` and by CI.
//!
//! Columns: `recipient, category, action, purpose, consent, age_at_grant, expected,
//! reason, discloser`.
//! - `recipient`: an organisation type, `type.role` for one role in it, or `tutor`.
//! - `consent` describes the pupil: `granted` (a consent in force with exactly this
//!   disclosure), `granted_whole_org` (to the recipient's whole organisation),
//!   `granted_other_role`, `granted_other_discloser` (the same recipient and
//!   category from someone else), `granted_later` (the grant was added at
//!   `age_at_grant` to a consent signed a year younger), `legacy` (a grant from before disclosures were
//!   modelled: the tutor tells the recipient), `none`, `unknown_pupil`, `withdrawn`
//!   (the whole consent), `grant_withdrawn`, `expired`, `pending`, `other_org` or
//!   `other_category` (a consent in force that names something else).
//! - `discloser` (optional) is who would tell: `tutor`, an organisation type, or for
//!   a legacy grant `type@own` (the school the consent was given at) or
//!   `type@named` (an organisation the consent names); empty when no discloser is
//!   named (an AuthZEN question).

use uuid::Uuid;

use super::baseline::BaselineTable;
use super::decide::{decide, Action, Discloser, Question, Reason, Subject};
use super::index::{ConsentRecord, GrantRecord};
use crate::domain::catalogue::{Catalogue, TUTOR};
use crate::domain::consent::Party;
use crate::domain::Slug;

/// A party of a case: an organisation type (and role), or the tutor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseParty {
    pub org_type: Slug,
    pub role: Option<Slug>,
    pub tutor: bool,
}

/// Where a case's discloser stands to a legacy consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// An organisation of its own (the grant's discloser, when `granted`).
    Plain,
    /// The school the consent was given at.
    OwnSchool,
    /// An organisation the consent names.
    Named,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub line: usize,
    pub recipient: CaseParty,
    pub category: Slug,
    pub action: Action,
    pub purpose: Slug,
    pub consent: String,
    pub age_at_grant: u8,
    pub expected: bool,
    pub reason: Option<String>,
    pub discloser: Option<(CaseParty, Placement)>,
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
    "granted_whole_org",
    "granted_other_role",
    "granted_other_discloser",
    "granted_later",
    "legacy",
    "none",
    "unknown_pupil",
    "withdrawn",
    "grant_withdrawn",
    "expired",
    "pending",
    "other_org",
    "other_category",
];

fn party(v: &str) -> Result<CaseParty, String> {
    let slug = |s: &str| Slug::parse(s).map_err(|_| format!("{s:?} is not a key"));
    if v == TUTOR {
        return Ok(CaseParty {
            org_type: slug(TUTOR)?,
            role: None,
            tutor: true,
        });
    }
    let (t, role) = match v.split_once('.') {
        Some((t, r)) => (t, Some(slug(r)?)),
        None => (v, None),
    };
    Ok(CaseParty {
        org_type: slug(t)?,
        role,
        tutor: false,
    })
}

pub fn parse(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("recipient") {
            continue;
        }
        let err = |m: &str| format!("line {}: {m}", i + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 7 || f.len() > 9 {
            return Err(err("expected 7 to 9 columns"));
        }
        if !CONSENTS.contains(&f[4]) {
            return Err(err(&format!(
                "consent {:?} is not one of {}",
                f[4],
                CONSENTS.join(", ")
            )));
        }
        let discloser = match f.get(8).filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => Some(match h.split_once('@') {
                None => (party(h).map_err(|e| err(&e))?, Placement::Plain),
                Some((t, "own")) => (party(t).map_err(|e| err(&e))?, Placement::OwnSchool),
                Some((t, "named")) => (party(t).map_err(|e| err(&e))?, Placement::Named),
                Some(_) => return Err(err("discloser is tutor, type, type@own or type@named")),
            }),
        };
        cases.push(Case {
            line: i + 1,
            recipient: party(f[0]).map_err(|e| err(&e))?,
            category: Slug::parse(f[1]).map_err(|_| err("category is not a key"))?,
            action: Action::parse(f[2]).ok_or_else(|| err("action is read or write"))?,
            purpose: Slug::parse(f[3]).map_err(|_| err("purpose is not a key"))?,
            consent: f[4].to_owned(),
            age_at_grant: f[5].parse().map_err(|_| err("age_at_grant is a number"))?,
            expected: match f[6] {
                "allow" => true,
                "deny" => false,
                _ => return Err(err("expected is allow or deny")),
            },
            reason: f.get(7).filter(|r| !r.is_empty()).map(|r| (*r).to_owned()),
            discloser,
        });
    }
    Ok(cases)
}

const NOW: i64 = 1_000_000_000;
const NETWORK: Uuid = Uuid::from_u128(70);
const ELSEWHERE: Uuid = Uuid::from_u128(71);
const RECIPIENT: Uuid = Uuid::from_u128(1);
const DISCLOSER: Uuid = Uuid::from_u128(2);
const SOMEONE_ELSE: Uuid = Uuid::from_u128(99);

fn as_party(p: &CaseParty, org: Uuid) -> Party {
    if p.tutor {
        Party::Tutor
    } else {
        Party::Org {
            org_id: org,
            role: p.role.clone(),
        }
    }
}

/// The pupil a case describes.
fn pupil(c: &Case) -> Option<Vec<ConsentRecord>> {
    let recipient = as_party(&c.recipient, RECIPIENT);
    let discloser = c
        .discloser
        .as_ref()
        .map_or(Party::Tutor, |(p, _)| as_party(p, DISCLOSER));
    let grant = |discloser: Party, recipient: Party, category: &Slug, withdrawn_at| GrantRecord {
        discloser,
        recipient,
        category: category.clone(),
        withdrawn_at,
        age_at_grant: c.age_at_grant,
        legacy: false,
        guardian: None,
    };
    let record = |grants, valid_from, expires_at, ended_at| ConsentRecord {
        consent_id: Uuid::from_u128(7),
        network_id: NETWORK,
        purpose: Slug::follow_up(),
        valid_from,
        expires_at,
        ended_at,
        age_at_signing: c.age_at_grant,
        grants,
    };
    let other = Slug::parse("other_category").ok()?;
    let exact = || grant(discloser.clone(), recipient.clone(), &c.category, None);
    let in_force = |mut grants: Vec<GrantRecord>| {
        // An organisation the consent names has a grant of its own in it.
        if matches!(c.discloser, Some((_, Placement::Named))) {
            grants.push(GrantRecord {
                legacy: c.consent == "legacy",
                ..grant(Party::Tutor, Party::org(DISCLOSER), &other, None)
            });
        }
        vec![record(grants, NOW - 10, NOW + 10, None)]
    };
    Some(match c.consent.as_str() {
        "unknown_pupil" => return None,
        "none" => vec![],
        "granted" => in_force(vec![exact()]),
        "granted_later" => {
            let mut r = in_force(vec![exact()]);
            r[0].age_at_signing = c.age_at_grant.saturating_sub(1);
            r
        }
        "granted_whole_org" => in_force(vec![grant(
            discloser.clone(),
            Party::org(RECIPIENT),
            &c.category,
            None,
        )]),
        "granted_other_role" => in_force(vec![grant(
            discloser.clone(),
            Party::Org {
                org_id: RECIPIENT,
                role: Slug::parse("some_other_role").ok(),
            },
            &c.category,
            None,
        )]),
        "granted_other_discloser" => in_force(vec![grant(
            Party::org(SOMEONE_ELSE),
            recipient.clone(),
            &c.category,
            None,
        )]),
        "legacy" => in_force(vec![GrantRecord {
            legacy: true,
            ..grant(Party::Tutor, recipient.clone(), &c.category, None)
        }]),
        "grant_withdrawn" => in_force(vec![GrantRecord {
            withdrawn_at: Some(NOW - 1),
            ..exact()
        }]),
        "other_org" => in_force(vec![grant(
            discloser.clone(),
            Party::org(SOMEONE_ELSE),
            &c.category,
            None,
        )]),
        "other_category" => in_force(vec![grant(
            discloser.clone(),
            recipient.clone(),
            &other,
            None,
        )]),
        "withdrawn" => vec![record(
            vec![GrantRecord {
                withdrawn_at: Some(NOW - 1),
                ..exact()
            }],
            NOW - 10,
            NOW + 10,
            Some(NOW - 1),
        )],
        "expired" => vec![record(vec![exact()], NOW - 10, NOW, None)],
        _ => vec![record(vec![exact()], NOW + 5, NOW + 10, None)],
    })
}

/// Runs every case through the one decision function.
pub fn run(cases: &[Case], baseline: &BaselineTable, catalogue: &Catalogue) -> Vec<Outcome> {
    cases
        .iter()
        .map(|c| {
            let consents = pupil(c);
            let discloser = c.discloser.as_ref().map(|(p, place)| Discloser {
                org_id: (!p.tutor).then_some(DISCLOSER),
                org_type: &p.org_type,
                school_of: if *place == Placement::OwnSchool {
                    std::slice::from_ref(&NETWORK)
                } else {
                    std::slice::from_ref(&ELSEWHERE)
                },
            });
            let q = Question {
                recipient: Subject {
                    org_id: (!c.recipient.tutor).then_some(RECIPIENT),
                    org_type: &c.recipient.org_type,
                    role: c.recipient.role.as_ref(),
                    // Every recipient organisation serves the consent's network.
                    member_of: if c.recipient.tutor {
                        &[]
                    } else {
                        std::slice::from_ref(&NETWORK)
                    },
                },
                category: &c.category,
                action: c.action,
                purpose: &c.purpose,
                discloser,
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

//! Properties of the decision rule, over the real baseline and random consents, and
//! over random rule sets evaluated by casbin.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

use super::baseline::{parse_rules, BaselineTable, Effect, Rule};
use super::decide::{decide, Action, Discloser, Question, Reason, Subject};
use super::index::{ConsentRecord, GrantRecord};
use super::{table, DEFAULT_BASELINE, DEFAULT_MODEL};
use crate::domain::catalogue::Catalogue;
use crate::domain::category::AgeVerdict;
use crate::domain::consent::Party;
use crate::domain::guardian::{Cosign, GuardianPart};
use crate::domain::Slug;
use crate::startup::{parse_catalogue, DEFAULT_CATALOGUE};

const NOW: i64 = 1_000_000;

fn catalogue() -> Catalogue {
    parse_catalogue(DEFAULT_CATALOGUE, "catalogue").unwrap()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn real_baseline(c: &Catalogue) -> BaselineTable {
    block_on(BaselineTable::build(
        DEFAULT_MODEL,
        parse_rules(DEFAULT_BASELINE, "baseline").unwrap(),
        c,
    ))
    .unwrap()
}

#[test]
fn the_decision_table_in_policies_passes() {
    let c = catalogue();
    let cases = table::parse(include_str!("../../policies/tests/decisions.csv")).unwrap();
    assert!(cases.len() >= 60, "the table has {} cases", cases.len());
    let failed: Vec<_> = table::run(&cases, &real_baseline(&c), &c)
        .into_iter()
        .filter(|o| !o.passed())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

const ORGS: [u128; 3] = [1, 2, 3];
const NETWORKS: [u128; 2] = [10, 11];

/// A party: `None` is the tutor, else one of ORGS with one of the catalogue's
/// school roles, or none.
fn parties() -> impl Strategy<Value = Option<(usize, Option<&'static str>)>> {
    prop::option::of((
        0..ORGS.len(),
        prop::option::of(prop::sample::select(vec!["counsellor", "contact_teacher"])),
    ))
}

fn party(p: Option<(usize, Option<&'static str>)>) -> Party {
    match p {
        None => Party::Tutor,
        Some((o, role)) => Party::Org {
            org_id: Uuid::from_u128(ORGS[o]),
            role: role.map(|r| Slug::parse(r).unwrap()),
        },
    }
}

fn consents(c: &Catalogue) -> impl Strategy<Value = Vec<ConsentRecord>> {
    let cats: Vec<Slug> = c.categories.iter().map(|c| c.key.clone()).collect();
    let grant = (
        parties(),
        parties(),
        0..cats.len(),
        prop::option::of(-100i64..100),
        14u8..22,
        any::<bool>(),
        guardian_parts(),
    )
        .prop_map(move |(d, r, k, w, age, legacy, guardian)| GrantRecord {
            discloser: if legacy { Party::Tutor } else { party(d) },
            recipient: party(r),
            category: cats[k].clone(),
            withdrawn_at: w.map(|d| NOW + d),
            age_at_grant: age,
            legacy,
            guardian,
        });
    let record = (
        prop::collection::vec(grant, 0..5),
        -100i64..100,
        1i64..200,
        prop::option::of(-100i64..100),
        any::<bool>(),
        0..NETWORKS.len(),
    )
        .prop_map(
            |(grants, from, len, ended, other_purpose, n)| ConsentRecord {
                consent_id: Uuid::new_v4(),
                network_id: Uuid::from_u128(NETWORKS[n]),
                purpose: if other_purpose {
                    Slug::parse("research").unwrap()
                } else {
                    Slug::follow_up()
                },
                valid_from: NOW + from,
                expires_at: NOW + from + len,
                ended_at: ended.map(|d| NOW + d),
                age_at_signing: 17,
                grants,
            },
        );
    prop::collection::vec(record, 0..3)
}

/// A guardian's part, or none: any state, the birthday before or after now.
fn guardian_parts() -> impl Strategy<Value = Option<GuardianPart>> {
    prop::option::of((prop::sample::select(Cosign::ALL.to_vec()), -100i64..100)).prop_map(|p| {
        p.map(|(state, at)| GuardianPart {
            state,
            adult_at: NOW + at,
        })
    })
}

/// Every signature a grant needs, written out independently of `decide`: old
/// enough to consent alone; or, below that age where a guardian may co-consent,
/// a guardian with confirmed responsibility co-signed (or a protective exception
/// stands) and the birthday has not come, or the pupil confirmed it since.
fn signed_enough(c: &Catalogue, g: &GrantRecord) -> bool {
    let holds = |p: &GuardianPart| match p.state {
        Cosign::Signed | Cosign::Excepted => NOW < p.adult_at,
        Cosign::Confirmed => true,
        _ => false,
    };
    // A guardian's part that does not hold refuses, whatever the age rule says.
    if g.guardian.is_some_and(|p| !holds(&p)) {
        return false;
    }
    match c
        .category(&g.category)
        .map(|k| k.age.verdict(g.age_at_grant))
    {
        Some(AgeVerdict::Alone) => true,
        Some(AgeVerdict::NeedsGuardian) => g.guardian.is_some(),
        _ => false,
    }
}

/// Whether a grant's party is the asked one: the tutor is the tutor; a grant to a
/// whole organisation covers each role in it, a grant to a role that role only.
fn covers(p: &Party, org: Option<Uuid>, role: Option<&Slug>) -> bool {
    match p {
        Party::Tutor => org.is_none(),
        Party::Org { org_id, role: r } => {
            org == Some(*org_id) && (r.is_none() || r.as_ref() == role)
        }
    }
}

/// The rule, written out independently of `decide`. A flow in law is allowed to
/// be read. Otherwise: the baseline lets the recipient's type have it and a named
/// discloser's type hand it over (the rest of the NAV office only to the tutor),
/// and a consent in force for the purpose has a grant, not withdrawn, given when
/// the pupil was old enough to consent alone, that tells this recipient this
/// category from this discloser (or, for a grant from before disclosures were
/// modelled, from the consent's school or an organisation it names), to see.
fn granted(
    c: &Catalogue,
    baseline: &BaselineTable,
    consents: Option<&[ConsentRecord]>,
    q: &Question<'_>,
) -> bool {
    let Some(consents) = consents else {
        return false;
    };
    let recipient_may = baseline
        .verdict(q.recipient.org_type, q.category, q.action, q.purpose)
        .allowed;
    let discloser_may = q.discloser.as_ref().is_none_or(|d| {
        baseline
            .verdict(d.org_type, q.category, Action::Disclose, q.purpose)
            .allowed
            && c.org_type(d.org_type)
                .is_some_and(|t| !t.separate || q.recipient.org_id.is_none())
    });
    // A flow in law: named discloser, a pupil known at its school, a recipient of
    // that school's network, both allowed by the baseline.
    let by_law = q.discloser.as_ref().is_some_and(|d| {
        c.statutory_flow(Some(d.org_type), q.recipient.org_type, q.category)
            .is_some()
            && consents.iter().any(|r| {
                d.school_of.contains(&r.network_id) && q.recipient.member_of.contains(&r.network_id)
            })
    });
    if q.action == Action::Read && recipient_may && discloser_may && by_law {
        return true;
    }
    q.action == Action::Read
        && recipient_may
        && discloser_may
        && consents.iter().any(|r| {
            &r.purpose == q.purpose
                && r.ended_at.is_none_or(|t| t > NOW)
                && r.valid_from <= NOW
                && NOW < r.expires_at
                && r.grants.iter().any(|g| {
                    &g.category == q.category
                        && g.withdrawn_at.is_none_or(|t| t > NOW)
                        && signed_enough(c, g)
                        && covers(&g.recipient, q.recipient.org_id, q.recipient.role)
                        && q.discloser.as_ref().is_none_or(|d| {
                            covers(&g.discloser, d.org_id, None)
                                || (g.legacy
                                    && d.org_id.is_some_and(|h| {
                                        d.school_of.contains(&r.network_id)
                                            || r.grants.iter().any(|x| {
                                                x.legacy
                                                    && x.recipient.org_id() == Some(h)
                                                    && x.withdrawn_at.is_none_or(|t| t > NOW)
                                            })
                                    }))
                        })
                })
        })
}

#[test]
fn never_allowed_without_a_consent_in_force_and_withdrawal_flips_it() {
    let c = catalogue();
    let baseline = real_baseline(&c);
    let types: Vec<Slug> = c
        .org_types
        .iter()
        .filter(|t| !t.party)
        .map(|t| t.key.clone())
        .collect();
    let cats: Vec<Slug> = c.categories.iter().map(|k| k.key.clone()).collect();
    let tutor = Slug::tutor();
    // A discloser: the tutor (`None`), or an organisation: its type, the network it
    // is the school of, and which of ORGS it is.
    let discloser = prop::option::of(prop::option::of((
        0..types.len(),
        0..NETWORKS.len(),
        0..ORGS.len(),
    )));
    let strategy = (
        consents(&c),
        (parties(), 0..types.len()),
        0..cats.len(),
        any::<bool>(),
        any::<bool>(),
        discloser,
        0..NETWORKS.len(),
    );
    let mut runner = TestRunner::new(Config::with_cases(3000));
    runner
        .run(
            &strategy,
            |(mut records, (to, t), k, write, unknown, discloser, serves)| {
                let action = if write { Action::Write } else { Action::Read };
                let serves = [Uuid::from_u128(NETWORKS[serves])];
                let purpose = Slug::follow_up();
                let to = party(to);
                let networks: Vec<Uuid> = discloser
                    .flatten()
                    .map(|(_, n, _)| vec![Uuid::from_u128(NETWORKS[n])])
                    .unwrap_or_default();
                let q = Question {
                    recipient: Subject {
                        org_id: to.org_id(),
                        org_type: if to == Party::Tutor {
                            &tutor
                        } else {
                            &types[t]
                        },
                        role: to.role(),
                        member_of: if to == Party::Tutor { &[] } else { &serves },
                    },
                    category: &cats[k],
                    action,
                    purpose: &purpose,
                    discloser: discloser.map(|d| match d {
                        None => Discloser {
                            org_id: None,
                            org_type: &tutor,
                            school_of: &[],
                        },
                        Some((dt, _, o)) => Discloser {
                            org_id: Some(Uuid::from_u128(ORGS[o])),
                            org_type: &types[dt],
                            school_of: &networks,
                        },
                    }),
                };
                let pupil = (!unknown).then_some(records.as_slice());
                let d = decide(&baseline, &c, pupil, &q, NOW);
                prop_assert_eq!(d.allowed, granted(&c, &baseline, pupil, &q), "{:?}", d);
                prop_assert_eq!(d.reason == Reason::Statutory, d.provision.is_some());
                if d.allowed && d.reason != Reason::Statutory {
                    // Withdraw every grant of this category to this recipient: the
                    // next decision is a deny.
                    for r in &mut records {
                        for g in &mut r.grants {
                            if covers(&g.recipient, q.recipient.org_id, q.recipient.role)
                                && &g.category == q.category
                            {
                                g.withdrawn_at = Some(NOW);
                            }
                        }
                    }
                    prop_assert!(!decide(&baseline, &c, Some(&records), &q, NOW).allowed);
                }
                Ok(())
            },
        )
        .unwrap();
}

/// A token's audience: whatever the baseline says, no data holder the consent
/// does not let tell (the grant's discloser; for a grant from before disclosures,
/// the consent's school or an organisation it names), and never the rest of the
/// NAV office, is allowed to hand data over, unless the law requires the flow; and
/// no consent, under any rule set, yields `write`.
#[test]
fn no_holder_outside_the_consent_and_no_write_under_any_rules() {
    let c = catalogue();
    let types: Vec<Slug> = c
        .org_types
        .iter()
        .filter(|t| !t.party)
        .map(|t| t.key.clone())
        .collect();
    let cats: Vec<Slug> = c.categories.iter().map(|k| k.key.clone()).collect();
    let strategy = (
        rule_sets(&c),
        consents(&c),
        0..types.len(),
        0..cats.len(),
        0..ORGS.len(),
        0..types.len(),
        0..NETWORKS.len(),
        0..ORGS.len(),
    );
    let mut runner = TestRunner::new(Config::with_cases(300));
    runner
        .run(&strategy, |(mut rules, records, t, k, o, ht, n, ho)| {
            // Allow everything the random rules do not deny, writes included, and
            // let every type hand over everything.
            for (org_type, action) in [(&types[t], "*"), (&types[ht], "disclose")] {
                rules.push(Rule {
                    org_type: org_type.to_string(),
                    category: "*".into(),
                    action: action.into(),
                    purpose: "*".into(),
                    effect: Effect::Allow,
                });
            }
            let baseline = block_on(BaselineTable::build(DEFAULT_MODEL, rules, &c)).unwrap();
            let purpose = Slug::follow_up();
            let networks = [Uuid::from_u128(NETWORKS[n])];
            let holder = Uuid::from_u128(ORGS[ho]);
            for action in [Action::Read, Action::Write] {
                let q = Question {
                    recipient: Subject {
                        org_id: Some(Uuid::from_u128(ORGS[o])),
                        org_type: &types[t],
                        role: None,
                        member_of: &networks,
                    },
                    category: &cats[k],
                    action,
                    purpose: &purpose,
                    discloser: Some(Discloser {
                        org_id: Some(holder),
                        org_type: &types[ht],
                        school_of: &networks,
                    }),
                };
                let d = decide(&baseline, &c, Some(&records), &q, NOW);
                if action == Action::Write {
                    prop_assert!(!d.allowed, "write allowed: {:?}", d);
                }
                if d.allowed && d.reason != Reason::Statutory {
                    let covered = records.iter().any(|r| {
                        r.grants.iter().any(|g| {
                            let told = g.recipient.org_id() == q.recipient.org_id
                                && &g.category == q.category;
                            let tells = g.discloser.org_id() == Some(holder)
                                || (g.legacy
                                    && (r.network_id == networks[0]
                                        || r.grants.iter().any(|x| {
                                            x.legacy && x.recipient.org_id() == Some(holder)
                                        })));
                            told && tells
                        })
                    });
                    prop_assert!(covered, "holder outside the consent: {:?}", d);
                    prop_assert!(c.org_type(&types[ht]).is_some_and(|t| !t.separate));
                }
                if d.reason == Reason::Statutory {
                    prop_assert!(action == Action::Read);
                    prop_assert!(c
                        .statutory_flow(Some(&types[ht]), &types[t], &cats[k])
                        .is_some());
                    prop_assert!(
                        records.iter().any(|r| r.network_id == networks[0]),
                        "a flow in law about a pupil not known at the holder's school"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

fn rule_sets(c: &Catalogue) -> impl Strategy<Value = Vec<Rule>> {
    let types: Vec<String> = c.org_types.iter().map(|t| t.key.to_string()).collect();
    let mut cats: Vec<String> = c.categories.iter().map(|k| k.key.to_string()).collect();
    cats.push("*".into());
    let rule = (
        0..types.len(),
        0..cats.len(),
        0..4usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(t, k, a, any_purpose, deny)| Rule {
            org_type: types[t].clone(),
            category: cats[k].clone(),
            action: ["read", "write", "disclose", "*"][a].into(),
            purpose: if any_purpose {
                "*".into()
            } else {
                "follow_up".into()
            },
            effect: if deny { Effect::Deny } else { Effect::Allow },
        });
    prop::collection::vec(rule, 0..40)
}

#[test]
fn deny_rules_win_and_nothing_is_allowed_without_an_allow_rule() {
    let c = catalogue();
    let mut runner = TestRunner::new(Config::with_cases(40));
    runner
        .run(&rule_sets(&c), |rules| {
            let table = block_on(BaselineTable::build(DEFAULT_MODEL, rules.clone(), &c)).unwrap();
            for t in &c.org_types {
                for k in &c.categories {
                    for a in [Action::Read, Action::Write, Action::Disclose] {
                        let purpose = Slug::follow_up();
                        // `*` stands for every request (read, write), never `disclose`.
                        let hit = |r: &&Rule| {
                            r.org_type == t.key.as_str()
                                && (r.category == "*" || r.category == k.key.as_str())
                                && ((r.action == "*" && a != Action::Disclose)
                                    || r.action == a.as_str())
                        };
                        let deny = rules.iter().filter(hit).any(|r| r.effect == Effect::Deny);
                        let allow = rules.iter().filter(hit).any(|r| r.effect == Effect::Allow);
                        let v = table.verdict(&t.key, &k.key, a, &purpose);
                        prop_assert_eq!(
                            v.allowed,
                            allow && !deny,
                            "{} {} {}",
                            t.key,
                            k.key,
                            a.as_str()
                        );
                        prop_assert_eq!(v.rule.is_some(), allow || deny);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn bad_policy_lines_name_the_line() {
    let cases = [
        ("p, school, attendance, read", 1),
        ("# ok\n\np, school, attendance, read, follow_up, maybe", 3),
        ("p, School!, attendance, read, follow_up, allow", 1),
        ("p, school, attendance, erase, follow_up, allow", 1),
        ("g, alice, admin", 1),
    ];
    for (text, line) in cases {
        match parse_rules(text, "f.csv") {
            Err(super::baseline::PolicyError::Parse { line: l, .. }) => {
                assert_eq!(l, line, "{text}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// No grant is ever in force without every signature it needs: for random
/// consents whose grants were all given below the category's age, with any
/// guardian part (or none), every grant the consent half lets through has a
/// co-signature by a checked guardian (or a protective exception) before the
/// birthday, or the pupil's own confirmation; and taking that away denies it.
#[test]
fn no_grant_is_in_force_without_every_required_signature() {
    let c = catalogue();
    let cats: Vec<Slug> = c.categories.iter().map(|k| k.key.clone()).collect();
    let tutor = Slug::tutor();
    let strategy = (consents(&c), parties(), 0..cats.len());
    let mut runner = TestRunner::new(Config::with_cases(3000));
    runner
        .run(&strategy, |(mut records, to, k)| {
            // Below the age to decide alone, for every grant.
            for r in &mut records {
                for g in &mut r.grants {
                    let alone = c.category(&g.category).map_or(0, |x| x.age.alone_from);
                    g.age_at_grant = alone.saturating_sub(1).min(g.age_at_grant);
                }
            }
            let to = party(to);
            let purpose = Slug::follow_up();
            let q = Question {
                recipient: Subject {
                    org_id: to.org_id(),
                    org_type: &tutor,
                    role: to.role(),
                    member_of: &[],
                },
                category: &cats[k],
                action: Action::Read,
                purpose: &purpose,
                discloser: None,
            };
            let (reason, _) = super::decide::consent_verdict(&c, Some(&records), &q, NOW);
            let signed: Vec<(usize, usize)> = records
                .iter()
                .enumerate()
                .flat_map(|(i, r)| {
                    r.grants.iter().enumerate().filter_map(move |(j, g)| {
                        (&g.category == q.category
                            && covers(&g.recipient, q.recipient.org_id, q.recipient.role)
                            && g.withdrawn_at.is_none_or(|t| t > NOW))
                        .then_some((i, j))
                    })
                })
                .filter(|(i, j)| signed_enough(&c, &records[*i].grants[*j]))
                .collect();
            if reason == Reason::Allowed {
                prop_assert!(!signed.is_empty(), "allowed with no signature: {records:?}");
                // Without the guardian's part, nothing is left to allow it.
                for r in &mut records {
                    for g in &mut r.grants {
                        g.guardian = None;
                    }
                }
                let (again, _) = super::decide::consent_verdict(&c, Some(&records), &q, NOW);
                prop_assert_ne!(again, Reason::Allowed);
            }
            Ok(())
        })
        .unwrap();
}

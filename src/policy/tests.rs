//! Properties of the decision rule, over the real baseline and random consents, and
//! over random rule sets evaluated by casbin.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

use super::baseline::{parse_rules, BaselineTable, Effect, Rule};
use super::decide::{decide, Action, Holder, Question};
use super::index::{ConsentRecord, GrantRecord};
use super::{table, DEFAULT_BASELINE, DEFAULT_MODEL};
use crate::domain::catalogue::Catalogue;
use crate::domain::category::AgeVerdict;
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

fn consents(c: &Catalogue) -> impl Strategy<Value = Vec<ConsentRecord>> {
    let cats: Vec<Slug> = c.categories.iter().map(|c| c.key.clone()).collect();
    let grant = (0..ORGS.len(), 0..cats.len(), prop::option::of(-100i64..100)).prop_map(
        move |(o, k, w)| GrantRecord {
            org_id: Uuid::from_u128(ORGS[o]),
            category: cats[k].clone(),
            withdrawn_at: w.map(|d| NOW + d),
        },
    );
    let record = (
        prop::collection::vec(grant, 0..5),
        -100i64..100,
        1i64..200,
        prop::option::of(-100i64..100),
        14u8..22,
        any::<bool>(),
        0..NETWORKS.len(),
    )
        .prop_map(
            |(grants, from, len, ended, age, other_purpose, n)| ConsentRecord {
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
                age_at_signing: age,
                grants,
            },
        );
    prop::collection::vec(record, 0..3)
}

/// The rule, written out independently of `decide`: a consent in force for the
/// purpose names this organisation and category, the grant is not withdrawn, the
/// pupil was old enough to consent alone, the action is to see, and a named data
/// holder keeps the category and belongs to the consent's school network.
fn granted(
    c: &Catalogue,
    baseline: &BaselineTable,
    consents: &[ConsentRecord],
    q: &Question<'_>,
) -> bool {
    let holder_keeps = q.holder.as_ref().is_none_or(|h| {
        baseline
            .verdict(h.org_type, q.category, Action::Disclose, q.purpose)
            .allowed
            && c.org_type(h.org_type).is_some_and(|t| !t.separate)
    });
    q.action == Action::Read
        && holder_keeps
        && consents.iter().any(|r| {
            &r.purpose == q.purpose
                && r.ended_at.is_none_or(|t| t > NOW)
                && r.valid_from <= NOW
                && NOW < r.expires_at
                && c.category(q.category)
                    .is_some_and(|k| k.age.verdict(r.age_at_signing) == AgeVerdict::Alone)
                && q.holder.as_ref().is_none_or(|h| {
                    h.school_of.contains(&r.network_id)
                        || r.grants
                            .iter()
                            .any(|g| g.org_id == h.org_id && g.withdrawn_at.is_none_or(|t| t > NOW))
                })
                && r.grants.iter().any(|g| {
                    g.org_id == q.org_id
                        && &g.category == q.category
                        && g.withdrawn_at.is_none_or(|t| t > NOW)
                })
        })
}

#[test]
fn never_allowed_without_a_consent_in_force_and_withdrawal_flips_it() {
    let c = catalogue();
    let baseline = real_baseline(&c);
    let types: Vec<Slug> = c.org_types.iter().map(|t| t.key.clone()).collect();
    let cats: Vec<Slug> = c.categories.iter().map(|k| k.key.clone()).collect();
    // A holder: its type, the network it is the school of, and which of ORGS it is.
    let holder = prop::option::of((0..types.len(), 0..NETWORKS.len(), 0..ORGS.len()));
    let strategy = (
        consents(&c),
        0..types.len(),
        0..cats.len(),
        0..ORGS.len(),
        any::<bool>(),
        any::<bool>(),
        holder,
    );
    let mut runner = TestRunner::new(Config::with_cases(3000));
    runner
        .run(
            &strategy,
            |(mut records, t, k, o, write, unknown, holder)| {
                let action = if write { Action::Write } else { Action::Read };
                let purpose = Slug::follow_up();
                let networks: Vec<Uuid> = holder
                    .map(|(_, n, _)| vec![Uuid::from_u128(NETWORKS[n])])
                    .unwrap_or_default();
                let q = Question {
                    org_id: Uuid::from_u128(ORGS[o]),
                    org_type: &types[t],
                    category: &cats[k],
                    action,
                    purpose: &purpose,
                    holder: holder.map(|(ht, _, ho)| Holder {
                        org_id: Uuid::from_u128(ORGS[ho]),
                        org_type: &types[ht],
                        school_of: &networks,
                    }),
                };
                let pupil = if unknown {
                    None
                } else {
                    Some(records.as_slice())
                };
                let d = decide(&baseline, &c, pupil, &q, NOW);
                let in_baseline = baseline
                    .verdict(q.org_type, q.category, action, &purpose)
                    .allowed;
                prop_assert_eq!(
                    d.allowed,
                    !unknown && in_baseline && granted(&c, &baseline, &records, &q)
                );
                if d.allowed {
                    // Withdraw every grant of this organisation and category: the next
                    // decision is a deny.
                    for r in &mut records {
                        for g in &mut r.grants {
                            if g.org_id == q.org_id && &g.category == q.category {
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

/// A token's audience: whatever the baseline says, no data holder that is neither
/// the consent's school nor named in it, none whose type does not keep the
/// category, and never the NAV office, is allowed to hand data over; and no
/// consent, under any rule set, yields `write`.
#[test]
fn no_holder_outside_the_consent_and_no_write_under_any_rules() {
    let c = catalogue();
    let types: Vec<Slug> = c.org_types.iter().map(|t| t.key.clone()).collect();
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
            for action in [Action::Read, Action::Write] {
                let q = Question {
                    org_id: Uuid::from_u128(ORGS[o]),
                    org_type: &types[t],
                    category: &cats[k],
                    action,
                    purpose: &purpose,
                    holder: Some(Holder {
                        org_id: Uuid::from_u128(ORGS[ho]),
                        org_type: &types[ht],
                        school_of: &networks,
                    }),
                };
                let d = decide(&baseline, &c, Some(&records), &q, NOW);
                if action == Action::Write {
                    prop_assert!(!d.allowed, "write allowed: {:?}", d);
                }
                if d.allowed {
                    let covered = records.iter().any(|r| {
                        let holder_in = r.network_id == networks[0]
                            || r.grants
                                .iter()
                                .any(|g| g.org_id == Uuid::from_u128(ORGS[ho]));
                        holder_in
                            && r.grants
                                .iter()
                                .any(|g| g.org_id == q.org_id && &g.category == q.category)
                    });
                    prop_assert!(covered, "holder outside the consent: {:?}", d);
                    prop_assert!(c.org_type(&types[ht]).is_some_and(|t| !t.separate));
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

use super::*;
use crate::domain::catalogue::{Catalogue, OrgTypeInfo, Purpose, StatutoryDuty};
use crate::domain::category::{AgeRule, Category, Sensitivity};
use crate::domain::org::{OrgNumber, Organisation};
use crate::domain::Localized;

fn text(s: &str) -> Localized {
    Localized {
        nb: s.into(),
        nn: s.into(),
        en: s.into(),
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

fn catalogue() -> Catalogue {
    let cat = |key: &str, alone_from, guardian_below| Category {
        key: slug(key),
        name: text(key),
        description: text(key),
        sensitivity: Sensitivity::Ordinary,
        age: AgeRule {
            alone_from,
            guardian_below,
        },
    };
    Catalogue {
        org_types: ["school", "health", "child_welfare"]
            .iter()
            .map(|k| OrgTypeInfo {
                key: slug(k),
                name: text(k),
                legal_basis: format!("basis of {k}"),
                separate: false,
            })
            .collect(),
        categories: vec![
            cat("attendance", 15, true),
            cat("health", 16, true),
            cat("social_help", 18, false),
            cat("contact_reasons", 15, true),
        ],
        purposes: vec![Purpose {
            key: slug("follow_up"),
            name: text("f"),
        }],
        statutory: vec![StatutoryDuty {
            org_type: slug("child_welfare"),
            category: slug("contact_reasons"),
            provision: "law".into(),
        }],
    }
}

fn org(n: u32, kind: &str, enabled: bool) -> Organisation {
    Organisation {
        id: Uuid::from_u128(u128::from(n)),
        name: format!("org {n}"),
        number: OrgNumber::with_check_digit(97_000_000 + n * 7).unwrap(),
        org_type: slug(kind),
        enabled,
    }
}

fn choice(org: u32, category: &str) -> Choice {
    Choice {
        org_id: Uuid::from_u128(u128::from(org)),
        category: slug(category),
    }
}

#[test]
fn table_of_choices() {
    let cat = catalogue();
    let orgs = vec![
        org(1, "school", true),
        org(2, "health", true),
        org(3, "child_welfare", true),
        org(4, "health", false),
        org(9, "health", true),
    ];
    let network = Network {
        id: Uuid::from_u128(100),
        name: "n".into(),
        school_id: orgs[0].id,
        member_ids: vec![orgs[1].id, orgs[2].id, orgs[3].id],
    };
    let follow_up = slug("follow_up");
    let other = slug("marketing");
    type Case<'a> = (
        &'a str,
        u8,
        &'a Slug,
        Vec<Choice>,
        Result<usize, ConsentError>,
    );
    let cases: Vec<Case> = vec![
        (
            "one grant",
            17,
            &follow_up,
            vec![choice(1, "attendance")],
            Ok(1),
        ),
        (
            "school is in its own network",
            15,
            &follow_up,
            vec![choice(1, "attendance"), choice(2, "attendance")],
            Ok(2),
        ),
        (
            "nothing chosen",
            17,
            &follow_up,
            vec![],
            Err(ConsentError::EmptyChoice),
        ),
        (
            "twice",
            17,
            &follow_up,
            vec![choice(1, "attendance"), choice(1, "attendance")],
            Err(ConsentError::DuplicateChoice { index: 1 }),
        ),
        (
            "outside the network",
            17,
            &follow_up,
            vec![choice(9, "attendance")],
            Err(ConsentError::OrgOutsideNetwork { index: 0 }),
        ),
        (
            "unknown org",
            17,
            &follow_up,
            vec![choice(77, "attendance")],
            Err(ConsentError::OrgOutsideNetwork { index: 0 }),
        ),
        (
            "disabled org",
            17,
            &follow_up,
            vec![choice(4, "attendance")],
            Err(ConsentError::OrgDisabled { index: 0 }),
        ),
        (
            "unknown category",
            17,
            &follow_up,
            vec![choice(2, "shoe_size")],
            Err(ConsentError::UnknownCategory { index: 0 }),
        ),
        (
            "statutory pair",
            17,
            &follow_up,
            vec![choice(3, "contact_reasons")],
            Err(ConsentError::StatutoryNotConsent { index: 0 }),
        ),
        (
            "same category, other type is fine",
            17,
            &follow_up,
            vec![choice(2, "contact_reasons")],
            Ok(1),
        ),
        (
            "health at 15 needs a guardian",
            15,
            &follow_up,
            vec![choice(2, "health")],
            Err(ConsentError::NeedsGuardian { index: 0 }),
        ),
        (
            "health at 16 alone",
            16,
            &follow_up,
            vec![choice(2, "health")],
            Ok(1),
        ),
        (
            "not at all below 18",
            17,
            &follow_up,
            vec![choice(2, "social_help")],
            Err(ConsentError::BelowMinimumAge { index: 0 }),
        ),
        (
            "unknown purpose",
            17,
            &other,
            vec![choice(1, "attendance")],
            Err(ConsentError::UnknownPurpose),
        ),
    ];
    for (name, age, purpose, choices, want) in cases {
        let ctx = ChoiceContext {
            catalogue: &cat,
            network: &network,
            orgs: &orgs,
            purpose,
            age,
        };
        let got = check_choices(&ctx, &choices).map(|g| g.len());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn grants_carry_the_recipients_legal_basis() {
    let cat = catalogue();
    let orgs = vec![org(1, "school", true)];
    let network = Network {
        id: Uuid::from_u128(100),
        name: "n".into(),
        school_id: orgs[0].id,
        member_ids: vec![],
    };
    let ctx = ChoiceContext {
        catalogue: &cat,
        network: &network,
        orgs: &orgs,
        purpose: &slug("follow_up"),
        age: 17,
    };
    let grants = check_choices(&ctx, &[choice(1, "attendance")]).unwrap();
    assert_eq!(grants[0].legal_basis, "basis of school");
}

fn consent(grants: &[(u32, &str)], ended_at: Option<i64>) -> Consent {
    Consent {
        id: Uuid::from_u128(500),
        pupil_id: Uuid::from_u128(501),
        network_id: Uuid::from_u128(100),
        template_id: Uuid::from_u128(502),
        template_hash: "h".into(),
        purpose: slug("follow_up"),
        valid_from: 100,
        expires_at: 1_000,
        signed_at: 100,
        evidence: Evidence {
            acr: "idporten-loa-substantial".into(),
            amr: vec!["BankID".into()],
            session_ref: "s".into(),
        },
        age_at_signing: 17,
        ended_at,
        grants: grants
            .iter()
            .enumerate()
            .map(|(i, (o, c))| Grant {
                id: Uuid::from_u128(1_000 + i as u128),
                org_id: Uuid::from_u128(u128::from(*o)),
                category: slug(c),
                legal_basis: String::new(),
                granted_at: 100,
                withdrawn_at: None,
            })
            .collect(),
    }
}

#[test]
fn states_follow_the_clock() {
    let c = consent(&[(1, "attendance")], None);
    assert_eq!(c.state(99), ConsentState::Pending);
    assert_eq!(c.state(100), ConsentState::Active);
    assert_eq!(c.state(999), ConsentState::Active);
    assert_eq!(c.state(1_000), ConsentState::Expired);
    let ended = consent(&[(1, "attendance")], Some(500));
    assert_eq!(ended.state(499), ConsentState::Active);
    assert_eq!(ended.state(500), ConsentState::Ended);
}

#[test]
fn withdrawals() {
    let c = consent(&[(1, "attendance"), (2, "health"), (2, "attendance")], None);
    let org2 = plan_withdrawal(
        &c,
        &Withdrawal::Organisation {
            org_id: Uuid::from_u128(2),
        },
        200,
    )
    .unwrap();
    assert_eq!(org2.grant_ids.len(), 2);
    assert!(!org2.ends_consent);

    let one = plan_withdrawal(
        &c,
        &Withdrawal::Grant {
            grant_id: Uuid::from_u128(1_000),
        },
        200,
    )
    .unwrap();
    assert_eq!(one.grant_ids, vec![Uuid::from_u128(1_000)]);

    let all = plan_withdrawal(&c, &Withdrawal::All, 200).unwrap();
    assert_eq!(all.grant_ids.len(), 3);
    assert!(all.ends_consent);

    assert_eq!(
        plan_withdrawal(
            &c,
            &Withdrawal::Organisation {
                org_id: Uuid::from_u128(9)
            },
            200
        ),
        Err(ConsentError::NothingToWithdraw)
    );
    assert_eq!(
        plan_withdrawal(&c, &Withdrawal::All, 1_000),
        Err(ConsentError::NotInForce)
    );

    let mut last = consent(&[(1, "attendance")], None);
    let plan = plan_withdrawal(
        &last,
        &Withdrawal::Grant {
            grant_id: Uuid::from_u128(1_000),
        },
        200,
    )
    .unwrap();
    assert!(
        plan.ends_consent,
        "withdrawing the last grant ends the consent"
    );
    last.grants[0].withdrawn_at = Some(200);
    assert_eq!(
        plan_withdrawal(
            &last,
            &Withdrawal::Grant {
                grant_id: Uuid::from_u128(1_000)
            },
            300
        ),
        Err(ConsentError::NothingToWithdraw),
        "a grant is withdrawn once"
    );
}

#[test]
fn changes_are_a_diff_of_what_is_in_force() {
    let c = consent(&[(1, "attendance"), (2, "health")], None);
    let wanted = vec![
        NewGrant {
            org_id: Uuid::from_u128(1),
            category: slug("attendance"),
            legal_basis: String::new(),
        },
        NewGrant {
            org_id: Uuid::from_u128(3),
            category: slug("attendance"),
            legal_basis: String::new(),
        },
    ];
    let plan = plan_change(&c, wanted, 200).unwrap();
    assert_eq!(plan.remove, vec![Uuid::from_u128(1_001)]);
    assert_eq!(plan.add.len(), 1);
    assert_eq!(plan.add[0].org_id, Uuid::from_u128(3));
    assert_eq!(
        plan_change(&c, vec![], 1_000),
        Err(ConsentError::NotInForce)
    );
}

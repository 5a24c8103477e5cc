use super::*;
use crate::domain::catalogue::{
    Catalogue, Direct, Offer, OrgTypeInfo, Purpose, RoleInfo, StatutoryDuty,
};
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
        special: (key == "health").then(|| "art. 9".to_owned()),
        confidential: None,
        age: AgeRule {
            alone_from,
            guardian_below,
            source: String::new(),
        },
        retired: key == "old",
    };
    let kind = |k: &str, roles: &[&str]| OrgTypeInfo {
        key: slug(k),
        name: text(k),
        legal_entity: None,
        processing: format!("processing by {k}"),
        confidentiality: format!("secrecy of {k}"),
        local: Default::default(),
        roles: roles
            .iter()
            .map(|r| RoleInfo {
                key: slug(r),
                name: text(r),
            })
            .collect(),
        separate: false,
        party: k == "tutor",
    };
    let offer = |k: &str, obtain: &[&str], tell: &[&str]| Offer {
        counterpart: slug(k),
        obtain: obtain.iter().map(|c| slug(c)).collect(),
        tell: tell.iter().map(|c| slug(c)).collect(),
        why: text("why"),
    };
    Catalogue {
        version: 2,
        org_types: vec![
            kind("tutor", &[]),
            kind("school", &["counsellor"]),
            kind("health", &[]),
            kind("ot", &[]),
            kind("child_welfare", &[]),
        ],
        categories: vec![
            cat("attendance", 15, true),
            cat("health", 16, true),
            cat("social_help", 18, false),
            cat("contact_reasons", 15, true),
            cat("course_status", 15, true),
            cat("old", 15, true),
        ],
        purposes: vec![Purpose {
            key: slug("follow_up"),
            name: text("f"),
        }],
        offers: vec![
            offer("school", &["attendance", "old"], &["contact_reasons"]),
            offer("health", &["health", "social_help"], &["contact_reasons"]),
            offer("child_welfare", &[], &["contact_reasons"]),
        ],
        directs: vec![Direct {
            discloser: slug("school"),
            recipient: slug("ot"),
            categories: vec![slug("attendance"), slug("course_status")],
        }],
        statutory: vec![StatutoryDuty {
            discloser: Some(slug("school")),
            recipient: slug("ot"),
            category: slug("course_status"),
            provision: "law".into(),
            when: None,
        }],
        duties: vec![],
    }
}

fn org(n: u32, kind: &str, enabled: bool) -> Organisation {
    Organisation {
        id: Uuid::from_u128(u128::from(n)),
        name: format!("org {n}"),
        number: OrgNumber::with_check_digit(97_000_000 + n * 7).unwrap(),
        org_type: slug(kind),
        enabled,
        municipality: None,
    }
}

fn id(n: u32) -> Uuid {
    Uuid::from_u128(u128::from(n))
}

/// The tutor may get `category` from organisation `n`.
fn obtain(n: u32, category: &str) -> Choice {
    Choice::new(Party::org(id(n)), Party::Tutor, slug(category))
}

/// The tutor may tell organisation `n` (or a role in it) `category`.
fn tell(n: u32, role: Option<&str>, category: &str) -> Choice {
    let to = Party::Org {
        org_id: id(n),
        role: role.map(slug),
    };
    Choice::new(Party::Tutor, to, slug(category))
}

/// Organisation `from` may tell organisation `to` `category`.
fn direct(from: u32, to: u32, category: &str) -> Choice {
    Choice::new(Party::org(id(from)), Party::org(id(to)), slug(category))
}

/// The shape from before disclosures: the tutor tells `org_id`.
fn old_shape(n: u32, category: &str) -> Choice {
    Choice {
        discloser: None,
        recipient: None,
        org_id: Some(id(n)),
        role: None,
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
        org(5, "ot", true),
        org(9, "health", true),
    ];
    // The pupil's services: all but org 9.
    let services: Vec<Organisation> = orgs.iter().filter(|o| o.id != id(9)).cloned().collect();
    let follow_up = slug("follow_up");
    let other = slug("marketing");
    use ConsentError as E;
    type Case<'a> = (
        &'a str,
        u8,
        &'a Slug,
        Vec<Choice>,
        Result<usize, ConsentError>,
    );
    let cases: Vec<Case> = vec![
        (
            "the tutor gets absence from the school",
            17,
            &follow_up,
            vec![obtain(1, "attendance")],
            Ok(1),
        ),
        (
            "the tutor tells the counsellor",
            15,
            &follow_up,
            vec![tell(1, Some("counsellor"), "contact_reasons")],
            Ok(1),
        ),
        (
            "the tutor tells the whole school",
            15,
            &follow_up,
            vec![tell(1, None, "contact_reasons")],
            Ok(1),
        ),
        (
            "the school tells OT directly",
            15,
            &follow_up,
            vec![direct(1, 5, "attendance")],
            Ok(1),
        ),
        (
            "the old shape: the tutor tells",
            15,
            &follow_up,
            vec![old_shape(2, "contact_reasons")],
            Ok(1),
        ),
        (
            "the old shape naming what is not told",
            15,
            &follow_up,
            vec![old_shape(1, "attendance")],
            Err(E::NotOffered { index: 0 }),
        ),
        (
            "a direction not offered",
            17,
            &follow_up,
            vec![tell(1, None, "attendance")],
            Err(E::NotOffered { index: 0 }),
        ),
        (
            "a direct flow not offered",
            17,
            &follow_up,
            vec![direct(5, 1, "attendance")],
            Err(E::NotOffered { index: 0 }),
        ),
        (
            "the tutor to the tutor",
            17,
            &follow_up,
            vec![Choice::new(Party::Tutor, Party::Tutor, slug("attendance"))],
            Err(E::NotOffered { index: 0 }),
        ),
        (
            "a role the type does not have",
            17,
            &follow_up,
            vec![tell(2, Some("counsellor"), "contact_reasons")],
            Err(E::UnknownRole { index: 0 }),
        ),
        (
            "no recipient",
            17,
            &follow_up,
            vec![Choice {
                discloser: None,
                recipient: None,
                org_id: None,
                role: None,
                category: slug("attendance"),
            }],
            Err(E::NoRecipient { index: 0 }),
        ),
        (
            "the recipient named twice",
            17,
            &follow_up,
            vec![Choice {
                org_id: Some(id(2)),
                ..tell(2, None, "contact_reasons")
            }],
            Err(E::NoRecipient { index: 0 }),
        ),
        (
            "a retired category",
            17,
            &follow_up,
            vec![obtain(1, "old")],
            Err(E::NotOffered { index: 0 }),
        ),
        (
            "nothing chosen",
            17,
            &follow_up,
            vec![],
            Err(E::EmptyChoice),
        ),
        (
            "twice",
            17,
            &follow_up,
            vec![obtain(1, "attendance"), obtain(1, "attendance")],
            Err(E::DuplicateChoice { index: 1 }),
        ),
        (
            "both directions are two choices",
            17,
            &follow_up,
            vec![obtain(2, "health"), tell(2, None, "contact_reasons")],
            Ok(2),
        ),
        (
            "outside the pupil's services",
            17,
            &follow_up,
            vec![obtain(9, "health")],
            Err(E::OrgOutsideNetwork { index: 0 }),
        ),
        (
            "a discloser outside the pupil's services",
            17,
            &follow_up,
            vec![direct(9, 5, "attendance")],
            Err(E::OrgOutsideNetwork { index: 0 }),
        ),
        (
            "unknown org",
            17,
            &follow_up,
            vec![obtain(77, "attendance")],
            Err(E::OrgOutsideNetwork { index: 0 }),
        ),
        (
            "disabled org",
            17,
            &follow_up,
            vec![obtain(4, "health")],
            Err(E::OrgDisabled { index: 0 }),
        ),
        (
            "unknown category",
            17,
            &follow_up,
            vec![obtain(2, "shoe_size")],
            Err(E::UnknownCategory { index: 0 }),
        ),
        (
            "shared by law, never a choice",
            17,
            &follow_up,
            vec![direct(1, 5, "course_status")],
            Err(E::StatutoryNotConsent { index: 0 }),
        ),
        (
            "health at 15 waits for a guardian",
            15,
            &follow_up,
            vec![obtain(2, "health")],
            Ok(1),
        ),
        (
            "health at 16 alone",
            16,
            &follow_up,
            vec![obtain(2, "health")],
            Ok(1),
        ),
        (
            "not at all below 18",
            17,
            &follow_up,
            vec![obtain(2, "social_help")],
            Err(E::BelowMinimumAge { index: 0 }),
        ),
        (
            "unknown purpose",
            17,
            &other,
            vec![obtain(1, "attendance")],
            Err(E::UnknownPurpose),
        ),
    ];
    for (name, age, purpose, choices, want) in cases {
        let ctx = ChoiceContext {
            catalogue: &cat,
            services: &services,
            orgs: &orgs,
            purpose,
            age,
            born: time::macros::date!(2010 - 01 - 01),
        };
        let got = check_choices(&ctx, &choices);
        if let Ok(grants) = &got {
            // Below the category's age, a grant waits for a guardian until then.
            for g in grants {
                let needs = cat.category(&g.category).unwrap().age.alone_from > age;
                assert_eq!(g.adult_at.is_some(), needs, "{name}");
            }
        }
        assert_eq!(got.map(|g| g.len()), want, "{name}");
    }
}

#[test]
fn grants_carry_their_legal_basis_in_parts() {
    let cat = catalogue();
    let orgs = vec![org(1, "school", true), org(2, "health", true)];
    let ctx = ChoiceContext {
        catalogue: &cat,
        services: &orgs,
        orgs: &orgs,
        purpose: &slug("follow_up"),
        age: 17,
        born: time::macros::date!(2009 - 01 - 01),
    };
    let grants = check_choices(
        &ctx,
        &[obtain(2, "health"), tell(1, None, "contact_reasons")],
    )
    .unwrap();
    // The health service tells the tutor: its secrecy is lifted, the tutor
    // processes it, and health is a special category.
    assert_eq!(grants[0].basis.lifts, "secrecy of health");
    assert_eq!(grants[0].basis.processing, "processing by tutor");
    assert_eq!(grants[0].basis.special.as_deref(), Some("art. 9"));
    assert_eq!(grants[1].basis.lifts, "secrecy of tutor");
    assert_eq!(grants[1].basis.processing, "processing by school");
    assert_eq!(grants[1].basis.special, None);
    assert_eq!(grants[1].age, 17);
    assert!(grants[0].basis.in_words().contains("art. 9"));
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
        home_municipality: None,
        ended_at,
        grants: grants
            .iter()
            .enumerate()
            .map(|(i, (o, c))| Grant {
                id: Uuid::from_u128(1_000 + i as u128),
                discloser: Party::Tutor,
                recipient: Party::org(id(*o)),
                category: slug(c),
                legal_basis: String::new(),
                basis: None,
                age_at_grant: 17,
                legacy: false,
                granted_at: 100,
                withdrawn_at: None,
                guardian: None,
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
    let mut c = consent(&[(1, "attendance"), (2, "health"), (2, "attendance")], None);
    // Organisation 2 also tells organisation 1 something: withdrawing 2 ends it too.
    c.grants.push(Grant {
        id: Uuid::from_u128(1_003),
        discloser: Party::org(id(2)),
        recipient: Party::org(id(1)),
        ..c.grants[0].clone()
    });
    let org2 = plan_withdrawal(&c, &Withdrawal::Organisation { org_id: id(2) }, 200).unwrap();
    assert_eq!(org2.grant_ids.len(), 3);
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
    assert_eq!(all.grant_ids.len(), 4);
    assert!(all.ends_consent);

    assert_eq!(
        plan_withdrawal(&c, &Withdrawal::Organisation { org_id: id(9) }, 200),
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
    let new = |discloser: Party, n: u32| NewGrant {
        discloser,
        recipient: Party::org(id(n)),
        category: slug("attendance"),
        basis: LegalBasis::default(),
        age: 18,
        adult_at: None,
    };
    // The same disclosure stays; the same recipient told by someone else is new.
    let wanted = vec![
        new(Party::Tutor, 1),
        new(Party::Tutor, 3),
        new(Party::org(id(2)), 1),
    ];
    let plan = plan_change(&c, wanted, 200).unwrap();
    assert_eq!(plan.remove, vec![Uuid::from_u128(1_001)]);
    assert_eq!(plan.add.len(), 2);
    assert_eq!(plan.add[0].recipient, Party::org(id(3)));
    assert_eq!(plan.add[1].discloser, Party::org(id(2)));
    assert_eq!(
        plan.add[0].age, 18,
        "a grant added later carries the age then"
    );
    assert_eq!(
        plan_change(&c, vec![], 1_000),
        Err(ConsentError::NotInForce)
    );
}

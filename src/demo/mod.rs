//! Demo data for the embedded default: a school network with a partner of every
//! type, a published agreement, a demo partner client and a few demo pupils with
//! synthetic identity numbers. Everything goes through the same service operations
//! as real data, so it shows in every view and log.

mod partner_key;

use time::macros::date;
use time::Date;
use uuid::Uuid;

use crate::audit::Actor;
use crate::domain::consent::{Choice, Evidence, Party, Withdrawal};
use crate::domain::identity::IdentityNumber;
use crate::domain::org::{Municipality, OrgNumber};
use crate::domain::{Localized, Slug};
use crate::service::{
    NewClient, NewNetwork, NewOrg, NewTemplate, Result, ServiceError, Services, SignRequest,
};

pub use partner_key::{DemoPartnerKey, Stored as DemoClientFile};

/// The demo pupils: birth date and serial of their synthetic numbers.
pub const DEMO_PUPILS: [(Date, u16); 3] = [
    (date!(2008 - 03 - 14), 1),
    (date!(2010 - 05 - 02), 2),
    (date!(2009 - 09 - 09), 3),
];

/// Demo staff of the compliance console: birth date, serial and role.
pub const DEMO_STAFF: [(Date, u16, &str); 2] = [
    (date!(1985 - 04 - 12), 1, "compliance_officer"),
    (date!(1990 - 10 - 20), 2, "tutor"),
];

/// What the demo tutor calls the demo pupils on the caseload.
const DEMO_NICKNAMES: [&str; 3] = ["Ada", "Jonas", "Sara"];

/// The demo staff's synthetic identity numbers and roles.
pub fn demo_staff() -> Vec<(IdentityNumber, &'static str)> {
    DEMO_STAFF
        .iter()
        .filter_map(|(d, s, role)| IdentityNumber::synthetic(*d, *s).map(|n| (n, *role)))
        .collect()
}

/// The synthetic identity numbers of the demo pupils (month + 80: never a real person).
pub fn demo_pupil_numbers() -> Vec<IdentityNumber> {
    DEMO_PUPILS
        .iter()
        .filter_map(|(d, s)| IdentityNumber::synthetic(*d, *s))
        .collect()
}

fn slug(s: &str) -> Result<Slug> {
    Slug::parse(s).map_err(|e| ServiceError::invalid("demo", e))
}

/// Organisation numbers starting with 1 are never assigned to real organisations.
/// The demo's `n`th organisation (0 = the school) has `org_number(n)`.
pub fn org_number(n: u32) -> Result<OrgNumber> {
    (0..20)
        .find_map(|k| OrgNumber::with_check_digit(10_000_000 + n * 20 + k))
        .ok_or_else(|| ServiceError::invalid("demo", "no org number"))
}

/// The demo's fictional municipalities.
pub const FJORDVIK: &str = "9001";
pub const SUNDBY: &str = "9002";

pub struct DemoInfo {
    pub client_id: String,
    pub network_id: Uuid,
}

/// Seeds the demo into an empty database. Returns `None` if organisations exist.
/// The demo partner clients: the school's administrative system (also the data
/// holder in the examples) and the follow-up service's case system.
pub const DEMO_CLIENTS: [&str; 2] = ["demo-school-admin", "demo-ot-case"];

/// Seeds the demo; `keys` are the demo clients' keys, in the order of `DEMO_CLIENTS`.
pub async fn seed(s: &Services, keys: &[DemoPartnerKey; 2]) -> Result<Option<DemoInfo>> {
    let by = &Actor::System;
    if !s.orgs().await?.is_empty() {
        return Ok(None);
    }
    // Fictional municipalities: 9001 Fjordvik, 9002 Sundby (no real municipality
    // has a number starting with 90).
    let orgs = [
        ("Fjordvik videregående skole", "school", FJORDVIK),
        ("Oppfølgingstjenesten i Fjordvik", "ot", FJORDVIK),
        ("PPT for videregående opplæring, Fjordvik", "ppt", FJORDVIK),
        (
            "Skolehelsetjenesten ved Fjordvik vgs",
            "school_health",
            FJORDVIK,
        ),
        ("BUP Fjordvik", "bup", FJORDVIK),
        ("Barnevernstjenesten i Fjordvik", "child_welfare", FJORDVIK),
        ("NAV Fjordvik", "nav_office", FJORDVIK),
        ("Sundby videregående skole", "school", SUNDBY),
        ("Barnevernstjenesten i Sundby", "child_welfare", SUNDBY),
        ("NAV Sundby", "nav_office", SUNDBY),
    ];
    let mut ids = Vec::new();
    for (i, (name, kind, municipality)) in orgs.iter().enumerate() {
        let org = s
            .add_org(
                NewOrg {
                    name: (*name).into(),
                    number: org_number(u32::try_from(i).unwrap_or(0))?,
                    org_type: slug(kind)?,
                    municipality: Some(
                        Municipality::parse(municipality)
                            .map_err(|e| ServiceError::invalid("demo", e))?,
                    ),
                },
                by,
            )
            .await?;
        ids.push(org.id);
    }
    let network = s
        .add_network(
            NewNetwork {
                name: "Fjordvik vgs".into(),
                school_id: ids[0],
                member_ids: ids[1..7].to_vec(),
                controller: Some("Fjordvik fylkeskommune og NAV Fjordvik (demo)".into()),
                dpo: Some("personvernombud@fjordvik.example".into()),
            },
            by,
        )
        .await?;
    s.add_network(
        NewNetwork {
            name: "Sundby vgs".into(),
            school_id: ids[7],
            member_ids: ids[8..10].to_vec(),
            controller: Some("Sundby fylkeskommune og NAV Sundby (demo)".into()),
            dpo: Some("personvernombud@sundby.example".into()),
        },
        by,
    )
    .await?;

    let template = s
        .add_template(
            NewTemplate {
                key: Slug::follow_up(),
                title: Localized {
                    nb: "Samtykke til deling av opplysninger".into(),
                    nn: "Samtykke til deling av opplysningar".into(),
                    en: "Consent to sharing information".into(),
                },
                body: Localized {
                    nb: include_str!("agreement.nb.md").into(),
                    nn: include_str!("agreement.nn.md").into(),
                    en: include_str!("agreement.en.md").into(),
                },
                terms: Default::default(),
            },
            by,
        )
        .await?;
    let template = s.publish_template(template.id, by).await?;

    let client = s
        .add_client(
            NewClient {
                client_id: crate::domain::client::ClientId::parse("demo-school-admin")
                    .map_err(|e| ServiceError::invalid("demo", e))?,
                org_id: ids[0],
                name: "Fjordvik vgs administrative system (demo)".into(),
                scopes: vec![
                    "pupil:attendance:read".into(),
                    "pupil:grades:read".into(),
                    "pupil:contact_details:read".into(),
                ],
                jwks: Some(keys[0].public_jwks()),
                jwks_uri: None,
                webhook_url: None,
            },
            by,
        )
        .await?;
    s.add_client(
        NewClient {
            client_id: crate::domain::client::ClientId::parse(DEMO_CLIENTS[1])
                .map_err(|e| ServiceError::invalid("demo", e))?,
            org_id: ids[1],
            name: "Oppfølgingstjenesten case system (demo)".into(),
            scopes: vec![
                "pupil:attendance:read".into(),
                "pupil:contact_details:read".into(),
                "pupil:course_status:read".into(),
            ],
            jwks: Some(keys[1].public_jwks()),
            jwks_uri: None,
            webhook_url: None,
        },
        by,
    )
    .await?;

    let pupils = demo_pupil_numbers();
    // Who may tell whom: an organisation (by index), a role in it, or the tutor.
    let org = |i: usize| Party::org(ids[i]);
    let counsellor = Party::Org {
        org_id: ids[0],
        role: Some(slug("counsellor")?),
    };
    let choice = |from: Party, to: Party, cat: &str| -> Result<Choice> {
        Ok(Choice::new(from, to, slug(cat)?))
    };
    let tutor = || Party::Tutor;
    let plans: [Vec<Choice>; 3] = [
        vec![
            choice(org(0), tutor(), "attendance")?,
            choice(org(0), tutor(), "grades")?,
            choice(tutor(), counsellor.clone(), "followed_up")?,
            choice(tutor(), counsellor, "contact_reasons")?,
            choice(org(0), org(1), "attendance")?,
            choice(org(0), org(1), "contact_details")?,
            choice(org(1), tutor(), "contact_details")?,
            choice(org(3), tutor(), "health")?,
            choice(tutor(), org(3), "contact_reasons")?,
        ],
        vec![
            choice(org(0), tutor(), "attendance")?,
            choice(org(0), org(1), "contact_details")?,
            choice(org(3), tutor(), "health")?,
        ],
        vec![
            choice(org(0), tutor(), "attendance")?,
            choice(org(0), org(1), "contact_details")?,
        ],
    ];
    let mut consents = Vec::new();
    for (n, (identity, choices)) in pupils.into_iter().zip(plans).enumerate() {
        let c = s
            .sign(SignRequest {
                identity,
                network_id: network.id,
                template_id: template.id,
                purpose: Slug::follow_up(),
                choices,
                evidence: Evidence {
                    acr: "idporten-loa-substantial".into(),
                    amr: vec!["TestID".into()],
                    session_ref: format!("demo-session-{n}"),
                },
                actor: Actor::Pupil,
                home_municipality: None,
            })
            .await?;
        consents.push(c);
    }
    // The second pupil stops sharing with the follow-up service; the third withdraws all.
    if let [_, second, third] = consents.as_slice() {
        s.withdraw(
            second.id,
            &Withdrawal::Organisation { org_id: ids[1] },
            &Actor::Pupil,
        )
        .await?;
        s.withdraw(third.id, &Withdrawal::All, &Actor::Pupil)
            .await?;
    }
    for (n, role) in demo_staff() {
        let network = (role == "tutor").then_some((network.id, "NAV-veileder (demo)"));
        s.grant_role(&n, role, network, by).await?;
    }
    // The demo tutor follows the demo pupils up, by first names they gave them.
    if let Some((n, _)) = demo_staff().into_iter().find(|(_, r)| *r == "tutor") {
        if let Some(tutor) = s.tutor(&s.staff_subject(&n)).await? {
            for (pupil, name) in demo_pupil_numbers().iter().zip(DEMO_NICKNAMES) {
                s.enrol_for_tutor(&tutor, network.id, pupil, name).await?;
            }
        }
    }
    Ok(Some(DemoInfo {
        client_id: client.client_id.to_string(),
        network_id: network.id,
    }))
}

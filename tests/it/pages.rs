//! The pupil's journey through the pages, logged in through the development
//! provider (the same relying-party code as ID-porten), with the database checked
//! after every step.

use reqwest::StatusCode;
use samtykke::domain::identity::IdentityNumber;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::browser::{fields, Browser, Page};
use crate::helpers::{pupil, spawn_pages, TestApp};
use samtykke::domain::consent::Party;

pub const SUBSTANTIAL: &str = "idporten-loa-substantial";

pub async fn pupil_id(app: &TestApp, pid: &str) -> Uuid {
    let n = IdentityNumber::parse(pid).unwrap();
    app.services
        .find_pupil(&n)
        .await
        .unwrap()
        .expect("enrolled at login")
}

/// A party as the choose form writes it: `tutor`, `<org>` or `<org>.<role>`.
fn party(p: &Party) -> String {
    match p {
        Party::Tutor => "tutor".into(),
        Party::Org { org_id, role: None } => org_id.to_string(),
        Party::Org {
            org_id,
            role: Some(r),
        } => format!("{org_id}.{r}"),
    }
}

/// The grants in force for the pupil, as `discloser>recipient:category`.
pub async fn in_force(app: &TestApp, pupil: Uuid) -> Vec<String> {
    let (_, current) = app.services.consents_in_force(pupil).await.unwrap();
    let mut v: Vec<String> = current
        .iter()
        .flat_map(|c| c.grants_in_force())
        .map(|g| {
            format!(
                "{}>{}:{}",
                party(&g.discloser),
                party(&g.recipient),
                g.category.as_str()
            )
        })
        .collect();
    v.sort();
    v
}

/// Answers every step of choosing, service by service, as a browser without
/// JavaScript would: `pick(field, value)` says which boxes to tick, and a step
/// with none ticked is answered "nothing with this service". Returns the review.
pub async fn choose_all(
    b: &mut Browser,
    first: Page,
    pick: impl Fn(&Page, &str, &str) -> bool,
) -> Page {
    let mut page = first;
    let mut sent = Vec::new();
    for _ in 0..20 {
        assert_eq!(page.status, StatusCode::OK, "after {sent:?}: {}", page.body);
        if page.has("action=\"/consent/sign\"") {
            return page;
        }
        let mut form = page.hidden("/consent/choose");
        form.retain(|(k, _)| k != "action");
        let mut any = false;
        for field in ["s", "t", "r"] {
            for v in page.inputs(field) {
                if pick(&page, field, &v) {
                    any = true;
                    form.push((field.to_owned(), v));
                }
            }
        }
        form.push(("action".into(), if any { "next" } else { "none" }.into()));
        page = b.post("/consent/choose", &form).await;
        sent = form;
    }
    panic!("the steps never ended");
}

pub async fn fjordvik(app: &TestApp) -> String {
    app.services
        .network_by_name("Fjordvik vgs")
        .await
        .unwrap()
        .id
        .to_string()
}

/// The demo school's organisation id.
pub async fn fjordvik_school(app: &TestApp) -> String {
    let orgs = app.services.orgs().await.unwrap();
    orgs.iter()
        .find(|o| o.name == "Fjordvik videregående skole")
        .unwrap()
        .id
        .to_string()
}

/// A consent signed at the demo school's network on the agreement published now
/// (as the admin API registers one signed elsewhere).
pub async fn sign_at_fjordvik(app: &TestApp, number: &str, choices: serde_json::Value) {
    let templates = app.get("/api/v1/templates").await;
    let template = templates
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|t| t["status"] == "published")
        .unwrap()["id"]
        .clone();
    let body = serde_json::json!({
        "identity_number": number,
        "network_id": fjordvik(app).await,
        "template_id": template,
        "choices": choices,
        "evidence": crate::helpers::evidence(),
    });
    let (status, v) = app.post("/api/v1/consents", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

/// Logs in a new pupil and returns the browser and the choose page's values.
pub async fn logged_in(app: &TestApp, pid: &str) -> Browser {
    let mut b = Browser::new(&app.base);
    let cb = b.dev_login(pid, SUBSTANTIAL).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    b
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_pupil_reads_chooses_signs_changes_and_withdraws() {
    let app = spawn_pages(|_| {}).await;
    let pid = pupil(2009, 1, 15, 7);
    let mut b = Browser::new(&app.base);
    let cb = b.dev_login(&pid, SUBSTANTIAL).await;
    assert_eq!(
        cb.location.as_deref(),
        Some("/consent"),
        "a new pupil starts reading"
    );
    let session_cookie = b.cookie("samtykke_session").unwrap().to_owned();
    let me = pupil_id(&app, &pid).await;
    assert!(in_force(&app, me).await.is_empty());

    // Read: the agreement, the tutor, and the school to choose.
    let read = b.get("/consent").await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.has("<html lang=\"nb\""));
    assert!(read.has("Hvem veilederen din er") && read.has("De brukes ikke til å vurdere deg"));
    assert!(read.has("Du kan få hjelp av NAV-veilederen på skolen selv om du sier nei"));
    assert!(read.has("Dette deles etter loven, også uten samtykke"));
    assert!(!read.has("fingeravtrykk"), "no hashes for pupils");
    assert_eq!(read.inputs("network").len(), 2, "both schools are offered");
    let network = fjordvik(&app).await;

    // Choose, service by service: nothing ticked, the school first.
    let first = b.get(&format!("/consent/choose?network={network}")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(!first.has(" checked"), "nothing is pre-selected");
    assert!(first.has("Tjeneste 1 av 7") && first.has("Fjordvik videregående skole"));
    let csrf = first.input("csrf").unwrap();
    let orgs = app.services.orgs().await.unwrap();
    let id = |name: &str| orgs.iter().find(|o| o.name == name).unwrap().id.to_string();
    let (school, ot) = (
        id("Fjordvik videregående skole"),
        id("Oppfølgingstjenesten i Fjordvik"),
    );
    let attendance = format!("{school}>tutor:attendance");
    let counsellor = format!("tutor>{school}.counsellor:contact_reasons");
    let school_to_ot = format!("{school}>{ot}:attendance");
    let ot_contact = format!("{ot}>tutor:contact_details");

    // Telling the school something, but not whom at the school: asked again.
    let mut form = first.hidden("/consent/choose");
    form.extend(fields(&[("t", "contact_reasons"), ("action", "next")]));
    let again = b.post("/consent/choose", &form).await;
    assert_eq!(again.status, StatusCode::OK, "{form:?} {}", first.body);
    assert!(
        again.has("Velg hvem der veilederen kan fortelle det til"),
        "{}",
        again.body
    );
    assert!(in_force(&app, me).await.is_empty());

    // The school tells the tutor absence; the tutor tells the counsellor why; the
    // school tells OT absence; "nothing" to every other service.
    let picks = [attendance.clone(), school_to_ot.clone()];
    let at_school = |p: &Page| p.has("<h1>Fjordvik videregående skole");
    let review = choose_all(&mut b, again, |page, field, v| match field {
        "s" => picks.iter().any(|p| p == v),
        "t" => at_school(page) && v == "contact_reasons",
        "r" => at_school(page) && v == "counsellor",
        _ => false,
    })
    .await;
    assert!(
        review.has("Fjordvik videregående skole kan fortelle NAV-veilederen din:"),
        "{}",
        review.body
    );
    assert!(review.has("NAV-veilederen din kan fortelle Rådgiveren, Fjordvik videregående skole:"));
    assert!(review.has("personvernombud@fjordvik.example") && review.has("Datatilsynet"));
    assert!(review.has("Du får hjelp selv om du sier nei"));
    assert!(
        in_force(&app, me).await.is_empty(),
        "reviewing stores nothing"
    );

    // A sign form with more than the review showed signs nothing.
    let mut more = review.hidden("/consent/sign");
    more.push(("c".into(), format!("{school}>tutor:grades")));
    let refused = b.post("/consent/sign", &more).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.has("ikke det du så over"), "{}", refused.body);
    assert!(in_force(&app, me).await.is_empty());

    // Sign: the consent and its evidence are stored; the receipt is shown.
    let sign = review.hidden("/consent/sign");
    let signed = b.post("/consent/sign", &sign).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let to = signed.location.clone().unwrap();
    assert!(to.ends_with("?done=signed"), "{to}");
    assert_eq!(
        in_force(&app, me).await,
        sorted(vec![
            attendance.clone(),
            counsellor.clone(),
            school_to_ot.clone()
        ])
    );
    let (all, current) = app.services.consents_in_force(me).await.unwrap();
    let consent = current.unwrap();
    assert_eq!(consent.evidence.acr, SUBSTANTIAL);
    assert_eq!(consent.evidence.amr, vec!["TestID".to_owned()]);
    assert_eq!(all.len(), 1);

    // The same form again: a clear page, nothing signed twice.
    let again = b.post("/consent/sign", &sign).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.has("allerede lagret"));
    assert_eq!(app.services.consents_in_force(me).await.unwrap().0.len(), 1);

    // The receipt: a page and a JWS that verifies against the published keys.
    let receipt = b.follow(signed).await;
    assert_eq!(receipt.status, StatusCode::OK);
    assert!(receipt.has("Kvittering for samtykket ditt") && receipt.has("Steg 4 av 4"));
    assert!(!receipt.has("idporten-loa"), "no jargon on the receipt");
    let jws = b
        .get(&format!("/me/receipts/{}/receipt.jws", consent.id))
        .await;
    assert_eq!(jws.status, StatusCode::OK);
    assert_eq!(jws.headers["content-type"], "application/jose");
    let claims = verify_receipt(&app, &jws.body).await;
    assert_eq!(claims["consent"]["id"], consent.id.to_string());
    assert_eq!(claims["consent"]["grants"].as_array().unwrap().len(), 3);
    assert!(
        !claims.to_string().contains(&pid),
        "no identity number in the receipt"
    );

    // Change: what is shared now is ticked; one stops, one is new.
    let first = b.get("/consent/choose").await;
    assert_eq!(
        first.body.matches(" checked").count(),
        3,
        "absence, why, the counsellor"
    );
    let picks = [school_to_ot.clone(), ot_contact.clone()];
    let review = choose_all(&mut b, first, |page, field, v| match field {
        "s" => picks.iter().any(|p| p == v),
        "t" => at_school(page) && v == "contact_reasons",
        "r" => at_school(page) && v == "counsellor",
        _ => false,
    })
    .await;
    assert!(review.has("Stopper straks når du signerer"));
    let changed = b
        .post("/consent/sign", &review.hidden("/consent/sign"))
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert!(changed
        .location
        .unwrap()
        .ends_with(&format!("{}?done=changed", consent.id)));
    assert_eq!(
        in_force(&app, me).await,
        sorted(vec![
            counsellor.clone(),
            school_to_ot.clone(),
            ot_contact.clone()
        ])
    );

    // Withdraw one grant: a confirmation first, then it stops at once.
    let mine = b.get("/me/consents").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.has("Fjordvik videregående skole kan fortelle Oppfølgingstjenesten i Fjordvik:"));
    let why = app.services.consents_in_force(me).await.unwrap().1.unwrap();
    let why = why
        .grants_in_force()
        .find(|g| g.category.as_str() == "contact_reasons")
        .unwrap()
        .id
        .to_string();
    let one = fields(&[("csrf", &csrf), ("scope", "grant"), ("id", &why)]);
    let confirm = b.post("/me/consents/withdraw", &one).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Er du sikker?") && confirm.has("Rådgiveren"));
    assert!(
        confirm.has("kan de ha skrevet ned"),
        "what withdrawal does not undo"
    );
    assert_eq!(
        in_force(&app, me).await.len(),
        3,
        "asking to confirm changes nothing"
    );
    let yes = confirm.hidden("/me/consents/withdraw/confirm");
    let done = b.post("/me/consents/withdraw/confirm", &yes).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(in_force(&app, me).await.len(), 2);
    let twice = b.post("/me/consents/withdraw/confirm", &yes).await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "a second click changes nothing"
    );
    assert_eq!(in_force(&app, me).await.len(), 2);
    let page = b.follow(done).await;
    assert!(page.has("Ferdig. Det du trakk tilbake deles ikke lenger."));

    // Who has asked: a decision about this pupil shows on their page.
    let (status, _) = app
        .post(
            "/api/v1/policy/explain",
            json!({ "org_id": ot, "pupil_id": me, "category": "attendance" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let log = b.get("/me/access-log").await;
    assert_eq!(log.status, StatusCode::OK);
    assert_eq!(log.body.matches("<tr><td>").count(), 1, "{}", log.body);
    assert!(log.has("Fikk (du sa ja)"), "{}", log.body);

    // Withdraw everything in one click (and a confirmation).
    let all = fields(&[("csrf", &csrf), ("scope", "all"), ("id", "")]);
    let confirm = b.post("/me/consents/withdraw", &all).await;
    assert!(confirm.has("Fra nå av deles ingenting mer om deg"));
    let done = b
        .post(
            "/me/consents/withdraw/confirm",
            &confirm.hidden("/me/consents/withdraw/confirm"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(in_force(&app, me).await.is_empty());
    let mine = b.get("/me/consents").await;
    assert!(mine.has("Du har ikke noe samtykke som gjelder"));
    assert!(
        mine.has("Du trakk tilbake")
            && mine.has("Du endret valgene dine")
            && mine.has("Du signerte")
    );

    // Languages: asked for, then remembered.
    let en = b.get("/me/consents?lang=en").await;
    assert!(en.has("<html lang=\"en\"") && en.has("What I have said yes to"));
    let still = b.get("/me/access-log").await;
    assert!(still.has("<html lang=\"en\"") && still.has("Who has asked about me"));
    let nn = b.get("/?lang=nn").await;
    assert!(nn.has("<html lang=\"nn\"") && nn.has("Du bestemmer kva som blir delt om deg"));

    // Log out here and at the provider; the old session cookie is worthless.
    let csrf = b.get("/me/consents").await.input("csrf").unwrap();
    let out = b.post("/auth/logout", &fields(&[("csrf", &csrf)])).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let to = out.location.clone().unwrap();
    assert!(to.contains("/dev-login/logout?"), "{to}");
    // The provider learns which client logs out, never the ID token: it carries
    // the identity number, and a URL lands in histories and logs.
    assert!(
        to.contains("client_id=") && !to.contains("id_token_hint"),
        "{to}"
    );
    let bye = b.follow(out).await;
    assert!(
        bye.has("You are logged out") || bye.has("Du er logga ut") || bye.has("Du er logget ut")
    );
    let gone = b.get("/me/consents").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(
        gone.location.as_deref(),
        Some("/auth/login?return=%2Fme%2Fconsents")
    );
    let mut thief = Browser::new(&app.base);
    thief.set_cookie("samtykke_session", &session_cookie);
    assert_eq!(
        thief.get("/me/consents").await.status,
        StatusCode::SEE_OTHER
    );
}

/// Checks a receipt's signature against /oauth/jwks, with the algorithm pinned.
pub async fn verify_receipt(app: &TestApp, jws: &str) -> Value {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
    let jwks: JwkSet = reqwest::get(format!("{}/oauth/jwks", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("consent-receipt+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_aud = false;
    decode::<Value>(jws, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn sessions_end_when_idle_and_after_their_lifetime() {
    let app = spawn_pages(|s| {
        s.session_idle_minutes = 30;
        s.session_absolute_minutes = 60;
    })
    .await;
    let mut b = logged_in(&app, &pupil(2008, 11, 2, 31)).await;
    let minute = 60_000;
    let cases = [
        (29, StatusCode::OK, "used within the idle time"),
        (29, StatusCode::OK, "used again: the idle time starts over"),
        (
            5,
            StatusCode::SEE_OTHER,
            "past the absolute lifetime of an hour",
        ),
    ];
    for (minutes, status, why) in cases {
        app.clock.advance(minutes * minute);
        assert_eq!(b.get("/me/consents").await.status, status, "{why}");
    }
    let mut idle = logged_in(&app, &pupil(2008, 11, 2, 32)).await;
    app.clock.advance(31 * minute);
    let page = idle.get("/me/consents").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "idle for 31 minutes");
}

/// A pupil who changes school keeps what they chose where the new place has the
/// same kind of service, sees what stops, and signs once.
#[tokio::test]
async fn a_pupil_who_changes_school_is_asked_who_should_still_know() {
    let app = spawn_pages(|_| {}).await;
    let first = samtykke::demo::demo_pupil_numbers()[0].expose_digits();
    let mut b = logged_in(&app, &first).await;
    let me = pupil_id(&app, &first).await;
    let before = in_force(&app, me).await;
    let orgs = app.services.orgs().await.unwrap();
    let id = |name: &str| orgs.iter().find(|o| o.name == name).unwrap().id.to_string();
    let (fjordvik, sundby) = (
        id("Fjordvik videregående skole"),
        id("Sundby videregående skole"),
    );
    let sundby_network = app.services.network_by_name("Sundby vgs").await.unwrap().id;

    let mine = b.get("/me/consents").await;
    assert!(mine.has("href=\"/consent?move=1\""));
    let read = b.get("/consent?move=1").await;
    assert!(read.has("name=\"move\" value=\"1\"") && read.inputs("network").len() == 2);
    let step = b
        .get(&format!(
            "/consent/choose?network={sundby_network}&home=9002&move=1"
        ))
        .await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.has("Sundby videregående skole"));
    // What the school told the tutor, and the tutor the counsellor, is carried over.
    for v in [
        format!("{sundby}&#62;tutor:attendance"),
        format!("{sundby}&#62;tutor:grades"),
    ] {
        assert!(
            step.has(&format!("value=\"{v}\" checked")),
            "{v}: {}",
            step.body
        );
    }
    let keep = |page: &Page, _: &str, v: &str| {
        page.has(&format!("value=\"{}\" checked", v.replace('>', "&#62;")))
    };
    let review = choose_all(&mut b, step, keep).await;
    assert!(
        review.has("Stopper straks når du signerer"),
        "what the new place lacks stops"
    );
    assert!(review.has("Oppfølgingstjenesten i Fjordvik"));
    let signed = b
        .post("/consent/sign", &review.hidden("/consent/sign"))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert!(
        signed.location.unwrap().ends_with("?done=signed"),
        "a new consent"
    );

    let (all, current) = app.services.consents_in_force(me).await.unwrap();
    let current = current.unwrap();
    assert_eq!(current.network_id, sundby_network);
    assert_eq!(
        current.home_municipality.as_ref().map(|m| m.as_str()),
        Some("9002")
    );
    assert_eq!(all.len(), 2, "the old consent is kept, replaced");
    let now = in_force(&app, me).await;
    let moved: Vec<String> = before
        .iter()
        .filter(|g| {
            g.starts_with(&format!("{fjordvik}>tutor"))
                || g.starts_with(&format!("tutor>{fjordvik}."))
        })
        .map(|g| g.replace(&fjordvik, &sundby))
        .collect();
    assert!(!moved.is_empty());
    assert_eq!(now, sorted(moved), "carried to the same kinds of service");
}

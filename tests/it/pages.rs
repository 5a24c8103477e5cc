//! The pupil's journey through the pages, logged in through the development
//! provider (the same relying-party code as ID-porten), with the database checked
//! after every step.

use reqwest::StatusCode;
use samtykke::domain::identity::IdentityNumber;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::browser::{fields, Browser};
use crate::helpers::{pupil, spawn_pages, TestApp};

pub const SUBSTANTIAL: &str = "idporten-loa-substantial";

pub async fn pupil_id(app: &TestApp, pid: &str) -> Uuid {
    let n = IdentityNumber::parse(pid).unwrap();
    app.services
        .find_pupil(&n)
        .await
        .unwrap()
        .expect("enrolled at login")
}

/// The (organisation, category) pairs in force for the pupil.
pub async fn in_force(app: &TestApp, pupil: Uuid) -> Vec<String> {
    let (_, current) = app.services.consents_in_force(pupil).await.unwrap();
    let mut v: Vec<String> = current
        .iter()
        .flat_map(|c| c.grants_in_force())
        .map(|g| format!("{}:{}", g.org_id, g.category.as_str()))
        .collect();
    v.sort();
    v
}

pub async fn fjordvik(app: &TestApp) -> String {
    app.services
        .network_by_name("Fjordvik vgs")
        .await
        .unwrap()
        .id
        .to_string()
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
    assert!(read.has("Hvem veilederen din er") && read.has("Hva de aldri brukes til"));
    assert_eq!(read.inputs("network").len(), 2, "both schools are offered");
    let network = fjordvik(&app).await;

    // Choose: nothing ticked, the local NAV office apart.
    let choose = b.get(&format!("/consent/choose?network={network}")).await;
    assert_eq!(choose.status, StatusCode::OK, "{}", choose.body);
    assert!(!choose.has(" checked"), "nothing is pre-selected");
    assert!(choose.has("Ditt lokale NAV-kontor"));
    let offered = choose.inputs("c");
    assert!(offered.len() >= 4, "{offered:?}");
    let csrf = choose.input("csrf").unwrap();

    // Review: shown in words, nothing stored yet.
    let mut form = fields(&[("csrf", &csrf), ("network", &network)]);
    form.extend(offered[..3].iter().map(|v| ("c".to_owned(), v.clone())));
    let review = b.post("/consent/review", &form).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(review.has("kan se:"));
    assert!(
        in_force(&app, me).await.is_empty(),
        "reviewing stores nothing"
    );

    // Sign: the consent and its evidence are stored; the receipt is shown.
    let sign = review.hidden("/consent/sign");
    let signed = b.post("/consent/sign", &sign).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let to = signed.location.clone().unwrap();
    assert!(to.ends_with("?done=signed"), "{to}");
    assert_eq!(in_force(&app, me).await, sorted(offered[..3].to_vec()));
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
    let choose = b.get("/consent/choose").await;
    assert_eq!(choose.body.matches(" checked").count(), 3);
    let mut form = fields(&[("csrf", &csrf), ("network", &network)]);
    form.extend(offered[1..4].iter().map(|v| ("c".to_owned(), v.clone())));
    let review = b.post("/consent/review", &form).await;
    assert!(review.has("Stopper straks når du signerer"));
    let changed = b
        .post("/consent/sign", &review.hidden("/consent/sign"))
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert!(changed
        .location
        .unwrap()
        .ends_with(&format!("{}?done=changed", consent.id)));
    assert_eq!(in_force(&app, me).await, sorted(offered[1..4].to_vec()));

    // Withdraw one grant: a confirmation first, then it stops at once.
    let mine = b.get("/me/consents").await;
    assert_eq!(mine.status, StatusCode::OK);
    let one = mine.hidden("/me/consents/withdraw");
    let confirm = b.post("/me/consents/withdraw", &one).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Er du sikker?"));
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

    // Who has looked: a decision about this pupil shows on their page.
    let shared = in_force(&app, me).await.remove(0);
    let (org, category) = shared.split_once(':').unwrap();
    let (status, _) = app
        .post(
            "/api/v1/policy/explain",
            json!({ "org_id": org, "pupil_id": me, "category": category }),
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
    assert!(confirm.has("Alle tjenester mister tilgangen"));
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
    assert!(en.has("<html lang=\"en\"") && en.has("My consents"));
    let still = b.get("/me/access-log").await;
    assert!(still.has("<html lang=\"en\"") && still.has("Who has looked at my data"));
    let nn = b.get("/?lang=nn").await;
    assert!(nn.has("<html lang=\"nn\"") && nn.has("Samtykket ditt til deling av opplysningar"));

    // Log out here and at the provider; the old session cookie is worthless.
    let csrf = b.get("/me/consents").await.input("csrf").unwrap();
    let out = b.post("/auth/logout", &fields(&[("csrf", &csrf)])).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.location
            .as_deref()
            .unwrap()
            .contains("/dev-login/logout?"),
        "{:?}",
        out.location
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

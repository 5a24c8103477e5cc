//! Withdrawal reaches partners: a signed event at their webhook, retried until
//! acknowledged, and visible to compliance officers until it is.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

use crate::helpers::{direct, obtain, pupil, sign_body, spawn_app, world, TestApp};
use crate::partner::Partner;
use samtykke::clock::Clock;

type Inbox = Arc<Mutex<Vec<(String, String)>>>;

/// A partner's webhook: fails the first delivery, accepts the rest (202).
async fn webhook() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: String) -> StatusCode {
        let mut v = inbox.lock().unwrap();
        let ctype = headers
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        v.push((ctype, body));
        if v.len() == 1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::ACCEPTED
        }
    }
    let app = Router::new()
        .route("/events", post(receive))
        .with_state(inbox.clone());
    let url = format!("{}/events", crate::helpers::serve_router(app).await);
    (url, inbox)
}

async fn get_token(app: &TestApp, p: &Partner, identity: &str, audience: &str) -> Value {
    let f = [
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
        ("client_assertion", p.assertion("http://127.0.0.1/oauth/token", app.clock.now())),
        ("grant_type", "client_credentials".into()),
        ("scope", "pupil:attendance:read".into()),
        ("authorization_details", json!([{ "type": "pupil_data", "pupil": identity, "purpose": "follow_up", "audience": audience }]).to_string()),
    ];
    let res = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_withdrawal_is_pushed_signed_retried_and_acknowledged() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (url, inbox) = webhook().await;
    let ot = Partner::new("ot-case");
    app.created("/api/v1/clients", json!({ "client_id": "ot-case", "org_id": w.ot, "name": "OT", "scopes": ["pupil:attendance:read"], "jwks": ot.jwks, "webhook_url": url })).await;
    let quiet = Partner::new("ot-archive");
    app.created("/api/v1/clients", json!({ "client_id": "ot-archive", "org_id": w.ot, "name": "OT archive", "scopes": ["pupil:attendance:read"], "jwks": quiet.jwks })).await;
    let school = app
        .get(&format!("/api/v1/organisations/{}", w.school))
        .await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let identity = pupil(2008, 6, 6, 6);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([
                    direct(&w.school, &w.ot, "attendance"),
                    obtain(&w.school, "grades")
                ]),
            ),
        )
        .await;
    let t = get_token(&app, &ot, &identity, &school).await;
    get_token(&app, &quiet, &identity, &school).await;

    // Withdrawing something no partner got a token for tells nobody.
    let grades = c["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category"] == "grades")
        .unwrap()["id"]
        .clone();
    app.post(
        &format!("/api/v1/consents/{}/withdrawals", c["id"].as_str().unwrap()),
        json!({ "scope": "grant", "grant_id": grades }),
    )
    .await;
    assert!(app
        .get("/api/v1/withdrawal-notices")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    let (st, _) = app
        .post(
            &format!("/api/v1/consents/{}/withdrawals", c["id"].as_str().unwrap()),
            json!({ "scope": "organisation", "org_id": w.ot }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // The background sender is woken at once; this round waits for it.
    app.services.deliver_due_notices().await.unwrap();
    assert_eq!(
        inbox.lock().unwrap().len(),
        1,
        "the first delivery is attempted"
    );
    let pending = app
        .get("/api/v1/withdrawal-notices?unacknowledged=true")
        .await;
    assert_eq!(
        pending.as_array().unwrap().len(),
        2,
        "the failed delivery and the client without a webhook: {pending}"
    );
    let failed = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["client_id"] == "ot-case")
        .unwrap()
        .clone();
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["last_error"], "HTTP 503");

    // Nothing is retried before the backoff; then the partner acknowledges it.
    app.services.deliver_due_notices().await.unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 1, "not before the backoff");
    app.clock.advance(samtykke::service::backoff(0));
    app.services.deliver_due_notices().await.unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 2, "retried after backoff");
    let all = app.get("/api/v1/withdrawal-notices").await;
    let n = all
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["client_id"] == "ot-case")
        .unwrap()
        .clone();
    assert!(
        n["acknowledged_at"].is_i64(),
        "the acknowledgement is recorded"
    );
    assert_eq!(n["attempts"], 2);
    let pending = app
        .get("/api/v1/withdrawal-notices?unacknowledged=true")
        .await;
    assert_eq!(
        pending.as_array().unwrap().len(),
        1,
        "only the partner without a webhook is outstanding"
    );
    assert_eq!(pending[0]["client_id"], "ot-archive");

    // The event is a SET signed with samtykke's published key, naming the pupil as
    // this partner knows them.
    let (ctype, set) = inbox.lock().unwrap()[1].clone();
    assert_eq!(ctype, "application/secevent+jwt");
    let header = jsonwebtoken::decode_header(&set).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let jwks: Value = reqwest::get(format!("{}/oauth/jwks", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
        .unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["ot-case"]);
    v.validate_exp = false;
    v.required_spec_claims = Default::default();
    let claims = jsonwebtoken::decode::<Value>(&set, &key, &v)
        .unwrap()
        .claims;
    let event = &claims["events"][samtykke::service::CONSENT_REVOKED];
    assert_eq!(event["scopes"], json!(["pupil:attendance:read"]));
    assert_eq!(event["reason"], "withdrawn");
    assert_eq!(
        event["subject"]["id"],
        t["authorization_details"][0]["pupil"]
    );
    assert!(!set.contains(&identity));
}

/// What rested on a guardian and ends (the pupil's birthday, or a new consent in
/// which it waits for a guardian again) is told to the partners holding tokens
/// for it, as a withdrawal is.
async fn lapse_or_resign(resign: bool) {
    let app = spawn_app().await;
    let w = world(&app).await;
    let ot = Partner::new("ot-lapse");
    app.created("/api/v1/clients", json!({ "client_id": "ot-lapse", "org_id": w.ot, "name": "OT", "scopes": ["pupil:attendance:read"], "jwks": ot.jwks })).await;
    let school = app
        .get(&format!("/api/v1/organisations/{}", w.school))
        .await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    // Fourteen, fifteen in ten days: attendance needs a guardian until then.
    let identity = pupil(2011, 12, 3, 7);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([direct(&w.school, &w.ot, "attendance")]),
            ),
        )
        .await;
    assert_eq!(c["grants"][0]["guardian"]["state"], "pending", "{c}");
    // Co-signed (set here directly; the flow itself is `guardians.rs`).
    let mut conn = crate::helpers::direct_connection(&app).await;
    sqlx::query("UPDATE guardian_parts SET state = 'signed'")
        .execute(&mut conn)
        .await
        .unwrap();
    let pid = c["pupil_id"].as_str().unwrap().parse().unwrap();
    app.services.refresh_pupil(pid);
    get_token(&app, &ot, &identity, &school).await;
    assert!(app
        .get("/api/v1/withdrawal-notices")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    if resign {
        // Signed again with the same choice: the new grant waits for a guardian
        // again, so the partner's access ends and it is told.
        app.created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([direct(&w.school, &w.ot, "attendance")]),
            ),
        )
        .await;
    } else {
        app.clock.advance(11 * samtykke::clock::DAY);
        app.services.minute_work().await.unwrap();
    }
    let notices = app.get("/api/v1/withdrawal-notices").await;
    assert_eq!(notices.as_array().unwrap().len(), 1, "{notices}");
    app.services.minute_work().await.unwrap();
    let again = app.get("/api/v1/withdrawal-notices").await;
    assert_eq!(again.as_array().unwrap().len(), 1, "told once");
}

#[tokio::test]
async fn a_grant_that_lapses_at_a_birthday_is_told_to_partners_holding_tokens() {
    lapse_or_resign(false).await;
}

#[tokio::test]
async fn a_co_signed_grant_signed_again_and_waiting_is_told_to_partners() {
    lapse_or_resign(true).await;
}

//! The authorization server as partners use it: client credentials with a signed
//! assertion, tokens narrowed by consent, introspection that follows withdrawals.

use jsonwebtoken::{jwk::Jwk, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{direct, pupil, sign_body, spawn_app, world, TestApp, World};
use crate::partner::Partner;
use samtykke::clock::Clock;

const ISSUER: &str = "http://127.0.0.1";

pub struct Scene {
    pub w: World,
    /// PPT's case system: the school may tell PPT absence and grades directly.
    pub ppt: Partner,
    pub ot: Partner,
    /// The school's system, the data holder every token here names.
    pub holder: Partner,
    pub school_number: String,
    pub identity: String,
    pub consent: String,
}

pub async fn register(app: &TestApp, p: &Partner, org: &str, scopes: &[&str]) {
    app.created("/api/v1/clients", json!({ "client_id": p.client_id, "org_id": org, "name": p.client_id, "scopes": scopes, "jwks": p.jwks })).await;
}

pub async fn scene(app: &TestApp) -> Scene {
    let w = world(app).await;
    let ppt = Partner::new("ppt-case");
    register(
        app,
        &ppt,
        &w.ppt,
        &[
            "pupil:attendance:read",
            "pupil:grades:read",
            "pupil:health:read",
        ],
    )
    .await;
    let ot = Partner::new("ot-case");
    register(
        app,
        &ot,
        &w.ot,
        &["pupil:attendance:read", "pupil:contact_details:read"],
    )
    .await;
    let holder = Partner::new("school-admin");
    register(app, &holder, &w.school, &["pupil:attendance:read"]).await;
    let school_number = app
        .get(&format!("/api/v1/organisations/{}", w.school))
        .await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let identity = pupil(2008, 2, 20, 5);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([
                    direct(&w.school, &w.ppt, "attendance"),
                    direct(&w.school, &w.ppt, "grades"),
                    direct(&w.school, &w.ot, "attendance"),
                ]),
            ),
        )
        .await;
    Scene {
        w,
        ppt,
        ot,
        holder,
        school_number,
        identity,
        consent: c["id"].as_str().unwrap().to_owned(),
    }
}

fn details(identity: &str, audience: &str) -> String {
    json!([{ "type": "pupil_data", "pupil": identity, "purpose": "follow_up", "audience": audience }]).to_string()
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, String)]) -> (StatusCode, Value) {
    let res = app
        .http
        .post(format!("{}{path}", app.base))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn auth(p: &Partner, app: &TestApp, aud: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        ("client_assertion", p.assertion(aud, app.clock.now())),
    ]
}

pub async fn token(
    app: &TestApp,
    p: &Partner,
    scope: &str,
    identity: &str,
    audience: &str,
) -> (StatusCode, Value) {
    let issuer = app.settings.public_url.trim_end_matches('/');
    let mut f = auth(p, app, &format!("{issuer}/oauth/token"));
    f.push(("grant_type", "client_credentials".into()));
    f.push(("scope", scope.into()));
    f.push(("authorization_details", details(identity, audience)));
    form(app, "/oauth/token", &f).await
}

pub async fn introspect(app: &TestApp, p: &Partner, t: &str) -> Value {
    let mut f = auth(p, app, app.settings.public_url.trim_end_matches('/'));
    f.push(("token", t.into()));
    let (status, v) = form(app, "/oauth/introspect", &f).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// Verifies an access token the way a data holder does: against the published JWKS.
async fn verify_locally(app: &TestApp, t: &str, aud: &str) -> Value {
    let jwks: Value = reqwest::get(format!("{}/oauth/jwks", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(t).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
        .unwrap();
    let key = DecodingKey::from_jwk(&serde_json::from_value::<Jwk>(jwk.clone()).unwrap()).unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false; // the test clock is not the wall clock
    v.required_spec_claims = ["exp", "iat", "iss", "aud", "sub", "jti"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    jsonwebtoken::decode::<Value>(t, &key, &v).unwrap().claims
}

#[tokio::test]
async fn a_token_after_the_database_dropped_idle_connections_is_issued() {
    let app = spawn_app().await;
    if app.backend != samtykke::config::Backend::Postgres {
        return; // only a database server drops connections
    }
    let s = scene(&app).await;
    let ask = || {
        token(
            &app,
            &s.ppt,
            "pupil:attendance:read",
            &s.identity,
            &s.school_number,
        )
    };
    // Sequential requests take turns between the writers: each has written.
    for _ in 0..4 {
        let (status, t) = ask().await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }
    // The server ends every session but this one, as a restart or an idle timeout
    // would. An idle writer holds no connection, so the next token request gets one
    // the pool has checked, and nobody sees the loss.
    let mut c = crate::helpers::direct_connection(&app).await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(!ended.is_empty(), "the writer's connection was among them");
    drop(c);
    for _ in 0..4 {
        let (status, t) = ask().await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }
}

#[tokio::test]
async fn a_token_carries_exactly_what_consent_allows_and_no_identity_number() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        app.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );

    let (status, t) = token(
        &app,
        &s.ppt,
        "pupil:attendance:read pupil:grades:read pupil:health:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        t["scope"], "pupil:attendance:read pupil:grades:read",
        "narrowed to what the pupil shared"
    );
    assert_eq!(t["expires_in"], 120);
    let at = t["access_token"].as_str().unwrap();
    let claims = verify_locally(&app, at, &s.school_number).await;
    assert_eq!(claims["sub"], "ppt-case");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let raw = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            at.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        !raw.contains(&s.identity),
        "the identity number is never in a token"
    );
    assert!(!t.to_string().contains(&s.identity));

    // Pairwise: two partners get unlinkable names for the same pupil.
    let (status, ot) = token(
        &app,
        &s.ot,
        "pupil:attendance:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ot}");
    let school_name = &t["authorization_details"][0]["pupil"];
    assert_ne!(school_name, &ot["authorization_details"][0]["pupil"]);
    let (_, again) = token(
        &app,
        &s.ppt,
        "pupil:attendance:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    assert_eq!(
        &again["authorization_details"][0]["pupil"], school_name,
        "stable for one partner"
    );
    let events = crate::helpers::token_events(&app).await;
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|(r, o)| o.outcome == "issued" && r.pupil.is_some() && o.detail.contains("granted:")));
    assert!(
        events.iter().all(|(_, o)| !o.detail.contains(&s.identity)),
        "no identity number in the audit detail"
    );
}

#[tokio::test]
async fn introspection_follows_withdrawal_revocation_and_expiry() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let (_, t) = token(
        &app,
        &s.ot,
        "pupil:attendance:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let by_client = introspect(&app, &s.ot, &at).await;
    assert_eq!(by_client["active"], true);
    assert!(
        by_client.get("pupil_identity_number").is_none(),
        "the requesting partner never learns the number"
    );
    let by_holder = introspect(&app, &s.holder, &at).await;
    assert_eq!(by_holder["active"], true);
    assert_eq!(
        by_holder["pupil_identity_number"],
        s.identity.as_str(),
        "the audience data holder learns who it is"
    );
    let stranger = Partner::new("stranger");
    register(&app, &stranger, &s.w.ppt, &["pupil:attendance:read"]).await;
    assert_eq!(
        introspect(&app, &stranger, &at).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, &s.ot, "not-a-token").await,
        json!({ "active": false })
    );

    // The pupil withdraws the OT grant: the outstanding token dies at once.
    let (st, _) = app
        .post(
            &format!("/api/v1/consents/{}/withdrawals", s.consent),
            json!({ "scope": "organisation", "org_id": s.w.ot }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        introspect(&app, &s.ot, &at).await,
        json!({ "active": false })
    );

    // Revocation by the client it was issued to.
    let (_, t2) = token(
        &app,
        &s.ppt,
        "pupil:attendance:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    let at2 = t2["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&app, &s.ppt, &at2).await["active"], true);
    let mut f = auth(&s.ppt, &app, ISSUER);
    f.push(("token", at2.clone()));
    let (status, _) = form(&app, "/oauth/revoke", &f).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&app, &s.ppt, &at2).await["active"], false);

    // Expiry.
    let (_, t3) = token(
        &app,
        &s.ppt,
        "pupil:grades:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    let at3 = t3["access_token"].as_str().unwrap().to_owned();
    app.clock.advance(121_000);
    assert_eq!(introspect(&app, &s.ppt, &at3).await["active"], false);
}

#[tokio::test]
async fn every_kind_of_no_is_one_access_denied() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let (st, _) = app
        .post(
            &format!("/api/v1/consents/{}/withdrawals", s.consent),
            json!({ "scope": "organisation", "org_id": s.w.ot }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let cases = [
        (
            "no such pupil",
            "pupil:attendance:read",
            pupil(2007, 3, 30, 1),
        ),
        ("withdrawn", "pupil:attendance:read", s.identity.clone()),
        (
            "never consented to this",
            "pupil:contact_details:read",
            s.identity.clone(),
        ),
    ];
    let mut bodies = Vec::new();
    for (name, scope, who) in cases {
        let (status, v) = token(&app, &s.ot, scope, &who, &s.school_number).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {v}");
        bodies.push(v.to_string());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let (status, v) = token(
        &app,
        &s.ppt,
        "pupil:health:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    assert_eq!(
        (status, v.to_string()),
        (StatusCode::FORBIDDEN, bodies[0].clone()),
        "a category the baseline denies"
    );
}

#[tokio::test]
async fn bad_token_requests_get_the_precise_oauth_error() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let now = app.clock.now();
    let aud = format!("{ISSUER}/oauth/token");
    let base = |grant: &str, scope: &str, det: String| {
        let mut f = auth(&s.ppt, &app, &aud);
        f.push(("grant_type", grant.into()));
        f.push(("scope", scope.into()));
        f.push(("authorization_details", det));
        f
    };
    let good_details = details(&s.identity, &s.school_number);
    let mut twice = base(
        "client_credentials",
        "pupil:attendance:read",
        good_details.clone(),
    );
    twice.push(("scope", "pupil:grades:read".into()));
    let mut no_auth = base(
        "client_credentials",
        "pupil:attendance:read",
        good_details.clone(),
    );
    no_auth.retain(|(k, _)| !k.starts_with("client_assertion"));
    let mut expired = base(
        "client_credentials",
        "pupil:attendance:read",
        good_details.clone(),
    );
    let mut c = s.ppt.claims(&aud, now);
    c["exp"] = json!(now / 1000 - 5);
    expired[1].1 = s.ppt.sign(&c);
    let mut string_exp = base(
        "client_credentials",
        "pupil:attendance:read",
        good_details.clone(),
    );
    let mut c = s.ppt.claims(&aud, now);
    c["exp"] = json!((now / 1000 + 60).to_string());
    string_exp[1].1 = s.ppt.sign(&c);
    let mut wrong_aud = base(
        "client_credentials",
        "pupil:attendance:read",
        good_details.clone(),
    );
    wrong_aud[1].1 = s.ppt.assertion("https://elsewhere.example/token", now);
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "password grant",
            base("password", "pupil:attendance:read", good_details.clone()),
            400,
            "unsupported_grant_type",
        ),
        (
            "scope never registered",
            base(
                "client_credentials",
                "pupil:contact_details:read",
                good_details.clone(),
            ),
            400,
            "invalid_scope",
        ),
        (
            "no scope",
            base("client_credentials", "", good_details.clone()),
            400,
            "invalid_scope",
        ),
        (
            "details not JSON",
            base("client_credentials", "pupil:attendance:read", "{".into()),
            400,
            "invalid_authorization_details",
        ),
        (
            "details of another type",
            base(
                "client_credentials",
                "pupil:attendance:read",
                json!([{ "type": "payment" }]).to_string(),
            ),
            400,
            "invalid_authorization_details",
        ),
        (
            "bad identity number",
            base(
                "client_credentials",
                "pupil:attendance:read",
                details("12345678901", &s.school_number),
            ),
            400,
            "invalid_authorization_details",
        ),
        (
            "unknown data holder",
            base(
                "client_credentials",
                "pupil:attendance:read",
                details(&s.identity, &crate::helpers::org_number(55)),
            ),
            400,
            "invalid_authorization_details",
        ),
        ("parameter twice", twice, 400, "invalid_request"),
        ("no client authentication", no_auth, 401, "invalid_client"),
        ("expired assertion", expired, 401, "invalid_client"),
        ("exp as a string", string_exp, 401, "invalid_client"),
        (
            "assertion for another server",
            wrong_aud,
            401,
            "invalid_client",
        ),
    ];
    for (name, f, status, error) in cases {
        let (got, v) = form(&app, "/oauth/token", &f).await;
        assert_eq!(got.as_u16(), status, "{name}: {v}");
        assert_eq!(v["error"], error, "{name}: {v}");
        assert!(v.get("access_token").is_none(), "{name}");
    }
    let issued: i64 = crate::helpers::count(&app, "issued_tokens").await;
    assert_eq!(issued, 0, "no bad request got a token");
    // Every refusal of an authenticated client is in the audit log, with the OAuth
    // error as the reason; of the five by callers who never authenticated, the
    // first is written as a sample and the rest are counted (`hardening.rs`).
    let events = crate::helpers::token_events(&app).await;
    assert_eq!(events.len(), 7 + 1);
    assert!(events.iter().all(|(_, o)| o.outcome == "refused"));
    assert!(events.iter().any(|(r, o)| o.reason == "invalid_request"
        && o.detail.contains("sample: 1 refused")
        && r.actor == samtykke::audit::Actor::Unauthenticated));
    assert!(events
        .iter()
        .any(|(r, o)| o.reason == "invalid_scope" && r.actor.to_string() == "client:ppt-case"));
    assert!(events.iter().all(|(_, o)| !o.detail.contains(&s.identity)));
}

#[tokio::test]
async fn replays_disabled_organisations_and_tampered_tokens() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let aud = format!("{ISSUER}/oauth/token");
    let assertion = s.ppt.assertion(&aud, app.clock.now());
    let f = |a: &str| {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a.to_string()),
            ("grant_type", "client_credentials".into()),
            ("scope", "pupil:attendance:read".into()),
            (
                "authorization_details",
                details(&s.identity, &s.school_number),
            ),
        ]
    };
    let (status, t) = form(&app, "/oauth/token", &f(&assertion)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = form(&app, "/oauth/token", &f(&assertion)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "a replayed jti"
    );

    // At introspection the jti is used up in the answer's own write: a replay,
    // even sent at the same moment, gets no answer, and the refusal is recorded.
    let at = t["access_token"].as_str().unwrap();
    let issuer = app.settings.public_url.trim_end_matches('/').to_owned();
    let once = s.ppt.assertion(&issuer, app.clock.now());
    let ask = vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
        ),
        ("client_assertion", once),
        ("token", at.to_owned()),
    ];
    let (first, second) = tokio::join!(
        form(&app, "/oauth/introspect", &ask),
        form(&app, "/oauth/introspect", &ask)
    );
    let mut outcomes = [first, second];
    outcomes.sort_by_key(|(st, _)| *st);
    assert_eq!(outcomes[0].0, StatusCode::OK, "{}", outcomes[0].1);
    assert_eq!(outcomes[0].1["active"], true);
    assert_eq!(
        (outcomes[1].0, outcomes[1].1["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "a replayed jti at introspection: {}",
        outcomes[1].1
    );
    let v = app.get("/api/v1/audit/entries?after=0&limit=10000").await;
    let refusals = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["body"]
                .as_str()
                .is_some_and(|b| b.contains("replayed assertion") && b.contains("introspect"))
        })
        .count();
    assert_eq!(refusals, 1, "the replay is recorded once");

    // A tampered token is inactive; so is one signed by someone else's key.
    let mut parts: Vec<String> = at.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1])
            .unwrap(),
    )
    .unwrap();
    claims["scope"] = json!("pupil:attendance:read pupil:health:read");
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&claims).unwrap(),
    );
    assert_eq!(
        introspect(&app, &s.ppt, &parts.join(".")).await,
        json!({ "active": false })
    );
    let forged = s.ot.sign(&claims);
    assert_eq!(
        introspect(&app, &s.ppt, &forged).await,
        json!({ "active": false })
    );

    // A disabled organisation's clients authenticate no more.
    let (st, _) = app
        .json(
            reqwest::Method::PATCH,
            &format!("/api/v1/organisations/{}", s.w.ppt),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (status, v) = form(
        &app,
        "/oauth/token",
        &f(&s.ppt.assertion(&aud, app.clock.now())),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{v}"
    );
}

#[tokio::test]
async fn keys_rotate_with_overlap() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    assert_eq!(
        published_keys(&app).await,
        2,
        "current and next are published"
    );
    let old = attendance_token(&app, &s).await;
    let (st, rotated) = app.post("/api/v1/keys/rotate", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let new = attendance_token(&app, &s).await;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(),
        new_kid
    );
    assert_ne!(
        jsonwebtoken::decode_header(&old).unwrap().kid,
        jsonwebtoken::decode_header(&new).unwrap().kid
    );
    // The old key stays published while its tokens live.
    verify_locally(&app, &old, &s.school_number).await;
    assert_eq!(introspect(&app, &s.ppt, &old).await["active"], true);
    assert_eq!(published_keys(&app).await, 3, "retired, current and next");
    app.clock.advance(121_000);
    app.services.reload_keys().await.unwrap();
    assert_eq!(
        published_keys(&app).await,
        2,
        "the retired key goes once its tokens have expired"
    );
}

/// Serves a JWK set the test can change.
async fn jwks_server(set: Value) -> (String, std::sync::Arc<std::sync::Mutex<Value>>) {
    use axum::{extract::State, routing::get, Json, Router};
    let shared = std::sync::Arc::new(std::sync::Mutex::new(set));
    async fn serve(State(s): State<std::sync::Arc<std::sync::Mutex<Value>>>) -> Json<Value> {
        Json(s.lock().unwrap().clone())
    }
    let app = Router::new()
        .route("/jwks", get(serve))
        .with_state(shared.clone());
    let url = format!("{}/jwks", crate::helpers::serve_router(app).await);
    (url, shared)
}

fn keys_of(parts: &[&Partner]) -> Value {
    json!({ "keys": parts.iter().map(|p| p.jwks["keys"][0].clone()).collect::<Vec<_>>() })
}

#[tokio::test]
async fn client_keys_rotate_with_overlap_inline_or_by_url() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let scope = "pupil:attendance:read";
    let ok = |t: &(StatusCode, Value)| t.0 == StatusCode::OK;

    // Inline: register old + new, then new alone.
    let new = Partner::with_kid("ppt-case", "school-admin-2");
    let (st, v) = app
        .json(
            reqwest::Method::PUT,
            "/api/v1/clients/ppt-case/keys",
            Some(json!({ "jwks": keys_of(&[&s.ppt, &new]) })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(
        ok(&token(&app, &s.ppt, scope, &s.identity, &s.school_number).await),
        "the old key works during the overlap"
    );
    assert!(
        ok(&token(&app, &new, scope, &s.identity, &s.school_number).await),
        "the new key works"
    );
    let (st, _) = app
        .json(
            reqwest::Method::PUT,
            "/api/v1/clients/ppt-case/keys",
            Some(json!({ "jwks": keys_of(&[&new]) })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "the old key is gone"
    );
    assert!(ok(
        &token(&app, &new, scope, &s.identity, &s.school_number).await
    ));

    // By URL: fetched, cached, fetched again for a kid it has not seen.
    let a = Partner::with_kid("ot-case", "ot-a");
    let b = Partner::with_kid("ot-case", "ot-b");
    let (url, served) = jwks_server(keys_of(&[&a])).await;
    let (st, v) = app
        .json(
            reqwest::Method::PUT,
            "/api/v1/clients/ot-case/keys",
            Some(json!({ "jwks_uri": url })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(
        ok(&token(&app, &a, scope, &s.identity, &s.school_number).await),
        "keys fetched from the URL"
    );
    *served.lock().unwrap() = keys_of(&[&a, &b]);
    // Refetching is limited to once a second per client, so a stranger sending made-up
    // kids cannot make samtykke hammer the partner's server.
    app.clock.advance(1_100);
    assert!(
        ok(&token(&app, &b, scope, &s.identity, &s.school_number).await),
        "an unknown kid makes samtykke fetch again"
    );

    let bad = [
        json!({ "jwks_uri": "http://partner.example/jwks" }),
        json!({ "jwks_uri": "ftp://127.0.0.1/jwks" }),
        json!({ "jwks": { "keys": [] } }),
        json!({}),
    ];
    for body in bad {
        let (st, v) = app
            .json(
                reqwest::Method::PUT,
                "/api/v1/clients/ot-case/keys",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    let (st, _) = app
        .json(
            reqwest::Method::PUT,
            "/api/v1/clients/nobody-here/keys",
            Some(json!({ "jwks": keys_of(&[&a]) })),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

async fn published_keys(app: &TestApp) -> usize {
    let jwks: Value = reqwest::get(format!("{}/oauth/jwks", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"].as_array().unwrap().len()
}

async fn attendance_token(app: &TestApp, s: &Scene) -> String {
    let (status, t) = token(
        app,
        &s.ppt,
        "pupil:attendance:read",
        &s.identity,
        &s.school_number,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t["access_token"].as_str().unwrap().to_owned()
}

async fn token_with_dpop(app: &TestApp, s: &Scene, proofs: &[String]) -> (StatusCode, Value) {
    let mut f = auth(&s.ppt, app, &format!("{ISSUER}/oauth/token"));
    f.push(("grant_type", "client_credentials".into()));
    f.push(("scope", "pupil:attendance:read".into()));
    f.push((
        "authorization_details",
        details(&s.identity, &s.school_number),
    ));
    let mut req = app.http.post(format!("{}/oauth/token", app.base)).form(&f);
    for p in proofs {
        req = req.header("DPoP", p);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_dpop_proof_binds_the_token_to_the_partners_key() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let htu = format!("{ISSUER}/oauth/token");
    let now = app.clock.now();
    let jkt = samtykke::tokens::jws::thumbprint(&s.ppt.public_jwk()).unwrap();

    let (status, v) = token_with_dpop(&app, &s, &[s.ppt.dpop("POST", &htu, now, "proof-1")]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "DPoP");
    let at = v["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            at.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["cnf"]["jkt"], jkt.as_str());
    let seen = introspect(&app, &s.ppt, at).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["cnf"]["jkt"], jkt.as_str());
    assert_eq!(seen["token_type"], "DPoP");

    // Without a proof the same client gets an unbound Bearer token.
    let (_, plain) = token_with_dpop(&app, &s, &[]).await;
    assert_eq!(plain["token_type"], "Bearer");

    let other = crate::partner::Partner::new("thief");
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "the same proof again",
            vec![s.ppt.dpop("POST", &htu, now, "proof-1")],
        ),
        (
            "another method",
            vec![s.ppt.dpop("GET", &htu, now, "proof-2")],
        ),
        (
            "another URI",
            vec![s.ppt.dpop(
                "POST",
                "https://elsewhere.example/oauth/token",
                now,
                "proof-3",
            )],
        ),
        (
            "made two minutes ago",
            vec![s.ppt.dpop("POST", &htu, now - 120_000, "proof-4")],
        ),
        (
            "two proofs",
            vec![
                s.ppt.dpop("POST", &htu, now, "proof-5"),
                s.ppt.dpop("POST", &htu, now, "proof-6"),
            ],
        ),
        ("not a JWT", vec!["garbage".into()]),
        (
            "a header naming a key that did not sign",
            vec![{
                let p = s.ppt.dpop("POST", &htu, now, "proof-7");
                let q = other.dpop("POST", &htu, now, "proof-7");
                format!(
                    "{}.{}",
                    p.rsplit_once('.').unwrap().0,
                    q.rsplit('.').next().unwrap()
                )
            }],
        ),
    ];
    let before = crate::helpers::count(&app, "issued_tokens").await;
    for (what, proofs) in cases {
        let (status, v) = token_with_dpop(&app, &s, &proofs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert_eq!(v["error"], "invalid_dpop_proof", "{what}: {v}");
        assert!(v.get("access_token").is_none());
    }
    assert_eq!(
        crate::helpers::count(&app, "issued_tokens").await,
        before,
        "no token for a bad proof"
    );
}

#[tokio::test]
async fn one_assertion_sent_many_times_at_once_gets_one_token() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let mut f = auth(&s.ppt, &app, &format!("{ISSUER}/oauth/token"));
    f.push(("grant_type", "client_credentials".into()));
    f.push(("scope", "pupil:attendance:read".into()));
    f.push((
        "authorization_details",
        details(&s.identity, &s.school_number),
    ));
    // Concurrent requests share a group commit: the replay must be caught inside it.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (http, url, f) = (
            app.http.clone(),
            format!("{}/oauth/token", app.base),
            f.clone(),
        );
        set.spawn(async move {
            let res = http.post(url).form(&f).send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let answers = set.join_all().await;
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{answers:?}");
    for (status, v) in answers.iter().filter(|(st, _)| *st != StatusCode::OK) {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"], "invalid_client");
    }
    assert_eq!(crate::helpers::count(&app, "issued_tokens").await, 1);
}

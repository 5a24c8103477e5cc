//! What each bad login, form or request gets on the pupil pages: a clear page with
//! a precise status, and no consent change. The provider here is a real HTTP
//! OpenID Provider whose ID tokens each case bends in one way.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::StatusCode;
use samtykke::tokens::signing::{generate, KeyRing};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

use crate::browser::{fields, Browser};
use crate::helpers::{count, pupil, spawn_pages, TestApp};
use crate::pages::{fjordvik, in_force, logged_in, pupil_id};

/// How the provider bends the next ID token.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bend {
    None,
    Nonce,
    Expired,
    Audience,
    Issuer,
    ForeignKey,
    AlgNone,
    LowAcr,
    NoPid,
    BadPid,
    ExpAsString,
    FutureIat,
}

struct Provider {
    base: String,
    keys: KeyRing,
    foreign: KeyRing,
    kid: String,
    bend: Bend,
    /// The nonce of the authorization request the test forwards.
    nonce: String,
    now: i64,
    pid: String,
}

type Shared = Arc<Mutex<Provider>>;

fn ring(kid: &str) -> KeyRing {
    let k = generate(kid.into()).unwrap();
    KeyRing::new(Some((k.kid, &k.pkcs8)), vec![k.public_jwk]).unwrap()
}

async fn discovery(State(p): State<Shared>) -> Json<Value> {
    let base = p.lock().unwrap().base.clone();
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "end_session_endpoint": format!("{base}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn jwks(State(p): State<Shared>) -> Json<Value> {
    Json(p.lock().unwrap().keys.jwks().clone())
}

async fn token(State(p): State<Shared>) -> Json<Value> {
    let p = p.lock().unwrap();
    let now = p.now / 1000;
    let mut claims = json!({
        "iss": p.base, "aud": "samtykke", "sub": "pairwise-sub", "iat": now, "exp": now + 120,
        "nonce": p.nonce, "acr": "idporten-loa-substantial", "amr": ["BankID"], "pid": p.pid,
    });
    match p.bend {
        Bend::Nonce => claims["nonce"] = json!("another"),
        Bend::Expired => {
            claims["iat"] = json!(now - 600);
            claims["exp"] = json!(now - 300);
        }
        Bend::Audience => claims["aud"] = json!("someone-else"),
        Bend::Issuer => claims["iss"] = json!("https://idporten.example"),
        Bend::LowAcr => claims["acr"] = json!("idporten-loa-low"),
        Bend::NoPid => {
            claims.as_object_mut().unwrap().remove("pid");
        }
        Bend::BadPid => claims["pid"] = json!("12345678901"),
        Bend::ExpAsString => claims["exp"] = json!((now + 120).to_string()),
        Bend::FutureIat => {
            claims["iat"] = json!(now + 600);
            claims["exp"] = json!(now + 900);
        }
        _ => {}
    }
    let id_token = match p.bend {
        Bend::ForeignKey => p.foreign.sign("JWT", &claims).unwrap(),
        Bend::AlgNone => format!(
            "{}.{}.",
            B64.encode(json!({"alg": "none", "kid": p.kid}).to_string()),
            B64.encode(claims.to_string())
        ),
        _ => p.keys.sign("JWT", &claims).unwrap(),
    };
    Json(
        json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": id_token }),
    )
}

async fn provider() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Mutex::new(Provider {
        base,
        keys: ring("op-1"),
        foreign: ring("op-1"),
        kid: "op-1".into(),
        bend: Bend::None,
        nonce: String::new(),
        now: 0,
        pid: pupil(2008, 6, 1, 11),
    }));
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    shared
}

async fn with_provider() -> (TestApp, Shared) {
    let op = provider().await;
    let issuer = op.lock().unwrap().base.clone();
    let app = spawn_pages(|s| {
        s.oidc_issuer = Some(issuer);
        s.oidc_client_secret = Some("test-secret".into());
        s.oidc_id_token_algs = "ES256".into();
    })
    .await;
    op.lock().unwrap().now = samtykke::clock::Clock::now(app.clock.as_ref());
    (app, op)
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// Starts a login, lets the provider answer with `bend`, and calls back.
async fn login(app: &TestApp, op: &Shared, bend: Bend) -> (Browser, crate::browser::Page) {
    let mut b = Browser::new(&app.base);
    let start = b.get("/auth/login?lang=en").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let to = start.location.unwrap();
    assert_eq!(param(&to, "acr_values"), "idporten-loa-substantial");
    assert_eq!(param(&to, "code_challenge_method"), "S256");
    assert_eq!(param(&to, "ui_locales"), "en");
    {
        let mut p = op.lock().unwrap();
        p.nonce = param(&to, "nonce");
        p.bend = bend;
    }
    let state = param(&to, "state");
    let page = b
        .get(&format!("/auth/callback?code=c0de&state={state}"))
        .await;
    (b, page)
}

#[tokio::test]
async fn each_bent_id_token_gets_a_clear_page_and_no_login() {
    let (app, op) = with_provider().await;
    let cases = [
        (Bend::None, StatusCode::SEE_OTHER, ""),
        (
            Bend::Nonce,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::Expired,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::Audience,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::Issuer,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::ForeignKey,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::AlgNone,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (Bend::LowAcr, StatusCode::FORBIDDEN, "higher security level"),
        (
            Bend::NoPid,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::BadPid,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::ExpAsString,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
        (
            Bend::FutureIat,
            StatusCode::BAD_REQUEST,
            "could not confirm your login",
        ),
    ];
    for (bend, status, text) in cases {
        let before = count(&app, "web_sessions").await;
        let (mut b, page) = login(&app, &op, bend).await;
        assert_eq!(page.status, status, "{bend:?}: {}", page.body);
        assert!(page.has(text), "{bend:?}: {}", page.body);
        let mine = b.get("/me/consents").await;
        if bend == Bend::None {
            assert_eq!(mine.status, StatusCode::OK, "the control case logs in");
            assert_eq!(count(&app, "web_sessions").await, before + 1);
        } else {
            assert_eq!(
                mine.status,
                StatusCode::SEE_OTHER,
                "{bend:?} must not log in"
            );
        }
    }
    let refused: i64 = {
        let mut c = crate::helpers::direct_connection(&app).await;
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'login' AND outcome = 'refused'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    };
    // Nobody had logged in: each refusal is counted, and the chain gets a sample
    // a minute (`tests/it/hardening.rs`), under the service's code for the reason.
    assert_eq!(refused, 1, "one sample in the audit log");
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = format!(
        "samtykke_unauthenticated_refusals_total{{endpoint=\"login\"}} {}",
        cases.len() - 1
    );
    assert!(text.contains(&counted), "{counted}");
    let pid = op.lock().unwrap().pid.clone();
    let logs = std::fs::read_dir(app.dir.path()).unwrap().count();
    assert!(logs > 0);
    assert!(
        !count_text_in_audit(&app, &pid).await,
        "the identity number is never written to the audit log"
    );
}

async fn count_text_in_audit(app: &TestApp, text: &str) -> bool {
    crate::helpers::log_rows(app)
        .await
        .iter()
        .any(|r| r.body.contains(text))
}

#[tokio::test]
async fn a_provider_key_rotation_is_picked_up_without_restart() {
    let (app, op) = with_provider().await;
    let (_, first) = login(&app, &op, Bend::None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    {
        let mut p = op.lock().unwrap();
        p.keys = ring("op-2");
        p.kid = "op-2".into();
    }
    let (_, second) = login(&app, &op, Bend::None).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
}

#[tokio::test]
async fn callbacks_that_did_not_start_here_change_nothing() {
    let (app, op) = with_provider().await;
    // No session at all.
    let mut stranger = Browser::new(&app.base);
    let page = stranger
        .get("/auth/callback?code=c0de&state=abc&lang=en")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.has("was not started here"));

    // A tampered state uses the flow up: the right state afterwards finds nothing.
    let mut b = Browser::new(&app.base);
    let to = b.get("/auth/login?lang=en").await.location.unwrap();
    op.lock().unwrap().nonce = param(&to, "nonce");
    let tampered = b.get("/auth/callback?code=c0de&state=forged").await;
    assert_eq!(tampered.status, StatusCode::BAD_REQUEST);
    let late = b
        .get(&format!(
            "/auth/callback?code=c0de&state={}",
            param(&to, "state")
        ))
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);

    // A replayed callback after a good login.
    let (mut b, ok) = login(&app, &op, Bend::None).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let replay = b.get("/auth/callback?code=c0de&state=whatever").await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);

    // The pupil cancelled at the provider.
    let mut b = Browser::new(&app.base);
    let to = b.get("/auth/login?lang=en").await.location.unwrap();
    let cancelled = b
        .get(&format!(
            "/auth/callback?error=access_denied&state={}",
            param(&to, "state")
        ))
        .await;
    assert_eq!(cancelled.status, StatusCode::BAD_REQUEST);
    assert!(cancelled.has("The login was cancelled"));
    assert_eq!(count(&app, "consents").await, 3, "only the demo's consents");
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_friendly_page() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = spawn_pages(|s| {
        s.oidc_issuer = Some(format!("http://{closed}"));
        s.oidc_client_secret = Some("x".into());
    })
    .await;
    let mut b = Browser::new(&app.base);
    let page = b.get("/auth/login?lang=en").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.has("The login service is not answering"));
    assert!(page.has("<html lang=\"en\""));
}

#[tokio::test]
async fn the_development_login_refuses_low_levels_and_real_numbers() {
    let app = spawn_pages(|_| {}).await;
    let mut b = Browser::new(&app.base);
    let low = b
        .dev_login(&pupil(2008, 6, 1, 12), "idporten-loa-low")
        .await;
    assert_eq!(low.status, StatusCode::FORBIDDEN);
    assert!(low.has("høyere sikkerhetsnivå"));
    // A number that is not synthetic is refused by the test provider itself.
    let start = b.get("/auth/login").await;
    let form = b.get(start.location.as_deref().unwrap()).await;
    let mut f = form.hidden("/dev-login/authorize");
    f.push(("pid".into(), "01010112345".into()));
    let refused = b.post("/dev-login/authorize", &f).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.has("ikke et gyldig syntetisk"));
    // Its token endpoint wants the client secret and a single-use code.
    let (status, _) = app
        .json(
            reqwest::Method::GET,
            "/dev-login/.well-known/openid-configuration",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let res = reqwest::Client::new()
        .post(format!("{}/dev-login/token", app.base))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn the_development_login_runs_only_on_localhost() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut s = crate::helpers::settings(&dir, "sqlite://x.db".into(), false);
    s.public_url = "https://samtykke.example".into();
    let e = samtykke::config::Config::from_settings(s).unwrap_err();
    assert!(e.to_string().contains("oidc_issuer"), "{e}");
}

#[tokio::test]
async fn bad_forms_get_a_clear_page_and_change_nothing() {
    let app = spawn_pages(|_| {}).await;
    let pid = pupil(2009, 2, 3, 21);
    let mut b = logged_in(&app, &pid).await;
    let me = pupil_id(&app, &pid).await;
    let network = fjordvik(&app).await;
    let choose = b.get(&format!("/consent/choose?network={network}")).await;
    let csrf = choose.input("csrf").unwrap();
    // The school may tell the tutor absence: offered on the first step.
    let good = choose.inputs("s")[0].clone();
    let school = good.split('>').next().unwrap().to_owned();
    let sundby = app
        .services
        .network_by_name("Sundby vgs")
        .await
        .unwrap()
        .school_id;
    let outside = format!("{sundby}>tutor:attendance");
    let unknown = format!("{school}>tutor:no_such_category");
    // The last service's step: answering it leads to the review.
    let last = "6";
    let step = |extra: &[(&str, &str)]| {
        let mut f = fields(&[("csrf", &csrf), ("network", &network), ("step", last)]);
        f.extend(fields(extra));
        f
    };

    type Case<'a> = (&'a str, Vec<(String, String)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no csrf",
            fields(&[("network", &network), ("step", last), ("c", &good)]),
            StatusCode::FORBIDDEN,
            "er utløpt",
        ),
        (
            "wrong csrf",
            fields(&[
                ("csrf", "forged"),
                ("network", &network),
                ("step", last),
                ("c", &good),
            ]),
            StatusCode::FORBIDDEN,
            "er utløpt",
        ),
        (
            "nothing chosen",
            step(&[]),
            StatusCode::BAD_REQUEST,
            "Du har ikke valgt noe",
        ),
        (
            // Left out: no step shows it, so it cannot be signed.
            "outside the pupil's services",
            step(&[("c", &outside)]),
            StatusCode::BAD_REQUEST,
            "Du har ikke valgt noe",
        ),
        (
            "unknown category",
            step(&[("c", &unknown)]),
            StatusCode::BAD_REQUEST,
            "kan ikke velges her",
        ),
        (
            "malformed choice",
            step(&[("c", "<script>")]),
            StatusCode::BAD_REQUEST,
            "Noe i skjemaet var ikke riktig",
        ),
        (
            "a box that is not this service's",
            step(&[("c", &good), ("s", &good)]),
            StatusCode::BAD_REQUEST,
            "Noe i skjemaet var ikke riktig",
        ),
        (
            "a role nobody has",
            fields(&[
                ("csrf", &csrf),
                ("network", &network),
                ("step", "0"),
                ("t", "contact_reasons"),
                ("r", "janitor"),
            ]),
            StatusCode::BAD_REQUEST,
            "Noe i skjemaet var ikke riktig",
        ),
        (
            "a step that does not exist",
            fields(&[
                ("csrf", &csrf),
                ("network", &network),
                ("step", "99"),
                ("c", &good),
            ]),
            StatusCode::BAD_REQUEST,
            "Noe i skjemaet var ikke riktig",
        ),
        (
            "unknown network",
            fields(&[
                ("csrf", &csrf),
                ("network", "nope"),
                ("step", last),
                ("c", &good),
            ]),
            StatusCode::BAD_REQUEST,
            "Velg skolen din",
        ),
        (
            "a home that is not a municipality",
            step(&[("c", &good), ("home", "Oslo")]),
            StatusCode::BAD_REQUEST,
            "Noe i skjemaet var ikke riktig",
        ),
    ];
    for (what, form, status, text) in &cases {
        for to in ["/consent/choose", "/consent/sign"] {
            let page = b.post(to, form).await;
            let want = if to == "/consent/sign" && *status != StatusCode::FORBIDDEN {
                // Without a reviewed, unused submission the sign form is refused first.
                StatusCode::CONFLICT
            } else {
                *status
            };
            assert_eq!(page.status, want, "{what} at {to}: {}", page.body);
            if want == *status {
                assert!(page.has(text), "{what} at {to}: {}", page.body);
            }
            assert!(!page.has("<script>"), "{what}: input is escaped");
            for english in ["below the age", "unknown", "not in the pupil"] {
                assert!(!page.has(english), "{what}: no English in a Norwegian page");
            }
        }
    }
    assert!(
        in_force(&app, me).await.is_empty(),
        "no bad form changed anything"
    );

    // Not a form, or far too large.
    let json = b
        .post_raw("/consent/choose", "application/json", "{}".into())
        .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("csrf={csrf}&c={}", "a".repeat(200_000));
    let big = b
        .post_raw("/consent/choose", "application/x-www-form-urlencoded", huge)
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Withdrawing without a consent, or with a form that names nothing of theirs.
    let none = b
        .post(
            "/me/consents/withdraw",
            &fields(&[("csrf", &csrf), ("scope", "all")]),
        )
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT);
    let review = b.post("/consent/choose", &step(&[("c", &good)])).await;
    assert_eq!(
        b.post("/consent/sign", &review.hidden("/consent/sign"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    for (scope, id, status) in [
        (
            "grant",
            uuid::Uuid::new_v4().to_string(),
            StatusCode::BAD_REQUEST,
        ),
        ("organisation", sundby.to_string(), StatusCode::BAD_REQUEST),
        ("grant", "not-a-uuid".into(), StatusCode::BAD_REQUEST),
        ("everything", String::new(), StatusCode::BAD_REQUEST),
    ] {
        let f = fields(&[("csrf", &csrf), ("scope", scope), ("id", &id)]);
        for to in ["/me/consents/withdraw", "/me/consents/withdraw/confirm"] {
            assert_eq!(b.post(to, &f).await.status, status, "{scope} {id} at {to}");
        }
    }
    let no_csrf = b
        .post(
            "/me/consents/withdraw/confirm",
            &fields(&[("scope", "all")]),
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(in_force(&app, me).await, vec![good.clone()]);

    // Someone else's receipt, a made-up one: not found. Pages need a login.
    let demo = app
        .services
        .consents(&samtykke::service::ConsentQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let other = demo.iter().find(|c| c.pupil_id != me).unwrap();
    assert_eq!(
        b.get(&format!("/me/receipts/{}", other.id)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get(&format!("/me/receipts/{}/receipt.jws", other.id))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/me/receipts/x%00y").await.status,
        StatusCode::NOT_FOUND
    );
    let mut anonymous = Browser::new(&app.base);
    for path in [
        "/consent",
        "/consent/choose",
        "/me/consents",
        "/me/access-log",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location.unwrap().starts_with("/auth/login?return="));
    }
    let post = anonymous
        .post("/consent/sign", &fields(&[("csrf", "x")]))
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_cookie_flags() {
    let app = spawn_pages(|_| {}).await;
    let mut b = Browser::new(&app.base);
    let start = b.get("/").await;
    let csp = start.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(start.headers["cache-control"], "no-store");
    let login = b.get("/auth/login").await;
    let cookie = login.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // Plain-HTTP localhost is the one place the cookie may lack Secure.
    assert!(!cookie.contains("Secure"));
    // An unknown path: a page for a browser, problem JSON for an API client.
    let res = reqwest::Client::new()
        .get(format!("{}/no/such/page", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Denne siden finnes ikke"));
    let (status, v) = app
        .json(reqwest::Method::GET, "/api/v1/nothing", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["status"], 404);
}

//! spawn_app(): a real server on port 0 with its own database and a clock the test
//! moves by hand.

use reqwest::{Client, Method, Response, StatusCode};
use samtykke::clock::ManualClock;
use samtykke::config::{Backend, Config, Settings};
use samtykke::crypto::KeyMaterial;
use serde_json::{json, Value};
use sqlx::Connection;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

use base64::Engine;

/// 2026-11-23T12:00:00Z: demo pupils are 16, 17 and 18 on this day.
pub const START: i64 = 1_795_435_200_000;

pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub token: String,
    pub clock: Arc<ManualClock>,
    /// The running service, for what a test may ask of it directly (moving due
    /// work forward after moving the clock); everything else goes over HTTP.
    pub services: Arc<samtykke::service::Services>,
    pub backend: Backend,
    pub database_url: String,
    /// The settings it was built with, to start a second instance on the same data.
    pub settings: Settings,
    pub dir: TempDir,
    _stop: oneshot::Sender<()>,
}

/// A fresh PostgreSQL database per test, or a SQLite file in a temp dir.
pub async fn database_url(dir: &TempDir) -> (String, Backend) {
    match std::env::var("SAMTYKKE_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("samtykke_t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to test PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (url.to_string(), Backend::Postgres)
        }
        _ => (
            format!("sqlite://{}/samtykke.db", dir.path().display()),
            Backend::Sqlite,
        ),
    }
}

pub fn settings(dir: &TempDir, database_url: String, demo: bool) -> Settings {
    let keys = KeyMaterial::generate_system().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    Settings {
        database_url,
        listen: "127.0.0.1:0".into(),
        public_url: "http://127.0.0.1".into(),
        key_file: dir.path().join("keys.json"),
        hmac_key: Some(b64.encode(keys.hmac_key.expose())),
        kek: Some(b64.encode(keys.kek.expose())),
        demo: Some(demo),
        // The test clock stands still, so no bucket would ever refill: limits are
        // off here and on in the tests about them (`hardening.rs`).
        rate_limit_client_per_second: 0,
        rate_limit_address_per_second: 0,
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}, false).await
}

pub async fn spawn_demo() -> TestApp {
    spawn_with(|_| {}, true).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings), demo: bool) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_on(listener, tweak, demo).await
}

/// The demo, served at a public URL with its real port: what the pupil pages
/// need, since the login redirects (and the development provider) use that URL.
pub async fn spawn_pages(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_on(
        listener,
        move |s| {
            s.public_url = format!("http://{addr}");
            tweak(s);
        },
        true,
    )
    .await
}

/// A server for the pupil pages over a database an older release left (loaded by
/// `prepare` before the server starts and migrates it), with that database's keys,
/// its clock at `now`, and an admin token of its own.
pub async fn spawn_prepared<F: std::future::Future<Output = ()>>(
    prepare: impl FnOnce(String, Backend, std::path::PathBuf) -> F,
    (hmac_key, kek): (&str, &str),
    now: i64,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = TempDir::new().unwrap();
    let (url, backend) = database_url(&dir).await;
    prepare(url.clone(), backend, dir.path().to_owned()).await;
    let mut s = settings(&dir, url.clone(), false);
    s.public_url = format!("http://{addr}");
    s.hmac_key = Some(hmac_key.into());
    s.kek = Some(kek.into());
    start(listener, dir, (url, backend), s, now).await
}

async fn spawn_on(
    listener: tokio::net::TcpListener,
    tweak: impl FnOnce(&mut Settings),
    demo: bool,
) -> TestApp {
    let dir = TempDir::new().unwrap();
    let (url, backend) = database_url(&dir).await;
    let mut s = settings(&dir, url.clone(), demo);
    tweak(&mut s);
    start(listener, dir, (url, backend), s, START).await
}

/// Builds and serves the app; its admin token is the first one, or (over a
/// database that has one) a new one.
async fn start(
    listener: tokio::net::TcpListener,
    dir: TempDir,
    (url, backend): (String, Backend),
    s: Settings,
    now: i64,
) -> TestApp {
    let config = Config::from_settings(s.clone()).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let app = samtykke::build(config, clock.clone())
        .await
        .expect("app builds");
    let first = app.first_admin_token.clone();
    let (addr, services, stop) = serve_on(app, listener).await;
    let token = match first {
        Some(t) => t,
        None => services
            .create_admin_token("test", &samtykke::audit::Actor::Cli)
            .await
            .unwrap(),
    };
    TestApp {
        base: format!("http://{addr}"),
        http: Client::new(),
        token,
        clock,
        services,
        backend,
        database_url: url,
        settings: s,
        dir,
        _stop: stop,
    }
}

/// An organisation's number, by its id.
pub async fn number_of(app: &TestApp, org: &str) -> String {
    app.get(&format!("/api/v1/organisations/{org}")).await["number"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Calls and returns status and JSON body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.call(method, path, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.json(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, Some(body)).await
    }

    pub async fn created(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {v}");
        v
    }
}

/// A small world: a school network with every partner type, another school, a
/// published template.
#[derive(Clone)]
pub struct World {
    pub school: String,
    pub ot: String,
    pub ppt: String,
    pub health: String,
    pub child_welfare: String,
    pub nav: String,
    pub other_school: String,
    pub network: String,
    pub template: String,
}

pub fn org_number(n: u32) -> String {
    (0..20)
        .find_map(|k| samtykke::domain::org::OrgNumber::with_check_digit(20_000_000 + n * 20 + k))
        .unwrap()
        .to_string()
}

pub async fn world(app: &TestApp) -> World {
    let mut ids = Vec::new();
    for (i, kind) in [
        "school",
        "ot",
        "ppt",
        "health",
        "child_welfare",
        "nav_office",
        "school",
    ]
    .iter()
    .enumerate()
    {
        let v = app
            .created(
                "/api/v1/organisations",
                json!({ "name": format!("{kind} {i}"), "number": org_number(i as u32), "org_type": kind }),
            )
            .await;
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let network = app
        .created(
            "/api/v1/networks",
            json!({ "name": "Test vgs", "school_id": ids[0], "member_ids": ids[1..6] }),
        )
        .await;
    let text = json!({ "nb": "tekst", "nn": "tekst", "en": "text" });
    let t = app
        .created(
            "/api/v1/templates",
            json!({ "key": "follow_up", "title": text, "body": text }),
        )
        .await;
    let id = t["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/templates/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    World {
        school: ids[0].clone(),
        ot: ids[1].clone(),
        ppt: ids[2].clone(),
        health: ids[3].clone(),
        child_welfare: ids[4].clone(),
        nav: ids[5].clone(),
        other_school: ids[6].clone(),
        network: network["id"].as_str().unwrap().to_string(),
        template: id.to_string(),
    }
}

/// A synthetic identity number for someone born on that day.
pub fn pupil(y: i32, m: u8, d: u8, serial: u16) -> String {
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap();
    samtykke::domain::identity::IdentityNumber::synthetic(date, serial)
        .unwrap()
        .expose_digits()
}

pub fn evidence() -> Value {
    json!({ "acr": "idporten-loa-substantial", "amr": ["BankID"], "session_ref": "test-session" })
}

pub fn sign_body(w: &World, identity: &str, choices: Value) -> Value {
    json!({
        "identity_number": identity,
        "network_id": w.network,
        "template_id": w.template,
        "choices": choices,
        "evidence": evidence(),
    })
}

/// Rows in a table, read straight from the database.
pub async fn count(app: &TestApp, table: &str) -> i64 {
    let mut c = direct_connection(app).await;
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Every entry of the audit log, as stored.
pub async fn log_rows(app: &TestApp) -> Vec<samtykke::audit::Row> {
    app.services.export_chain(0, 10_000).await.unwrap().1
}

/// Every entry of the audit log, read as what it records.
pub async fn log_records(app: &TestApp) -> Vec<samtykke::audit::Record> {
    log_rows(app)
        .await
        .iter()
        .map(|r| {
            let e: samtykke::audit::Entry = serde_json::from_str(&r.body).unwrap();
            samtykke::audit::Record::parse(&e).unwrap()
        })
        .collect()
}

/// The authorization server's events (token requests), newest first.
pub async fn token_events(
    app: &TestApp,
) -> Vec<(samtykke::audit::Record, samtykke::audit::event::Outcome)> {
    let mut v: Vec<_> = log_records(app)
        .await
        .into_iter()
        .filter_map(|r| match &r.event {
            samtykke::audit::Event::Token(o) => {
                let o = o.clone();
                Some((r, o))
            }
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// A connection of its own to the service's database, as someone with the database
/// in hand would open (the service's own readers refuse writes on SQLite).
pub async fn direct_connection(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("a direct connection");
    if app.backend == Backend::Sqlite {
        // Wait for the service's writer rather than fail beside it.
        sqlx::query("PRAGMA busy_timeout = 10000")
            .execute(&mut c)
            .await
            .unwrap();
    }
    c
}

/// A second instance on the same database and keys (PostgreSQL only).
pub async fn spawn_second(first: &TestApp) -> TestApp {
    let config = Config::from_settings(first.settings.clone()).unwrap();
    let clock = first.clock.clone();
    let app = samtykke::build(config, clock.clone())
        .await
        .expect("second instance builds");
    let (addr, services, stop) = serve(app).await;
    TestApp {
        base: format!("http://{addr}"),
        http: Client::new(),
        token: first.token.clone(),
        clock,
        services,
        backend: first.backend,
        database_url: first.database_url.clone(),
        settings: first.settings.clone(),
        dir: TempDir::new().unwrap(),
        _stop: stop,
    }
}

/// Serves `app` on a random port until the returned sender is dropped.
async fn serve(
    app: samtykke::App,
) -> (
    std::net::SocketAddr,
    Arc<samtykke::service::Services>,
    oneshot::Sender<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(app, listener).await
}

async fn serve_on(
    app: samtykke::App,
    listener: tokio::net::TcpListener,
) -> (
    std::net::SocketAddr,
    Arc<samtykke::service::Services>,
    oneshot::Sender<()>,
) {
    let state = app.services.clone();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    (addr, state, stop)
}

/// Serves a test double (a partner's webhook, a JWKS endpoint) on a random port;
/// returns its base URL.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// A choice: the tutor may tell organisation `org` `category`.
pub fn tell(org: &str, category: &str) -> Value {
    json!({ "discloser": { "kind": "tutor" }, "recipient": { "kind": "org", "org_id": org }, "category": category })
}

/// A choice: organisation `org` may tell the tutor `category`.
pub fn obtain(org: &str, category: &str) -> Value {
    json!({ "discloser": { "kind": "org", "org_id": org }, "recipient": { "kind": "tutor" }, "category": category })
}

/// A choice: organisation `from` may tell organisation `to` `category` directly.
pub fn direct(from: &str, to: &str, category: &str) -> Value {
    json!({ "discloser": { "kind": "org", "org_id": from }, "recipient": { "kind": "org", "org_id": to }, "category": category })
}

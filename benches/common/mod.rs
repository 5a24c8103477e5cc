//! What the benchmarks share: where their database lives, a partner client that
//! signs its own assertions, and a load generator that sends pre-built HTTP
//! requests on kept-alive connections.
#![allow(dead_code)] // each benchmark uses its own part of this

use base64::Engine;
use jsonwebtoken::Algorithm;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Quick mode, for CI: a second or so, so no benchmark rots. On with
/// `SAMTYKKE_BENCH_QUICK=1`, or when run by `cargo test --benches` (which passes
/// no `--bench`, unlike `cargo bench`).
pub fn quick() -> bool {
    std::env::var("SAMTYKKE_BENCH_QUICK").is_ok_and(|v| v == "1")
        || !std::env::args().any(|a| a == "--bench")
}

/// In quick mode a run that failed a request, or did none, fails the benchmark.
pub fn check(what: &str, run: &Run) {
    if quick() && (run.failed > 0 || run.ok == 0) {
        eprintln!(
            "{what}: {} ok, {} failed {:?}",
            run.ok, run.failed, run.statuses
        );
        std::process::exit(1);
    }
}

/// The database a benchmark runs on: with SAMTYKKE_BENCH_DATABASE_URL a fresh
/// PostgreSQL database next to the one named (dropped by `drop_scratch`), else a
/// SQLite file in `dir`. Returns the URL and, for PostgreSQL, (admin URL, name).
pub async fn database(dir: &Path) -> Result<(String, Option<(String, String)>), String> {
    match std::env::var("SAMTYKKE_BENCH_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::Connection;
            let name = format!("samtykke_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .map_err(|e| format!("cannot reach {admin}: {e}"))?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot create a database: {e}"))?;
            let mut u = url::Url::parse(&admin).map_err(|e| e.to_string())?;
            u.set_path(&name);
            Ok((u.to_string(), Some((admin, name))))
        }
        _ => Ok((format!("sqlite://{}/bench.db", dir.display()), None)),
    }
}

/// Drops the scratch PostgreSQL database, if there was one.
pub async fn drop_scratch(scratch: Option<(String, String)>) {
    use sqlx::Connection;
    if let Some((admin, name)) = scratch {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// samtykke built on `url` with fresh keys, logging only warnings.
pub async fn build(
    dir: &Path,
    url: &str,
    public_url: Option<String>,
    demo: bool,
) -> Result<samtykke::App, String> {
    build_from(settings(dir, url, public_url, demo)?).await
}

/// samtykke built from `settings` (a second instance: the first's settings).
pub async fn build_from(settings: samtykke::config::Settings) -> Result<samtykke::App, String> {
    let config = samtykke::config::Config::from_settings(settings).map_err(|e| e.to_string())?;
    samtykke::build(config, std::sync::Arc::new(samtykke::clock::SystemClock))
        .await
        .map_err(|e| format!("cannot start: {e}"))
}

/// The settings of a benchmark's instance on `url`, with fresh keys.
pub fn settings(
    dir: &Path,
    url: &str,
    public_url: Option<String>,
    demo: bool,
) -> Result<samtykke::config::Settings, String> {
    use base64::Engine;
    let keys = samtykke::crypto::KeyMaterial::generate_system().map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let defaults = samtykke::config::Settings::default();
    Ok(samtykke::config::Settings {
        database_url: url.to_owned(),
        public_url: public_url.unwrap_or(defaults.public_url.clone()),
        key_file: dir.join("keys.json"),
        hmac_key: Some(b64.encode(keys.hmac_key.expose())),
        kek: Some(b64.encode(keys.kek.expose())),
        demo: Some(demo),
        log_filter: "warn".into(),
        // One client at thousands of requests a second is the load under test,
        // not an abuse to stop.
        rate_limit_client_per_second: 0,
        rate_limit_address_per_second: 0,
        ..defaults
    })
}

/// A partner client of the benchmarks: an ES256 key pair and its public JWK.
pub struct Partner {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    pub jwk: Value,
}

pub fn partner() -> Partner {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map(|d| d.as_ref().to_vec())
        .unwrap_or_default();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).ok();
    let point = pair
        .map(|p| p.public_key().as_ref().to_vec())
        .unwrap_or_default();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "bench-1",
        "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..]) });
    Partner {
        kid: "bench-1".into(),
        pkcs8,
        jwk,
    }
}

#[allow(clippy::disallowed_methods)] // a load generator reads the wall clock
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A client assertion for `aud`, valid for 110 s.
pub fn assertion(p: &Partner, aud: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = unix_now();
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": p.kid });
    let claims = json!({ "iss": "bench", "sub": "bench", "aud": aud, "iat": now, "exp": now + 110, "jti": uuid::Uuid::new_v4().to_string() });
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let rng = SystemRandom::new();
    let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &p.pkcs8, &rng)
    else {
        return String::new();
    };
    let Ok(sig) = pair.sign(&rng, input.as_bytes()) else {
        return String::new();
    };
    format!("{input}.{}", b64.encode(sig.as_ref()))
}

/// One ES256 verify and one sign, with the code the server uses (ring for both):
/// the best of five rounds on the quiet machine, before the server is loaded.
pub fn floor(p: &Partner) -> Duration {
    (0..5).map(|_| floor_round(p)).min().unwrap_or_default()
}

fn floor_round(p: &Partner) -> Duration {
    let token = assertion(p, "x");
    let rng = SystemRandom::new();
    let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &p.pkcs8, &rng)
    else {
        return Duration::ZERO;
    };
    let n = 2000;
    let start = Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box(samtykke::tokens::jws::verify(
            &token,
            &p.jwk,
            Algorithm::ES256,
        ));
        let _ = std::hint::black_box(pair.sign(&rng, token.as_bytes()));
    }
    start.elapsed() / n
}

/// Sends one request on a kept-alive connection and reads the whole answer;
/// returns its status.
pub async fn exchange(
    stream: &mut tokio::net::TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(req).await.ok()?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let (head_end, body_len) = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..pos]).ok()?.to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())?;
            break (pos + 4, len);
        }
    };
    while buf.len() < head_end + body_len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    std::str::from_utf8(buf.get(9..12)?).ok()?.parse().ok()
}

/// What a load run achieved.
pub struct Run {
    pub ok: usize,
    pub failed: usize,
    pub seconds: f64,
    /// The failed answers by status (0: the connection closed).
    pub statuses: std::collections::BTreeMap<u16, usize>,
}

/// Sends `requests` (whole HTTP/1.1 requests, each used once) from `concurrency`
/// kept-alive connections to `addr` for at most `seconds`; counts 2xx answers.
pub async fn run_load(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    seconds: u64,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (requests, next, ok, failed, statuses) = (
            requests.clone(),
            next.clone(),
            ok.clone(),
            failed.clone(),
            statuses.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(16 * 1024);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                let status = exchange(&mut stream, req, &mut buf).await;
                if let Some(200..=299) = status {
                    ok.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = statuses.lock() {
                    *m.entry(status.unwrap_or(0)).or_insert(0) += 1;
                }
                if status.is_none() {
                    return;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let statuses = statuses.lock().map(|m| m.clone()).unwrap_or_default();
    Run {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        statuses,
    }
}

/// A whole HTTP/1.1 request with a body.
pub fn request(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    head.into_bytes()
}

/// Latencies at a fixed offered load, corrected for coordinated omission: each
/// request has its due time (`rate` a second from the start) and its latency is
/// counted from then, not from when a busy connection got round to sending it
/// (as wrk2 does).
pub struct Paced {
    pub ok: usize,
    pub failed: usize,
    pub offered_per_s: f64,
    pub achieved_per_s: f64,
    /// Microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Paced {
    pub fn pct(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return f64::NAN;
        }
        self.latencies_us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0
    }
}

/// Sends `requests` at `rate` a second over `connections` kept-alive
/// connections for at most `seconds`.
pub async fn run_paced(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    rate: f64,
    seconds: u64,
) -> Paced {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let total = requests.len().min((rate * seconds as f64) as usize);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (requests, next) = (requests.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                return (lat, usize::MAX);
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(16 * 1024);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                match exchange(&mut stream, &requests[i], &mut buf).await {
                    Some(200..=299) => lat.push(due.elapsed().as_micros() as u64),
                    Some(_) => failed += 1,
                    None => return (lat, failed + 1),
                }
            }
            (lat, failed)
        }));
    }
    let mut latencies_us = Vec::with_capacity(total);
    let mut failed = 0usize;
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            latencies_us.extend(lat);
            failed = failed.saturating_add(f);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    Paced {
        ok: latencies_us.len(),
        failed,
        offered_per_s: rate,
        achieved_per_s: latencies_us.len() as f64 / elapsed,
        latencies_us,
    }
}

/// A bare axum hello-world on `listener`: the reference an HTTP figure is a
/// share of, measured in the same run by the same load generator.
pub async fn hello_world(listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let _ = axum::serve(listener, app).await;
}

/// A GET of `/` with no body.
pub fn get_root(addr: std::net::SocketAddr) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A consent registered from a paper form (as an operator does) for `identity`.
pub fn paper_consent(
    identity: samtykke::domain::identity::IdentityNumber,
    network_id: uuid::Uuid,
    template_id: uuid::Uuid,
    choices: Vec<samtykke::domain::consent::Choice>,
) -> samtykke::service::SignRequest {
    samtykke::service::SignRequest {
        identity,
        network_id,
        template_id,
        purpose: samtykke::domain::Slug::follow_up(),
        choices,
        evidence: samtykke::domain::consent::Evidence {
            acr: "paper".into(),
            amr: vec!["paper".into()],
            session_ref: "bench".into(),
        },
        actor: samtykke::audit::Actor::Cli,
        home_municipality: None,
    }
}

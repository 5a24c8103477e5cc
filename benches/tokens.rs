//! Tokens issued per second over HTTP: a client_credentials request for one pupil
//! and three categories, many at once, against a real server on loopback; and the
//! physical floor, one ES256 signature verify (the client assertion) plus one sign
//! (the access token).
//!
//!     cargo bench --bench tokens                     # SQLite (embedded default)
//!     SAMTYKKE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench tokens
//!
//! Assertions are signed and whole HTTP requests written before the clock starts,
//! and the load generator only sends bytes and reads answers on kept-alive
//! connections, so the server's work is what is timed. See docs/BENCHMARKS.md.

mod common;

// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use base64::Engine;
use jsonwebtoken::Algorithm;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients in flight; `SAMTYKKE_BENCH_CONCURRENCY` overrides.
const CONCURRENCY: usize = 128;
const SECONDS: u64 = 10;

struct Partner {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn partner() -> Partner {
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
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn assertion(p: &Partner, aud: &str) -> String {
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
fn floor(p: &Partner) -> Duration {
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
async fn exchange(
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

fn concurrency() -> usize {
    std::env::var("SAMTYKKE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(CONCURRENCY)
}

#[tokio::main]
async fn main() {
    let concurrency = concurrency();
    let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::exit(2));
    let (url, scratch) = match common::database(dir.path()).await {
        Ok(v) => v,
        Err(e) => return eprintln!("{e}"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|_| std::process::exit(2));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| std::process::exit(2));
    let base = format!("http://{addr}");
    let app = match common::build(dir.path(), &url, Some(base.clone()), true).await {
        Ok(a) => a,
        Err(e) => return eprintln!("{e}"),
    };
    let services = app.state.services.clone();
    tokio::spawn(app.serve(listener, std::future::pending()));

    // A partner for the demo's follow-up service, and a pupil who shares three
    // categories with it.
    let p = partner();
    let orgs = services.store.orgs().await.unwrap_or_default();
    let Some(ot) = orgs.iter().find(|o| o.org_type.as_str() == "ot") else {
        return eprintln!("no demo");
    };
    let Some(school) = orgs.iter().find(|o| o.org_type.as_str() == "school") else {
        return eprintln!("no demo");
    };
    let client = serde_json::from_value(
        json!({ "client_id": "bench", "org_id": ot.id, "name": "bench",
        "scopes": ["pupil:attendance:read", "pupil:contact_details:read", "pupil:grades:read"], "jwks": { "keys": [p.jwk] } }),
    );
    if let Err(e) = services
        .add_client(client.unwrap_or_else(|_| std::process::exit(2)))
        .await
    {
        return eprintln!("client: {e}");
    }
    let networks = services.store.networks().await.unwrap_or_default();
    let Some(network) = networks.iter().find(|n| n.member_ids.contains(&ot.id)) else {
        return eprintln!("no network");
    };
    let template = services
        .store
        .templates()
        .await
        .unwrap_or_default()
        .into_iter()
        .next();
    let pupil = samtykke::domain::identity::IdentityNumber::synthetic(
        time::macros::date!(2007 - 04 - 04),
        9,
    )
    .unwrap_or_else(|| std::process::exit(2));
    let sign = samtykke::service::SignRequest {
        identity: pupil.clone(),
        network_id: network.id,
        template_id: template.map(|t| t.id).unwrap_or_default(),
        purpose: samtykke::domain::Slug::follow_up(),
        choices: ["attendance", "contact_details", "grades"]
            .iter()
            .filter_map(|c| samtykke::domain::Slug::parse(c).ok())
            .map(|category| samtykke::domain::consent::Choice {
                org_id: ot.id,
                category,
            })
            .collect(),
        evidence: samtykke::domain::consent::Evidence {
            acr: "paper".into(),
            amr: vec!["paper".into()],
            session_ref: "bench".into(),
        },
        actor: "bench".into(),
    };
    if let Err(e) = services.sign(sign).await {
        return eprintln!("consent: {e}");
    }

    let token_url = format!("{base}/oauth/token");
    let details = json!([{ "type": "pupil_data", "pupil": pupil.expose_digits(), "purpose": "follow_up", "audience": school.number }]).to_string();
    let total = (concurrency * 1500).max(100_000);
    println!("signing {total} client assertions before the run…");
    let assertions: Vec<String> = (0..total).map(|_| assertion(&p, &token_url)).collect();
    // Whole HTTP/1.1 requests, made before the clock starts: the load generator only
    // writes bytes and reads answers, so the machine's two cores go to the server.
    let requests: Vec<Vec<u8>> = assertions
        .iter()
        .map(|a| {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", a.as_str()),
                    ("grant_type", "client_credentials"),
                    ("scope", "pupil:attendance:read pupil:contact_details:read pupil:grades:read"),
                    ("authorization_details", details.as_str()),
                ])
                .finish();
            format!(
                "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();
    let requests = Arc::new(requests);
    let f = floor(&p);
    println!("running for {SECONDS} s…");
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (requests, next, ok, failed) =
            (requests.clone(), next.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut buf = Vec::with_capacity(16 * 1024);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                match exchange(&mut stream, req, &mut buf).await {
                    Some(200) => ok.fetch_add(1, Ordering::Relaxed),
                    Some(_) => failed.fetch_add(1, Ordering::Relaxed),
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let issued = ok.load(Ordering::Relaxed);
    let rate = issued as f64 / elapsed;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let floor_rate = cores / f.as_secs_f64();
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("backend {backend}, {concurrency} concurrent clients, {elapsed:.1} s");
    println!(
        "tokens issued: {issued} ({} failed) = {rate:.0} tokens/s",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "floor: verify + sign = {:.1} µs → {floor_rate:.0} per second on {cores} cores",
        f.as_secs_f64() * 1e6
    );
    println!(
        "ratio floor / achieved = {:.1}×",
        floor_rate / rate.max(1.0)
    );
    services.store.close().await;
    common::drop_scratch(scratch).await;
}

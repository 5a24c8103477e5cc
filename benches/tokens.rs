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
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

mod common;

// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::json;
use std::sync::Arc;

use common::{assertion, floor, partner, request, run_load, Partner};
use samtykke::audit::Actor;

/// Clients in flight; `SAMTYKKE_BENCH_CONCURRENCY` overrides.
const CONCURRENCY: usize = 128;
const SECONDS: u64 = 10;

fn concurrency() -> usize {
    std::env::var("SAMTYKKE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(if common::quick() { 8 } else { CONCURRENCY })
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
    let services = app.services.clone();
    tokio::spawn(app.serve(listener, std::future::pending()));

    // A partner for the demo's follow-up service, and a pupil who shares three
    // categories with it.
    let p = partner();
    let orgs = services.orgs().await.unwrap_or_default();
    let Some(ot) = orgs.iter().find(|o| o.org_type.as_str() == "ot") else {
        return eprintln!("no demo");
    };
    let Some(school) = orgs.iter().find(|o| o.org_type.as_str() == "school") else {
        return eprintln!("no demo");
    };
    let client = serde_json::from_value(
        json!({ "client_id": "bench", "org_id": ot.id, "name": "bench",
        "scopes": ["pupil:attendance:read", "pupil:contact_details:read", "pupil:course_status:read"], "jwks": { "keys": [p.jwk] } }),
    );
    if let Err(e) = services
        .add_client(
            client.unwrap_or_else(|_| std::process::exit(2)),
            &Actor::Cli,
        )
        .await
    {
        return eprintln!("client: {e}");
    }
    let networks = services.networks().await.unwrap_or_default();
    let Some(network) = networks.iter().find(|n| n.member_ids.contains(&ot.id)) else {
        return eprintln!("no network");
    };
    let template = services
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
    // The school may tell OT these directly (course status it tells by law).
    let choices = ["attendance", "contact_details"]
        .iter()
        .filter_map(|c| samtykke::domain::Slug::parse(c).ok())
        .map(|category| {
            samtykke::domain::consent::Choice::new(
                samtykke::domain::consent::Party::org(network.school_id),
                samtykke::domain::consent::Party::org(ot.id),
                category,
            )
        })
        .collect();
    let sign = common::paper_consent(
        pupil.clone(),
        network.id,
        template.map(|t| t.id).unwrap_or_default(),
        choices,
    );
    if let Err(e) = services.sign(sign).await {
        return eprintln!("consent: {e}");
    }

    let token_url = format!("{base}/oauth/token");
    let details = json!([{ "type": "pupil_data", "pupil": pupil.expose_digits(), "purpose": "follow_up", "audience": school.number }]).to_string();
    let (total, seconds) = if common::quick() {
        (2_000, 1)
    } else {
        ((concurrency * 1500).max(100_000), SECONDS)
    };
    println!("signing {total} client assertions before the run…");
    // Whole HTTP/1.1 requests, made before the clock starts: the load generator only
    // writes bytes and reads answers, so the machine's two cores go to the server.
    let requests: Vec<Vec<u8>> = (0..total)
        .map(|_| {
            let a = assertion(&p, &token_url);
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", a.as_str()),
                    ("grant_type", "client_credentials"),
                    (
                        "scope",
                        "pupil:attendance:read pupil:contact_details:read pupil:course_status:read",
                    ),
                    ("authorization_details", details.as_str()),
                ])
                .finish();
            request(
                addr,
                "/oauth/token",
                &[],
                "application/x-www-form-urlencoded",
                &body,
            )
        })
        .collect();
    let f = floor(&p);
    println!("running for {seconds} s…");
    let run = run_load(addr, Arc::new(requests), concurrency, seconds).await;
    common::check("tokens", &run);
    let rate = run.ok as f64 / run.seconds;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let floor_rate = cores / f.as_secs_f64();
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "backend {backend}, {concurrency} concurrent clients, {:.1} s",
        run.seconds
    );
    println!(
        "tokens issued: {} ({} failed) = {rate:.0} tokens/s",
        run.ok, run.failed
    );
    println!(
        "floor: verify + sign = {:.1} µs → {floor_rate:.0} per second on {cores} cores",
        f.as_secs_f64() * 1e6
    );
    println!(
        "ratio floor / achieved = {:.1}×",
        floor_rate / rate.max(1.0)
    );

    // Introspection: each request re-decides the token's grants and is recorded.
    let token_request = |p: &Partner, aud: &str, extra: &[(&str, &str)]| {
        let a = assertion(p, aud);
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        f.extend_pairs([
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", a.as_str()),
        ]);
        f.extend_pairs(extra.iter().copied());
        f.finish()
    };
    let scope = "pupil:attendance:read pupil:contact_details:read pupil:course_status:read";
    let tokens = issue(addr, 50, || {
        request(
            addr,
            "/oauth/token",
            &[],
            "application/x-www-form-urlencoded",
            &token_request(
                &p,
                &token_url,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    ("authorization_details", details.as_str()),
                ],
            ),
        )
    })
    .await;
    let introspections = |tokens: &[String], aud: &str, path: &str| -> Vec<Vec<u8>> {
        (0..total.min(200_000))
            .map(|i| {
                let body = token_request(&p, aud, &[("token", tokens[i % tokens.len()].as_str())]);
                request(addr, path, &[], "application/x-www-form-urlencoded", &body)
            })
            .collect()
    };
    let own = introspections(&tokens, &base, "/oauth/introspect");
    let run = run_load(addr, Arc::new(own), concurrency, seconds).await;
    common::check("introspection", &run);
    let introspected = run.ok as f64 / run.seconds;
    println!(
        "introspections: {} ({} failed) = {introspected:.0}/s",
        run.ok, run.failed
    );

    // The peer: oidc-provider in one Node process, the same generator and load.
    if std::env::var("SAMTYKKE_BENCH_PEERS").is_ok_and(|v| v == "1") {
        match peer(&p).await {
            Ok((child, peer_addr, issuer)) => {
                let peer_token = |extra: &[(&str, &str)]| {
                    request(
                        peer_addr,
                        "/token",
                        &[],
                        "application/x-www-form-urlencoded",
                        &token_request(&p, &issuer, extra),
                    )
                };
                let grant = [
                    ("grant_type", "client_credentials"),
                    ("scope", "pupil:attendance:read pupil:contact_details:read"),
                ];
                let reqs: Vec<Vec<u8>> = (0..total).map(|_| peer_token(&grant)).collect();
                let run = run_load(peer_addr, Arc::new(reqs), concurrency, seconds).await;
                let peer_rate = run.ok as f64 / run.seconds;
                println!(
                    "oidc-provider tokens (JWT, private_key_jwt): {} ({} failed) = {peer_rate:.0}/s; samtykke / oidc-provider = {:.2}×",
                    run.ok, run.failed, rate / peer_rate.max(1.0)
                );
                // Its introspection answers only for opaque tokens it keeps.
                let mut opaque = grant.to_vec();
                opaque.push(("resource", "urn:samtykke:api:opaque"));
                let peer_tokens = issue(peer_addr, 50, || peer_token(&opaque)).await;
                let reqs: Vec<Vec<u8>> = (0..total.min(200_000))
                    .map(|i| {
                        let body = token_request(
                            &p,
                            &issuer,
                            &[("token", peer_tokens[i % peer_tokens.len().max(1)].as_str())],
                        );
                        request(
                            peer_addr,
                            "/token/introspection",
                            &[],
                            "application/x-www-form-urlencoded",
                            &body,
                        )
                    })
                    .collect();
                let run = run_load(peer_addr, Arc::new(reqs), concurrency, seconds).await;
                let peer_intro = run.ok as f64 / run.seconds;
                println!(
                    "oidc-provider introspections (opaque, in memory): {} ({} failed) = {peer_intro:.0}/s; samtykke / oidc-provider = {:.2}×",
                    run.ok, run.failed, introspected / peer_intro.max(1.0)
                );
                drop(child);
            }
            Err(e) => eprintln!("oidc-provider: {e}"),
        }
    }
    services.close().await;
    common::drop_scratch(scratch).await;
}

/// `n` access tokens from requests `make` builds, one at a time on one connection.
async fn issue(addr: std::net::SocketAddr, n: usize, make: impl Fn() -> Vec<u8>) -> Vec<String> {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for _ in 0..n {
        if common::exchange(&mut stream, &make(), &mut buf).await != Some(200) {
            continue;
        }
        let body = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .and_then(|at| serde_json::from_slice::<serde_json::Value>(&buf[at + 4..]).ok());
        if let Some(t) = body.as_ref().and_then(|v| v["access_token"].as_str()) {
            out.push(t.to_owned());
        }
    }
    if out.is_empty() {
        eprintln!("no token issued at {addr}");
        std::process::exit(1);
    }
    out
}

/// Starts oidc-provider (`benches/peers/run.sh oidc`) for this partner; kills it
/// when the child is dropped.
async fn peer(
    p: &Partner,
) -> Result<(tokio::process::Child, std::net::SocketAddr, String), String> {
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/run.sh");
    let mut child = tokio::process::Command::new("bash")
        .arg(script)
        .arg("oidc")
        .env("PORT", port.to_string())
        .env("CLIENT_ID", "bench")
        .env("CLIENT_JWKS", json!({ "keys": [p.jwk] }).to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(issuer) = line.strip_prefix("ready ") {
            let addr = format!("127.0.0.1:{port}").parse().map_err(|_| "address")?;
            return Ok((child, addr, issuer.trim().to_owned()));
        }
    }
    Err("it did not start".into())
}

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

use common::{assertion, floor, partner, request, run_load};
use samtykke::audit::Actor;

/// Clients in flight; `SAMTYKKE_BENCH_CONCURRENCY` overrides.
const CONCURRENCY: usize = 128;
const SECONDS: u64 = 10;

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
    let sign = samtykke::service::SignRequest {
        identity: pupil.clone(),
        network_id: network.id,
        template_id: template.map(|t| t.id).unwrap_or_default(),
        purpose: samtykke::domain::Slug::follow_up(),
        // The school may tell OT these directly (course status it tells by law).
        choices: ["attendance", "contact_details"]
            .iter()
            .filter_map(|c| samtykke::domain::Slug::parse(c).ok())
            .map(|category| {
                samtykke::domain::consent::Choice::new(
                    samtykke::domain::consent::Party::org(network.school_id),
                    samtykke::domain::consent::Party::org(ot.id),
                    category,
                )
            })
            .collect(),
        evidence: samtykke::domain::consent::Evidence {
            acr: "paper".into(),
            amr: vec!["paper".into()],
            session_ref: "bench".into(),
        },
        actor: Actor::Cli,
        home_municipality: None,
    };
    if let Err(e) = services.sign(sign).await {
        return eprintln!("consent: {e}");
    }

    let token_url = format!("{base}/oauth/token");
    let details = json!([{ "type": "pupil_data", "pupil": pupil.expose_digits(), "purpose": "follow_up", "audience": school.number }]).to_string();
    let total = (concurrency * 1500).max(100_000);
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
    println!("running for {SECONDS} s…");
    let run = run_load(addr, Arc::new(requests), concurrency, SECONDS).await;
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
    services.close().await;
    common::drop_scratch(scratch).await;
}

//! The audit log on the paths requests take: durable appends per second from
//! AuthZEN evaluations (single, and batches of 50, each decision one entry) and from
//! consent changes (a withdrawal and a new consent, over the admin API), every one
//! committed with fsync before its answer leaves; then the time to verify the
//! whole chain, grown to 1,000,000 entries by batch evaluations, from the first.
//!
//!     cargo bench --bench audit                      # SQLite (embedded default)
//!     SAMTYKKE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench audit
//!
//! `SAMTYKKE_BENCH_CHAIN` sets the chain's size (default 1,000,000) and
//! `SAMTYKKE_BENCH_SECONDS` each run's length (default 10). See docs/BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

use common::{assertion, partner, request, run_load, Partner};
use samtykke::audit::Actor;
use samtykke::domain::consent::{Choice, Party};
use samtykke::domain::identity::IdentityNumber;
use samtykke::domain::Slug;

const CONCURRENCY: usize = 32;
const BATCH: usize = 50;
const PUPILS: u16 = 200;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pupil(n: u16) -> IdentityNumber {
    IdentityNumber::synthetic(time::macros::date!(2007 - 04 - 04), n)
        .unwrap_or_else(|| std::process::exit(2))
}

/// `n` different pupils who sign over the admin API (a synthetic number has at
/// most 500 serials per birth date, and neighbouring serials may give the same
/// number, so the birth date moves and repeats are skipped).
fn signers(n: usize) -> Vec<IdentityNumber> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    for k in 0u32.. {
        let born = time::macros::date!(2006 - 01 - 01) + time::Duration::days(i64::from(k / 400));
        let Some(id) = IdentityNumber::synthetic(born, (k % 400) as u16) else {
            continue;
        };
        if seen.insert(id.expose_digits()) {
            out.push(id);
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// An AuthZEN request for `n` questions about the bench pupils.
fn evaluations(p: &Partner, addr: std::net::SocketAddr, base: &str, n: usize, k: usize) -> Vec<u8> {
    let bearer = format!("Bearer {}", assertion(p, base));
    let one = |i: usize| {
        json!({ "resource": { "type": "pupil_data", "id": pupil((i % usize::from(PUPILS)) as u16).expose_digits(),
            "properties": { "category": if i % 2 == 0 { "attendance" } else { "grades" } } } })
    };
    let subject = json!({ "type": "client", "id": "bench" });
    let action = json!({ "name": "read" });
    if n == 1 {
        let mut body = one(k);
        body["subject"] = subject;
        body["action"] = action;
        return request(
            addr,
            "/access/v1/evaluation",
            &[("Authorization", &bearer)],
            "application/json",
            &body.to_string(),
        );
    }
    let body = json!({ "subject": subject, "action": action,
        "evaluations": (0..n).map(|i| one(k * n + i)).collect::<Vec<_>>() });
    request(
        addr,
        "/access/v1/evaluations",
        &[("Authorization", &bearer)],
        "application/json",
        &body.to_string(),
    )
}

#[tokio::main]
async fn main() {
    let quick = common::quick();
    let seconds = env("SAMTYKKE_BENCH_SECONDS", if quick { 1 } else { 10 });
    let chain = env(
        "SAMTYKKE_BENCH_CHAIN",
        if quick { 5_000 } else { 1_000_000 },
    ) as i64;
    // Requests signed before each run: enough for its seconds at the best rate seen.
    let scale = if quick { 30 } else { 1 };
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
    let admin = app.first_admin_token.clone().unwrap_or_default();
    tokio::spawn(app.serve(listener, std::future::pending()));
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    // The demo's follow-up service asks; the bench pupils share two categories with it.
    let p = partner();
    let orgs = services.orgs().await.unwrap_or_default();
    let Some(ot) = orgs.iter().find(|o| o.org_type.as_str() == "ot") else {
        return eprintln!("no demo");
    };
    let client = serde_json::from_value(json!({ "client_id": "bench", "org_id": ot.id,
        "name": "bench", "scopes": ["pupil:attendance:read"], "jwks": { "keys": [p.jwk] } }));
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
    let Some(template) = services.templates().await.unwrap_or_default().pop() else {
        return eprintln!("no template");
    };
    let choices: Vec<Choice> = ["attendance", "contact_details"]
        .iter()
        .filter_map(|c| Slug::parse(c).ok())
        .map(|category| Choice::new(Party::org(network.school_id), Party::org(ot.id), category))
        .collect();
    for n in 0..PUPILS {
        let sign = common::paper_consent(pupil(n), network.id, template.id, choices.clone());
        if let Err(e) = services.sign(sign).await {
            return eprintln!("consent: {e}");
        }
    }
    println!("backend {backend}, {CONCURRENCY} connections, {seconds} s per run");

    // The reference: a bare axum hello-world, same generator, same connections.
    let hello = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|_| std::process::exit(2));
        let at = l.local_addr().unwrap_or_else(|_| std::process::exit(2));
        tokio::spawn(common::hello_world(l));
        let n = if quick { 10_000 } else { 3_000_000 };
        let run = run_load(
            at,
            Arc::new(vec![common::get_root(at); n]),
            CONCURRENCY,
            seconds,
        )
        .await;
        common::check("hello world", &run);
        let rate = run.ok as f64 / run.seconds;
        println!("axum hello-world: {rate:.0} requests/s");
        rate
    };

    // AuthZEN: one decision per request, then batches; every decision is an entry.
    let mut peak = 0.0;
    for n in [1, BATCH] {
        let total = 60_000 / n.max(10) * 10 / scale;
        let requests: Vec<Vec<u8>> = (0..total)
            .map(|k| evaluations(&p, addr, &base, n, k))
            .collect();
        let run = run_load(addr, Arc::new(requests), CONCURRENCY, seconds).await;
        common::check("AuthZEN", &run);
        let appends = (run.ok * n) as f64 / run.seconds;
        if n == 1 {
            peak = appends;
            println!(
                "AuthZEN single / hello-world = {:.1} %",
                100.0 * appends / hello
            );
        }
        println!(
            "AuthZEN, {n} per request: {} requests ({} failed), {:.0} requests/s = {appends:.0} durable decisions/s",
            run.ok,
            run.failed,
            run.ok as f64 / run.seconds
        );
    }

    // Latency at 70 % of the single-decision peak, at a constant offered rate.
    let rate = (0.7 * peak).max(10.0);
    let requests: Vec<Vec<u8>> = (0..(rate * seconds as f64) as usize)
        .map(|k| evaluations(&p, addr, &base, 1, 1_000_000 + k))
        .collect();
    let paced = common::run_paced(addr, Arc::new(requests), CONCURRENCY, rate, seconds).await;
    println!(
        "AuthZEN, 1 per request at {:.0}/s offered (70 % of peak): {:.0}/s done, {} failed; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        paced.offered_per_s,
        paced.achieved_per_s,
        paced.failed,
        paced.pct(0.50),
        paced.pct(0.99),
        paced.pct(0.999)
    );
    if quick && (paced.failed > 0 || paced.ok == 0) {
        std::process::exit(1);
    }

    // Consent changes over the admin API: each writes the consent's rows and its
    // audit entries (enrolment, signature, supersession) in one transaction.
    let requests: Vec<Vec<u8>> = signers(20_000 / scale)
        .into_iter()
        .map(|who| {
            let body = json!({ "identity_number": who.expose_digits(),
                "network_id": network.id, "template_id": template.id,
                // The school may tell OT absence.
                "choices": [{ "discloser": { "kind": "org", "org_id": network.school_id },
                    "recipient": { "kind": "org", "org_id": ot.id }, "category": "attendance" }],
                "evidence": { "acr": "paper", "amr": ["paper"], "session_ref": "bench" } });
            request(
                addr,
                "/api/v1/consents",
                &[("Authorization", &format!("Bearer {admin}"))],
                "application/json",
                &body.to_string(),
            )
        })
        .collect();
    let (before, _) = services.chain_size().await.unwrap_or_default();
    let run = run_load(addr, Arc::new(requests), CONCURRENCY, seconds).await;
    let (after, _) = services.chain_size().await.unwrap_or_default();
    common::check("consent signatures", &run);
    println!(
        "consent signatures: {} ({} failed: {:?}) = {:.0} durable entries/s",
        run.ok,
        run.failed,
        run.statuses,
        (after - before) as f64 / run.seconds
    );

    // Grow the chain by batch evaluations, then verify it all from the first.
    let (size, _) = services.chain_size().await.unwrap_or_default();
    if size < chain {
        println!("growing the chain from {size} to {chain} entries…");
        let needed = ((chain - size) as usize).div_ceil(100);
        // In rounds of 1,000 requests, so no assertion outlives its 110 s.
        for round in (0..needed).collect::<Vec<_>>().chunks(1_000) {
            let requests: Vec<Vec<u8>> = round
                .iter()
                .map(|k| evaluations(&p, addr, &base, 100, *k))
                .collect();
            let run = run_load(addr, Arc::new(requests), CONCURRENCY, 3_600).await;
            if run.failed > 0 {
                eprintln!("{} growing requests failed: {:?}", run.failed, run.statuses);
            }
        }
    }
    let start = Instant::now();
    match services.verify_chain().await {
        Ok(r) if !r.verified && quick => {
            eprintln!("the chain does not verify: {:?}", r.broken);
            std::process::exit(1);
        }
        Ok(r) => println!(
            "verified {} entries from the first in {:.2} s: {}",
            r.size,
            start.elapsed().as_secs_f64(),
            if r.verified { "intact" } else { "BROKEN" }
        ),
        Err(e) => eprintln!("verify: {e}"),
    }
    services.close().await;
    common::drop_scratch(scratch).await;
}

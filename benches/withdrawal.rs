//! Withdrawal to effect: a pupil withdraws on one instance, and the time until
//! another instance sharing the PostgreSQL database decides on the withdrawal
//! (its `NOTIFY` travels, the other instance forgets the pupil, its next decision
//! reads the database). The other instance held the pupil before, as it would
//! after deciding about them, so a missed notification would show as a timeout.
//!
//!     SAMTYKKE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench withdrawal
//!     cargo bench --bench withdrawal      # SQLite: one instance, which must see it at once
//!
//! Prints one JSON line: rounds, the withdrawal's own commit (p50), and from its
//! return to the first decision that reads it: p50, p99 and max. See
//! docs/BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::panic)] // a benchmark that cannot set up has nothing to measure

mod common;

// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use samtykke::audit::Actor;
use samtykke::domain::consent::{Choice, Party, Withdrawal};
use samtykke::domain::identity::IdentityNumber;
use samtykke::domain::Slug;
use samtykke::service::Services;

/// Longer than this and the withdrawal was missed.
const MISSED: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    let rounds = if common::quick() { 20 } else { 500 };
    let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::exit(2));
    let (url, scratch) = match common::database(dir.path()).await {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let settings = common::settings(dir.path(), &url, None, true).unwrap_or_else(|e| panic!("{e}"));
    let a = serve(settings.clone()).await;
    // One process owns an SQLite file: there the same instance must see it.
    let b = if scratch.is_some() {
        serve(samtykke::config::Settings {
            demo: Some(false),
            ..settings
        })
        .await
    } else {
        a.clone()
    };
    let backend = if scratch.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    // The first round is a warm-up: it also waits for the listener to be up.
    let mut commits = Vec::with_capacity(rounds);
    let mut effects = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        let (commit, effect) = one(&a, &b, round).await;
        if round > 0 {
            commits.push(commit);
            effects.push(effect);
        }
    }
    commits.sort();
    effects.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let at = |v: &[Duration], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{}",
        serde_json::json!({
            "bench": "withdrawal_to_effect",
            "backend": backend,
            "instances": if scratch.is_some() { 2 } else { 1 },
            "rounds": rounds,
            "commit_p50_ms": ms(at(&commits, 0.5)),
            "effect_p50_ms": ms(at(&effects, 0.5)),
            "effect_p99_ms": ms(at(&effects, 0.99)),
            "effect_max_ms": ms(at(&effects, 1.0)),
        })
    );
    common::drop_scratch(scratch).await;
}

/// An instance built from `settings` and serving (which starts its listener).
async fn serve(settings: samtykke::config::Settings) -> Arc<Services> {
    let app = common::build_from(settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let services = app.services.clone();
    tokio::spawn(app.serve(listener, std::future::pending()));
    services
}

/// One pupil signs on `a`, `b` reads them, the pupil withdraws on `a`: the
/// withdrawal's commit, and the time from its return until `b` reads it.
async fn one(a: &Services, b: &Services, round: usize) -> (Duration, Duration) {
    let orgs = a.orgs().await.unwrap_or_else(|e| panic!("{e}"));
    let ot = orgs
        .iter()
        .find(|o| o.org_type.as_str() == "ot")
        .unwrap_or_else(|| panic!("no demo"));
    let networks = a.networks().await.unwrap_or_else(|e| panic!("{e}"));
    let network = networks
        .iter()
        .find(|n| n.member_ids.contains(&ot.id))
        .unwrap_or_else(|| panic!("no network"));
    let template = a.templates().await.unwrap_or_default().into_iter().next();
    let birth = time::macros::date!(2008 - 01 - 01) + time::Duration::days(round as i64);
    let identity = IdentityNumber::synthetic(birth, 1).unwrap_or_else(|| panic!("no number"));
    let consent = a
        .sign(common::paper_consent(
            identity,
            network.id,
            template.map(|t| t.id).unwrap_or_default(),
            vec![Choice::new(
                Party::org(network.school_id),
                Party::org(ot.id),
                Slug::parse("attendance").unwrap_or_else(|_| panic!("category")),
            )],
        ))
        .await
        .unwrap_or_else(|e| panic!("consent: {e}"));
    let withdrawn = |s: &samtykke::service::Indexed| {
        s.consents()
            .and_then(|cs| cs.iter().find(|c| c.consent_id == consent.id))
            .is_some_and(|c| {
                c.ended_at.is_some() || c.grants.iter().all(|g| g.withdrawn_at.is_some())
            })
    };
    // `b` holds the pupil (once the signature's own notification has come).
    let since = Instant::now();
    let read = || async {
        b.indexed(Some(consent.pupil_id))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    loop {
        let held = read().await;
        assert!(
            held.consents().is_some() && !withdrawn(&held),
            "the other instance reads the new consent"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
        if b.index_holds(consent.pupil_id) {
            break;
        }
        if since.elapsed() > MISSED {
            eprintln!("round {round}: the other instance never holds the pupil");
            std::process::exit(1);
        }
    }
    let t0 = Instant::now();
    a.withdraw(consent.id, &Withdrawal::All, &Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("withdraw: {e}"));
    let commit = t0.elapsed();
    let t1 = Instant::now();
    loop {
        if withdrawn(&read().await) {
            return (commit, t1.elapsed());
        }
        if t1.elapsed() > MISSED {
            eprintln!("round {round}: the withdrawal was not seen within {MISSED:?}");
            std::process::exit(1);
        }
        tokio::task::yield_now().await;
    }
}

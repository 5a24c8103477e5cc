//! The audit log: durable appends per second with concurrent writers (group commit,
//! every entry committed with fsync before its writer continues), and the time to
//! verify a chain of 1,000,000 entries from the first.
//!
//!     cargo bench --bench audit                      # SQLite (embedded default)
//!     SAMTYKKE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench audit
//!
//! See docs/BENCHMARKS.md.

mod common;

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use samtykke::audit::Entry;
use samtykke::storage::ReadyEntry;

const WRITERS: usize = 64;
const SECONDS: u64 = 10;
const CHAIN: i64 = 1_000_000;

fn entry(n: usize) -> Entry {
    Entry::new(
        1_795_435_200_000 + n as i64,
        "decision",
        "client:bench",
        Some(uuid::Uuid::new_v4()),
        json!({ "decision": uuid::Uuid::new_v4(), "org": uuid::Uuid::new_v4(), "category": "attendance",
            "action": "read", "purpose": "follow_up", "allowed": true, "reason": "allowed" }),
    )
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::exit(2));
    let (url, scratch) = match common::database(dir.path()).await {
        Ok(v) => v,
        Err(e) => return eprintln!("{e}"),
    };
    let app = match common::build(dir.path(), &url, None, false).await {
        Ok(a) => a,
        Err(e) => return eprintln!("{e}"),
    };
    let services = app.state.services.clone();
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    // Durable appends: each writer logs one entry and waits until it is committed.
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (s, done, failed) = (services.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w * 10_000_000;
            while Instant::now() < deadline {
                n += 1;
                match s.log(vec![entry(n)]).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let appended = done.load(Ordering::Relaxed);
    println!("backend {backend}, {WRITERS} concurrent writers, {elapsed:.1} s");
    println!(
        "durable appends: {appended} ({} failed) = {:.0} per second",
        failed.load(Ordering::Relaxed),
        appended as f64 / elapsed
    );

    // Grow the chain to a million entries (in large transactions), then verify it all.
    let (size, _) = services.store.chain_head().await.unwrap_or_default();
    println!("filling the chain from {size} to {CHAIN} entries…");
    let mut n = size;
    while n < CHAIN {
        let batch: Vec<ReadyEntry> = (0..5_000.min(CHAIN - n))
            .map(|i| ReadyEntry::from(&entry(i as usize)))
            .collect();
        n += batch.len() as i64;
        if let Err(e) = services
            .store
            .append_chain(&batch.iter().collect::<Vec<_>>())
            .await
        {
            return eprintln!("fill: {e}");
        }
    }
    let start = Instant::now();
    match services.verify_chain().await {
        Ok(r) => println!(
            "verified {} entries from the first in {:.2} s: {}",
            r.size,
            start.elapsed().as_secs_f64(),
            if r.verified { "intact" } else { "BROKEN" }
        ),
        Err(e) => eprintln!("verify: {e}"),
    }
    services.store.close().await;
    common::drop_scratch(scratch).await;
}

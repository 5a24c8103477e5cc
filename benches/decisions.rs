//! One decision in process (consent index lookup + the decision function) at
//! 10,000, 100,000 and 1,000,000 pupils holding consents of five grants each,
//! asked as partners ask: a random pupil, a random discloser and recipient among
//! the school, PPT, OT and the school nurse, a random category.
//!
//!     cargo bench --bench decisions
//!     SAMTYKKE_BENCH_PUPILS=100000 SAMTYKKE_BENCH_EXPORT=target/peers/decisions cargo bench --bench decisions
//!     SAMTYKKE_BENCH_QUICK=1 cargo test --bench decisions     # CI: 1,000 pupils, a second
//!
//! Prints p50/p99/p99.9 over 1,000,000 single decisions, each timed alone, and
//! decisions per second in an untimed loop. With SAMTYKKE_BENCH_EXPORT=DIR the
//! last world, the requests and samtykke's answers are written there as JSON for
//! the peers (`benches/peers/run.sh decisions DIR`), which must give the same
//! answers. See docs/BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::panic)] // a benchmark that cannot set up has nothing to measure

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;
use uuid::Uuid;

use samtykke::domain::catalogue::Catalogue;
use samtykke::domain::consent::{Consent, Evidence, Grant, Party};
use samtykke::domain::Slug;
use samtykke::policy::baseline::{parse_rules, BaselineTable};
use samtykke::policy::decide::{decide, Action, Discloser, Question, Subject};
use samtykke::policy::index::ConsentIndex;
use samtykke::policy::{DEFAULT_BASELINE, DEFAULT_MODEL};
use samtykke::startup::{parse_catalogue, DEFAULT_CATALOGUE};

const NOW: i64 = 1_800_000_000_000;
/// The organisations (0 stands for the tutor) and their types.
const ORGS: [(u128, &str); 4] = [(1, "school"), (2, "ppt"), (3, "ot"), (4, "school_health")];
/// (discloser, recipient, category) of every pupil's five grants.
const GRANTS: [(u128, u128, &str); 5] = [
    (1, 2, "attendance"),
    (1, 2, "grades"),
    (1, 3, "contact_details"),
    (4, 0, "health"),
    (0, 1, "contact_reasons"),
];
/// What requests ask about: the granted categories and one the law shares.
const ASKED: [&str; 6] = [
    "attendance",
    "grades",
    "contact_details",
    "health",
    "contact_reasons",
    "course_status",
];

fn party(n: u128) -> Party {
    if n == 0 {
        Party::Tutor
    } else {
        Party::org(Uuid::from_u128(n))
    }
}

/// A small deterministic generator, so runs compare.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap_or_else(|_| Slug::follow_up())
}

/// Pupil `n`'s consent: five grants, every seventh pupil withdrew the first.
fn consent(n: usize) -> Consent {
    let pupil = Uuid::from_u128(1_000_000 + n as u128);
    Consent {
        id: Uuid::from_u128(n as u128),
        pupil_id: pupil,
        network_id: Uuid::nil(),
        template_id: Uuid::nil(),
        template_hash: String::new(),
        purpose: Slug::follow_up(),
        valid_from: NOW - 1000,
        expires_at: NOW + 1_000_000,
        signed_at: NOW - 1000,
        evidence: Evidence {
            acr: "idporten-loa-substantial".into(),
            amr: vec!["BankID".into()],
            session_ref: String::new(),
        },
        age_at_signing: 17,
        home_municipality: None,
        ended_at: None,
        grants: GRANTS
            .iter()
            .enumerate()
            .map(|(i, (from, to, cat))| Grant {
                id: Uuid::from_u128((n as u128) << 8 | i as u128),
                discloser: party(*from),
                recipient: party(*to),
                category: slug(cat),
                legal_basis: String::new(),
                basis: None,
                age_at_grant: 17,
                legacy: false,
                granted_at: NOW - 1000,
                withdrawn_at: (n % 7 == 0 && i == 0).then_some(NOW - 10),
                guardian: None,
            })
            .collect(),
    }
}

fn world(pupils: usize) -> ConsentIndex {
    // Every pupil held (room for twice as many of average history: each here has
    // five grants): this measures a decision, not a database read.
    let index = ConsentIndex::with_capacity(pupils * 2);
    for n in 0..pupils {
        let c = consent(n);
        index.put(c.pupil_id, &[c]);
    }
    assert_eq!(index.len(), pupils, "every pupil is held in the index");
    index
}

/// One request: pupil number, discloser and recipient (indexes into ORGS), category.
type Request = (usize, usize, usize, usize);

fn requests(pupils: usize, n: usize) -> Vec<Request> {
    let mut rng = Lcg(42);
    (0..n)
        .map(|_| {
            let from = rng.below(ORGS.len());
            let to = (from + 1 + rng.below(ORGS.len() - 1)) % ORGS.len();
            (rng.below(pupils), from, to, rng.below(ASKED.len()))
        })
        .collect()
}

struct Env {
    catalogue: Catalogue,
    baseline: BaselineTable,
    types: Vec<Slug>,
    categories: Vec<Slug>,
    purpose: Slug,
    networks: [Uuid; 1],
}

impl Env {
    fn decide(&self, index: &ConsentIndex, r: &Request) -> bool {
        let (pupil, from, to, cat) = *r;
        let q = Question {
            recipient: Subject {
                org_id: Some(Uuid::from_u128(ORGS[to].0)),
                org_type: &self.types[to],
                role: None,
                member_of: &self.networks,
            },
            category: &self.categories[cat],
            action: Action::Read,
            purpose: &self.purpose,
            discloser: Some(Discloser {
                org_id: Some(Uuid::from_u128(ORGS[from].0)),
                org_type: &self.types[from],
                school_of: &self.networks,
            }),
        };
        let consents = index
            .get(Uuid::from_u128(1_000_000 + pupil as u128))
            .flatten();
        decide(
            &self.baseline,
            &self.catalogue,
            consents.as_deref(),
            &q,
            NOW,
        )
        .allowed
    }
}

fn main() {
    // `cargo test --bench decisions` passes no `--bench`: run the quick mode then.
    let quick = std::env::var("SAMTYKKE_BENCH_QUICK").is_ok_and(|v| v == "1")
        || !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("SAMTYKKE_BENCH_PUPILS") {
        Ok(s) => s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if quick => vec![1_000],
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let samples = if quick { 20_000 } else { 1_000_000 };
    let Ok(catalogue) = parse_catalogue(DEFAULT_CATALOGUE, "catalogue") else {
        panic!("the built-in catalogue does not parse");
    };
    let Ok(rules) = parse_rules(DEFAULT_BASELINE, "baseline.csv") else {
        panic!("the built-in baseline does not parse");
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        panic!("no runtime");
    };
    let Ok(baseline) = rt.block_on(BaselineTable::build(DEFAULT_MODEL, rules, &catalogue)) else {
        panic!("the baseline does not build");
    };
    let env = Env {
        catalogue,
        baseline,
        types: ORGS.iter().map(|(_, t)| slug(t)).collect(),
        categories: ASKED.iter().map(|c| slug(c)).collect(),
        purpose: Slug::follow_up(),
        networks: [Uuid::nil()],
    };
    for pupils in sizes {
        let started = Instant::now();
        let index = world(pupils);
        let built = started.elapsed();
        let asks = requests(pupils, samples);
        // Single decisions, each timed alone.
        let mut ns: Vec<u64> = Vec::with_capacity(asks.len());
        let mut allowed = 0usize;
        for r in &asks {
            let t = Instant::now();
            allowed += usize::from(black_box(env.decide(&index, black_box(r))));
            ns.push(t.elapsed().as_nanos() as u64);
        }
        ns.sort_unstable();
        let pct = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)];
        // Throughput: the same requests, untimed.
        let t = Instant::now();
        let mut again = 0usize;
        for r in &asks {
            again += usize::from(black_box(env.decide(&index, black_box(r))));
        }
        let per_s = asks.len() as f64 / t.elapsed().as_secs_f64();
        assert_eq!(again, allowed, "the same answers twice");
        println!(
            "{}",
            json!({
                "bench": "decision", "pupils": pupils, "grants_per_pupil": GRANTS.len(),
                "n": asks.len(), "allowed": allowed,
                "p50_ns": pct(0.50), "p99_ns": pct(0.99), "p999_ns": pct(0.999),
                "max_ns": ns[ns.len() - 1], "per_s": per_s.round(),
                "index_built_ms": built.as_millis() as u64,
            })
        );
        if let Ok(dir) = std::env::var("SAMTYKKE_BENCH_EXPORT") {
            export(&env, &index, pupils, &asks, std::path::Path::new(&dir));
        }
    }
}

/// The world, the requests with samtykke's answers, and the whole baseline table,
/// for the peers (`benches/peers/`).
fn export(env: &Env, index: &ConsentIndex, pupils: usize, asks: &[Request], dir: &std::path::Path) {
    let id = |n: u128| {
        if n == 0 {
            "tutor".to_owned()
        } else {
            Uuid::from_u128(n).to_string()
        }
    };
    let world_pupils: Vec<Value> = (0..pupils)
        .map(|n| {
            let c = consent(n);
            json!({
                "id": c.pupil_id.to_string(),
                "grants": GRANTS.iter().zip(&c.grants).map(|((from, to, cat), g)| json!({
                    "discloser": id(*from), "recipient": id(*to), "category": cat,
                    "withdrawn": g.withdrawn_at.is_some(), "age": g.age_at_grant,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let world = json!({
        "now": NOW,
        "purpose": env.purpose.as_str(),
        "orgs": ORGS.iter().map(|(n, t)| (id(*n), json!(t))).collect::<serde_json::Map<_, _>>(),
        "alone_from": env.catalogue.categories.iter()
            .map(|c| (c.key.as_str().to_owned(), json!(c.age.alone_from)))
            .collect::<serde_json::Map<_, _>>(),
        "statutory": env.catalogue.statutory.iter().filter_map(|s| s.discloser.as_ref().map(|d| json!({
            "discloser": d.as_str(), "recipient": s.recipient.as_str(), "category": s.category.as_str(),
        }))).collect::<Vec<_>>(),
        "pupils": world_pupils,
    });
    let requests: Vec<Value> = asks
        .iter()
        .map(|r| {
            json!({
                "pupil": Uuid::from_u128(1_000_000 + r.0 as u128).to_string(),
                "discloser": id(ORGS[r.1].0), "recipient": id(ORGS[r.2].0),
                "category": ASKED[r.3], "action": "read",
                "allowed": env.decide(index, r),
            })
        })
        .collect();
    let mut table = Vec::new();
    for t in &env.catalogue.org_types {
        for c in &env.catalogue.categories {
            for (a, name) in [
                (Action::Read, "read"),
                (Action::Write, "write"),
                (Action::Disclose, "disclose"),
            ] {
                table.push(json!({
                    "org_type": t.key.as_str(), "category": c.key.as_str(), "action": name,
                    "purpose": env.purpose.as_str(),
                    "allowed": env.baseline.verdict(&t.key, &c.key, a, &env.purpose).allowed,
                }));
            }
        }
    }
    let write = |name: &str, v: &Value| {
        let path = dir.join(name);
        if let Err(e) =
            std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, v.to_string()))
        {
            panic!("cannot write {}: {e}", path.display());
        }
    };
    write("world.json", &world);
    write("requests.json", &Value::Array(requests));
    write("baseline.json", &Value::Array(table));
    eprintln!(
        "exported {pupils} pupils and {} requests to {}",
        asks.len(),
        dir.display()
    );
}

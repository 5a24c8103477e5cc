//! One decision in process — consent index lookup + the decision function — with
//! 10,000 and 100,000 pupils holding consents of several grants each.
//!
//!     cargo bench --bench decisions
//!
//! Criterion reports the mean; the percentiles (p50/p99/p99.9) over 200,000 single
//! decisions on random pupils are printed before it. See docs/BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Instant;
use uuid::Uuid;

use samtykke::domain::consent::{Consent, Evidence, Grant, Party};
use samtykke::domain::Slug;
use samtykke::policy::baseline::{parse_rules, BaselineTable};
use samtykke::policy::decide::{decide, Action, Discloser, Question, Subject};
use samtykke::policy::index::ConsentIndex;
use samtykke::policy::{DEFAULT_BASELINE, DEFAULT_MODEL};
use samtykke::startup::{parse_catalogue, DEFAULT_CATALOGUE};

const NOW: i64 = 1_800_000_000_000;
/// (discloser, recipient, category); organisation 0 stands for the tutor: 1 the
/// school, 2 PPT, 3 OT, 4 the school nurse.
const GRANTS: [(u128, u128, &str); 5] = [
    (1, 2, "attendance"),
    (1, 2, "grades"),
    (1, 3, "contact_details"),
    (4, 0, "health"),
    (0, 1, "contact_reasons"),
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
}

fn world(pupils: usize) -> (ConsentIndex, Vec<Uuid>) {
    let index = ConsentIndex::default();
    let mut ids = Vec::with_capacity(pupils);
    for n in 0..pupils {
        let pupil = Uuid::from_u128(1_000_000 + n as u128);
        let grants = GRANTS
            .iter()
            .enumerate()
            .map(|(i, (from, to, cat))| Grant {
                id: Uuid::from_u128((n as u128) << 8 | i as u128),
                discloser: party(*from),
                recipient: party(*to),
                category: Slug::parse(cat).unwrap_or_else(|_| Slug::follow_up()),
                legal_basis: String::new(),
                basis: None,
                age_at_grant: 17,
                legacy: false,
                granted_at: NOW - 1000,
                // Every seventh pupil withdrew one grant.
                withdrawn_at: (n % 7 == 0 && i == 0).then_some(NOW - 10),
                guardian: None,
            })
            .collect();
        let consent = Consent {
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
            grants,
        };
        index.put(pupil, &[consent]);
        ids.push(pupil);
    }
    (index, ids)
}

fn bench(c: &mut Criterion) {
    let catalogue = match parse_catalogue(DEFAULT_CATALOGUE, "catalogue") {
        Ok(c) => c,
        Err(e) => return eprintln!("catalogue: {e}"),
    };
    let rules = match parse_rules(DEFAULT_BASELINE, "baseline.csv") {
        Ok(r) => r,
        Err(e) => return eprintln!("baseline: {e}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().ok();
    let Some(Ok(baseline)) =
        rt.map(|rt| rt.block_on(BaselineTable::build(DEFAULT_MODEL, rules, &catalogue)))
    else {
        return eprintln!("baseline did not build");
    };
    let school = Slug::parse("school").unwrap_or_else(|_| Slug::follow_up());
    let ppt = Slug::parse("ppt").unwrap_or_else(|_| Slug::follow_up());
    let categories: Vec<Slug> = ["attendance", "grades", "health", "contact_details"]
        .iter()
        .filter_map(|k| Slug::parse(k).ok())
        .collect();
    let purpose = Slug::follow_up();
    let networks = [Uuid::nil()];

    for pupils in [10_000usize, 100_000] {
        let (index, ids) = world(pupils);
        let mut rng = Lcg(42);
        let one = |rng: &mut Lcg| {
            let pupil = ids[rng.next() as usize % ids.len()];
            let category = &categories[rng.next() as usize % categories.len()];
            // As a token request asks: PPT's system, from the school's.
            let q = Question {
                recipient: Subject {
                    org_id: Some(Uuid::from_u128(2)),
                    org_type: &ppt,
                    role: None,
                    member_of: &networks,
                },
                category,
                action: Action::Read,
                purpose: &purpose,
                discloser: Some(Discloser {
                    org_id: Some(Uuid::from_u128(1)),
                    org_type: &school,
                    school_of: &networks,
                }),
            };
            let consents = index.get(pupil);
            decide(&baseline, &catalogue, consents.as_deref(), &q, NOW).allowed
        };
        // Percentiles over single decisions.
        let mut samples: Vec<u64> = Vec::with_capacity(200_000);
        let mut allowed = 0usize;
        for _ in 0..200_000 {
            let t = Instant::now();
            allowed += usize::from(black_box(one(&mut rng)));
            samples.push(t.elapsed().as_nanos() as u64);
        }
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        println!(
            "decision with {pupils} pupils x {} grants: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({allowed} of 200000 allowed)",
            GRANTS.len(),
            pct(0.50),
            pct(0.99),
            pct(0.999),
            samples[samples.len() - 1]
        );
        c.bench_function(&format!("decision/{pupils}_pupils"), |b| {
            b.iter(|| black_box(one(&mut rng)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

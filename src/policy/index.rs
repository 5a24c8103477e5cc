//! The consent index: the consents of the pupils decided about lately, in a bounded
//! cache, so a decision is a hash lookup whatever the number of pupils, and memory
//! and start-up do not grow with them. A pupil not held is read from the database
//! once (`Services::indexed`). Every consent write invalidates its pupil after
//! commit (and, across instances, on a PostgreSQL notification).

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::domain::category::CategoryKey;
use crate::domain::consent::{Consent, Party};
use crate::domain::guardian::GuardianPart;
use crate::domain::Slug;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub discloser: Party,
    pub recipient: Party,
    pub category: CategoryKey,
    pub withdrawn_at: Option<i64>,
    pub age_at_grant: u8,
    pub legacy: bool,
    /// The guardian's side, for a grant the pupil could not give alone.
    pub guardian: Option<GuardianPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub consent_id: Uuid,
    /// The school network the consent was given in.
    pub network_id: Uuid,
    pub purpose: Slug,
    pub valid_from: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub age_at_signing: u8,
    pub grants: Vec<GrantRecord>,
}

impl ConsentRecord {
    /// Shares the record's keys with every other record's (`Slug::shared`), as
    /// the index keeps them.
    pub fn share_keys(mut self) -> Self {
        fn party(p: &mut Party) {
            if let Party::Org { role: Some(r), .. } = p {
                *r = r.shared();
            }
        }
        self.purpose = self.purpose.shared();
        for g in &mut self.grants {
            g.category = g.category.shared();
            party(&mut g.discloser);
            party(&mut g.recipient);
        }
        self
    }
}

impl From<&Consent> for ConsentRecord {
    fn from(c: &Consent) -> Self {
        Self {
            consent_id: c.id,
            network_id: c.network_id,
            purpose: c.purpose.clone(),
            valid_from: c.valid_from,
            expires_at: c.expires_at,
            ended_at: c.ended_at,
            age_at_signing: c.age_at_signing,
            grants: c
                .grants
                .iter()
                .map(|g| GrantRecord {
                    discloser: g.discloser.clone(),
                    recipient: g.recipient.clone(),
                    category: g.category.clone(),
                    withdrawn_at: g.withdrawn_at,
                    age_at_grant: g.age_at_grant,
                    legacy: g.legacy,
                    guardian: g.guardian,
                })
                .collect(),
        }
        .share_keys()
    }
}

/// A pupil's entry: `None` when samtykke knows no such pupil.
pub type Entry = Option<Arc<[ConsentRecord]>>;

/// Pupils whose consents are kept at once unless configured otherwise: a pupil of
/// average history (one consent, a few grants) is about 1 KB, so about a quarter
/// of a gigabyte at most.
pub const DEFAULT_CAPACITY: usize = 250_000;

/// Weight units per pupil of average history: the cache is bounded by weight
/// (a pupil, their consents and their grants), so a long history counts for more.
const UNITS_PER_PUPIL: u64 = 6;

/// Invalidations are counted per stripe of pupils, so a change to one pupil does
/// not throw away reads of others in flight.
const STRIPES: usize = 4096;

#[derive(Clone)]
struct ByHistory;

impl Weighter<Uuid, Entry> for ByHistory {
    fn weight(&self, _: &Uuid, entry: &Entry) -> u64 {
        let held = entry.as_deref().unwrap_or_default();
        1 + held.iter().map(|c| 1 + c.grants.len() as u64).sum::<u64>()
    }
}

/// Where invalidations stand for one pupil, taken before reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    all: u64,
    stripe: u64,
}

struct Epochs {
    /// Bumped by `clear` and `pause`.
    all: u64,
    stripes: Vec<u64>,
    /// While changes from other instances may be missed (their listener is not
    /// listening), nothing read is kept: each decision reads the database.
    paused: bool,
}

pub struct ConsentIndex {
    cache: Cache<Uuid, Entry, ByHistory>,
    /// Changed under this lock together with the removal, so a read from the
    /// database taken before a change is never kept (it may predate the change).
    epochs: Mutex<Epochs>,
}

impl Default for ConsentIndex {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

fn stripe(pupil: Uuid) -> usize {
    (pupil.as_u128() as usize) % STRIPES
}

impl ConsentIndex {
    /// Room for about `pupils` pupils of average history.
    pub fn with_capacity(pupils: usize) -> Self {
        let pupils = pupils.max(1);
        Self {
            cache: Cache::with_weighter(pupils, pupils as u64 * UNITS_PER_PUPIL, ByHistory),
            epochs: Mutex::new(Epochs {
                all: 0,
                stripes: vec![0; STRIPES],
                paused: false,
            }),
        }
    }

    /// The pupil's entry if it is held; `None` means it must be read.
    pub fn get(&self, pupil: Uuid) -> Option<Entry> {
        self.cache.get(&pupil)
    }

    /// Where invalidations of this pupil stand; take it before reading them.
    pub fn epoch(&self, pupil: Uuid) -> Epoch {
        let e = self.lock();
        Epoch {
            all: e.all,
            stripe: e.stripes[stripe(pupil)],
        }
    }

    /// Keeps an entry read from the database, unless the pupil was invalidated
    /// since `epoch` was taken or the index is paused.
    pub fn keep(&self, pupil: Uuid, entry: Entry, epoch: Epoch) {
        let e = self.lock();
        if !e.paused && e.all == epoch.all && e.stripes[stripe(pupil)] == epoch.stripe {
            self.cache.insert(pupil, entry);
        }
    }

    /// Puts a pupil's consents in directly (benchmarks, tests).
    pub fn put(&self, pupil: Uuid, consents: &[Consent]) {
        let records: Arc<[ConsentRecord]> = consents.iter().map(ConsentRecord::from).collect();
        self.cache.insert(pupil, Some(records));
    }

    // Only the epoch's bump needs the lock: a read kept after it was taken after
    // the change, so removing it too (below, outside the lock) costs one read.

    /// Forgets a pupil after a change, so the next decision reads it again.
    pub fn invalidate(&self, pupil: Uuid) {
        self.lock().stripes[stripe(pupil)] += 1;
        self.cache.remove(&pupil);
    }

    /// Forgets every pupil (a change to many, or notifications possibly missed).
    pub fn clear(&self) {
        self.lock().all += 1;
        self.cache.clear();
    }

    /// Forgets every pupil and keeps nothing until [`Self::resume`]: changes made
    /// elsewhere may be missed meanwhile.
    pub fn pause(&self) {
        {
            let mut e = self.lock();
            e.all += 1;
            e.paused = true;
        }
        self.cache.clear();
    }

    /// Keeps reads again, from an empty index (after catching up with changes).
    pub fn resume(&self) {
        {
            let mut e = self.lock();
            e.all += 1;
            e.paused = false;
        }
        self.cache.clear();
    }

    /// Pupils held now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Epochs> {
        self.epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Some(Arc::from(Vec::new()))
    }

    #[test]
    fn a_read_taken_before_a_change_is_not_kept() {
        let index = ConsentIndex::with_capacity(1_000);
        let pupil = Uuid::new_v4();
        let other = Uuid::new_v4();
        let before = index.epoch(pupil);
        let other_before = index.epoch(other);
        index.invalidate(pupil);
        index.keep(pupil, entry(), before);
        assert!(index.get(pupil).is_none(), "stale read kept");
        index.keep(other, entry(), other_before);
        assert!(
            index.get(other).is_some() || stripe(other) == stripe(pupil),
            "a change to one pupil keeps reads of others"
        );
        index.keep(pupil, entry(), index.epoch(pupil));
        assert_eq!(index.get(pupil), Some(entry()));
        index.invalidate(pupil);
        assert!(index.get(pupil).is_none(), "forgotten after a change");
        index.keep(pupil, None, index.epoch(pupil));
        assert_eq!(
            index.get(pupil),
            Some(None),
            "an unknown pupil is held as such"
        );
        let before = index.epoch(pupil);
        index.clear();
        index.keep(pupil, entry(), before);
        assert!(index.is_empty(), "a read from before a reset is not kept");

        // Paused (changes elsewhere may be missed): nothing is kept until resumed.
        index.keep(pupil, entry(), index.epoch(pupil));
        index.pause();
        assert!(index.is_empty(), "pausing forgets");
        index.keep(pupil, entry(), index.epoch(pupil));
        assert!(index.is_empty(), "nothing kept while paused");
        let before = index.epoch(pupil);
        index.resume();
        index.keep(pupil, entry(), before);
        assert!(index.is_empty(), "a read from while paused is not kept");
        index.keep(pupil, entry(), index.epoch(pupil));
        assert!(index.get(pupil).is_some(), "kept again once resumed");
    }

    #[test]
    fn the_index_stays_within_its_capacity() {
        let index = ConsentIndex::with_capacity(1_000);
        for _ in 0..20_000 {
            let p = Uuid::new_v4();
            index.keep(p, entry(), index.epoch(p));
        }
        // An empty history weighs one unit, a pupil of average history six.
        assert!(index.len() <= 6_000, "{} held", index.len());
        assert!(index.len() >= 3_000, "{} held", index.len());
    }
}

//! The consent index: every pupil's consents in memory, so a decision is two hash
//! lookups whatever the number of pupils or grants. Updated after every consent
//! write (and, across instances, on a PostgreSQL notification).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
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
    }
}

#[derive(Default)]
pub struct ConsentIndex {
    pupils: RwLock<HashMap<Uuid, Arc<[ConsentRecord]>>>,
    /// Lookup hash → pupil, kept complete like the consents, so finding a pupil by
    /// number costs the same whether or not samtykke knows them.
    lookups: RwLock<Lookups>,
}

#[derive(Default)]
struct Lookups {
    by_hash: HashMap<Vec<u8>, Uuid>,
    by_pupil: HashMap<Uuid, Vec<u8>>,
}

impl ConsentIndex {
    /// The pupil's consents, or `None` if samtykke knows no such pupil.
    pub fn get(&self, pupil: Uuid) -> Option<Arc<[ConsentRecord]>> {
        let map = self
            .pupils
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&pupil).cloned()
    }

    pub fn put(&self, pupil: Uuid, consents: &[Consent]) {
        let records: Arc<[ConsentRecord]> = consents.iter().map(ConsentRecord::from).collect();
        let mut map = self
            .pupils
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(pupil, records);
    }

    pub fn replace_all(&self, all: HashMap<Uuid, Arc<[ConsentRecord]>>) {
        let mut map = self
            .pupils
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map = all;
    }

    pub fn find(&self, lookup_hash: &[u8]) -> Option<Uuid> {
        let l = self
            .lookups
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        l.by_hash.get(lookup_hash).copied()
    }

    /// Sets (or, with `None`, removes after erasure) a pupil's lookup hash.
    pub fn set_lookup(&self, pupil: Uuid, hash: Option<Vec<u8>>) {
        let mut l = self
            .lookups
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = l.by_pupil.remove(&pupil) {
            l.by_hash.remove(&old);
        }
        if let Some(h) = hash {
            l.by_hash.insert(h.clone(), pupil);
            l.by_pupil.insert(pupil, h);
        }
    }

    pub fn replace_lookups(&self, all: Vec<(Vec<u8>, Uuid)>) {
        let mut fresh = Lookups::default();
        for (h, p) in all {
            fresh.by_hash.insert(h.clone(), p);
            fresh.by_pupil.insert(p, h);
        }
        *self
            .lookups
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }

    pub fn len(&self) -> usize {
        self.pupils
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! Partner clients, organisations and the networks schools anchor, held in memory: the token endpoint reads them
//! on every request, and they change rarely. A change made through samtykke drops
//! this instance's copy at once and (PostgreSQL) tells the other instances to drop
//! theirs; the next read loads a fresh one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

use super::{Result, Services};
use crate::domain::client::{ClientId, PartnerClient};
use crate::domain::org::Organisation;

/// The payload of the change notification that drops the copies.
pub const DIRECTORY_CHANGED: &str = "directory";

pub struct Snapshot {
    clients: HashMap<String, PartnerClient>,
    orgs: HashMap<Uuid, Organisation>,
    by_number: HashMap<String, Uuid>,
    /// The school networks whose school each organisation is.
    school_of: HashMap<Uuid, Vec<Uuid>>,
    /// The school networks each organisation serves (as school or member).
    member_of: HashMap<Uuid, Vec<Uuid>>,
}

impl Snapshot {
    pub fn client(&self, id: &ClientId) -> Option<&PartnerClient> {
        self.clients.get(id.as_str())
    }

    pub fn org(&self, id: Uuid) -> Option<&Organisation> {
        self.orgs.get(&id)
    }

    pub fn orgs(&self) -> impl Iterator<Item = &Organisation> {
        self.orgs.values()
    }

    pub fn org_by_number(&self, number: &str) -> Option<&Organisation> {
        self.by_number.get(number).and_then(|id| self.orgs.get(id))
    }

    /// The networks whose school `org` is; none for any other organisation.
    pub fn school_of(&self, org: Uuid) -> &[Uuid] {
        self.school_of.get(&org).map_or(&[], Vec::as_slice)
    }

    /// The networks `org` serves, as their school or a member.
    pub fn member_of(&self, org: Uuid) -> &[Uuid] {
        self.member_of.get(&org).map_or(&[], Vec::as_slice)
    }
}

#[derive(Default)]
pub struct Directory {
    copy: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped by every change, so a load that read before a change never installs
    /// what it read.
    generation: AtomicU64,
}

impl Services {
    /// The clients and organisations, from memory or freshly loaded.
    pub async fn directory(&self) -> Result<Arc<Snapshot>> {
        let d = &self.directory;
        if let Some(s) = d.copy.read().ok().and_then(|c| c.clone()) {
            return Ok(s);
        }
        let generation = d.generation.load(Ordering::SeqCst);
        let orgs = self.store.orgs().await?;
        let clients = self.store.clients().await?;
        let mut school_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut member_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for n in self.store.networks().await? {
            school_of.entry(n.school_id).or_default().push(n.id);
            for m in std::iter::once(n.school_id).chain(n.member_ids.iter().copied()) {
                member_of.entry(m).or_default().push(n.id);
            }
        }
        let snapshot = Arc::new(Snapshot {
            school_of,
            member_of,
            by_number: orgs
                .iter()
                .map(|o| (o.number.as_str().to_owned(), o.id))
                .collect(),
            orgs: orgs.into_iter().map(|o| (o.id, o)).collect(),
            clients: clients
                .into_iter()
                .map(|c| (c.client_id.as_str().to_owned(), c))
                .collect(),
        });
        if let Ok(mut copy) = d.copy.write() {
            if d.generation.load(Ordering::SeqCst) == generation {
                *copy = Some(snapshot.clone());
            }
        }
        Ok(snapshot)
    }

    /// Drops the copy: after a change here, or when another instance says so.
    pub fn forget_directory(&self) {
        let d = &self.directory;
        d.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut copy) = d.copy.write() {
            *copy = None;
        }
    }
}

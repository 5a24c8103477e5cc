//! What a pupil is offered to choose, service by service: what the tutor may get
//! from each of the pupil's services and tell it, what two services may tell each
//! other directly, and what each is told by a duty in law (named, never offered).

use uuid::Uuid;

use super::{Result, Services};
use crate::domain::catalogue::{OrgTypeInfo, StatutoryDuty};
use crate::domain::category::{AgeVerdict, Category};
use crate::domain::consent::{Choice, Consent, Party};
use crate::domain::org::{Municipality, Organisation};
use crate::domain::{Localized, Slug};
use crate::policy::decide::Action;

/// One of the pupil's services and what the pupil may choose for it.
#[derive(Debug, Clone)]
pub struct ServiceOffer {
    pub org: Organisation,
    pub kind: OrgTypeInfo,
    /// Why the tutor works with it, in the pupil's words.
    pub why: Option<Localized>,
    /// What it may tell the tutor, with the pupil's age verdict for each (only
    /// `Alone` can be chosen).
    pub obtain: Vec<(Category, AgeVerdict)>,
    /// What the tutor may tell it (the whole service, or the roles the pupil picks).
    pub tell: Vec<(Category, AgeVerdict)>,
    /// What another of the pupil's services may tell it directly.
    pub direct: Vec<(Organisation, Vec<(Category, AgeVerdict)>)>,
    /// What it is told, or tells, by a duty in law.
    pub by_law: Vec<StatutoryDuty>,
}

impl ServiceOffer {
    pub fn is_empty(&self) -> bool {
        self.obtain.is_empty() && self.tell.is_empty() && self.direct.is_empty()
    }
}

impl Services {
    /// What the pupil may choose in `network_id` (and, if they name one, where they
    /// live), one service at a time: the school first, the rest of the NAV office
    /// last. Never a category the baseline does not let the recipient receive and
    /// the discloser hand over, never one shared by law or retired. `None` if
    /// there is no such network.
    pub async fn offer(
        &self,
        pupil: Uuid,
        network_id: Uuid,
        home: Option<&Municipality>,
    ) -> Result<Option<Vec<ServiceOffer>>> {
        let network = match self.store.network(network_id).await {
            Ok(n) => n,
            Err(crate::storage::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let age = self.pupil_age(pupil).await?;
        self.offer_at_age(&network, home, age).await.map(Some)
    }

    /// `offer` for a pupil of `age`.
    pub(super) async fn offer_at_age(
        &self,
        network: &crate::domain::org::Network,
        home: Option<&Municipality>,
        age: u8,
    ) -> Result<Vec<ServiceOffer>> {
        let services = self.services_of(network, home).await?;
        let catalogue = self.catalogue();
        let baseline = self.policy.baseline();
        let purpose = Slug::follow_up();
        let tutor = Slug::tutor();
        // May `from` tell `to` this category, by the catalogue and the baseline?
        let may = |from: &Slug, to: &Slug, cat: &Category| {
            !cat.retired
                && catalogue.statutory_flow(Some(from), to, &cat.key).is_none()
                && catalogue.offers(from, to, &cat.key)
                && baseline
                    .verdict(to, &cat.key, Action::Read, &purpose)
                    .allowed
                && baseline
                    .verdict(from, &cat.key, Action::Disclose, &purpose)
                    .allowed
        };
        let with_age = |c: &Category| (c.clone(), c.age.verdict(age));
        let mut out = Vec::new();
        for org in services.iter().filter(|o| o.enabled) {
            let Some(kind) = catalogue.org_type(&org.org_type) else {
                continue;
            };
            let t = &org.org_type;
            let pick = |from: &Slug, to: &Slug| -> Vec<(Category, AgeVerdict)> {
                catalogue
                    .categories
                    .iter()
                    .filter(|c| may(from, to, c))
                    .map(with_age)
                    .collect()
            };
            let direct = services
                .iter()
                .filter(|o| o.enabled && o.id != org.id)
                .map(|from| (from.clone(), pick(&from.org_type, t)))
                .filter(|(_, cats)| !cats.is_empty())
                .collect();
            let by_law = catalogue
                .statutory
                .iter()
                .filter(|s| &s.recipient == t || s.discloser.as_ref() == Some(t))
                .cloned()
                .collect();
            let offer = ServiceOffer {
                org: org.clone(),
                kind: kind.clone(),
                why: catalogue.offer(t).map(|o| o.why.clone()),
                obtain: pick(t, &tutor),
                tell: pick(&tutor, t),
                direct,
                by_law,
            };
            if !offer.is_empty() {
                out.push(offer);
            }
        }
        // The school first, then the catalogue's order of offers; the part of NAV the
        // tutor's work is kept from comes last.
        let rank = |o: &ServiceOffer| {
            let at = catalogue
                .offers
                .iter()
                .position(|x| x.counterpart == o.org.org_type)
                .unwrap_or(usize::MAX);
            (o.kind.separate, at)
        };
        out.sort_by_key(rank);
        Ok(out)
    }
}

impl Services {
    /// The municipalities a pupil may say they live in: those with services the
    /// catalogue places where the pupil lives, each with those services' names.
    pub async fn home_choices(&self) -> Result<Vec<(Municipality, Vec<String>)>> {
        let catalogue = self.catalogue();
        let mut out: Vec<(Municipality, Vec<String>)> = Vec::new();
        for o in self.directory().await?.orgs() {
            let at_home = catalogue
                .org_type(&o.org_type)
                .is_some_and(|t| t.local == crate::domain::catalogue::Local::Home);
            let Some(m) = o.municipality.as_ref().filter(|_| at_home && o.enabled) else {
                continue;
            };
            match out.iter_mut().find(|(k, _)| k == m) {
                Some((_, names)) => names.push(o.name.clone()),
                None => out.push((m.clone(), vec![o.name.clone()])),
            }
        }
        out.sort();
        Ok(out)
    }
}

impl Services {
    /// For a pupil who changes school or moves: the choices in force, carried to the
    /// new place's services by kind (the new school's counsellor for the old one's),
    /// so that they are asked "who should still know?" rather than start over. A
    /// choice whose kind of service the new place lacks is left out: it stops when
    /// the pupil signs. `None` if there is no such network.
    pub async fn carried_over(
        &self,
        current: &Consent,
        network_id: Uuid,
        home: Option<&Municipality>,
    ) -> Result<Option<Vec<Choice>>> {
        let network = match self.store.network(network_id).await {
            Ok(n) => n,
            Err(crate::storage::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let services = self.services_of(&network, home).await?;
        let directory = self.directory().await?;
        let moved = |p: &Party| -> Option<Party> {
            let Party::Org { org_id, role } = p else {
                return Some(Party::Tutor);
            };
            if services.iter().any(|s| s.id == *org_id && s.enabled) {
                return Some(p.clone());
            }
            let kind = &directory.org(*org_id)?.org_type;
            let there = services.iter().find(|s| &s.org_type == kind && s.enabled)?;
            Some(Party::Org {
                org_id: there.id,
                role: role.clone(),
            })
        };
        let mut out: Vec<Choice> = Vec::new();
        for g in current.grants_in_force() {
            if let (Some(from), Some(to)) = (moved(&g.discloser), moved(&g.recipient)) {
                let c = Choice::new(from, to, g.category.clone());
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        Ok(Some(out))
    }
}

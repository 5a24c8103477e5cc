use serde::Deserialize;
use uuid::Uuid;

use super::notices::Ended;
use super::{Found, Result, ServiceError, Services};
use crate::audit::event::ConsentChanged;
use crate::audit::{Actor, Event, Record};
use crate::clock::{date_of, oslo_date};
use crate::domain::catalogue::Local;
use crate::domain::consent::{
    check_choices, plan_change, plan_withdrawal, Choice, ChoiceContext, Consent, ConsentEvent,
    ConsentState, EventKind, Evidence, Grant, NewGrant, Withdrawal,
};
use crate::domain::guardian::{Cosign, GuardianPart};
use crate::domain::identity::IdentityNumber;
use crate::domain::org::{Municipality, Network, Organisation};
use crate::domain::template::TemplateStatus;
use crate::domain::Slug;
use crate::storage::WriteTx;

/// A pupil signs a new consent.
#[derive(Debug, Clone)]
pub struct SignRequest {
    pub identity: IdentityNumber,
    pub network_id: Uuid,
    pub template_id: Uuid,
    pub purpose: Slug,
    pub choices: Vec<Choice>,
    pub evidence: Evidence,
    pub actor: Actor,
    /// Where the pupil lives, when it is not where the school is: services the
    /// catalogue offers where the pupil lives are that municipality's.
    pub home_municipality: Option<Municipality>,
}

/// A pupil replaces their choice on a consent in force.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub choices: Vec<Choice>,
    pub evidence: Evidence,
}

fn check_evidence(e: &Evidence) -> Result<()> {
    let ok = |s: &str| !s.trim().is_empty() && s.len() <= 200 && !s.chars().any(char::is_control);
    if !ok(&e.acr) {
        return Err(ServiceError::invalid(
            "evidence.acr",
            "must be 1-200 printable characters",
        ));
    }
    if e.amr.is_empty() || e.amr.len() > 10 || !e.amr.iter().all(|m| ok(m)) {
        return Err(ServiceError::invalid(
            "evidence.amr",
            "must name 1-10 methods",
        ));
    }
    if !ok(&e.session_ref) {
        return Err(ServiceError::invalid(
            "evidence.session_ref",
            "must be 1-200 printable characters",
        ));
    }
    Ok(())
}

/// Which consents to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct ConsentQuery {
    pub pupil_id: Option<Uuid>,
    pub network_id: Option<Uuid>,
    /// 1-500.
    pub limit: i64,
    pub offset: i64,
}

impl Services {
    pub async fn consents(&self, q: &ConsentQuery) -> Result<Vec<Consent>> {
        if !(1..=500).contains(&q.limit) {
            return Err(ServiceError::invalid("limit", "must be 1-500"));
        }
        if q.offset < 0 {
            return Err(ServiceError::invalid("offset", "must not be negative"));
        }
        let f = crate::storage::ConsentFilter {
            pupil_id: q.pupil_id,
            network_id: q.network_id,
            limit: q.limit,
            offset: q.offset,
        };
        Ok(self.store.consents(&f).await?)
    }

    pub async fn consent(&self, id: Uuid) -> Result<Consent> {
        self.store.consent(id).await.found("consent")
    }

    /// A consent's history, oldest first.
    pub async fn consent_events(&self, id: Uuid) -> Result<Vec<ConsentEvent>> {
        self.store.consent(id).await.found("consent")?;
        Ok(self.store.consent_events(id).await?)
    }

    /// Every consent of a known pupil (`NotFound` for an unknown one).
    pub async fn consents_of_pupil(&self, pupil: Uuid) -> Result<Vec<Consent>> {
        self.store.pupil(pupil).await.found("pupil")?;
        Ok(self.store.consents_of_pupil(pupil).await?)
    }

    /// The pupil's services: the school and its network's partners, and where the
    /// pupil names a home municipality, that municipality's services of the types
    /// the catalogue places where the pupil lives (instead of the network's).
    pub(super) async fn services_of(
        &self,
        network: &Network,
        home: Option<&Municipality>,
    ) -> Result<Vec<Organisation>> {
        let catalogue = self.catalogue();
        let at_home = |o: &Organisation| {
            catalogue
                .org_type(&o.org_type)
                .is_some_and(|t| t.local == Local::Home)
        };
        let directory = self.directory().await?;
        let mut out: Vec<Organisation> = std::iter::once(network.school_id)
            .chain(network.member_ids.iter().copied())
            .filter_map(|id| directory.org(id).cloned())
            .filter(|o| home.is_none() || !at_home(o))
            .collect();
        if let Some(m) = home {
            for o in self.store.orgs_in_municipality(m).await? {
                if at_home(&o) && !out.iter().any(|x| x.id == o.id) {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    async fn checked_grants(
        &self,
        tx: &mut WriteTx<'_>,
        network_id: Uuid,
        home: Option<&Municipality>,
        purpose: &Slug,
        identity: &IdentityNumber,
        choices: &[Choice],
    ) -> Result<Vec<NewGrant>> {
        let age = identity.age_on(oslo_date(self.now()));
        let network = tx.network_in_tx(network_id).await.found("network")?;
        let services = self.services_of(&network, home).await?;
        let mut ids: Vec<Uuid> = choices
            .iter()
            .filter_map(Choice::parties)
            .flat_map(|(d, r)| [d.org_id(), r.org_id()])
            .flatten()
            .collect();
        ids.sort();
        ids.dedup();
        let orgs = tx.orgs_in_tx(&ids).await?;
        let catalogue = self.catalogue();
        let ctx = ChoiceContext {
            catalogue: &catalogue,
            services: &services,
            orgs: &orgs,
            purpose,
            age,
            born: identity.birth_date(),
        };
        Ok(check_choices(&ctx, choices)?)
    }

    /// Records a signed consent. A consent in force for the same purpose is
    /// superseded in the same transaction, so a pupil never has two.
    pub async fn sign(&self, req: SignRequest) -> Result<Consent> {
        let mut tx = self.store.write().await?;
        let (consent, ended) = self.sign_in(&mut tx, req).await?;
        self.committed(tx, consent.pupil_id, &ended, "superseded")
            .await?;
        Ok(consent)
    }

    /// `sign` inside a transaction the caller commits (with `committed`), so what
    /// goes with the consent (a paper form) is written with it or not at all.
    pub(super) async fn sign_in(
        &self,
        tx: &mut WriteTx<'_>,
        req: SignRequest,
    ) -> Result<(Consent, Vec<Ended>)> {
        check_evidence(&req.evidence)?;
        let now = self.now();
        let template = tx.template_in_tx(req.template_id).await.found("template")?;
        if template.status != TemplateStatus::Published {
            return Err(ServiceError::invalid(
                "template_id",
                "the template is not published",
            ));
        }
        let age = req.identity.age_on(oslo_date(now));
        let grants = self
            .checked_grants(
                tx,
                req.network_id,
                req.home_municipality.as_ref(),
                &req.purpose,
                &req.identity,
                &req.choices,
            )
            .await?;
        let pupil_id = self.enrol_in_tx(tx, &req.identity, &req.actor).await?;
        let mut ended = Vec::new();
        for old in tx.consents_of_pupil_in_tx(pupil_id).await? {
            if old.purpose == req.purpose
                && matches!(old.state(now), ConsentState::Active | ConsentState::Pending)
            {
                let removed: Vec<Uuid> = old.grants_live().map(|g| g.id).collect();
                // Only what the new consent does not grant again has ended.
                // (A grant given again that waits for a guardian is not in force.)
                ended.extend(ended_of(&old, &removed).into_iter().filter(|e| {
                    !grants.iter().any(|g| {
                        g.recipient.org_id() == Some(e.org_id)
                            && g.category == e.category
                            && g.adult_at.is_none()
                    })
                }));
                tx.withdraw_grants(old.id, &removed, now).await?;
                tx.end_consent(old.id, now).await?;
                append_event(
                    tx,
                    pupil_id,
                    &event(
                        old.id,
                        EventKind::Superseded,
                        now,
                        &req.actor,
                        vec![],
                        removed,
                        None,
                    ),
                )
                .await?;
            }
        }
        let consent = Consent {
            id: Uuid::new_v4(),
            pupil_id,
            network_id: req.network_id,
            template_id: template.id,
            template_hash: template.content_hash,
            purpose: req.purpose,
            valid_from: now,
            // The period the agreement states, else the configured validity.
            expires_at: template
                .terms
                .period
                .map_or(now + self.consent_validity, |p| p.ends(now)),
            signed_at: now,
            evidence: req.evidence.clone(),
            age_at_signing: age,
            home_municipality: req.home_municipality,
            ended_at: None,
            grants: grants.into_iter().map(|g| new_grant(g, now)).collect(),
        };
        tx.insert_consent(&consent).await?;
        let added = consent.grants.iter().map(|g| g.id).collect();
        append_event(
            tx,
            pupil_id,
            &event(
                consent.id,
                EventKind::Signed,
                now,
                &req.actor,
                added,
                vec![],
                Some(req.evidence),
            ),
        )
        .await?;
        Ok((consent, ended))
    }

    /// Replaces the choice on a consent in force with a new full choice.
    pub async fn change(
        &self,
        consent_id: Uuid,
        req: ChangeRequest,
        actor: &Actor,
    ) -> Result<Consent> {
        check_evidence(&req.evidence)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let consent = tx.consent_in_tx(consent_id).await.found("consent")?;
        let identity = self.pupil_identity(consent.pupil_id).await?;
        let wanted = self
            .checked_grants(
                &mut tx,
                consent.network_id,
                consent.home_municipality.as_ref(),
                &consent.purpose,
                &identity,
                &req.choices,
            )
            .await?;
        let plan = plan_change(&consent, wanted, now)?;
        if plan.add.is_empty() && plan.remove.is_empty() {
            return Err(ServiceError::Conflict(
                "the new choice is the same as the one in force".into(),
            ));
        }
        let ended = ended_of(&consent, &plan.remove);
        tx.withdraw_grants(consent.id, &plan.remove, now).await?;
        let mut added = Vec::with_capacity(plan.add.len());
        for g in plan.add {
            let g = new_grant(g, now);
            tx.insert_grant(consent.id, &g).await?;
            added.push(g.id);
        }
        append_event(
            &mut tx,
            consent.pupil_id,
            &event(
                consent.id,
                EventKind::Changed,
                now,
                actor,
                added,
                plan.remove,
                Some(req.evidence),
            ),
        )
        .await?;
        let consent = tx.consent_in_tx(consent_id).await?;
        self.committed(tx, consent.pupil_id, &ended, "withdrawn")
            .await?;
        Ok(consent)
    }

    /// Withdraws one grant, one organisation or everything, at once.
    pub async fn withdraw(
        &self,
        consent_id: Uuid,
        w: &Withdrawal,
        actor: &Actor,
    ) -> Result<Consent> {
        let mut tx = self.store.write().await?;
        let (consent, ended) = self
            .withdraw_in(&mut tx, consent_id, w, actor, self.now())
            .await?;
        self.committed(tx, consent.pupil_id, &ended, "withdrawn")
            .await?;
        Ok(consent)
    }

    /// `withdraw` inside a transaction the caller commits (with `committed`), at
    /// `now` (one time for everything the caller records with it).
    pub(super) async fn withdraw_in(
        &self,
        tx: &mut WriteTx<'_>,
        consent_id: Uuid,
        w: &Withdrawal,
        actor: &Actor,
        now: i64,
    ) -> Result<(Consent, Vec<Ended>)> {
        let consent = tx.consent_in_tx(consent_id).await.found("consent")?;
        let plan = plan_withdrawal(&consent, w, now)?;
        let ended = ended_of(&consent, &plan.grant_ids);
        tx.withdraw_grants(consent.id, &plan.grant_ids, now).await?;
        if plan.ends_consent {
            tx.end_consent(consent.id, now).await?;
        }
        append_event(
            tx,
            consent.pupil_id,
            &event(
                consent.id,
                EventKind::Withdrawn,
                now,
                actor,
                vec![],
                plan.grant_ids,
                None,
            ),
        )
        .await?;
        let consent = tx.consent_in_tx(consent_id).await?;
        Ok((consent, ended))
    }

    /// Grants from before disclosures were modelled carry the age their consent was
    /// signed at (migration 0009). One added later by a change was checked at the
    /// pupil's age then: that age is set from the pupil's birth date, so it is
    /// decided as it was given. Idempotent; returns how many were raised.
    pub async fn backfill_legacy_ages(&self) -> Result<usize> {
        let mut raise = Vec::new();
        for (grant, pupil, granted_at, stored) in self.store.legacy_grants_added_later().await? {
            let identity = match self.pupil_identity(pupil).await {
                Ok(i) => i,
                Err(ServiceError::Erased) => continue,
                Err(e) => return Err(e),
            };
            let age = identity.age_on(date_of(granted_at));
            if age > stored {
                raise.push((grant, age));
            }
        }
        if raise.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.write().await?;
        for (grant, age) in &raise {
            tx.raise_legacy_age(*grant, *age).await?;
        }
        tx.chain(&[self.operator(
            &Actor::System,
            "consent grants",
            serde_json::json!({ "action": "ages of grants added before disclosures were modelled set from birth dates", "grants": raise.len() }),
        )])
        .await?;
        // Other instances may hold these pupils in their decision index.
        tx.notify(self.store.backend(), super::INDEX_CHANGED)
            .await?;
        self.commit_and_forget(tx, None).await?;
        Ok(raise.len())
    }

    /// Consents whose time has run out get an `expired` event, once, and the
    /// partners that hold tokens for their grants a notice; returns how many.
    pub async fn expire_due(&self) -> Result<usize> {
        // Reads only what is due (`consents_due_to_expire`), a page at a time, so
        // the minute's work costs the consents that ran out, not all of them.
        const PAGE: i64 = 256;
        let now = self.now();
        let mut done = 0;
        // One consent that cannot be recorded does not hold up the rest: it is
        // logged, skipped for this run and tried again next minute.
        let mut failed: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
        let mut first_error = None;
        loop {
            let due = self.store.consents_due_to_expire(now, PAGE).await?;
            let mut progress = false;
            for id in &due {
                if failed.contains(id) {
                    continue;
                }
                match self.expire_one(*id, now).await {
                    Ok(recorded) => {
                        done += usize::from(recorded);
                        progress = true;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, consent = %id, "expiry not recorded");
                        failed.insert(*id);
                        first_error.get_or_insert(e);
                    }
                }
            }
            // What was read is recorded now (here or by another instance), so the
            // next page holds only what is still due, and what failed.
            if due.len() < usize::try_from(PAGE).unwrap_or(0) || !progress {
                return first_error.map_or(Ok(done), Err);
            }
        }
    }

    /// Records one consent's expiry unless another instance did; whether it did.
    async fn expire_one(&self, id: Uuid, now: i64) -> Result<bool> {
        let mut tx = self.store.write().await?;
        if !tx.claim_expiry_in_tx(id, now).await? {
            return Ok(false);
        }
        let c = tx.consent_in_tx(id).await?;
        let ids: Vec<Uuid> = c.grants_in_force().map(|g| g.id).collect();
        let ended = ended_of(&c, &ids);
        append_event(
            &mut tx,
            c.pupil_id,
            &event(
                c.id,
                EventKind::Expired,
                now,
                &Actor::System,
                vec![],
                vec![],
                None,
            ),
        )
        .await?;
        self.committed(tx, c.pupil_id, &ended, "expired").await?;
        Ok(true)
    }

    /// Commits a consent change, tells the other instances, and updates this
    /// instance's decision index, so the very next decision sees the change.
    /// Partners that received tokens for grants that ended are told, in the same
    /// transaction (see `notices`).
    pub(super) async fn committed(
        &self,
        mut tx: WriteTx<'static>,
        pupil: Uuid,
        ended: &[Ended],
        reason: &str,
    ) -> Result<()> {
        let notices = self.prepare_notices(&mut tx, pupil, ended, reason).await?;
        tx.notify(self.store.backend(), &format!("consent:{pupil}"))
            .await?;
        self.commit_and_forget(tx, Some(pupil)).await?;
        if notices > 0 {
            self.deliveries.notify_one();
        }
        Ok(())
    }
}

pub(super) fn new_grant(g: NewGrant, now: i64) -> Grant {
    Grant {
        id: Uuid::new_v4(),
        legal_basis: g.basis.in_words(),
        discloser: g.discloser,
        recipient: g.recipient,
        category: g.category,
        basis: Some(g.basis),
        age_at_grant: g.age,
        legacy: false,
        granted_at: now,
        withdrawn_at: None,
        guardian: g.adult_at.map(|adult_at| GuardianPart {
            state: Cosign::Pending,
            adult_at,
        }),
    }
}

pub(super) fn event(
    consent_id: Uuid,
    kind: EventKind,
    at: i64,
    actor: &Actor,
    added: Vec<Uuid>,
    removed: Vec<Uuid>,
    evidence: Option<Evidence>,
) -> ConsentEvent {
    ConsentEvent {
        id: Uuid::new_v4(),
        consent_id,
        kind,
        at,
        actor: actor.to_string(),
        added,
        removed,
        evidence,
    }
}

/// Appends a consent event and, in the same transaction, its audit entry.
pub(super) async fn append_event(
    tx: &mut WriteTx<'_>,
    pupil: Uuid,
    e: &ConsentEvent,
) -> Result<()> {
    tx.append_event(e).await?;
    Ok(tx.chain(&[consent_record(pupil, e).entry()]).await?)
}

/// What the audit chain keeps of a consent event.
pub(super) fn consent_record(pupil: Uuid, e: &ConsentEvent) -> Record {
    Record::new(
        e.at,
        Actor::parse(&e.actor),
        Some(pupil),
        Event::Consent(
            e.kind,
            ConsentChanged {
                consent: e.consent_id,
                event: e.id,
                added: e.added.clone(),
                removed: e.removed.clone(),
                acr: e.evidence.as_ref().map(|v| v.acr.clone()),
            },
        ),
    )
}

/// The (recipient organisation, category) of the given grants, as ended grants:
/// partners' tokens are issued to recipients (a grant to the tutor has none).
pub(super) fn ended_of(consent: &Consent, ids: &[Uuid]) -> Vec<Ended> {
    consent
        .grants
        .iter()
        // Partners were never told of a grant still waiting for a guardian.
        .filter(|g| ids.contains(&g.id) && g.in_force())
        .filter_map(|g| {
            Some(Ended {
                consent_id: consent.id,
                org_id: g.recipient.org_id()?,
                category: g.category.clone(),
            })
        })
        .collect()
}

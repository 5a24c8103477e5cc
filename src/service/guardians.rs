//! Guardians: a grant the pupil may not give alone waits for a guardian, who is
//! invited with a one-time code, logs in with ID-porten and co-signs or declines;
//! either of them may withdraw it at once. A tutor may record a protective
//! exception instead (a compliance officer reviews each), and confirms parental
//! responsibility until a register can. At the birthday from which the pupil
//! decides alone, what rested on a guardian lapses unless the pupil confirmed it.

use std::sync::Arc;
use uuid::Uuid;

use super::tutor::{words, Tutor};
use super::{Result, ServiceError, Services};
use crate::audit::event::GuardianDone;
use crate::audit::{Actor, Event, Record};
use crate::domain::caseload::{invitation_code, normalise_code};
use crate::domain::consent::{Consent, ConsentState, Grant, Withdrawal};
use crate::domain::guardian::{protective_grounds, Cosign, InvitationOutcome, ProtectiveGround};
use crate::domain::identity::IdentityNumber;
use crate::storage::{ExceptionRow, GuardianInvitationRow, WriteTx};

/// An invitation to a guardian is good for 14 days.
pub const GUARDIAN_INVITATION_MS: i64 = 14 * crate::clock::DAY;
/// The pupil is asked to confirm this long before the birthday.
pub const CONFIRM_WINDOW_MS: i64 = 42 * crate::clock::DAY;
/// Reviewed exceptions stay on the officer's list this long.
const REVIEWED_SHOWN_MS: i64 = 30 * crate::clock::DAY;
const LABEL_TAG: &[u8] = b"samtykke/guardian-label/v1\0";

/// Who has parental responsibility for a child. A population-register look-up
/// implements this without changing the flow; until one is configured
/// (`NoRegister`) the tutor confirms each guardian, as an audit event.
pub trait ResponsibilityRegister: Send + Sync {
    /// The people with parental responsibility for `child`, or `None` if this
    /// register cannot tell.
    fn guardians_of(&self, child: &IdentityNumber) -> Option<Vec<IdentityNumber>>;
}

/// No register: every guardian is confirmed by the tutor.
pub struct NoRegister;

impl ResponsibilityRegister for NoRegister {
    fn guardians_of(&self, _: &IdentityNumber) -> Option<Vec<IdentityNumber>> {
        None
    }
}

pub fn no_register() -> Arc<dyn ResponsibilityRegister> {
    Arc::new(NoRegister)
}

/// An invitation just made: the code is shown once, then only its hash is kept.
#[derive(Debug, Clone)]
pub struct GuardianInvite {
    pub id: Uuid,
    pub code: String,
    pub expires_at: i64,
}

/// An invitation as the pupil and the tutor see it.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub id: Uuid,
    pub label: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub outcome: Option<InvitationOutcome>,
    pub grants: Vec<Uuid>,
    /// Parental responsibility confirmed for this guardian and pupil.
    pub checked: bool,
}

/// What a guardian is asked to co-sign: the grants, as the pupil chose them.
#[derive(Debug, Clone)]
pub struct GuardianOffer {
    pub expires_at: i64,
    pub consent: Consent,
    pub grants: Vec<Grant>,
}

/// A grant a guardian co-signed, for their page.
#[derive(Debug, Clone)]
pub struct GuardedGrant {
    pub consent: Consent,
    pub grant: Grant,
}

/// A protective exception, for the officer's review.
#[derive(Debug, Clone)]
pub struct ProtectiveException {
    pub id: Uuid,
    pub pupil: Uuid,
    pub grant: Uuid,
    pub ground: String,
    pub provision: String,
    pub recorded_at: i64,
    pub reviewed_at: Option<i64>,
    pub review: Option<String>,
}

impl From<ExceptionRow> for ProtectiveException {
    fn from(r: ExceptionRow) -> Self {
        Self {
            id: r.id,
            pupil: r.pupil,
            grant: r.grant,
            ground: r.ground,
            provision: r.provision,
            recorded_at: r.recorded_at,
            reviewed_at: r.reviewed_at,
            review: r.review,
        }
    }
}

fn code_hash(code: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, code.as_bytes()))
}

fn record(at: i64, by: Actor, pupil: Uuid, what: &str, done: GuardianDone) -> Record {
    Record::new(at, by, Some(pupil), Event::Guardian(what.into(), done))
}

impl Services {
    /// The keyed hash a guardian is known by (never the number).
    pub fn guardian_hash(&self, n: &IdentityNumber) -> String {
        hex::encode(self.vault.lookup_hash(n))
    }

    /// The grounds a tutor may record a protective exception on.
    pub fn protective_grounds(&self) -> Vec<ProtectiveGround> {
        protective_grounds()
    }

    /// The pupil (or their tutor) names a guardian for what waits for one in the
    /// consent in force; older open invitations stop working.
    pub async fn invite_guardian(
        &self,
        pupil: Uuid,
        guardian: &IdentityNumber,
        label: &str,
        by: &Actor,
    ) -> Result<GuardianInvite> {
        let own = self.pupil_identity(pupil).await?;
        if own == *guardian {
            return Err(ServiceError::invalid(
                "guardian",
                "a guardian is someone else than the pupil",
            ));
        }
        if guardian.age_on(crate::clock::oslo_date(self.now())) < 18 {
            return Err(ServiceError::invalid(
                "guardian_age",
                "a guardian is an adult",
            ));
        }
        let label = if label.trim().is_empty() {
            String::new()
        } else {
            words(label, "label", 40)?
        };
        let (_, current) = self.consents_in_force(pupil).await?;
        let consent = current.ok_or(ServiceError::Conflict(
            "nothing waits for a guardian".into(),
        ))?;
        let grants: Vec<Uuid> = consent
            .grants
            .iter()
            .filter(|g| g.live() && g.guardian.is_some_and(|p| p.state == Cosign::Pending))
            .map(|g| g.id)
            .collect();
        if grants.is_empty() {
            return Err(ServiceError::Conflict(
                "nothing waits for a guardian".into(),
            ));
        }
        let row = self.store.pupil(pupil).await?;
        let wrapped = row.wrapped_key.ok_or(ServiceError::Erased)?;
        let sealed = (!label.is_empty())
            .then(|| {
                self.vault
                    .seal_for_pupil(pupil, &wrapped, LABEL_TAG, label.as_bytes())
            })
            .transpose()?;
        let mut random = [0u8; 10];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| ServiceError::Crypto(crate::crypto::CryptoError::Random))?;
        let code = invitation_code(&random);
        let now = self.now();
        let inv = GuardianInvitationRow {
            id: Uuid::new_v4(),
            pupil,
            consent: consent.id,
            grants: grants.clone(),
            guardian_hash: self.guardian_hash(guardian),
            label: sealed,
            created_by: by.to_string(),
            created_at: now,
            expires_at: now + GUARDIAN_INVITATION_MS,
            used_at: None,
            outcome: None,
        };
        let mut tx = self.store.write().await?;
        tx.cancel_guardian_invitations(pupil, now).await?;
        tx.insert_guardian_invitation(&inv, &code_hash(&code))
            .await?;
        let done = GuardianDone {
            grants,
            invitation: Some(inv.id),
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, by.clone(), pupil, "invited", done).entry()])
            .await?;
        tx.commit().await?;
        Ok(GuardianInvite {
            id: inv.id,
            code,
            expires_at: inv.expires_at,
        })
    }

    /// A pupil's invitations to guardians, newest first.
    pub async fn guardian_invitations(&self, pupil: Uuid) -> Result<Vec<InvitationView>> {
        let rows = self.store.guardian_invitations_of(pupil).await?;
        let wrapped = self.store.pupil(pupil).await?.wrapped_key;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let label = match (&r.label, &wrapped) {
                (Some(sealed), Some(w)) => self
                    .vault
                    .open_for_pupil(pupil, Some(w), LABEL_TAG, sealed)
                    .ok()
                    .and_then(|b| String::from_utf8(b.to_vec()).ok())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let checked = !r.guardian_hash.is_empty()
                && self.store.guardian_checked(pupil, &r.guardian_hash).await?;
            out.push(InvitationView {
                id: r.id,
                label,
                created_at: r.created_at,
                expires_at: r.expires_at,
                outcome: r.outcome.as_deref().and_then(InvitationOutcome::parse),
                grants: r.grants,
                checked,
            });
        }
        Ok(out)
    }

    /// What an invitation asks of the guardian logged in: only what it names and
    /// still waits, only for the guardian it was made for. Reads; changes nothing.
    pub async fn guardian_offer(&self, code: &str, guardian_hash: &str) -> Result<GuardianOffer> {
        let code = normalise_code(code).ok_or(ServiceError::Invitation("unknown"))?;
        let inv = self
            .store
            .guardian_invitation_by_code(&code_hash(&code))
            .await?
            .ok_or(ServiceError::Invitation("unknown"))?;
        self.offer_of(&inv, guardian_hash).await
    }

    async fn offer_of(
        &self,
        inv: &GuardianInvitationRow,
        guardian_hash: &str,
    ) -> Result<GuardianOffer> {
        if inv.outcome.is_some() {
            return Err(ServiceError::Invitation("used"));
        }
        if inv.expires_at <= self.now() {
            return Err(ServiceError::Invitation("expired"));
        }
        // Someone else's code says nothing about whose it is.
        if !crate::crypto::same_secret(inv.guardian_hash.as_bytes(), guardian_hash.as_bytes()) {
            return Err(ServiceError::Invitation("for another guardian"));
        }
        if self
            .store
            .lookup_of(inv.pupil)
            .await?
            .is_some_and(|h| hex::encode(h) == guardian_hash)
        {
            return Err(ServiceError::Invitation("the pupil's own"));
        }
        let consent = self.store.consent(inv.consent).await?;
        if !matches!(
            consent.state(self.now()),
            ConsentState::Active | ConsentState::Pending
        ) {
            return Err(ServiceError::Invitation("withdrawn since"));
        }
        let grants: Vec<Grant> = consent
            .grants
            .iter()
            .filter(|g| {
                inv.grants.contains(&g.id)
                    && g.live()
                    && g.guardian.is_some_and(|p| p.state == Cosign::Pending)
            })
            .cloned()
            .collect();
        if grants.is_empty() {
            return Err(ServiceError::Invitation("withdrawn since"));
        }
        Ok(GuardianOffer {
            expires_at: inv.expires_at,
            consent,
            grants,
        })
    }

    /// The guardian co-signs (`yes`) or declines what the invitation names; the
    /// invitation is used up either way. A decline ends those grants.
    pub async fn answer_guardian(
        &self,
        code: &str,
        guardian_hash: &str,
        yes: bool,
    ) -> Result<GuardianOffer> {
        let code = normalise_code(code).ok_or(ServiceError::Invitation("unknown"))?;
        let hash = code_hash(&code);
        // The same checks as the page showed, then the use, in one transaction.
        let before = self
            .store
            .guardian_invitation_by_code(&hash)
            .await?
            .ok_or(ServiceError::Invitation("unknown"))?;
        let offer = self.offer_of(&before, guardian_hash).await?;
        let now = self.now();
        let outcome = if yes {
            InvitationOutcome::Signed
        } else {
            InvitationOutcome::Declined
        };
        let mut tx = self.store.write().await?;
        let inv = tx
            .use_guardian_invitation(&hash, outcome.as_str(), now)
            .await?
            .ok_or(ServiceError::Invitation("used"))?;
        let pupil = inv.pupil;
        let who = Actor::Guardian(guardian_hash.to_owned());
        let ids: Vec<Uuid> = offer.grants.iter().map(|g| g.id).collect();
        let mut moved = Vec::new();
        let mut ended = Vec::new();
        let state = if !yes {
            Cosign::Declined
        } else if self
            .responsibility_confirmed(&mut tx, pupil, guardian_hash)
            .await?
        {
            Cosign::Signed
        } else {
            Cosign::AwaitingCheck
        };
        for id in &ids {
            if tx
                .move_guardian_part(*id, &["pending"], state.as_str(), Some(guardian_hash), now)
                .await?
            {
                moved.push(*id);
            }
        }
        if moved.is_empty() {
            return Err(ServiceError::Invitation("withdrawn since"));
        }
        if !yes {
            for id in &moved {
                let (_, e) = self
                    .withdraw_in(
                        &mut tx,
                        inv.consent,
                        &Withdrawal::Grant { grant_id: *id },
                        &who,
                        now,
                    )
                    .await?;
                ended.extend(e);
            }
        }
        let done = GuardianDone {
            grants: moved,
            invitation: Some(inv.id),
            outcome: Some(state.as_str().to_owned()),
            ..GuardianDone::default()
        };
        let what = if yes { "cosigned" } else { "declined" };
        tx.chain(&[record(now, who, pupil, what, done).entry()])
            .await?;
        self.committed(tx, pupil, &ended, "withdrawn").await?;
        Ok(offer)
    }

    /// Whether this guardian's parental responsibility for the pupil is confirmed:
    /// by the register, where there is one, or by the pupil's tutor.
    async fn responsibility_confirmed(
        &self,
        tx: &mut WriteTx<'_>,
        pupil: Uuid,
        guardian_hash: &str,
    ) -> Result<bool> {
        if let Ok(child) = self.pupil_identity(pupil).await {
            if let Some(found) = self.register.guardians_of(&child) {
                return Ok(found.iter().any(|n| self.guardian_hash(n) == guardian_hash));
            }
        }
        Ok(tx.guardian_checked_in_tx(pupil, guardian_hash).await?)
    }

    /// The tutor confirms that the guardian an invitation names has parental
    /// responsibility, by typing the number of the person they checked (it must be
    /// the one the pupil named); what that guardian co-signed comes into force.
    pub async fn confirm_guardian(
        &self,
        t: &Tutor,
        pupil: Uuid,
        invitation: Uuid,
        checked: &IdentityNumber,
    ) -> Result<()> {
        self.open_case_of(t, pupil).await?;
        let inv = self
            .store
            .guardian_invitations_of(pupil)
            .await?
            .into_iter()
            .find(|i| i.id == invitation && !i.guardian_hash.is_empty())
            .ok_or(ServiceError::NotFound("invitation"))?;
        if !crate::crypto::same_secret(
            self.guardian_hash(checked).as_bytes(),
            inv.guardian_hash.as_bytes(),
        ) {
            return Err(ServiceError::invalid(
                "number",
                "not the guardian the pupil named",
            ));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let new = tx
            .confirm_guardian(pupil, &inv.guardian_hash, "tutor", t.hash(), now)
            .await?;
        let mut moved = Vec::new();
        for id in tx.awaiting_check(pupil, &inv.guardian_hash).await? {
            if tx
                .move_guardian_part(id, &["awaiting_check"], "signed", None, now)
                .await?
            {
                moved.push(id);
            }
        }
        if !new && moved.is_empty() {
            return Err(ServiceError::Conflict("confirmed already".into()));
        }
        let done = GuardianDone {
            grants: moved,
            invitation: Some(inv.id),
            outcome: Some("tutor".into()),
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, t.actor(), pupil, "checked", done).entry()])
            .await?;
        self.committed(tx, pupil, &[], "withdrawn").await
    }

    /// The tutor records that involving a guardian could harm the pupil: the
    /// grant is decided without one and open invitations are cancelled, so no
    /// guardian is contacted.
    pub async fn record_exception(
        &self,
        t: &Tutor,
        pupil: Uuid,
        grant: Uuid,
        ground: &str,
    ) -> Result<()> {
        self.open_case_of(t, pupil).await?;
        let ground = protective_grounds()
            .into_iter()
            .find(|g| g.key.as_str() == ground)
            .ok_or_else(|| ServiceError::invalid("ground", "not one of the grounds"))?;
        let (_, current) = self.consents_in_force(pupil).await?;
        let waiting = current
            .iter()
            .flat_map(|c| c.grants.iter())
            .any(|g| g.id == grant && g.waiting());
        if !waiting {
            return Err(ServiceError::NotFound("grant waiting for a guardian"));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        if !tx
            .move_guardian_part(grant, &["pending", "awaiting_check"], "excepted", None, now)
            .await?
        {
            return Err(ServiceError::Conflict("no longer waiting".into()));
        }
        tx.insert_exception(&ExceptionRow {
            id: Uuid::new_v4(),
            pupil,
            grant,
            ground: ground.key.as_str().to_owned(),
            provision: ground.provision.clone(),
            recorded_by: t.hash().to_owned(),
            recorded_at: now,
            reviewed_by: None,
            reviewed_at: None,
            review: None,
        })
        .await?;
        tx.cancel_guardian_invitations(pupil, now).await?;
        let done = GuardianDone {
            grants: vec![grant],
            ground: Some(ground.key.as_str().to_owned()),
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, t.actor(), pupil, "exception", done).entry()])
            .await?;
        self.committed(tx, pupil, &[], "withdrawn").await
    }

    /// Exceptions not reviewed (oldest first) and those reviewed in the last 30
    /// days. Looking is recorded per pupil, as every look at a pupil is.
    pub async fn exceptions_to_review(&self, by: &Actor) -> Result<Vec<ProtectiveException>> {
        let rows = self
            .store
            .exceptions_to_review(self.now() - REVIEWED_SHOWN_MS)
            .await?;
        let pupils: std::collections::BTreeSet<Uuid> = rows.iter().map(|r| r.pupil).collect();
        for pupil in pupils {
            self.record_access(by, Some(pupil), "exceptions", String::new())
                .await?;
        }
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The officer's review of an exception: upheld or questioned, once.
    pub async fn review_exception(&self, by: &Actor, id: Uuid, upheld: bool) -> Result<()> {
        let now = self.now();
        let review = if upheld { "upheld" } else { "questioned" };
        let mut tx = self.store.write().await?;
        let e = tx
            .exception(id)
            .await?
            .ok_or(ServiceError::NotFound("exception"))?;
        if !tx
            .review_exception(id, &by.to_string(), review, now)
            .await?
        {
            return Err(ServiceError::Conflict("reviewed already".into()));
        }
        let done = GuardianDone {
            grants: vec![e.grant],
            ground: Some(e.ground),
            outcome: Some(review.into()),
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, by.clone(), e.pupil, "exception_reviewed", done).entry()])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Grants this guardian co-signed that are still live, for their page. Nothing
    /// else of the pupil's.
    pub async fn guarded_grants(&self, guardian_hash: &str) -> Result<Vec<GuardedGrant>> {
        let mut out = Vec::new();
        let now = self.now();
        for inv in self.store.signed_by_guardian(guardian_hash).await? {
            let consent = self.store.consent(inv.consent).await?;
            for g in consent.grants.iter().filter(|g| {
                inv.grants.contains(&g.id)
                    && g.live()
                    && g.guardian.is_some_and(|p| {
                        matches!(p.state, Cosign::Signed | Cosign::AwaitingCheck)
                            // Confirmed early by the pupil: still the guardian's to
                            // withdraw until the birthday.
                            || (p.state == Cosign::Confirmed && now < p.adult_at)
                    })
            }) {
                if !out.iter().any(|x: &GuardedGrant| x.grant.id == g.id) {
                    out.push(GuardedGrant {
                        consent: consent.clone(),
                        grant: g.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// A guardian withdraws a grant they co-signed: at once, as the pupil's own
    /// withdrawal would be, partners told.
    pub async fn guardian_withdraw(&self, guardian_hash: &str, grant: Uuid) -> Result<()> {
        let mine = self
            .guarded_grants(guardian_hash)
            .await?
            .into_iter()
            .find(|g| g.grant.id == grant)
            .ok_or(ServiceError::NotFound("grant"))?;
        let now = self.now();
        let who = Actor::Guardian(guardian_hash.to_owned());
        let pupil = mine.consent.pupil_id;
        let mut tx = self.store.write().await?;
        if tx.guardian_of_grant(grant).await?.as_deref() != Some(guardian_hash) {
            return Err(ServiceError::NotFound("grant"));
        }
        let (_, ended) = self
            .withdraw_in(
                &mut tx,
                mine.consent.id,
                &Withdrawal::Grant { grant_id: grant },
                &who,
                now,
            )
            .await?;
        let done = GuardianDone {
            grants: vec![grant],
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, who, pupil, "withdrew", done).entry()])
            .await?;
        self.committed(tx, pupil, &ended, "withdrawn").await
    }

    /// Grants of the pupil's that rest on a guardian and end at a birthday within
    /// the confirmation window (not yet come): what lapses unless confirmed, with
    /// when.
    pub fn coming_of_age(&self, consent: Option<&Consent>) -> Vec<(Grant, i64)> {
        let now = self.now();
        consent
            .into_iter()
            .flat_map(|c| c.grants.iter())
            .filter_map(|g| {
                let p = g.guardian?;
                (g.live()
                    && p.state.rests_on_guardian()
                    && p.adult_at > now
                    && p.adult_at - now <= CONFIRM_WINDOW_MS)
                    .then(|| (g.clone(), p.adult_at))
            })
            .collect()
    }

    /// The pupil confirms, in the weeks before the birthday, what rests on a
    /// guardian: it stays in force after it.
    pub async fn confirm_own(&self, pupil: Uuid) -> Result<usize> {
        let (_, current) = self.consents_in_force(pupil).await?;
        let due = self.coming_of_age(current.as_ref());
        if due.is_empty() {
            return Err(ServiceError::Conflict("nothing to confirm".into()));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let mut moved = Vec::new();
        for (g, _) in &due {
            if tx
                .move_guardian_part(g.id, &["signed", "excepted"], "confirmed", None, now)
                .await?
            {
                moved.push(g.id);
            }
        }
        let n = moved.len();
        let done = GuardianDone {
            grants: moved,
            ..GuardianDone::default()
        };
        tx.chain(&[record(now, Actor::Pupil, pupil, "confirmed", done).entry()])
            .await?;
        self.committed(tx, pupil, &[], "withdrawn").await?;
        Ok(n)
    }

    /// Scheduled: every guardian part whose birthday has come ends (what rested on
    /// a guardian, and what still waited for one), each in its own transaction, as
    /// an audit event; partners are told as for a withdrawal. Idempotent: a part
    /// another instance moved first is skipped. Returns how many lapsed.
    pub async fn lapse_due(&self) -> Result<usize> {
        let now = self.now();
        let mut done = 0;
        for d in self.store.due_guardian_parts(now, 500).await? {
            let mut tx = self.store.write().await?;
            // Partners are told of what was in force, as it stood before the lapse.
            let before = tx.consent_in_tx(d.consent).await?;
            if !tx
                .move_guardian_part(
                    d.grant,
                    &["pending", "awaiting_check", "signed", "excepted"],
                    "lapsed",
                    None,
                    now,
                )
                .await?
            {
                continue;
            }
            let mut ended = Vec::new();
            if !d.withdrawn {
                let consent = tx.consent_in_tx(d.consent).await?;
                let live = consent.grants.iter().any(|g| g.id == d.grant && g.live());
                let open = crate::domain::consent::plan_withdrawal(
                    &consent,
                    &Withdrawal::Grant { grant_id: d.grant },
                    now,
                )
                .is_ok();
                if live && open {
                    self.withdraw_in(
                        &mut tx,
                        d.consent,
                        &Withdrawal::Grant { grant_id: d.grant },
                        &Actor::System,
                        now,
                    )
                    .await?;
                    ended = super::consents::ended_of(&before, &[d.grant]);
                }
            }
            let detail = GuardianDone {
                grants: vec![d.grant],
                outcome: Some(d.state.clone()),
                ..GuardianDone::default()
            };
            tx.chain(&[record(now, Actor::System, d.pupil, "lapsed", detail).entry()])
                .await?;
            self.committed(tx, d.pupil, &ended, "withdrawn").await?;
            done += 1;
        }
        Ok(done)
    }
}

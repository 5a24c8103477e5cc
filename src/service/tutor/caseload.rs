//! The caseload, adding a pupil with an invitation, and the end of follow-up.

use uuid::Uuid;

use super::{
    words, CaseLine, CaseState, Invitation, Tutor, INVITATION_MS, LAPSING_MS, NICKNAME_TAG,
};
use crate::audit::event::TutorDone;
use crate::audit::{Actor, Event, Record};
use crate::domain::caseload::{invitation_code, normalise_code};
use crate::domain::consent::{ConsentState, EventKind, Withdrawal};
use crate::domain::identity::IdentityNumber;
use crate::service::{Result, ServiceError, Services};
use crate::storage::{InvitationRow, WriteTx};

fn code_hash(code: &str) -> String {
    super::sha256_hex(code.as_bytes())
}

fn done(t: &Tutor, pupil: Uuid, what: &str, detail: TutorDone, at: i64) -> Record {
    Record::new(
        at,
        t.actor(),
        Some(pupil),
        Event::Tutor(what.into(), detail),
    )
}

impl Services {
    /// The caseload: pupils with news first (a narrowing, withdrawal or new
    /// consent not yet seen, a consent about to end), then the rest, newest first.
    pub async fn caseload(&self, t: &Tutor) -> Result<Vec<CaseLine>> {
        let now = self.now();
        let mut out = Vec::new();
        for c in self.store.caseload(t.hash()).await? {
            // Another network's pupil, or one who was erased, is not the tutor's.
            if !t.networks.contains(&c.network_id) || c.wrapped_key.is_none() {
                continue;
            }
            let (consents, _) = self.consents_in_force(c.pupil_id).await?;
            let here: Vec<_> = consents
                .iter()
                .filter(|k| k.network_id == c.network_id)
                .collect();
            let mut changed = false;
            for k in &here {
                for e in self.store.consent_events(k.id).await? {
                    let narrowed = matches!(
                        e.kind,
                        EventKind::Withdrawn | EventKind::Expired | EventKind::Superseded
                    ) || (e.kind == EventKind::Changed && !e.removed.is_empty());
                    changed |= narrowed && e.at > c.seen_at;
                }
            }
            let current = self.consent_at(&c).await?;
            let papers = self.store.papers_of_pupil(c.pupil_id).await?;
            let unconfirmed_paper = current.as_ref().is_some_and(|k| {
                papers
                    .iter()
                    .any(|p| p.consent_id == k.id && p.confirmed_at.is_none())
            });
            let state = match (&current, c.ended_at, c.refused_at) {
                (_, Some(_), _) => CaseState::Closed,
                (Some(k), _, _) if k.state(now) == ConsentState::Active => CaseState::Active,
                (Some(_), _, _) => CaseState::Invited,
                (None, _, Some(_)) => CaseState::Refused,
                (None, _, None) if here.is_empty() => CaseState::Invited,
                (None, _, None) => CaseState::Ended,
            };
            let lapsing = current
                .as_ref()
                .map(|k| k.expires_at)
                .filter(|at| *at - now < LAPSING_MS);
            let parts = || {
                current
                    .iter()
                    .flat_map(|k| k.grants.iter())
                    .filter(|g| g.live())
                    .filter_map(|g| g.guardian)
            };
            let guardian_waiting = parts().filter(|p| p.state.waiting()).count();
            let exceptions = parts()
                .filter(|p| p.state == crate::domain::guardian::Cosign::Excepted)
                .count();
            let coming_of_age = self
                .coming_of_age(current.as_ref())
                .iter()
                .map(|(_, at)| *at)
                .min();
            out.push(CaseLine {
                pupil: c.pupil_id,
                nickname: self.open_sealed(&c, NICKNAME_TAG, c.nickname.as_deref()),
                network: c.network_id,
                state,
                consent: current,
                changed,
                lapsing,
                unconfirmed_paper,
                guardian_waiting,
                exceptions,
                coming_of_age,
            });
        }
        out.sort_by_key(|l| {
            !(l.changed
                || l.lapsing.is_some()
                || l.guardian_waiting > 0
                || l.coming_of_age.is_some())
        });
        Ok(out)
    }

    /// One pupil of the caseload.
    pub async fn case(&self, t: &Tutor, pupil: Uuid) -> Result<CaseLine> {
        self.case_of(t, pupil).await?;
        self.caseload(t)
            .await?
            .into_iter()
            .find(|l| l.pupil == pupil)
            .ok_or(ServiceError::NotFound("pupil"))
    }

    /// The tutor has seen the pupil's latest changes.
    pub async fn mark_seen(&self, t: &Tutor, pupil: Uuid) -> Result<()> {
        self.case_of(t, pupil).await?;
        let mut tx = self.store.write().await?;
        tx.mark_case_seen(pupil, t.hash(), self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a pupil by identity number (kept as everywhere: keyed hash and sealed
    /// copy) with the tutor's name for them, and makes an invitation.
    pub async fn enrol_for_tutor(
        &self,
        t: &Tutor,
        network: Uuid,
        identity: &IdentityNumber,
        nickname: &str,
    ) -> Result<Invitation> {
        if !t.networks.contains(&network) {
            return Err(ServiceError::Forbidden(
                "the tutor does not work in this network",
            ));
        }
        let nickname = words(nickname, "nickname", 60)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let pupil = self.enrol_in_tx(&mut tx, identity, &t.actor()).await?;
        let wrapped = tx
            .pupil_in_tx(pupil)
            .await?
            .and_then(|p| p.wrapped_key)
            .ok_or(ServiceError::Erased)?;
        let sealed =
            self.vault
                .seal_for_pupil(pupil, &wrapped, NICKNAME_TAG, nickname.as_bytes())?;
        tx.add_case(pupil, t.hash(), network, Some(&sealed), now)
            .await?;
        let detail = TutorDone {
            network: Some(network),
            ..TutorDone::default()
        };
        tx.chain(&[done(t, pupil, "pupil_added", detail, now).entry()])
            .await?;
        let invitation = self.invite_in(&mut tx, t, pupil, network).await?;
        self.commit_and_forget(tx, Some(pupil)).await?;
        Ok(invitation)
    }

    /// A new invitation for a pupil on the caseload; the older ones stop working.
    pub async fn reinvite(&self, t: &Tutor, pupil: Uuid) -> Result<Invitation> {
        let case = self.open_case_of(t, pupil).await?;
        let mut tx = self.store.write().await?;
        let inv = self.invite_in(&mut tx, t, pupil, case.network_id).await?;
        tx.commit().await?;
        Ok(inv)
    }

    async fn invite_in(
        &self,
        tx: &mut WriteTx<'_>,
        t: &Tutor,
        pupil: Uuid,
        network: Uuid,
    ) -> Result<Invitation> {
        let now = self.now();
        let mut random = [0u8; 10];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| ServiceError::Crypto(crate::crypto::CryptoError::Random))?;
        let code = invitation_code(&random);
        tx.cancel_invitations(pupil, t.hash(), now).await?;
        let row = InvitationRow {
            pupil_id: pupil,
            tutor_hash: t.hash().to_owned(),
            network_id: network,
            expires_at: now + INVITATION_MS,
            used_at: None,
        };
        tx.insert_invitation(&code_hash(&code), &row, now).await?;
        let detail = TutorDone {
            network: Some(network),
            ..TutorDone::default()
        };
        tx.chain(&[done(t, pupil, "invited", detail, now).entry()])
            .await?;
        Ok(Invitation {
            pupil,
            code,
            expires_at: row.expires_at,
        })
    }

    /// The logged-in pupil follows an invitation: used up once, only by the pupil
    /// it was made for, while the tutor still works there and follows them up.
    /// Returns the network whose agreement to open.
    pub async fn follow_invitation(&self, pupil: Uuid, code: &str) -> Result<Uuid> {
        let code = normalise_code(code).ok_or(ServiceError::Invitation("unknown"))?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let Some(inv) = tx.use_invitation(&code_hash(&code), now).await? else {
            return Err(ServiceError::Invitation("used, expired or unknown"));
        };
        // Any refusal below rolls the use back: the pupil it was made for can
        // still use it once what is wrong is put right.
        if inv.pupil_id != pupil {
            return Err(ServiceError::Invitation("for another pupil"));
        }
        let still_tutor = self
            .store
            .tutor_networks(&inv.tutor_hash)
            .await?
            .contains(&inv.network_id);
        let open = tx
            .case_in_tx(pupil, &inv.tutor_hash)
            .await?
            .is_some_and(|c| c.ended_at.is_none() && c.network_id == inv.network_id);
        if !still_tutor || !open {
            return Err(ServiceError::Invitation(
                "the follow-up it was for has ended",
            ));
        }
        let used = Record::new(
            now,
            Actor::Pupil,
            Some(pupil),
            Event::Tutor(
                "invitation_used".into(),
                TutorDone {
                    network: Some(inv.network_id),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[used.entry()]).await?;
        tx.commit().await?;
        Ok(inv.network_id)
    }

    /// Follow-up has ended: the consent at this network ends with it (partners get
    /// the withdrawal events as for any withdrawal) and the case closes, in one
    /// transaction.
    pub async fn end_follow_up(&self, t: &Tutor, pupil: Uuid) -> Result<()> {
        let case = self.open_case_of(t, pupil).await?;
        let current = self.consent_at(&case).await?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let ended = match current {
            Some(c) => {
                self.withdraw_in(&mut tx, c.id, &Withdrawal::All, &t.actor(), now)
                    .await?
                    .1
            }
            None => Vec::new(),
        };
        tx.end_case(pupil, t.hash(), now).await?;
        tx.cancel_invitations(pupil, t.hash(), now).await?;
        let detail = TutorDone {
            network: Some(case.network_id),
            ..TutorDone::default()
        };
        tx.chain(&[done(t, pupil, "follow_up_ended", detail, now).entry()])
            .await?;
        self.committed(tx, pupil, &ended, "withdrawn").await
    }

    /// The tutors a pupil who signed on their own can choose at the school of
    /// their consent: (id, the name they go by there). Empty once they have one.
    pub async fn tutors_to_choose(&self, pupil: Uuid) -> Result<Vec<(Uuid, String)>> {
        let (_, current) = self.consents_in_force(pupil).await?;
        let Some(c) = current.filter(|c| c.state(self.now()) == ConsentState::Active) else {
            return Ok(Vec::new());
        };
        let cases = self.store.cases_of_pupil(pupil).await?;
        if cases
            .iter()
            .any(|k| k.network_id == c.network_id && k.ended_at.is_none())
        {
            return Ok(Vec::new());
        }
        Ok(self.store.tutors_of_network(c.network_id).await?)
    }

    /// The pupil chooses their tutor: on that tutor's caseload, at the school of
    /// the pupil's consent (the tutor names them there).
    pub async fn choose_tutor(&self, pupil: Uuid, tutor: Uuid) -> Result<()> {
        let offered = self.tutors_to_choose(pupil).await?;
        if !offered.iter().any(|(id, _)| *id == tutor) {
            return Err(ServiceError::invalid(
                "tutor",
                "one of the tutors at your school",
            ));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let (hash, network) = tx
            .tutor_by_id_in_tx(tutor)
            .await?
            .ok_or(ServiceError::NotFound("tutor"))?;
        // Once, whoever races: a pupil has one tutor at a school.
        if tx.has_open_case_in_tx(pupil, network).await? {
            return Err(ServiceError::Conflict("the pupil has a tutor there".into()));
        }
        tx.add_case(pupil, &hash, network, None, now).await?;
        let chosen = Record::new(
            now,
            Actor::Pupil,
            Some(pupil),
            Event::Tutor(
                "chosen_by_pupil".into(),
                TutorDone {
                    network: Some(network),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[chosen.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tutor's name for a pupil (one who chose them comes without one).
    pub async fn rename(&self, t: &Tutor, pupil: Uuid, nickname: &str) -> Result<()> {
        let case = self.open_case_of(t, pupil).await?;
        let nickname = words(nickname, "nickname", 60)?;
        let wrapped = case.wrapped_key.clone().ok_or(ServiceError::Erased)?;
        let sealed =
            self.vault
                .seal_for_pupil(pupil, &wrapped, NICKNAME_TAG, nickname.as_bytes())?;
        let mut tx = self.store.write().await?;
        if !tx.rename_case(pupil, t.hash(), &sealed).await? {
            return Err(ServiceError::Conflict("the follow-up has ended".into()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether the pupil's last consent ended because the tutor ended the
    /// follow-up there, for the pupil's pages to say why.
    pub async fn follow_up_ended(&self, pupil: Uuid) -> Result<bool> {
        let (all, current) = self.consents_in_force(pupil).await?;
        let Some(last) = all.first().filter(|_| current.is_none()) else {
            return Ok(false);
        };
        let cases = self.store.cases_of_pupil(pupil).await?;
        Ok(cases.iter().any(|c| {
            c.network_id == last.network_id && c.ended_at.is_some() && c.ended_at == last.ended_at
        }))
    }
}

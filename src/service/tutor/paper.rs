//! Consents given on paper or aloud, as the tutor records them: the choices, the
//! day, the witness and the scanned form (sealed under the pupil's data key, its
//! SHA-256 in the chain), written with the consent in one transaction. Only the
//! tutor who recorded one (and the pupil) ever sees it; the pupil confirms it.

use uuid::Uuid;

use super::{
    sha256_hex, today_in_oslo, words, PaperConsent, Tutor, FORM_TAG, FORM_TYPES, MAX_FORM_BYTES,
    WITNESS_TAG,
};
use crate::audit::event::TutorDone;
use crate::audit::{Actor, Event, Record};
use crate::domain::consent::{Consent, ConsentState, Evidence};
use crate::domain::Slug;
use crate::service::{Found, Result, ServiceError, ServiceOffer, Services, SignRequest};
use crate::storage::PaperRow;

/// What a scanned form must start with, per type: a declared type alone is the
/// uploader's word.
fn looks_like(media: &str, bytes: &[u8]) -> bool {
    match media {
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        _ => false,
    }
}

impl Services {
    /// What a paper consent can say for this pupil: the same offer the pupil's
    /// own pages make, per service.
    pub async fn paper_offer(&self, t: &Tutor, pupil: Uuid) -> Result<(Uuid, Vec<ServiceOffer>)> {
        let case = self.open_case_of(t, pupil).await?;
        let offers = self
            .offer(pupil, case.network_id, None)
            .await?
            .ok_or(ServiceError::NotFound("network"))?;
        Ok((case.network_id, offers))
    }

    /// Records a consent given on paper or aloud (or a refusal). Never over a
    /// consent in force: that one the pupil changes themselves, so a tutor's
    /// record cannot end what the pupil signed.
    pub async fn record_paper(
        &self,
        t: &Tutor,
        pupil: Uuid,
        p: PaperConsent,
    ) -> Result<Option<Consent>> {
        let case = self.open_case_of(t, pupil).await?;
        if p.network != case.network_id {
            return Err(ServiceError::invalid(
                "network",
                "the pupil's network on this caseload",
            ));
        }
        let witness = words(&p.witness, "witness", 100)?;
        let today = today_in_oslo(self.now());
        if p.signed_on > today || p.signed_on < today - time::Duration::days(366) {
            return Err(ServiceError::invalid("signed_on", "a day in the last year"));
        }
        if let Some((media, bytes)) = &p.form {
            if !FORM_TYPES.contains(&media.as_str()) || !looks_like(media, bytes) {
                return Err(ServiceError::invalid("form", "a PDF, JPEG or PNG"));
            }
            if bytes.len() > MAX_FORM_BYTES {
                return Err(ServiceError::invalid("form", "at most 4 MiB"));
            }
        }
        if p.refused && p.form.is_some() {
            return Err(ServiceError::invalid(
                "form",
                "a refusal is recorded without a form",
            ));
        }
        if !p.refused && p.choices.is_empty() {
            return Err(ServiceError::invalid(
                "choices",
                "at least one, or record a refusal",
            ));
        }
        let now = self.now();
        let detail = |consent| TutorDone {
            network: Some(case.network_id),
            consent,
            form_sha256: p.form.as_ref().map(|(_, b)| sha256_hex(b)),
            signed_on: Some(p.signed_on.to_string()),
            ..TutorDone::default()
        };
        let mut tx = self.store.write().await?;
        // In the transaction, so a consent the pupil signs meanwhile is seen: never
        // over one in force, and never once the pupil has signed here themselves
        // (they use Delingsvalg, so they sign in it; a tutor cannot end their
        // consent and write another).
        let consents = tx.consents_of_pupil_in_tx(pupil).await?;
        if consents.iter().any(|c| {
            !matches!(c.state(now), ConsentState::Ended | ConsentState::Expired)
                || (c.network_id == case.network_id && c.evidence.acr != "paper")
        }) {
            return Err(ServiceError::Conflict(
                "the pupil has a consent of their own; they change it themselves".into(),
            ));
        }
        if p.refused {
            tx.mark_refused(pupil, t.hash(), Some(now)).await?;
            let r = Record::new(
                now,
                t.actor(),
                Some(pupil),
                Event::Tutor("paper_refused".into(), detail(None)),
            );
            tx.chain(&[r.entry()]).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let agreement = self
            .store
            .current_template(&Slug::follow_up())
            .await
            .found("agreement")?;
        let req = SignRequest {
            identity: self.pupil_identity(pupil).await?,
            network_id: case.network_id,
            template_id: agreement.id,
            purpose: Slug::follow_up(),
            choices: p.choices.clone(),
            evidence: Evidence {
                acr: "paper".into(),
                amr: vec!["paper".into()],
                session_ref: format!("paper:{}", p.signed_on),
            },
            actor: t.actor(),
            home_municipality: None,
        };
        let (consent, ended) = self.sign_in(&mut tx, req).await?;
        let wrapped = tx
            .pupil_in_tx(pupil)
            .await?
            .and_then(|r| r.wrapped_key)
            .ok_or(ServiceError::Erased)?;
        let seal = |tag, bytes: &[u8]| self.vault.seal_for_pupil(pupil, &wrapped, tag, bytes);
        let (media, sha, sealed) = match &p.form {
            Some((media, bytes)) => (
                media.clone(),
                sha256_hex(bytes),
                Some(seal(FORM_TAG, bytes)?),
            ),
            None => ("none".into(), String::new(), None),
        };
        tx.insert_paper(&PaperRow {
            consent_id: consent.id,
            pupil_id: pupil,
            tutor_hash: t.hash().to_owned(),
            network_id: case.network_id,
            form: sealed,
            form_sha256: sha,
            media_type: media,
            witness: Some(seal(WITNESS_TAG, witness.as_bytes())?),
            signed_on: p.signed_on.to_string(),
            confirmed_at: None,
        })
        .await?;
        tx.mark_refused(pupil, t.hash(), None).await?;
        let r = Record::new(
            now,
            t.actor(),
            Some(pupil),
            Event::Tutor("paper_recorded".into(), detail(Some(consent.id))),
        );
        tx.chain(&[r.entry()]).await?;
        self.committed(tx, pupil, &ended, "superseded").await?;
        Ok(Some(consent))
    }

    /// The paper consents this tutor recorded for the pupil at the case's network:
    /// (consent, signed on, witness).
    pub async fn papers_for_tutor(
        &self,
        t: &Tutor,
        pupil: Uuid,
    ) -> Result<Vec<(Uuid, String, String)>> {
        let case = self.case_of(t, pupil).await?;
        if case.ended_at.is_some() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .papers_of_pupil(pupil)
            .await?
            .into_iter()
            .filter(|p| p.tutor_hash == t.hash() && p.network_id == case.network_id)
            .map(|p| {
                let witness = self.open_sealed(&case, WITNESS_TAG, p.witness.as_deref());
                (p.consent_id, p.signed_on, witness)
            })
            .collect())
    }

    /// The scanned form of a paper consent, for the tutor who recorded it, while
    /// they follow the pupil up there; gone once the pupil is erased.
    pub async fn paper_form(
        &self,
        t: &Tutor,
        pupil: Uuid,
        consent: Uuid,
    ) -> Result<(String, Vec<u8>)> {
        let case = self.case_of(t, pupil).await?;
        if case.ended_at.is_some() {
            return Err(ServiceError::NotFound("form"));
        }
        let paper = self
            .store
            .papers_of_pupil(pupil)
            .await?
            .into_iter()
            .find(|p| {
                p.consent_id == consent
                    && p.tutor_hash == t.hash()
                    && p.network_id == case.network_id
            })
            .ok_or(ServiceError::NotFound("form"))?;
        let sealed = paper.form.ok_or(ServiceError::NotFound("form"))?;
        let bytes =
            self.vault
                .open_for_pupil(pupil, case.wrapped_key.as_deref(), FORM_TAG, &sealed)?;
        Ok((paper.media_type, bytes.to_vec()))
    }

    /// The pupil's own paper consents: (consent, signed on, witness, confirmed).
    pub async fn papers(&self, pupil: Uuid) -> Result<Vec<(Uuid, String, String, bool)>> {
        let row = self.store.pupil(pupil).await.found("pupil")?;
        let open = |sealed: Option<&[u8]>| {
            sealed
                .and_then(|s| {
                    self.vault
                        .open_for_pupil(pupil, row.wrapped_key.as_deref(), WITNESS_TAG, s)
                        .ok()
                })
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .unwrap_or_default()
        };
        Ok(self
            .store
            .papers_of_pupil(pupil)
            .await?
            .into_iter()
            .map(|p| {
                let witness = open(p.witness.as_deref());
                (p.consent_id, p.signed_on, witness, p.confirmed_at.is_some())
            })
            .collect())
    }

    /// The pupil confirms, logged in, a consent the tutor recorded on paper.
    pub async fn confirm_paper(&self, pupil: Uuid, consent: Uuid) -> Result<()> {
        let own = self.store.consent(consent).await.found("consent")?;
        if own.pupil_id != pupil {
            return Err(ServiceError::NotFound("consent"));
        }
        let mut tx = self.store.write().await?;
        if !tx.confirm_paper(consent, self.now()).await? {
            return Err(ServiceError::Conflict(
                "already confirmed, or not on paper".into(),
            ));
        }
        let r = Record::new(
            self.now(),
            Actor::Pupil,
            Some(pupil),
            Event::Tutor(
                "paper_confirmed".into(),
                TutorDone {
                    consent: Some(consent),
                    ..TutorDone::default()
                },
            ),
        );
        tx.chain(&[r.entry()]).await?;
        tx.commit().await?;
        Ok(())
    }
}

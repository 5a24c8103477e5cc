//! A consent's later life: renewing it as it is, in one step, before it ends or
//! soon after; and reading what changed when the agreement was revised, before
//! signing the new version.

use uuid::Uuid;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::clock::DAY;
use crate::domain::consent::{Choice, Consent, ConsentState, Evidence};
use crate::domain::guardian::Cosign;
use crate::domain::template::{what_changed, Changed, Template};
use crate::domain::Slug;

/// A consent can be renewed from this long before it ends...
pub const RENEW_BEFORE_MS: i64 = 30 * DAY;
/// ...until this long after.
const RENEW_AFTER_MS: i64 = 90 * DAY;

/// The agreement the pupil signed and the one published since, with what changed
/// in the pupil's language.
pub struct Revision {
    pub signed: Template,
    pub now: Template,
    pub changes: Vec<Changed>,
    /// When the consent on the version signed ends unless the new one is signed.
    pub sign_by: Option<i64>,
}

/// The consent one click renews, from the pupil's consents newest first: the
/// newest for the purpose, in force and ending within 30 days or expired in the
/// last 90 (never an older one behind a newer consent the pupil withdrew); on the
/// agreement text still published; with nothing resting on a guardian or waiting
/// for one (a new consent would need a guardian again or undo a protective
/// exception: that goes through the journey's review, not one click).
fn renewable_of(all: &[Consent], agreement: Uuid, now: i64) -> Option<&Consent> {
    let c = all.iter().find(|c| c.purpose == Slug::follow_up())?;
    let due = match c.state(now) {
        ConsentState::Active | ConsentState::Pending => c.expires_at - now <= RENEW_BEFORE_MS,
        ConsentState::Expired => now - c.expires_at <= RENEW_AFTER_MS,
        ConsentState::Ended => false,
    };
    let guardian = c.grants_live().any(|g| {
        g.guardian
            .is_some_and(|p| p.state != Cosign::Confirmed || p.adult_at > now)
    });
    (due && !guardian && c.template_id == agreement && c.grants_in_force().next().is_some())
        .then_some(c)
}

impl Services {
    /// The consent the pupil may renew as it is now (`renewable_of`).
    pub async fn renewable(&self, pupil: Uuid) -> Result<Option<Consent>> {
        let (all, _) = self.consents_in_force(pupil).await?;
        let agreement = self.store.current_template(&Slug::follow_up()).await?;
        Ok(renewable_of(&all, agreement.id, self.now()).cloned())
    }

    /// Renews in one step: a new consent with the grants in force, for another
    /// period, signed with this login, superseding the old one if it is still in
    /// force. Checked again inside the transaction, with the consent locked, so two
    /// clicks (or a click and a withdrawal) cannot both count.
    pub async fn renew(&self, pupil: Uuid, evidence: Evidence) -> Result<Consent> {
        let nothing = || ServiceError::Conflict("nothing to renew now".into());
        let seen = self.renewable(pupil).await?.ok_or_else(nothing)?;
        let agreement = self.store.current_template(&Slug::follow_up()).await?;
        let identity = self.pupil_identity(pupil).await?;
        let mut tx = self.store.write().await?;
        tx.lock_consent(seen.id).await?;
        let mut all = tx.consents_of_pupil_in_tx(pupil).await?;
        all.sort_by_key(|c| std::cmp::Reverse(c.signed_at));
        let c = renewable_of(&all, agreement.id, self.now())
            .filter(|c| c.id == seen.id)
            .cloned()
            .ok_or_else(nothing)?;
        let choices: Vec<Choice> = c
            .grants_in_force()
            .map(|g| Choice::new(g.discloser.clone(), g.recipient.clone(), g.category.clone()))
            .collect();
        let req = super::SignRequest {
            identity,
            network_id: c.network_id,
            template_id: c.template_id,
            purpose: c.purpose.clone(),
            choices,
            evidence,
            actor: Actor::Pupil,
            home_municipality: c.home_municipality.clone(),
        };
        let (consent, ended) = self.sign_in(&mut tx, req).await?;
        self.committed(tx, pupil, &ended, "superseded").await?;
        Ok(consent)
    }

    /// When the agreement the pupil's consent rests on has been revised: both
    /// versions and what changed, in `lang`.
    pub async fn revision(
        &self,
        pupil: Uuid,
        lang: crate::domain::Lang,
    ) -> Result<Option<Revision>> {
        // The consent in force, or one that ended by time lately: what the pupil
        // would sign again.
        let (all, current) = self.consents_in_force(pupil).await?;
        let t = self.now();
        let Some(c) = current.or_else(|| {
            all.into_iter()
                .find(|c| c.purpose == Slug::follow_up())
                .filter(|c| {
                    c.state(t) == ConsentState::Expired && t - c.expires_at <= RENEW_AFTER_MS
                })
        }) else {
            return Ok(None);
        };
        let now = self.store.current_template(&Slug::follow_up()).await?;
        if now.id == c.template_id {
            return Ok(None);
        }
        let signed = self.store.template(c.template_id).await?;
        let changes = what_changed(signed.body.get(lang), now.body.get(lang));
        // A revision that ends earlier consents: the consent as read ends then (or
        // at its own end, if that comes first), so that is the day to sign by.
        let sign_by = now.terms.reconsent_days.map(|_| c.expires_at);
        Ok(Some(Revision {
            signed,
            now,
            changes,
            sign_by,
        }))
    }
}

//! A consent's later life: renewing it as it is, in one step, before it ends or
//! soon after; and reading what changed when the agreement was revised, before
//! signing the new version.

use uuid::Uuid;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::clock::DAY;
use crate::domain::consent::{Choice, Consent, ConsentState, Evidence};
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
}

impl Services {
    /// The consent the pupil may renew as it is now: the one in force when it ends
    /// within 30 days, or the newest that expired in the last 90, on the agreement
    /// text still published (a revised one is read first).
    pub async fn renewable(&self, pupil: Uuid) -> Result<Option<Consent>> {
        let now = self.now();
        let (all, current) = self.consents_in_force(pupil).await?;
        let candidate = match current {
            Some(c) => (c.expires_at - now <= RENEW_BEFORE_MS).then_some(c),
            None => all.into_iter().find(|c| {
                c.purpose == Slug::follow_up()
                    && c.state(now) == ConsentState::Expired
                    && now - c.expires_at <= RENEW_AFTER_MS
            }),
        };
        let Some(c) = candidate else { return Ok(None) };
        let agreement = self.store.current_template(&Slug::follow_up()).await?;
        Ok((agreement.id == c.template_id).then_some(c))
    }

    /// Renews in one step: a new consent with the same choices for another
    /// period, signed with this login; the old one is superseded with it. A grant
    /// that needed a guardian needs one again.
    pub async fn renew(&self, pupil: Uuid, evidence: Evidence) -> Result<Consent> {
        let c = self
            .renewable(pupil)
            .await?
            .ok_or(ServiceError::Conflict("nothing to renew now".into()))?;
        let choices: Vec<Choice> = c
            .grants_live()
            .map(|g| Choice::new(g.discloser.clone(), g.recipient.clone(), g.category.clone()))
            .collect();
        if choices.is_empty() {
            return Err(ServiceError::Conflict("nothing to renew now".into()));
        }
        self.sign(super::SignRequest {
            identity: self.pupil_identity(pupil).await?,
            network_id: c.network_id,
            template_id: c.template_id,
            purpose: c.purpose.clone(),
            choices,
            evidence,
            actor: Actor::Pupil,
            home_municipality: c.home_municipality.clone(),
        })
        .await
    }

    /// When the agreement the pupil's consent rests on has been revised: both
    /// versions and what changed, in `lang`.
    pub async fn revision(
        &self,
        pupil: Uuid,
        lang: crate::domain::Lang,
    ) -> Result<Option<Revision>> {
        let (_, current) = self.consents_in_force(pupil).await?;
        let Some(c) = current else { return Ok(None) };
        let now = self.store.current_template(&Slug::follow_up()).await?;
        if now.id == c.template_id {
            return Ok(None);
        }
        let signed = self.store.template(c.template_id).await?;
        let changes = what_changed(signed.body.get(lang), now.body.get(lang));
        Ok(Some(Revision {
            signed,
            now,
            changes,
        }))
    }
}

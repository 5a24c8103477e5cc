//! What the pupil pages ask of the consent record: the pupil behind a login, the
//! consent in force, a choice checked without writing it, signed receipts, and
//! logins recorded in the audit log.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::clock::{date_of, rfc3339};
use crate::domain::consent::{
    check_choices, Choice, ChoiceContext, Consent, ConsentState, NewGrant,
};
use crate::domain::identity::IdentityNumber;
use crate::domain::org::Organisation;
use crate::domain::template::Template;
use crate::domain::Slug;
use crate::storage::AuditEvent;

/// The media type of a consent receipt's JWS header.
pub const RECEIPT_TYP: &str = "consent-receipt+jwt";

impl Services {
    /// How long a consent signed now is valid.
    pub fn consent_validity(&self) -> i64 {
        self.consent_validity
    }

    /// The pupil behind a verified login, enrolled on first login.
    pub async fn login_pupil(&self, identity: &IdentityNumber) -> Result<Uuid> {
        match self.find_pupil(identity).await? {
            Some(id) => Ok(id),
            None => self.enrol_pupil(identity).await,
        }
    }

    /// The pupil's consents, newest first, and the one in force, if any.
    pub async fn consents_in_force(&self, pupil: Uuid) -> Result<(Vec<Consent>, Option<Consent>)> {
        let mut all = self.store.consents_of_pupil(pupil).await?;
        all.sort_by_key(|c| std::cmp::Reverse(c.signed_at));
        let now = self.now();
        let current = all
            .iter()
            .find(|c| {
                c.purpose == Slug::follow_up()
                    && matches!(c.state(now), ConsentState::Active | ConsentState::Pending)
            })
            .cloned();
        Ok((all, current))
    }

    /// The pupil's age today.
    pub async fn pupil_age(&self, pupil: Uuid) -> Result<u8> {
        Ok(self
            .pupil_identity(pupil)
            .await?
            .age_on(date_of(self.now())))
    }

    /// Checks a choice against the network, catalogue and age rules, writing nothing.
    pub async fn preview_choices(
        &self,
        network_id: Uuid,
        age: u8,
        choices: &[Choice],
    ) -> Result<Vec<NewGrant>> {
        let network = self.store.network(network_id).await.found("network")?;
        let orgs: Vec<Organisation> = self
            .store
            .orgs()
            .await?
            .into_iter()
            .filter(|o| choices.iter().any(|c| c.org_id == o.id))
            .collect();
        let catalogue = self.catalogue();
        let purpose = Slug::follow_up();
        let ctx = ChoiceContext {
            catalogue: &catalogue,
            network: &network,
            orgs: &orgs,
            purpose: &purpose,
            age,
        };
        Ok(check_choices(&ctx, choices)?)
    }

    /// A consent as a signed receipt (JWS, ES256, verifiable against /oauth/jwks).
    /// It names the pupil by samtykke's internal pseudonym, never the identity number.
    pub async fn receipt(&self, consent: &Consent, template: &Template) -> Result<String> {
        let orgs = self.store.orgs().await?;
        let grants: Vec<Value> = consent
            .grants
            .iter()
            .map(|g| {
                let org = orgs.iter().find(|o| o.id == g.org_id);
                json!({
                    "organisation": {
                        "id": g.org_id,
                        "name": org.map(|o| o.name.clone()),
                        "number": org.map(|o| o.number.as_str().to_owned()),
                        "type": org.map(|o| o.org_type.as_str().to_owned()),
                    },
                    "category": g.category.as_str(),
                    "legal_basis": g.legal_basis,
                    "granted_at": rfc3339(g.granted_at),
                    "withdrawn_at": g.withdrawn_at.map(rfc3339),
                })
            })
            .collect();
        let now = self.now();
        let claims = json!({
            "iss": self.issuer,
            "sub": consent.pupil_id,
            "iat": now / 1000,
            "jti": Uuid::new_v4(),
            "consent": {
                "id": consent.id,
                "purpose": consent.purpose.as_str(),
                "state": consent.state(now),
                "signed_at": rfc3339(consent.signed_at),
                "valid_from": rfc3339(consent.valid_from),
                "expires_at": rfc3339(consent.expires_at),
                "ended_at": consent.ended_at.map(rfc3339),
                "evidence": { "acr": consent.evidence.acr, "amr": consent.evidence.amr },
                "template": {
                    "id": template.id,
                    "key": template.key.as_str(),
                    "version": template.version,
                    "sha256": template.content_hash,
                },
                "grants": grants,
            },
        });
        self.keys
            .load()
            .sign(RECEIPT_TYP, &claims)
            .map_err(|e| ServiceError::Conflict(format!("cannot sign the receipt: {e}")))
    }

    /// Records a pupil login, refused or not, in the audit log.
    pub async fn record_login(
        &self,
        pupil: Option<Uuid>,
        outcome: &str,
        reason: &str,
        detail: &str,
        request_id: Option<String>,
    ) -> Result<()> {
        let e = AuditEvent {
            id: Uuid::new_v4(),
            at: self.now(),
            kind: "login".into(),
            actor: if pupil.is_some() {
                "pupil"
            } else {
                "unauthenticated"
            }
            .into(),
            pupil_id: pupil,
            outcome: outcome.into(),
            reason: reason.into(),
            detail: detail.into(),
            request_id,
        };
        self.store.append_audit(&e).await.map_err(Into::into)
    }
}

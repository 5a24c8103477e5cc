//! What the pupil pages ask of the consent record: the pupil behind a login, the
//! consent in force, a choice checked without writing it, signed receipts, and
//! logins recorded in the audit log.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::audit::event::Outcome;
use crate::audit::{Actor, Event, Record};
use crate::clock::{oslo_date, rfc3339};
use crate::domain::consent::{
    check_choices, Choice, ChoiceContext, Consent, ConsentState, EventKind, Evidence, NewGrant,
    Party,
};
use crate::domain::identity::IdentityNumber;
use crate::domain::org::{Municipality, Network};
use crate::domain::template::Template;
use crate::domain::Slug;

/// The media type of a consent receipt's JWS header.
pub const RECEIPT_TYP: &str = "consent-receipt+jwt";
/// The most lines the pupil's access page shows.
const ACCESS_LOG_MAX: i64 = 500;

/// Whom a login is for: chosen where it starts (the pupil pages or the console),
/// never inferred from where it returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginAs {
    Pupil,
    Staff,
    /// A pupil's guardian, answering an invitation or withdrawing.
    Guardian,
}

/// Where the pupil stands in the journey: the agreement now published, the
/// consent in force, and the school networks to pick from when there is none.
#[derive(Debug, Clone)]
pub struct Journey {
    pub agreement: Template,
    pub current: Option<Consent>,
    pub networks: Vec<Network>,
}

/// How a submitted choice was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A new consent (the first, or on a newer agreement text).
    Signed,
    /// A change to the consent in force, on the same agreement text.
    Changed,
}

/// Who has logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedIn {
    Pupil {
        pupil_id: Uuid,
        has_consent: bool,
    },
    /// `staff:<keyed hash>`: the console's casbin subject.
    Staff {
        subject: String,
    },
    /// Known only by the keyed hash of their number.
    Guardian {
        hash: String,
    },
}

impl Services {
    /// How long a consent signed now is valid.
    pub fn consent_validity(&self) -> i64 {
        self.consent_validity
    }

    /// The pupil behind a verified login, enrolled on first login.
    pub async fn login_pupil(&self, identity: &IdentityNumber) -> Result<Uuid> {
        match self.find_pupil(identity).await? {
            Some(id) => Ok(id),
            None => self.enrol_pupil(identity, &Actor::Pupil).await,
        }
    }

    /// A verified login, for whom it was started: a pupil is found (or enrolled),
    /// a staff member is known only by the keyed hash of their number. The login is
    /// in the audit log before it counts (fail closed).
    pub async fn complete_login(
        &self,
        as_: LoginAs,
        identity: &IdentityNumber,
        acr: &str,
        request_id: Option<String>,
    ) -> Result<LoggedIn> {
        match as_ {
            LoginAs::Pupil => {
                let pupil_id = self.login_pupil(identity).await?;
                self.record_login(
                    Actor::Pupil,
                    Some(pupil_id),
                    "succeeded",
                    "",
                    acr,
                    request_id,
                )
                .await?;
                let (_, current) = self.consents_in_force(pupil_id).await?;
                Ok(LoggedIn::Pupil {
                    pupil_id,
                    has_consent: current.is_some(),
                })
            }
            LoginAs::Staff => {
                let subject = self.staff_subject(identity);
                let who = Actor::parse(&subject);
                self.record_login(who, None, "succeeded", "staff", acr, request_id)
                    .await?;
                Ok(LoggedIn::Staff { subject })
            }
            LoginAs::Guardian => {
                let hash = self.guardian_hash(identity);
                let who = Actor::Guardian(hash.clone());
                self.record_login(who, None, "succeeded", "guardian", acr, request_id)
                    .await?;
                Ok(LoggedIn::Guardian { hash })
            }
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

    /// The agreement, the consent in force and, without one, the networks to pick.
    pub async fn journey(&self, pupil: Uuid) -> Result<Journey> {
        let (_, current) = self.consents_in_force(pupil).await?;
        let agreement = self
            .store
            .current_template(&Slug::follow_up())
            .await
            .found("agreement")?;
        let networks = self.store.networks().await?;
        Ok(Journey {
            agreement,
            current,
            networks,
        })
    }

    /// Records what the pupil signed in the pages: a change to the consent in
    /// force when the agreement text is the same, else a new consent.
    pub async fn submit_choice(
        &self,
        pupil: Uuid,
        network_id: Uuid,
        home: Option<Municipality>,
        choices: Vec<Choice>,
        evidence: Evidence,
    ) -> Result<(Consent, Submitted)> {
        let j = self.journey(pupil).await?;
        match &j.current {
            // The same agreement at the same place: a change. A new agreement text,
            // a new school or a new home: a new consent, replacing the old one.
            Some(c)
                if c.template_id == j.agreement.id
                    && c.network_id == network_id
                    && c.home_municipality == home =>
            {
                let req = super::ChangeRequest { choices, evidence };
                let c = self.change(c.id, req, &Actor::Pupil).await?;
                Ok((c, Submitted::Changed))
            }
            _ => {
                let c = self
                    .sign(super::SignRequest {
                        identity: self.pupil_identity(pupil).await?,
                        network_id,
                        template_id: j.agreement.id,
                        purpose: Slug::follow_up(),
                        choices,
                        evidence,
                        actor: Actor::Pupil,
                        home_municipality: home,
                    })
                    .await?;
                Ok((c, Submitted::Signed))
            }
        }
    }

    /// One of the pupil's own consents, with its agreement; another pupil's is
    /// "not found".
    pub async fn own_consent(&self, pupil: Uuid, id: Uuid) -> Result<(Consent, Template)> {
        let consent = self.store.consent(id).await.found("consent")?;
        if consent.pupil_id != pupil {
            return Err(ServiceError::NotFound("consent"));
        }
        let agreement = self
            .store
            .template(consent.template_id)
            .await
            .found("agreement")?;
        Ok((consent, agreement))
    }

    /// The pupil's consents with their history (event time, kind, consent).
    pub async fn history(
        &self,
        pupil: Uuid,
    ) -> Result<(Option<Consent>, Vec<(i64, EventKind, Uuid)>)> {
        let (all, current) = self.consents_in_force(pupil).await?;
        let mut events = Vec::new();
        for c in &all {
            for e in self.store.consent_events(c.id).await? {
                events.push((e.at, e.kind, c.id));
            }
        }
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok((current, events))
    }

    /// What the log holds about the pupil that the pupil's access page shows:
    /// requests for their data and data holders' checks, newest first (an
    /// introspection's re-decisions are its own line, not requests each).
    /// Entries this release cannot read are logged and counted, never dropped
    /// silently: the page says that some lines could not be shown.
    pub async fn access_log(&self, pupil: Uuid) -> Result<(Vec<(i64, Record)>, usize)> {
        let entries = self
            .store
            .pupil_access_entries(pupil, ACCESS_LOG_MAX)
            .await?;
        let mut records = Vec::with_capacity(entries.len());
        let mut unreadable = 0;
        for (seq, e) in &entries {
            match Record::parse(e) {
                Ok(r) => records.push((*seq, r)),
                Err(err) => {
                    tracing::error!(error = %err, at = e.at, "an audit entry could not be read");
                    unreadable += 1;
                }
            }
        }
        Ok((records, unreadable))
    }

    /// The pupil's age today.
    pub async fn pupil_age(&self, pupil: Uuid) -> Result<u8> {
        Ok(self
            .pupil_identity(pupil)
            .await?
            .age_on(oslo_date(self.now())))
    }

    /// Checks a choice against the pupil's services, the catalogue and the age
    /// rules, writing nothing.
    pub async fn preview_choices(
        &self,
        network_id: Uuid,
        home: Option<&Municipality>,
        pupil: Uuid,
        choices: &[Choice],
    ) -> Result<Vec<NewGrant>> {
        let identity = self.pupil_identity(pupil).await?;
        let age = identity.age_on(oslo_date(self.now()));
        let network = self.store.network(network_id).await.found("network")?;
        let services = self.services_of(&network, home).await?;
        let orgs = self.store.orgs().await?;
        let catalogue = self.catalogue();
        let purpose = Slug::follow_up();
        let ctx = ChoiceContext {
            catalogue: &catalogue,
            services: &services,
            orgs: &orgs,
            purpose: &purpose,
            age,
            born: identity.birth_date(),
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
                let party = |p: &Party| match p {
                    Party::Tutor => json!({ "kind": "tutor" }),
                    Party::Org { org_id, role } => {
                        let org = orgs.iter().find(|o| o.id == *org_id);
                        json!({
                            "kind": "org",
                            "id": org_id,
                            "role": role.as_ref().map(Slug::as_str),
                            "name": org.map(|o| o.name.clone()),
                            "number": org.map(|o| o.number.as_str().to_owned()),
                            "type": org.map(|o| o.org_type.as_str().to_owned()),
                        })
                    }
                };
                json!({
                    "discloser": party(&g.discloser),
                    "recipient": party(&g.recipient),
                    "category": g.category.as_str(),
                    "legal_basis": g.legal_basis,
                    "basis": g.basis,
                    "age_at_grant": g.age_at_grant,
                    "granted_at": rfc3339(g.granted_at),
                    "withdrawn_at": g.withdrawn_at.map(rfc3339),
                    // A grant the pupil could not give alone: where the guardian's
                    // side stands, and the birthday it rests on a guardian until.
                    "guardian": g.guardian.map(|p| json!({
                        "state": p.state.as_str(),
                        // Until when it rests on the guardian (not for what the
                        // pupil confirmed, which goes on).
                        "until": p.state.rests_on_guardian().then(|| rfc3339(p.adult_at)),
                    })),
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

    /// Records a pupil's or staff member's login, refused or not, in the audit log,
    /// durably: a login that cannot be recorded does not happen.
    pub async fn record_login(
        &self,
        who: Actor,
        pupil: Option<Uuid>,
        outcome: &str,
        reason: &str,
        detail: &str,
        request_id: Option<String>,
    ) -> Result<()> {
        let event = Event::Login(Outcome::new(outcome, reason, detail));
        let record = Record::new(self.now(), who, pupil, event).with_request(request_id);
        self.log(vec![record.entry()]).await
    }
}

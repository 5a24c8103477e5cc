//! The consent record: what a pupil agreed to share, with whom, and every change.
//!
//! These are pure rules over plain values. The service layer loads the facts
//! (network, catalogue, the pupil's age), asks these functions, and stores the
//! outcome in one transaction.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::category::{AgeVerdict, CategoryKey};
use super::guardian::{birthday_starts, Cosign, GuardianPart};
use super::org::{OrgType, Organisation};
use super::Slug;

/// How the pupil proved who they were when signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Level of assurance, e.g. `idporten-loa-substantial`, or `paper` for a signed form.
    pub acr: String,
    /// Authentication methods, e.g. `["BankID"]` or `["paper"]`.
    pub amr: Vec<String>,
    /// A reference to the login session or the archived form; never a secret.
    pub session_ref: String,
}

/// Who tells, or who is told: the NAV tutor who follows the pupil, or an
/// organisation (or one role in it: the school's counsellor).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Party {
    Tutor,
    Org {
        org_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        role: Option<Slug>,
    },
}

impl Party {
    pub fn org(org_id: Uuid) -> Self {
        Self::Org { org_id, role: None }
    }

    pub fn org_id(&self) -> Option<Uuid> {
        match self {
            Self::Tutor => None,
            Self::Org { org_id, .. } => Some(*org_id),
        }
    }

    pub fn role(&self) -> Option<&Slug> {
        match self {
            Self::Tutor => None,
            Self::Org { role, .. } => role.as_ref(),
        }
    }
}

/// Why a disclosure is lawful: the recipient's processing basis (GDPR Art. 6 and
/// the act), the Art. 9 condition for a special category, and the duty of
/// confidentiality the pupil's consent lifts for the discloser.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    pub processing: String,
    #[serde(default)]
    pub special: Option<String>,
    pub lifts: String,
}

impl LegalBasis {
    /// The basis as one sentence, as every grant stores it.
    pub fn in_words(&self) -> String {
        let mut s = self.processing.clone();
        if let Some(special) = &self.special {
            s.push_str("; ");
            s.push_str(special);
        }
        if !self.lifts.is_empty() {
            s.push_str("; taushetsplikt: ");
            s.push_str(&self.lifts);
        }
        s
    }
}

/// One disclosure the pupil allows: `discloser` may tell `recipient` `category`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub discloser: Party,
    pub recipient: Party,
    #[schema(value_type = String)]
    pub category: CategoryKey,
    /// The basis in words (every grant) and, for grants given since disclosures
    /// were modelled, in its parts.
    pub legal_basis: String,
    pub basis: Option<LegalBasis>,
    /// The pupil's age when this grant was given: its age rule is checked against it.
    pub age_at_grant: u8,
    /// Given before grants named who may tell: the tutor told, and a partner's data
    /// holder is decided as then (docs/POLICY.md).
    pub legacy: bool,
    pub granted_at: i64,
    pub withdrawn_at: Option<i64>,
    /// For a grant the pupil could not give alone: the guardian's side of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardian: Option<GuardianPart>,
}

impl Grant {
    /// Not withdrawn, and not waiting for a guardian. (Whether it still holds at
    /// an instant, past a birthday, is the decision's: `GuardianPart::holds`.)
    pub fn in_force(&self) -> bool {
        self.live()
            && self.guardian.is_none_or(|p| {
                matches!(
                    p.state,
                    Cosign::Signed | Cosign::Excepted | Cosign::Confirmed
                )
            })
    }

    /// Not withdrawn: in force, or waiting for a guardian.
    pub fn live(&self) -> bool {
        self.withdrawn_at.is_none()
    }

    /// Waiting for a guardian, or the check of one.
    pub fn waiting(&self) -> bool {
        self.live() && self.guardian.is_some_and(|p| p.state.waiting())
    }

    /// The recipient organisation, when an organisation is told.
    pub fn org_id(&self) -> Option<Uuid> {
        self.recipient.org_id()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Consent {
    pub id: Uuid,
    pub pupil_id: Uuid,
    pub network_id: Uuid,
    pub template_id: Uuid,
    pub template_hash: String,
    #[schema(value_type = String, example = "follow_up")]
    pub purpose: Slug,
    pub valid_from: i64,
    pub expires_at: i64,
    pub signed_at: i64,
    pub evidence: Evidence,
    /// Whole years of age when signing (each grant keeps its own age too).
    pub age_at_signing: u8,
    /// The municipality the pupil lives in, when they named one.
    #[schema(value_type = Option<String>)]
    pub home_municipality: Option<super::org::Municipality>,
    /// Set when the pupil withdrew everything or a newer consent replaced this one.
    pub ended_at: Option<i64>,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Signed, but `valid_from` is still ahead.
    Pending,
    Active,
    Expired,
    /// Ended: withdrawn in full or replaced by a newer consent.
    Ended,
}

impl Consent {
    pub fn state(&self, now: i64) -> ConsentState {
        if self.ended_at.is_some_and(|t| t <= now) {
            ConsentState::Ended
        } else if now >= self.expires_at {
            ConsentState::Expired
        } else if now < self.valid_from {
            ConsentState::Pending
        } else {
            ConsentState::Active
        }
    }

    pub fn grants_in_force(&self) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(|g| g.in_force())
    }

    /// Grants not withdrawn: in force or waiting for a guardian.
    pub fn grants_live(&self) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(|g| g.live())
    }
}

/// What a pupil asks to share, before it is checked: who may tell whom what. The
/// shape from before disclosures were modelled (`org_id`, `role`: the recipient,
/// told by the tutor) is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Who may tell; the tutor if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discloser: Option<Party>,
    /// Who may be told (or give `org_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub role: Option<Slug>,
    #[schema(value_type = String)]
    pub category: CategoryKey,
}

impl Choice {
    /// The tutor may tell `org` (as a whole) `category`.
    pub fn tell(org_id: Uuid, category: CategoryKey) -> Self {
        Self::new(Party::Tutor, Party::org(org_id), category)
    }

    pub fn new(discloser: Party, recipient: Party, category: CategoryKey) -> Self {
        Self {
            discloser: Some(discloser),
            recipient: Some(recipient),
            org_id: None,
            role: None,
            category,
        }
    }

    /// (discloser, recipient), or `None` if the choice names its recipient twice
    /// or not at all.
    pub fn parties(&self) -> Option<(Party, Party)> {
        let recipient = match (&self.recipient, self.org_id) {
            (Some(r), None) if self.role.is_none() => r.clone(),
            (None, Some(org_id)) => Party::Org {
                org_id,
                role: self.role.clone(),
            },
            _ => return None,
        };
        Some((self.discloser.clone().unwrap_or(Party::Tutor), recipient))
    }
}

/// A checked choice with its legal basis attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub discloser: Party,
    pub recipient: Party,
    pub category: CategoryKey,
    pub basis: LegalBasis,
    pub age: u8,
    /// For a choice the pupil may not make alone yet: the instant from which they
    /// may (the grant waits for a guardian until then).
    pub adult_at: Option<i64>,
}

impl NewGrant {
    /// The same disclosure as `g` (whatever their ids and times).
    pub fn same_as(&self, g: &Grant) -> bool {
        self.discloser == g.discloser
            && self.recipient == g.recipient
            && self.category == g.category
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("choose at least one organisation and category")]
    EmptyChoice,
    #[error("the same organisation and category is chosen twice")]
    DuplicateChoice { index: usize },
    #[error("the organisation is not one of the pupil's services")]
    OrgOutsideNetwork { index: usize },
    #[error("name who may be told: a recipient, or an organisation")]
    NoRecipient { index: usize },
    #[error("the organisation has no such role")]
    UnknownRole { index: usize },
    #[error("this is not something the agreement lets the pupil choose")]
    NotOffered { index: usize },
    #[error("the organisation is disabled")]
    OrgDisabled { index: usize },
    #[error("unknown data category")]
    UnknownCategory { index: usize },
    #[error("unknown purpose")]
    UnknownPurpose,
    #[error("this category is shared by a duty in law, not by consent")]
    StatutoryNotConsent { index: usize },
    #[error("this category cannot be shared at the pupil's age")]
    BelowMinimumAge { index: usize },
    #[error("the consent is no longer in force")]
    NotInForce,
    #[error("nothing in force matches the withdrawal")]
    NothingToWithdraw,
}

impl ConsentError {
    /// Index of the offending choice, when one choice is at fault.
    pub fn choice_index(&self) -> Option<usize> {
        match self {
            Self::DuplicateChoice { index }
            | Self::OrgOutsideNetwork { index }
            | Self::NoRecipient { index }
            | Self::UnknownRole { index }
            | Self::NotOffered { index }
            | Self::OrgDisabled { index }
            | Self::UnknownCategory { index }
            | Self::StatutoryNotConsent { index }
            | Self::BelowMinimumAge { index } => Some(*index),
            _ => None,
        }
    }
}

/// The facts a choice is checked against.
pub struct ChoiceContext<'a> {
    pub catalogue: &'a Catalogue,
    /// The pupil's services: the network's and, for types offered where the pupil
    /// lives, those of their municipality (looked up by the caller).
    pub services: &'a [Organisation],
    /// Organisations named by the choices, looked up by the caller.
    pub orgs: &'a [Organisation],
    pub purpose: &'a Slug,
    pub age: u8,
    /// The pupil's birth date: when a guardian's part ends.
    pub born: time::Date,
}

/// Checks every choice; the first fault wins, so the pupil fixes one thing at a time.
pub fn check_choices(
    ctx: &ChoiceContext<'_>,
    choices: &[Choice],
) -> Result<Vec<NewGrant>, ConsentError> {
    if !ctx.catalogue.has_purpose(ctx.purpose) {
        return Err(ConsentError::UnknownPurpose);
    }
    if choices.is_empty() {
        return Err(ConsentError::EmptyChoice);
    }
    let tutor_type = Slug::tutor();
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(choices.len());
    for (index, c) in choices.iter().enumerate() {
        let (discloser, recipient) = c.parties().ok_or(ConsentError::NoRecipient { index })?;
        // An organisation tells as a whole: its duty of confidentiality is lifted,
        // not one employee's.
        if discloser.role().is_some() {
            return Err(ConsentError::NotOffered { index });
        }
        if !seen.insert((discloser.clone(), recipient.clone(), c.category.clone())) {
            return Err(ConsentError::DuplicateChoice { index });
        }
        // Each party: the tutor, or an enabled service of the pupil's, with a role
        // its type has.
        let party = |p: &Party| -> Result<(OrgType, String), ConsentError> {
            let Party::Org { org_id, role } = p else {
                let t = ctx.catalogue.org_type(&tutor_type);
                return Ok((
                    tutor_type.clone(),
                    t.map(|t| t.confidentiality.clone()).unwrap_or_default(),
                ));
            };
            let org = ctx
                .orgs
                .iter()
                .find(|o| o.id == *org_id)
                .filter(|o| ctx.services.iter().any(|s| s.id == o.id))
                .ok_or(ConsentError::OrgOutsideNetwork { index })?;
            if !org.enabled {
                return Err(ConsentError::OrgDisabled { index });
            }
            let kind = ctx
                .catalogue
                .org_type(&org.org_type)
                .ok_or(ConsentError::OrgOutsideNetwork { index })?;
            if role.as_ref().is_some_and(|r| kind.role(r).is_none()) {
                return Err(ConsentError::UnknownRole { index });
            }
            Ok((org.org_type.clone(), kind.confidentiality.clone()))
        };
        let (from_type, lifts) = party(&discloser)?;
        let (to_type, _) = party(&recipient)?;
        let category = ctx
            .catalogue
            .category(&c.category)
            .ok_or(ConsentError::UnknownCategory { index })?;
        if ctx
            .catalogue
            .statutory_flow(Some(&from_type), &to_type, &c.category)
            .is_some()
        {
            return Err(ConsentError::StatutoryNotConsent { index });
        }
        if category.retired || !ctx.catalogue.offers(&from_type, &to_type, &c.category) {
            return Err(ConsentError::NotOffered { index });
        }
        let adult_at = match category.age.verdict(ctx.age) {
            AgeVerdict::Alone => None,
            // Given now, in force once a guardian co-signs.
            AgeVerdict::NeedsGuardian => Some(birthday_starts(ctx.born, category.age.alone_from)),
            AgeVerdict::NotAllowed => return Err(ConsentError::BelowMinimumAge { index }),
        };
        let processing = ctx
            .catalogue
            .org_type(&to_type)
            .map(|t| t.processing.clone())
            .unwrap_or_default();
        out.push(NewGrant {
            discloser,
            recipient,
            category: c.category.clone(),
            basis: LegalBasis {
                processing,
                special: category.special.clone(),
                lifts,
            },
            age: ctx.age,
            adult_at,
        });
    }
    Ok(out)
}

/// What the pupil withdraws. Each takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "scope", rename_all = "snake_case", deny_unknown_fields)]
pub enum Withdrawal {
    Grant {
        grant_id: Uuid,
    },
    /// Every grant that tells this organisation or that it tells.
    Organisation {
        org_id: Uuid,
    },
    All,
}

/// The grants a withdrawal ends, and whether the consent as a whole ends with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalPlan {
    pub grant_ids: Vec<Uuid>,
    pub ends_consent: bool,
}

pub fn plan_withdrawal(
    consent: &Consent,
    w: &Withdrawal,
    now: i64,
) -> Result<WithdrawalPlan, ConsentError> {
    if matches!(
        consent.state(now),
        ConsentState::Ended | ConsentState::Expired
    ) {
        return Err(ConsentError::NotInForce);
    }
    let grant_ids: Vec<Uuid> = consent
        .grants_live()
        .filter(|g| match w {
            Withdrawal::Grant { grant_id } => g.id == *grant_id,
            Withdrawal::Organisation { org_id } => {
                g.recipient.org_id() == Some(*org_id) || g.discloser.org_id() == Some(*org_id)
            }
            Withdrawal::All => true,
        })
        .map(|g| g.id)
        .collect();
    if grant_ids.is_empty() && !matches!(w, Withdrawal::All) {
        return Err(ConsentError::NothingToWithdraw);
    }
    let left = consent.grants_live().count() - grant_ids.len();
    Ok(WithdrawalPlan {
        grant_ids,
        ends_consent: matches!(w, Withdrawal::All) || left == 0,
    })
}

/// A change the pupil signs to an active consent: grants to add and grants to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePlan {
    pub add: Vec<NewGrant>,
    pub remove: Vec<Uuid>,
}

/// Compares the new full choice with what is in force now.
pub fn plan_change(
    consent: &Consent,
    wanted: Vec<NewGrant>,
    now: i64,
) -> Result<ChangePlan, ConsentError> {
    if consent.state(now) != ConsentState::Active && consent.state(now) != ConsentState::Pending {
        return Err(ConsentError::NotInForce);
    }
    let current: Vec<&Grant> = consent.grants_live().collect();
    // A grant still waiting for a guardian that the pupil, now old enough, chooses
    // again is given again, alone.
    let kept = |w: &NewGrant, g: &Grant| w.same_as(g) && !(g.waiting() && w.adult_at.is_none());
    let remove = current
        .iter()
        .filter(|g| !wanted.iter().any(|w| kept(w, g)))
        .map(|g| g.id)
        .collect();
    let add = wanted
        .into_iter()
        .filter(|w| !current.iter().any(|g| kept(w, g)))
        .collect();
    Ok(ChangePlan { add, remove })
}

/// Every change to a consent is one of these, appended and never rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Signed,
    Changed,
    Withdrawn,
    Superseded,
    Expired,
    Erased,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Changed => "changed",
            Self::Withdrawn => "withdrawn",
            Self::Superseded => "superseded",
            Self::Expired => "expired",
            Self::Erased => "erased",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Signed,
            Self::Changed,
            Self::Withdrawn,
            Self::Superseded,
            Self::Expired,
            Self::Erased,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsentEvent {
    pub id: Uuid,
    pub consent_id: Uuid,
    pub kind: EventKind,
    pub at: i64,
    /// Who made the change: `pupil`, `admin` or `system`.
    pub actor: String,
    /// Grants this event started and ended.
    pub added: Vec<Uuid>,
    pub removed: Vec<Uuid>,
    /// For a change the pupil signed: how they proved who they were.
    pub evidence: Option<Evidence>,
}

#[cfg(test)]
mod tests;

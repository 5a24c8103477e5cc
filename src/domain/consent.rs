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
use super::org::{Network, Organisation};
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

/// One organisation × category the pupil lets the tutor share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub org_id: Uuid,
    #[schema(value_type = String)]
    pub category: CategoryKey,
    /// The recipient type's statutory basis for processing what it receives.
    pub legal_basis: String,
    pub granted_at: i64,
    pub withdrawn_at: Option<i64>,
}

impl Grant {
    pub fn in_force(&self) -> bool {
        self.withdrawn_at.is_none()
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
    /// Whole years of age when signing; age rules are checked against it.
    pub age_at_signing: u8,
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
}

/// What a pupil asks to share, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub org_id: Uuid,
    #[schema(value_type = String)]
    pub category: CategoryKey,
}

/// A checked choice with the recipient's statutory basis attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub org_id: Uuid,
    pub category: CategoryKey,
    pub legal_basis: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("choose at least one organisation and category")]
    EmptyChoice,
    #[error("the same organisation and category is chosen twice")]
    DuplicateChoice { index: usize },
    #[error("the organisation is not in the pupil's school network")]
    OrgOutsideNetwork { index: usize },
    #[error("the organisation is disabled")]
    OrgDisabled { index: usize },
    #[error("unknown data category")]
    UnknownCategory { index: usize },
    #[error("unknown purpose")]
    UnknownPurpose,
    #[error("this category is shared by a duty in law, not by consent")]
    StatutoryNotConsent { index: usize },
    #[error("below the age for this category a guardian must co-consent")]
    NeedsGuardian { index: usize },
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
            | Self::OrgDisabled { index }
            | Self::UnknownCategory { index }
            | Self::StatutoryNotConsent { index }
            | Self::NeedsGuardian { index }
            | Self::BelowMinimumAge { index } => Some(*index),
            _ => None,
        }
    }
}

/// The facts a choice is checked against.
pub struct ChoiceContext<'a> {
    pub catalogue: &'a Catalogue,
    pub network: &'a Network,
    /// Organisations named by the choices, looked up by the caller.
    pub orgs: &'a [Organisation],
    pub purpose: &'a Slug,
    pub age: u8,
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
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(choices.len());
    for (index, c) in choices.iter().enumerate() {
        if !seen.insert((c.org_id, c.category.clone())) {
            return Err(ConsentError::DuplicateChoice { index });
        }
        let org = ctx
            .orgs
            .iter()
            .find(|o| o.id == c.org_id)
            .filter(|o| ctx.network.contains(o.id))
            .ok_or(ConsentError::OrgOutsideNetwork { index })?;
        if !org.enabled {
            return Err(ConsentError::OrgDisabled { index });
        }
        let category = ctx
            .catalogue
            .category(&c.category)
            .ok_or(ConsentError::UnknownCategory { index })?;
        if ctx.catalogue.is_statutory(&org.org_type, &c.category) {
            return Err(ConsentError::StatutoryNotConsent { index });
        }
        match category.age.verdict(ctx.age) {
            AgeVerdict::Alone => {}
            AgeVerdict::NeedsGuardian => return Err(ConsentError::NeedsGuardian { index }),
            AgeVerdict::NotAllowed => return Err(ConsentError::BelowMinimumAge { index }),
        }
        let legal_basis = ctx
            .catalogue
            .org_type(&org.org_type)
            .map(|t| t.legal_basis.clone())
            .unwrap_or_default();
        out.push(NewGrant {
            org_id: org.id,
            category: c.category.clone(),
            legal_basis,
        });
    }
    Ok(out)
}

/// What the pupil withdraws. Each takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "scope", rename_all = "snake_case", deny_unknown_fields)]
pub enum Withdrawal {
    Grant { grant_id: Uuid },
    Organisation { org_id: Uuid },
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
        .grants_in_force()
        .filter(|g| match w {
            Withdrawal::Grant { grant_id } => g.id == *grant_id,
            Withdrawal::Organisation { org_id } => g.org_id == *org_id,
            Withdrawal::All => true,
        })
        .map(|g| g.id)
        .collect();
    if grant_ids.is_empty() && !matches!(w, Withdrawal::All) {
        return Err(ConsentError::NothingToWithdraw);
    }
    let left = consent.grants_in_force().count() - grant_ids.len();
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
    let current: Vec<&Grant> = consent.grants_in_force().collect();
    let remove = current
        .iter()
        .filter(|g| {
            !wanted
                .iter()
                .any(|w| w.org_id == g.org_id && w.category == g.category)
        })
        .map(|g| g.id)
        .collect();
    let add = wanted
        .into_iter()
        .filter(|w| {
            !current
                .iter()
                .any(|g| w.org_id == g.org_id && w.category == g.category)
        })
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

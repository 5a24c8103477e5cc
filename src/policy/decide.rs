//! The one decision function: baseline policy AND the pupil's consent in force.
//! Pure: the caller passes the baseline table, the pupil's consents and the time.

use serde::Serialize;
use uuid::Uuid;

use super::baseline::BaselineTable;
use super::index::ConsentRecord;
use crate::domain::catalogue::Catalogue;
use crate::domain::category::{AgeVerdict, CategoryKey};
use crate::domain::org::OrgType;
use crate::domain::Slug;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// See the data: the only thing a consent can let a recipient do.
    Read,
    /// Change the data. Asked for by partners, but no consent grants it (the pupil
    /// signs "may see"); allowing it would need a basis in law of its own.
    Write,
    /// Keep the data and hand it over: asked of the data holder in the baseline
    /// only (`p, school, attendance, disclose, …`), never by a partner.
    Disclose,
}

impl Action {
    /// What a partner may ask for: read or write.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Disclose => "disclose",
        }
    }
}

/// The organisation that would hand the data over (a token's audience). It must be
/// the school of the consent's network or an organisation the consent names.
#[derive(Debug, Clone)]
pub struct Holder<'a> {
    pub org_id: Uuid,
    pub org_type: &'a OrgType,
    /// The school networks whose school it is.
    pub school_of: &'a [Uuid],
}

/// May this organisation receive this category of this pupil for this purpose
/// (from this data holder, when one is named)?
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub org_id: Uuid,
    pub org_type: &'a OrgType,
    pub category: &'a CategoryKey,
    pub action: Action,
    pub purpose: &'a Slug,
    pub holder: Option<Holder<'a>>,
}

/// Why a decision came out as it did. Shown to the pupil, compliance officers and
/// operators; a partner only ever sees allowed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Allowed,
    /// A deny rule in the baseline matched: deny wins.
    BaselineDenied,
    /// No baseline rule allows this type, category, action and purpose.
    NotInBaseline,
    NoSuchPupil,
    /// The pupil has no consent for this purpose.
    ConsentMissing,
    /// Signed, but not valid yet.
    ConsentPending,
    ConsentWithdrawn,
    ConsentExpired,
    /// A consent is in force, but it does not name this organisation and category.
    NotGranted,
    /// This grant was withdrawn.
    GrantWithdrawn,
    /// The pupil was below the category's age for consenting alone when signing.
    BelowAgeAtSigning,
    /// A consent lets a recipient see, never change: write is never granted.
    WriteNotConsented,
    /// The named data holder's type does not keep this category (baseline
    /// `disclose`), or is never a holder (the NAV office), so it has nothing to
    /// hand over.
    HolderNotDiscloser,
    /// The named data holder is neither the school of the consent nor an
    /// organisation the consent names.
    HolderOutsideConsent,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::BaselineDenied => "baseline_denied",
            Self::NotInBaseline => "not_in_baseline",
            Self::NoSuchPupil => "no_such_pupil",
            Self::ConsentMissing => "consent_missing",
            Self::ConsentPending => "consent_pending",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::ConsentExpired => "consent_expired",
            Self::NotGranted => "not_granted",
            Self::GrantWithdrawn => "grant_withdrawn",
            Self::BelowAgeAtSigning => "below_age_at_signing",
            Self::WriteNotConsented => "write_not_consented",
            Self::HolderNotDiscloser => "holder_not_discloser",
            Self::HolderOutsideConsent => "holder_outside_consent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// The baseline rule that decided, as written in policies/.
    pub baseline_rule: Option<String>,
    /// What the pupil's consent said, independent of the baseline.
    pub consent: Reason,
    pub consent_id: Option<Uuid>,
    /// The rule that let (or did not let) the data holder hand it over.
    pub holder_rule: Option<String>,
}

/// The consent half: does a consent in force grant exactly this?
pub fn consent_verdict(
    catalogue: &Catalogue,
    consents: Option<&[ConsentRecord]>,
    q: &Question<'_>,
    now: i64,
) -> (Reason, Option<Uuid>) {
    let Some(consents) = consents else {
        return (Reason::NoSuchPupil, None);
    };
    // The most telling reason wins when a pupil has several consents for the purpose.
    let mut best = (Reason::ConsentMissing, None);
    for c in consents.iter().filter(|c| &c.purpose == q.purpose) {
        let r = if c.ended_at.is_some_and(|t| t <= now) {
            Reason::ConsentWithdrawn
        } else if now >= c.expires_at {
            Reason::ConsentExpired
        } else if now < c.valid_from {
            Reason::ConsentPending
        } else {
            match c
                .grants
                .iter()
                .find(|g| g.org_id == q.org_id && &g.category == q.category)
            {
                None => Reason::NotGranted,
                Some(g) if g.withdrawn_at.is_some_and(|t| t <= now) => Reason::GrantWithdrawn,
                Some(_) => {
                    let age_ok = catalogue
                        .category(q.category)
                        .is_some_and(|cat| cat.age.verdict(c.age_at_signing) == AgeVerdict::Alone);
                    let holder_ok = q.holder.as_ref().is_none_or(|h| {
                        h.school_of.contains(&c.network_id)
                            || c.grants.iter().any(|g| {
                                g.org_id == h.org_id && g.withdrawn_at.is_none_or(|t| t > now)
                            })
                    });
                    if !age_ok {
                        Reason::BelowAgeAtSigning
                    } else if !holder_ok {
                        Reason::HolderOutsideConsent
                    } else if q.action != Action::Read {
                        Reason::WriteNotConsented
                    } else {
                        return (Reason::Allowed, Some(c.consent_id));
                    }
                }
            }
        };
        if rank(r) > rank(best.0) {
            best = (r, Some(c.consent_id));
        }
    }
    best
}

/// A consent in force says more than an ended one, which says more than none.
fn rank(r: Reason) -> u8 {
    match r {
        Reason::WriteNotConsented | Reason::HolderOutsideConsent => 5,
        Reason::NotGranted | Reason::GrantWithdrawn | Reason::BelowAgeAtSigning => 4,
        Reason::ConsentPending => 3,
        Reason::ConsentExpired | Reason::ConsentWithdrawn => 2,
        Reason::ConsentMissing => 1,
        _ => 0,
    }
}

/// Allowed only if the baseline allows it AND the pupil's consent grants it AND,
/// when a data holder is named, the baseline lets that holder's type hand the
/// category over and the consent covers that holder. Every part is always
/// evaluated, so every answer costs the same work.
pub fn decide(
    baseline: &BaselineTable,
    catalogue: &Catalogue,
    consents: Option<&[ConsentRecord]>,
    q: &Question<'_>,
    now: i64,
) -> Decision {
    let b = baseline.verdict(q.org_type, q.category, q.action, q.purpose);
    // A type the catalogue keeps apart (the tutor's own NAV office) is never a
    // data holder for partners, whatever a rule says.
    let h = q.holder.as_ref().map(|h| {
        let v = baseline.verdict(h.org_type, q.category, Action::Disclose, q.purpose);
        let apart = catalogue.org_type(h.org_type).is_none_or(|t| t.separate);
        (v.allowed && !apart, v.rule)
    });
    let (consent, consent_id) = consent_verdict(catalogue, consents, q, now);
    let reason = if !b.allowed {
        if b.rule.is_some() {
            Reason::BaselineDenied
        } else {
            Reason::NotInBaseline
        }
    } else if h.is_some_and(|(allowed, _)| !allowed) {
        Reason::HolderNotDiscloser
    } else {
        consent
    };
    Decision {
        allowed: reason == Reason::Allowed,
        reason,
        baseline_rule: b.rule.map(str::to_owned),
        consent,
        consent_id,
        holder_rule: h.and_then(|(_, rule)| rule.map(str::to_owned)),
    }
}

//! The one decision function: may `discloser` tell `recipient` category C of pupil
//! P, for action A and purpose U? A flow the law requires is permitted and says so;
//! otherwise the baseline policy must allow it AND the pupil's consent in force must
//! grant exactly that disclosure. Pure: the caller passes the baseline table, the
//! catalogue, the pupil's consents and the time.

use serde::Serialize;
use std::sync::Arc;
use uuid::Uuid;

use super::baseline::BaselineTable;
use super::index::{ConsentRecord, GrantRecord};
use crate::domain::catalogue::Catalogue;
use crate::domain::category::{AgeVerdict, CategoryKey};
use crate::domain::consent::Party;
use crate::domain::guardian::Cosign;
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
    /// Keep the data and hand it over: asked of the discloser in the baseline only
    /// (`p, school, attendance, disclose, …`), never by a partner.
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

/// A party of a question: an organisation (or a role in it), or the tutor (no
/// organisation; its type is the catalogue's `tutor`).
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub org_id: Option<Uuid>,
    pub org_type: &'a OrgType,
    pub role: Option<&'a Slug>,
    /// The school networks it serves (as their school or a member).
    pub member_of: &'a [Uuid],
}

/// Who would tell: the tutor, or an organisation (a token's data holder, its
/// audience) with the school networks whose school it is.
#[derive(Debug, Clone)]
pub struct Discloser<'a> {
    pub org_id: Option<Uuid>,
    pub org_type: &'a OrgType,
    pub school_of: &'a [Uuid],
}

/// May `discloser` (when one is named) tell `recipient` this category of this
/// pupil, for this action and purpose?
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub recipient: Subject<'a>,
    pub category: &'a CategoryKey,
    pub action: Action,
    pub purpose: &'a Slug,
    pub discloser: Option<Discloser<'a>>,
}

/// Why a decision came out as it did. Shown to the pupil, compliance officers and
/// operators; a partner only ever sees allowed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Allowed,
    /// A duty in law requires this flow, whatever the pupil chose.
    Statutory,
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
    /// A consent is in force, but it does not name this recipient and category.
    NotGranted,
    /// This grant was withdrawn.
    GrantWithdrawn,
    /// The pupil was below the category's age for consenting alone when the grant
    /// was given.
    BelowAgeAtSigning,
    /// The grant needs a guardian's co-consent that is not there: waiting, or
    /// declined.
    AwaitingGuardian,
    /// The grant rested on a guardian until the pupil's birthday, and the pupil
    /// did not confirm it.
    LapsedAtAge,
    /// A consent lets a recipient see, never change: write is never granted.
    WriteNotConsented,
    /// The named discloser's type does not keep this category (baseline
    /// `disclose`), or is never one (the rest of the NAV office).
    HolderNotDiscloser,
    /// The consent does not let the named discloser tell this.
    HolderOutsideConsent,
    /// The organisation asking, or the one that would tell, is disabled.
    OrgDisabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Statutory => "statutory",
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
            Self::AwaitingGuardian => "awaiting_guardian",
            Self::LapsedAtAge => "lapsed_at_age",
            Self::WriteNotConsented => "write_not_consented",
            Self::HolderNotDiscloser => "holder_not_discloser",
            Self::HolderOutsideConsent => "holder_outside_consent",
            Self::OrgDisabled => "org_disabled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// The baseline rule that decided, as written in policies/ (shared with the
    /// baseline table: a decision allocates no text).
    #[schema(value_type = Option<String>)]
    pub baseline_rule: Option<Arc<str>>,
    /// What the pupil's consent said, independent of the baseline.
    pub consent: Reason,
    pub consent_id: Option<Uuid>,
    /// The rule that let (or did not let) the discloser tell it.
    #[schema(value_type = Option<String>)]
    pub holder_rule: Option<Arc<str>>,
    /// For a flow the law requires: the provision.
    pub provision: Option<String>,
}

/// Whether a grant's party is the question's: the same organisation (a grant to
/// the whole organisation covers each of its roles; a grant to a role, that role
/// only), or the tutor.
fn is(p: &Party, s_org: Option<Uuid>, s_role: Option<&Slug>) -> bool {
    match p {
        Party::Tutor => s_org.is_none(),
        Party::Org { org_id, role } => {
            s_org == Some(*org_id) && role.as_ref().is_none_or(|r| Some(r) == s_role)
        }
    }
}

/// Whether the grant lets the named discloser tell. A grant from before
/// disclosures were modelled (the tutor told) lets a data holder hand it over as
/// then: the school the consent was given at, or an organisation it names.
fn discloser_ok(g: &GrantRecord, c: &ConsentRecord, d: &Discloser<'_>, now: i64) -> bool {
    if is(&g.discloser, d.org_id, None) {
        return true;
    }
    g.legacy
        && d.org_id.is_some_and(|holder| {
            d.school_of.contains(&c.network_id)
                || c.grants.iter().any(|x| {
                    x.legacy
                        && x.recipient.org_id() == Some(holder)
                        && x.withdrawn_at.is_none_or(|t| t > now)
                })
        })
}

/// The consent half: does a consent in force grant exactly this disclosure?
pub fn consent_verdict(
    catalogue: &Catalogue,
    consents: Option<&[ConsentRecord]>,
    q: &Question<'_>,
    now: i64,
) -> (Reason, Option<Uuid>) {
    let Some(consents) = consents else {
        return (Reason::NoSuchPupil, None);
    };
    // The most telling reason wins when a pupil has several consents or grants.
    let mut best = (Reason::ConsentMissing, None);
    let keep = |r: Reason, id: Uuid, best: &mut (Reason, Option<Uuid>)| {
        if rank(r) > rank(best.0) {
            *best = (r, Some(id));
        }
    };
    for c in consents.iter().filter(|c| &c.purpose == q.purpose) {
        if c.ended_at.is_some_and(|t| t <= now) {
            keep(Reason::ConsentWithdrawn, c.consent_id, &mut best);
            continue;
        }
        if now >= c.expires_at {
            keep(Reason::ConsentExpired, c.consent_id, &mut best);
            continue;
        }
        if now < c.valid_from {
            keep(Reason::ConsentPending, c.consent_id, &mut best);
            continue;
        }
        let mut any = false;
        for g in c.grants.iter().filter(|g| {
            &g.category == q.category && is(&g.recipient, q.recipient.org_id, q.recipient.role)
        }) {
            any = true;
            let r = if g.withdrawn_at.is_some_and(|t| t <= now) {
                Reason::GrantWithdrawn
            } else if let Some(r) = age_refusal(catalogue, g, now) {
                r
            } else if q
                .discloser
                .as_ref()
                .is_some_and(|d| !discloser_ok(g, c, d, now))
            {
                Reason::HolderOutsideConsent
            } else if q.action != Action::Read {
                Reason::WriteNotConsented
            } else {
                return (Reason::Allowed, Some(c.consent_id));
            };
            keep(r, c.consent_id, &mut best);
        }
        if !any {
            keep(Reason::NotGranted, c.consent_id, &mut best);
        }
    }
    best
}

/// Why the pupil's age at the grant keeps it from counting, if it does: alone
/// from the category's age; below it, only with a guardian's part that holds now.
fn age_refusal(catalogue: &Catalogue, g: &GrantRecord, now: i64) -> Option<Reason> {
    let verdict = catalogue
        .category(&g.category)
        .map(|cat| cat.age.verdict(g.age_at_grant));
    // A guardian's part that does not hold refuses, whatever the age rule says now
    // (a catalogue that lowered the age does not put a waiting grant in force).
    if let Some(p) = g.guardian.filter(|p| !p.holds(now)) {
        return Some(
            if p.state.rests_on_guardian() || p.state == Cosign::Lapsed {
                Reason::LapsedAtAge
            } else {
                Reason::AwaitingGuardian
            },
        );
    }
    match (verdict, g.guardian) {
        (Some(AgeVerdict::Alone), _) | (Some(AgeVerdict::NeedsGuardian), Some(_)) => None,
        _ => Some(Reason::BelowAgeAtSigning),
    }
}

/// A consent in force says more than an ended one, which says more than none.
fn rank(r: Reason) -> u8 {
    match r {
        Reason::WriteNotConsented | Reason::HolderOutsideConsent => 6,
        Reason::BelowAgeAtSigning | Reason::AwaitingGuardian | Reason::LapsedAtAge => 5,
        Reason::GrantWithdrawn => 4,
        Reason::NotGranted => 3,
        Reason::ConsentPending => 2,
        Reason::ConsentExpired | Reason::ConsentWithdrawn => 1,
        _ => 0,
    }
}

/// A flow the law requires is permitted, with its provision; otherwise allowed only
/// if the baseline lets the recipient's type receive it, a named discloser's type
/// keep and hand it over (never a type the catalogue keeps apart), and the
/// pupil's consent grants exactly it. Every part is always evaluated, so every
/// answer costs the same work.
pub fn decide(
    baseline: &BaselineTable,
    catalogue: &Catalogue,
    consents: Option<&[ConsentRecord]>,
    q: &Question<'_>,
    now: i64,
) -> Decision {
    let b = baseline.verdict(q.recipient.org_type, q.category, q.action, q.purpose);
    let h = q.discloser.as_ref().map(|d| {
        let v = baseline.verdict(d.org_type, q.category, Action::Disclose, q.purpose);
        // The rest of the NAV office tells the tutor at most, never an outside
        // organisation (and is never a partner's data holder).
        let apart = catalogue
            .org_type(d.org_type)
            .is_none_or(|t| t.separate && q.recipient.org_id.is_some());
        (v.allowed && !apart, v.rule)
    });
    // A flow in law: read only, from the discloser the law names, about a pupil
    // samtykke knows at that discloser's school and the recipient's network, and
    // only where the baseline lets both do it (a deny rule still wins).
    let statutory = q
        .discloser
        .as_ref()
        .filter(|_| q.action == Action::Read && b.allowed && h.is_some_and(|(ok, _)| ok))
        .and_then(|d| {
            let duty =
                catalogue.statutory_flow(Some(d.org_type), q.recipient.org_type, q.category)?;
            consents?
                .iter()
                .any(|c| {
                    d.school_of.contains(&c.network_id)
                        && q.recipient.member_of.contains(&c.network_id)
                })
                .then_some(duty)
        });
    let (consent, consent_id) = consent_verdict(catalogue, consents, q, now);
    let reason = if statutory.is_some() {
        Reason::Statutory
    } else if !b.allowed {
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
        allowed: matches!(reason, Reason::Allowed | Reason::Statutory),
        reason,
        baseline_rule: b.rule.cloned(),
        consent,
        consent_id,
        holder_rule: h.and_then(|(_, rule)| rule.cloned()),
        provision: statutory.map(|s| s.provision.clone()),
    }
}

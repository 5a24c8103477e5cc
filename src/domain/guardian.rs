//! A guardian's part in a grant the pupil may not give alone: pending until a
//! guardian co-signs (or a protective exception lets the grant be decided without
//! one), and resting on the guardian only until the birthday from which the pupil
//! decides alone. Pure rules over plain values.

use serde::{Deserialize, Serialize};
use time::Date;

use super::Localized;

/// Where the guardian's side of a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cosign {
    /// Waiting for a guardian: never in force.
    Pending,
    /// A guardian co-signed; their parental responsibility is not yet confirmed.
    AwaitingCheck,
    /// A guardian with confirmed parental responsibility co-signed.
    Signed,
    /// The guardian said no: the grant ended.
    Declined,
    /// A protective exception: decided without a guardian, none contacted.
    Excepted,
    /// The pupil, reaching the age to decide alone, confirmed it.
    Confirmed,
    /// It rested on a guardian and the pupil came of age without confirming it.
    Lapsed,
}

impl Cosign {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::AwaitingCheck,
        Self::Signed,
        Self::Declined,
        Self::Excepted,
        Self::Confirmed,
        Self::Lapsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingCheck => "awaiting_check",
            Self::Signed => "signed",
            Self::Declined => "declined",
            Self::Excepted => "excepted",
            Self::Confirmed => "confirmed",
            Self::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Still waiting for someone: a guardian, or the check of one.
    pub fn waiting(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingCheck)
    }

    /// Rests on the guardian's co-consent (or an exception to it): ends at the
    /// birthday unless the pupil confirms.
    pub fn rests_on_guardian(self) -> bool {
        matches!(self, Self::Signed | Self::Excepted)
    }
}

/// The guardian's side of one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuardianPart {
    pub state: Cosign,
    /// The start of the birthday (Europe/Oslo) from which the pupil decides alone.
    pub adult_at: i64,
}

impl GuardianPart {
    /// Whether this side lets the grant be in force at `now`: co-signed by a
    /// checked guardian or excepted, and the birthday not reached; or confirmed
    /// by the pupil. Nothing else, ever.
    pub fn holds(&self, now: i64) -> bool {
        match self.state {
            Cosign::Signed | Cosign::Excepted => now < self.adult_at,
            Cosign::Confirmed => true,
            Cosign::Pending | Cosign::AwaitingCheck | Cosign::Declined | Cosign::Lapsed => false,
        }
    }
}

/// The first instant (Europe/Oslo midnight) of the day the pupil turns `age`. A
/// pupil born on 29 February turns a year older on 1 March in other years.
pub fn birthday_starts(born: Date, age: u8) -> i64 {
    let year = born.year() + i32::from(age);
    let day = Date::from_calendar_date(year, born.month(), born.day())
        .or_else(|_| Date::from_calendar_date(year, time::Month::March, 1))
        .unwrap_or(Date::MAX);
    crate::clock::oslo_midnight(day)
}

/// A reason the tutor may record for deciding a grant without a guardian, with
/// the provision it rests on. Read from `policies/protective_exceptions.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectiveGround {
    pub key: super::Slug,
    pub name: Localized,
    /// The provision, for the data controller and the compliance officer.
    pub provision: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroundsFile {
    ground: Vec<ProtectiveGround>,
}

/// The grounds as written in `policies/protective_exceptions.toml`.
pub fn protective_grounds() -> Vec<ProtectiveGround> {
    toml::from_str::<GroundsFile>(include_str!("../../policies/protective_exceptions.toml"))
        .map(|f| f.ground)
        .unwrap_or_default()
}

/// How an invitation to a guardian ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationOutcome {
    Signed,
    Declined,
    /// Replaced by a newer invitation, or no longer needed.
    Cancelled,
}

impl InvitationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Signed, Self::Declined, Self::Cancelled]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests;

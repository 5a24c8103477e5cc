//! What an operator's admin credential may do. A scraper needs only `/metrics`, a
//! dashboard only reads; neither should be able to register a partner client.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminScope {
    /// Everything the admin API offers, managing credentials included.
    All,
    /// Reading the admin API (and `/metrics`), changing nothing.
    Read,
    /// `/metrics` only.
    Metrics,
}

/// What a request asks of the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminUse {
    Metrics,
    Read,
    Change,
}

impl AdminScope {
    pub fn allows(self, asked: AdminUse) -> bool {
        match self {
            Self::All => true,
            Self::Read => matches!(asked, AdminUse::Read | AdminUse::Metrics),
            Self::Metrics => asked == AdminUse::Metrics,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Read => "read",
            Self::Metrics => "metrics",
        }
    }

    /// The stored name; anything unknown reads as the narrowest scope.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "all" => Self::All,
            "read" => Self::Read,
            _ => Self::Metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AdminScope as S, AdminUse as U};

    #[test]
    fn each_scope_allows_what_it_says_and_no_more() {
        let table = [
            (S::All, [true, true, true]),
            (S::Read, [true, true, false]),
            (S::Metrics, [true, false, false]),
        ];
        for (scope, allowed) in table {
            for (asked, ok) in [U::Metrics, U::Read, U::Change].into_iter().zip(allowed) {
                assert_eq!(scope.allows(asked), ok, "{scope:?} {asked:?}");
            }
            assert_eq!(S::from_stored(scope.as_str()), scope);
        }
        assert_eq!(S::from_stored("root"), S::Metrics);
    }
}

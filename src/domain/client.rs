//! Partner clients: machine clients of a registered organisation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// A client id: 3-64 characters of `a-z A-Z 0-9 . _ -`, safe in logs and URLs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a client id is 3-64 characters of letters, digits, '.', '_' and '-'")]
pub struct ClientIdError;

impl ClientId {
    pub fn parse(s: &str) -> Result<Self, ClientIdError> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ClientIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A scope a client may ever ask for: `pupil:<category>:<action>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a scope looks like pupil:<category>:<read|write>")]
pub struct ScopeError;

pub fn check_scope(scope: &str) -> Result<(), ScopeError> {
    let mut parts = scope.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("pupil"), Some(cat), Some("read" | "write"), None)
            if super::Slug::parse(cat).is_ok() =>
        {
            Ok(())
        }
        _ => Err(ScopeError),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PartnerClient {
    pub id: Uuid,
    #[schema(value_type = String, example = "skole-admin")]
    pub client_id: ClientId,
    pub org_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    /// The client's public keys (a JWK set), if registered inline.
    pub jwks: Option<serde_json::Value>,
    /// Or where the keys are fetched from.
    pub jwks_uri: Option<String>,
    /// Where withdrawal events are pushed.
    pub webhook_url: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        for ok in ["pupil:attendance:read", "pupil:grades:write"] {
            assert!(check_scope(ok).is_ok(), "{ok}");
        }
        for bad in [
            "pupil:attendance",
            "pupil::read",
            "x:attendance:read",
            "pupil:a:read:x",
            "pupil:Attendance:read",
        ] {
            assert!(check_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids() {
        assert!(ClientId::parse("ot-case.system_1").is_ok());
        for bad in ["ab", "has space", "slash/y", &"x".repeat(65)] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
    }
}

//! Client authentication with `private_key_jwt` (RFC 7523): a short-lived JWT the
//! client signs with its private key. The algorithm is pinned by the registered key
//! (EC P-256 → ES256, Ed25519 → EdDSA, RSA → RS256/PS256); `none` and HMAC are never
//! accepted. Claims are typed, so an `exp` sent as a string is rejected, not ignored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::domain::client::{ClientId, PartnerClient};

/// How far ahead an assertion may expire (RFC 7523 asks for short lifetimes).
pub const MAX_LIFETIME_MS: i64 = 120_000;
/// Tolerated clock difference for `iat` and `nbf`.
pub const SKEW_MS: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the client assertion is not a well-formed JWT")]
    Malformed,
    #[error("the assertion names no registered client")]
    UnknownClient,
    #[error("the client or its organisation is disabled")]
    Disabled,
    #[error("the algorithm is not allowed for the client's key")]
    Algorithm,
    #[error("no registered key matches the assertion's kid")]
    NoKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("claim {0} is missing or of the wrong type")]
    Claims(String),
    #[error("iss and sub must both be the client id")]
    Issuer,
    #[error("the assertion is not meant for this audience")]
    Audience,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion expires too far ahead (at most 120 s)")]
    TooLong,
    #[error("the assertion is not valid yet")]
    NotYet,
    #[error("the assertion's jti was used before")]
    Replayed,
    /// samtykke cannot check it now (its database cannot be reached): not the
    /// caller's fault.
    #[error("the assertion cannot be checked now")]
    Unavailable,
}

impl AssertionError {
    /// What the caller is told. Until the signature has verified, every failure
    /// reads the same, so nobody learns which client ids exist, are disabled or
    /// have which keys; the precise reason goes to the log and the audit entry.
    pub fn public(&self) -> String {
        match self {
            Self::UnknownClient
            | Self::Disabled
            | Self::NoKey
            | Self::Algorithm
            | Self::Signature => "the client could not be authenticated".into(),
            other => other.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Aud {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Aud,
    exp: i64,
    iat: i64,
    jti: String,
    #[serde(default)]
    nbf: Option<i64>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

/// A verified assertion; its jti must still be recorded as used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    /// Expiry in milliseconds.
    pub expires_at: i64,
}

/// The client an assertion claims to come from, read before the signature is checked
/// only to find the key to check it with.
pub fn claimed_client(token: &str) -> Result<ClientId, AssertionError> {
    let payload = token.split('.').nth(1).ok_or(AssertionError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AssertionError::Malformed)?;
    let iss: IssuerOnly = serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed)?;
    ClientId::parse(&iss.iss).map_err(|_| AssertionError::UnknownClient)
}

pub(crate) fn pinned(jwk: &serde_json::Value, alg: Algorithm) -> bool {
    let kty = jwk.get("kty").and_then(|v| v.as_str());
    let crv = jwk.get("crv").and_then(|v| v.as_str());
    let key_alg = jwk.get("alg").and_then(|v| v.as_str());
    let family = matches!(
        (kty, crv, alg),
        (Some("EC"), Some("P-256"), Algorithm::ES256)
            | (Some("OKP"), Some("Ed25519"), Algorithm::EdDSA)
            | (Some("RSA"), _, Algorithm::RS256 | Algorithm::PS256)
    );
    let named = key_alg.is_none_or(|a| format!("{alg:?}") == a);
    family && named
}

/// Checks signature and claims against `client`'s registered keys; the `aud` must
/// name one of `audiences`; `now` in ms.
pub fn verify(
    token: &str,
    client: &PartnerClient,
    audiences: &[String],
    now: i64,
) -> Result<Verified, AssertionError> {
    if token.len() > 8192 {
        return Err(AssertionError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| AssertionError::Malformed)?;
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::EdDSA | Algorithm::RS256 | Algorithm::PS256
    ) {
        return Err(AssertionError::Algorithm);
    }
    let keys = client
        .jwks
        .as_ref()
        .and_then(|j| j.get("keys"))
        .and_then(|k| k.as_array())
        .ok_or(AssertionError::NoKey)?;
    let jwk = match &header.kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.get("kid").and_then(|v| v.as_str()) == Some(kid.as_str())),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
    .ok_or(AssertionError::NoKey)?;
    if !pinned(jwk, header.alg) {
        return Err(AssertionError::Algorithm);
    }
    // Signature and algorithm here; every claim is checked below against our clock.
    let payload = super::jws::verify(token, jwk, header.alg).map_err(|e| match e {
        super::jws::JwsError::Signature => AssertionError::Signature,
        super::jws::JwsError::Key => AssertionError::NoKey,
        super::jws::JwsError::Malformed => AssertionError::Malformed,
    })?;
    let claims: Claims = serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        // A missing claim is named in the message; a mistyped one by its path.
        let named = ["exp", "iat", "nbf", "jti", "aud", "iss", "sub"]
            .into_iter()
            .find(|c| msg.contains(&format!("`{c}`")));
        AssertionError::Claims(named.map_or(path, str::to_owned))
    })?;
    if claims.iss != client.client_id.as_str() || claims.sub != client.client_id.as_str() {
        return Err(AssertionError::Issuer);
    }
    let aud_ok = match &claims.aud {
        Aud::One(a) => audiences.contains(a),
        Aud::Many(list) => list.iter().any(|a| audiences.contains(a)),
    };
    if !aud_ok {
        return Err(AssertionError::Audience);
    }
    let exp = claims.exp.saturating_mul(1000);
    if exp <= now {
        return Err(AssertionError::Expired);
    }
    if exp > now + MAX_LIFETIME_MS + SKEW_MS {
        return Err(AssertionError::TooLong);
    }
    if claims.iat.saturating_mul(1000) > now + SKEW_MS
        || claims
            .nbf
            .is_some_and(|n| n.saturating_mul(1000) > now + SKEW_MS)
    {
        return Err(AssertionError::NotYet);
    }
    if claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err(AssertionError::Claims("jti".into()));
    }
    Ok(Verified {
        jti: claims.jti,
        expires_at: exp,
    })
}

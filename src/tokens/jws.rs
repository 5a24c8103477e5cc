//! Checking a compact JWS against one public JWK whose algorithm is already pinned.
//! ES256 and EdDSA are verified with ring (several times faster than the RustCrypto
//! backend, and these are what partners use); RSA keys go through jsonwebtoken.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::digest;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use serde_json::Value;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a well-formed JWS")]
    Malformed,
    #[error("the key cannot be used")]
    Key,
    #[error("the signature does not verify")]
    Signature,
}

fn coord(jwk: &Value, name: &str, len: usize) -> Result<Vec<u8>, JwsError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(|v| B64.decode(v).ok())
        .filter(|b| b.len() == len)
        .ok_or(JwsError::Key)
}

/// The signature of `token` under `jwk` with `alg` (the caller has pinned `alg` to
/// the key's family); returns the payload. Claims are the caller's to check.
pub fn verify(token: &str, jwk: &Value, alg: Algorithm) -> Result<Value, JwsError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let sig = B64.decode(s).map_err(|_| JwsError::Malformed)?;
    match alg {
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(coord(jwk, "x", 32)?);
            point.extend(coord(jwk, "y", 32)?);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, &sig)
                .map_err(|_| JwsError::Signature)?;
        }
        Algorithm::EdDSA => {
            UnparsedPublicKey::new(&ED25519, coord(jwk, "x", 32)?)
                .verify(signed, &sig)
                .map_err(|_| JwsError::Signature)?;
        }
        Algorithm::RS256 | Algorithm::PS256 => {
            let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|_| JwsError::Key)?;
            let key = DecodingKey::from_jwk(&parsed).map_err(|_| JwsError::Key)?;
            let mut v = Validation::new(alg);
            v.validate_exp = false;
            v.validate_nbf = false;
            v.validate_aud = false;
            v.required_spec_claims = HashSet::new();
            jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => JwsError::Signature,
                _ => JwsError::Malformed,
            })?;
        }
        _ => return Err(JwsError::Key),
    }
    let payload = B64.decode(p).map_err(|_| JwsError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed)
}

/// The JWK SHA-256 thumbprint (RFC 7638) of a public key: the required members in
/// lexicographic order, no whitespace.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str).map(str::to_owned);
    let canonical = match s("kty")?.as_str() {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            Value::from(s("crv")?),
            Value::from(s("x")?),
            Value::from(s("y")?)
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            Value::from(s("crv")?),
            Value::from(s("x")?)
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            Value::from(s("e")?),
            Value::from(s("n")?)
        ),
        _ => return None,
    };
    Some(B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // The RSA key of RFC 7638 §3.1 and its published thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(thumbprint(&json!({"kty": "oct", "k": "x"})), None);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": "", "y": ""});
        for t in ["", "a.b", "a.b.c.d", "!.!.!"] {
            assert!(verify(t, &jwk, Algorithm::ES256).is_err(), "{t}");
        }
    }
}

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
    check_header(h)?;
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
            // RFC 7518 §3.3: 2048 bits at least.
            let n = jwk
                .get("n")
                .and_then(Value::as_str)
                .and_then(|n| B64.decode(n).ok())
                .ok_or(JwsError::Key)?;
            if n.iter().skip_while(|b| **b == 0).count() < 256 {
                return Err(JwsError::Key);
            }
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
    crate::json_keys::repeated_key(&payload).map_err(|_| JwsError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed)
}

/// The protected header names each parameter once (RFC 7515 §4) and asks for no
/// extension: samtykke understands none, and §4.1.11 says a `crit` it does not
/// understand makes the JWS invalid.
fn check_header(h: &str) -> Result<(), JwsError> {
    let bytes = B64.decode(h).map_err(|_| JwsError::Malformed)?;
    crate::json_keys::repeated_key(&bytes).map_err(|_| JwsError::Malformed)?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)?;
    if header.get("crit").is_some() {
        return Err(JwsError::Malformed);
    }
    Ok(())
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

    /// A fresh ES256 key: its JWK and a signer of compact JWS.
    fn es256() -> (Value, impl Fn(&Value, &str) -> String) {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = key.public_key().as_ref().to_vec();
        let jwk = json!({ "kty": "EC", "crv": "P-256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) });
        let sign = move |header: &Value, payload: &str| {
            let signing = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
            let sig = key.sign(&SystemRandom::new(), signing.as_bytes()).unwrap();
            format!("{signing}.{}", B64.encode(sig.as_ref()))
        };
        (jwk, sign)
    }

    #[test]
    fn extensions_repeated_names_and_short_rsa_keys_are_refused() {
        let (jwk, sign) = es256();
        let plain = json!({ "alg": "ES256", "typ": "JWT" });
        assert!(verify(&sign(&plain, r#"{"a":1}"#), &jwk, Algorithm::ES256).is_ok());
        let cases = [
            (
                json!({ "alg": "ES256", "crit": ["exp"], "exp": 1 }),
                r#"{"a":1}"#,
                "crit",
            ),
            (
                json!({ "alg": "ES256", "crit": ["b64"], "b64": false }),
                r#"{"a":1}"#,
                "b64",
            ),
            (plain.clone(), r#"{"sub":"a","sub":"b"}"#, "a claim twice"),
        ];
        for (header, payload, name) in cases {
            let t = sign(&header, payload);
            assert_eq!(
                verify(&t, &jwk, Algorithm::ES256),
                Err(JwsError::Malformed),
                "{name}"
            );
        }
        // A header naming `alg` twice: the JSON text itself repeats the name.
        let h = B64.encode(r#"{"alg":"none","alg":"ES256"}"#);
        let t = format!("{h}.{}.AAAA", B64.encode("{}"));
        assert_eq!(verify(&t, &jwk, Algorithm::ES256), Err(JwsError::Malformed));
        // 1024-bit RSA is refused before any signature is checked.
        let short = json!({ "kty": "RSA", "e": "AQAB", "n": B64.encode([0xC5u8; 128]) });
        let t = format!(
            "{}.{}.AAAA",
            B64.encode(r#"{"alg":"RS256"}"#),
            B64.encode("{}")
        );
        assert_eq!(verify(&t, &short, Algorithm::RS256), Err(JwsError::Key));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": "", "y": ""});
        for t in ["", "a.b", "a.b.c.d", "!.!.!"] {
            assert!(verify(t, &jwk, Algorithm::ES256).is_err(), "{t}");
        }
    }
}

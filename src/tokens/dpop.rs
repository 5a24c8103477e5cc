//! DPoP proofs (RFC 9449): a client that sends one gets a token bound to its key
//! (`cnf.jkt`), useless to anyone who steals it without the private key. The proof
//! is a JWT signed by the key in its own header: `typ` dpop+jwt, an asymmetric
//! algorithm pinned to that key, the HTTP method and URI of this request, a fresh
//! `iat` and a `jti` used once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::assertion::pinned;
use super::jws::{self, JwsError};

/// A proof's `iat` may be this far from now, either way; its jti is kept as long.
pub const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error("the DPoP proof's algorithm is not allowed for its key")]
    Algorithm,
    #[error("the DPoP proof's jwk must be one public key")]
    Key,
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    #[error("claim {0} of the DPoP proof is missing or of the wrong type")]
    Claims(String),
    #[error("the DPoP proof is for another method or URI")]
    Target,
    #[error("the DPoP proof is too old or from the future")]
    Stale,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
}

/// A verified proof: the key's thumbprint to bind the token to, and the jti to use up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    /// Until when the jti must be remembered (ms).
    pub expires_at: i64,
}

/// Members only a private key has.
const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// The URI without query and fragment, as `htu` is compared (RFC 9449 §4.3).
fn target(uri: &str) -> Option<String> {
    let mut u = url::Url::parse(uri).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// Checks `proof` for a request `method uri` at `now` (ms).
pub fn verify(proof: &str, method: &str, uri: &str, now: i64) -> Result<Proof, DpopError> {
    if proof.len() > 8192 {
        return Err(DpopError::Malformed);
    }
    let header: Value = proof
        .split('.')
        .next()
        .and_then(|h| B64.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(DpopError::Malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Type);
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        _ => return Err(DpopError::Algorithm),
    };
    let jwk = header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or(DpopError::Key)?;
    if PRIVATE.iter().any(|m| jwk.get(m).is_some()) {
        return Err(DpopError::Key);
    }
    if !pinned(jwk, alg) {
        return Err(DpopError::Algorithm);
    }
    let payload = jws::verify(proof, jwk, alg).map_err(|e| match e {
        JwsError::Signature => DpopError::Signature,
        JwsError::Key => DpopError::Key,
        JwsError::Malformed => DpopError::Malformed,
    })?;
    let claims: Claims = serde_path_to_error::deserialize(payload).map_err(|e| {
        let msg = e.inner().to_string();
        let named = ["jti", "htm", "htu", "iat"]
            .into_iter()
            .find(|c| msg.contains(&format!("`{c}`")));
        DpopError::Claims(named.map_or_else(|| e.path().to_string(), str::to_owned))
    })?;
    if claims.htm != method || target(&claims.htu).is_none_or(|t| Some(t) != target(uri)) {
        return Err(DpopError::Target);
    }
    let iat = claims.iat.saturating_mul(1000);
    if (iat - now).abs() > WINDOW_MS {
        return Err(DpopError::Stale);
    }
    if claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err(DpopError::Claims("jti".into()));
    }
    Ok(Proof {
        jkt: jws::thumbprint(jwk).ok_or(DpopError::Key)?,
        jti: claims.jti,
        expires_at: now + WINDOW_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    const URI: &str = "https://samtykke.example/oauth/token";
    const NOW: i64 = 1_795_435_200_000;

    struct Key {
        pair: EcdsaKeyPair,
        jwk: Value,
    }

    fn key() -> Key {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
        let p = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..])});
        Key { pair, jwk }
    }

    fn sign(k: &Key, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = k.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn claims() -> Value {
        json!({"jti": "p-1", "htm": "POST", "htu": URI, "iat": NOW / 1000})
    }

    #[test]
    fn a_good_proof_binds_to_its_key() {
        let k = key();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk});
        let p = verify(&sign(&k, &header, &claims()), "POST", URI, NOW).unwrap();
        assert_eq!(Some(p.jkt), jws::thumbprint(&k.jwk));
        assert_eq!(p.jti, "p-1");
        // The query and fragment of the request do not matter.
        let with_query = format!("{URI}?x=1");
        assert!(verify(&sign(&k, &header, &claims()), "POST", &with_query, NOW).is_ok());
    }

    #[test]
    fn each_bad_proof_is_refused_for_its_reason() {
        let k = key();
        let other = key();
        let good = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk});
        let mut private = k.jwk.clone();
        private["d"] = json!("AAAA");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            c
        };
        let cases: Vec<(&str, String, DpopError)> = vec![
            (
                "typ",
                sign(
                    &k,
                    &json!({"typ": "JWT", "alg": "ES256", "jwk": k.jwk}),
                    &claims(),
                ),
                DpopError::Type,
            ),
            (
                "alg none",
                sign(
                    &k,
                    &json!({"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk}),
                    &claims(),
                ),
                DpopError::Algorithm,
            ),
            (
                "alg HS256",
                sign(
                    &k,
                    &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": k.jwk}),
                    &claims(),
                ),
                DpopError::Algorithm,
            ),
            (
                "alg for another key type",
                sign(
                    &k,
                    &json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": k.jwk}),
                    &claims(),
                ),
                DpopError::Algorithm,
            ),
            (
                "no jwk",
                sign(&k, &json!({"typ": "dpop+jwt", "alg": "ES256"}), &claims()),
                DpopError::Key,
            ),
            (
                "private jwk",
                sign(
                    &k,
                    &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
                    &claims(),
                ),
                DpopError::Key,
            ),
            (
                "someone else's jwk",
                sign(
                    &k,
                    &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk}),
                    &claims(),
                ),
                DpopError::Signature,
            ),
            (
                "method",
                sign(&k, &good, &with(&|c| c["htm"] = json!("GET"))),
                DpopError::Target,
            ),
            (
                "uri",
                sign(
                    &k,
                    &good,
                    &with(&|c| c["htu"] = json!("https://elsewhere.example/oauth/token")),
                ),
                DpopError::Target,
            ),
            (
                "old",
                sign(&k, &good, &with(&|c| c["iat"] = json!(NOW / 1000 - 120))),
                DpopError::Stale,
            ),
            (
                "future",
                sign(&k, &good, &with(&|c| c["iat"] = json!(NOW / 1000 + 120))),
                DpopError::Stale,
            ),
            (
                "iat as a string",
                sign(
                    &k,
                    &good,
                    &with(&|c| c["iat"] = json!((NOW / 1000).to_string())),
                ),
                DpopError::Claims("iat".into()),
            ),
            (
                "no jti",
                sign(
                    &k,
                    &good,
                    &with(&|c| {
                        c.as_object_mut().unwrap().remove("jti");
                    }),
                ),
                DpopError::Claims("jti".into()),
            ),
            (
                "empty jti",
                sign(&k, &good, &with(&|c| c["jti"] = json!(""))),
                DpopError::Claims("jti".into()),
            ),
            ("garbage", "x.y.z".into(), DpopError::Malformed),
        ];
        for (what, proof, want) in cases {
            assert_eq!(verify(&proof, "POST", URI, NOW), Err(want), "{what}");
        }
    }
}

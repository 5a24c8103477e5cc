//! samtykke's own signing keys (ES256, ring). The current key signs; the next key is
//! published ahead of use; retired keys stay published until every token they signed
//! has expired. Private keys are stored sealed under the KEK.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("no signing key")]
    NoKey,
    #[error("key material is invalid")]
    Key,
    #[error("signing failed")]
    Sign,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWT")]
    Malformed,
    #[error("not signed by samtykke (unknown kid or wrong algorithm)")]
    UnknownKey,
    #[error("wrong token type")]
    Type,
    #[error("the signature does not verify")]
    Signature,
}

/// A freshly generated key pair: the PKCS#8 document to seal and its public JWK.
pub struct NewKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    pub public_jwk: Value,
}

pub fn generate(kid: String) -> Result<NewKey, SigningError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| SigningError::Key)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| SigningError::Key)?;
    let public_jwk = public_jwk(&kid, pair.public_key().as_ref());
    Ok(NewKey {
        kid,
        pkcs8: pkcs8.as_ref().to_vec(),
        public_jwk,
    })
}

fn public_jwk(kid: &str, point: &[u8]) -> Value {
    let xy = point.get(1..).unwrap_or_default();
    let (x, y) = xy.split_at(xy.len() / 2);
    json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": B64.encode(x), "y": B64.encode(y) })
}

/// The keys in force: one signer, every published verifier, and the JWK set.
pub struct KeyRing {
    signer: Option<(String, EcdsaKeyPair)>,
    verifiers: HashMap<String, Vec<u8>>,
    jwks: Value,
    rng: SystemRandom,
}

impl KeyRing {
    /// `signer` is (kid, PKCS#8); `published` are the public JWKs to serve.
    pub fn new(
        signer: Option<(String, &[u8])>,
        published: Vec<Value>,
    ) -> Result<Self, SigningError> {
        let rng = SystemRandom::new();
        let signer = signer
            .map(|(kid, der)| {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map(|p| (kid, p))
                    .map_err(|_| SigningError::Key)
            })
            .transpose()?;
        let mut verifiers = HashMap::new();
        for jwk in &published {
            let coord = |k: &str| {
                jwk.get(k)
                    .and_then(Value::as_str)
                    .and_then(|v| B64.decode(v).ok())
            };
            if let (Some(kid), Some(x), Some(y)) = (
                jwk.get("kid").and_then(Value::as_str),
                coord("x"),
                coord("y"),
            ) {
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                verifiers.insert(kid.to_owned(), point);
            }
        }
        Ok(Self {
            signer,
            verifiers,
            jwks: json!({ "keys": published }),
            rng,
        })
    }

    /// No keys at all (before the store is read): signs nothing, verifies nothing.
    pub fn empty() -> Self {
        Self {
            signer: None,
            verifiers: HashMap::new(),
            jwks: json!({ "keys": [] }),
            rng: SystemRandom::new(),
        }
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn signing_kid(&self) -> Option<&str> {
        self.signer.as_ref().map(|(k, _)| k.as_str())
    }

    /// Signs `claims` as a compact JWS with header `typ`.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, SigningError> {
        let (kid, pair) = self.signer.as_ref().ok_or(SigningError::NoKey)?;
        let header = json!({ "alg": "ES256", "typ": typ, "kid": kid });
        let mut out = B64.encode(serde_json::to_vec(&header).map_err(|_| SigningError::Sign)?);
        out.push('.');
        out.push_str(&B64.encode(serde_json::to_vec(claims).map_err(|_| SigningError::Sign)?));
        let sig = pair
            .sign(&self.rng, out.as_bytes())
            .map_err(|_| SigningError::Sign)?;
        out.push('.');
        out.push_str(&B64.encode(sig.as_ref()));
        Ok(out)
    }

    /// Verifies a token samtykke signed, pinned to ES256 and one of its own keys,
    /// and returns the claims. Expiry and the rest are the caller's to check.
    pub fn verify(&self, token: &str, typ: &str) -> Result<Value, VerifyError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(VerifyError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(VerifyError::UnknownKey);
        }
        if header.get("typ").and_then(Value::as_str) != Some(typ) {
            return Err(VerifyError::Type);
        }
        let point = header
            .get("kid")
            .and_then(Value::as_str)
            .and_then(|k| self.verifiers.get(k))
            .ok_or(VerifyError::UnknownKey)?;
        let sig = B64.decode(s).map_err(|_| VerifyError::Malformed)?;
        let signed_len = h.len() + 1 + c.len();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| VerifyError::Signature)?;
        B64.decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(VerifyError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_refuse_tampering() {
        let k = generate("k1".into()).unwrap();
        let ring = KeyRing::new(Some(("k1".into(), &k.pkcs8)), vec![k.public_jwk.clone()]).unwrap();
        let t = ring.sign("at+jwt", &json!({ "sub": "x" })).unwrap();
        assert_eq!(ring.verify(&t, "at+jwt").unwrap()["sub"], "x");
        assert_eq!(ring.verify(&t, "JWT"), Err(VerifyError::Type));
        let mut parts: Vec<&str> = t.split('.').collect();
        let other = B64.encode(br#"{"sub":"y"}"#);
        parts[1] = &other;
        assert_eq!(
            ring.verify(&parts.join("."), "at+jwt"),
            Err(VerifyError::Signature)
        );
        let foreign = generate("k1".into()).unwrap();
        let theirs = KeyRing::new(Some(("k1".into(), &foreign.pkcs8)), vec![]).unwrap();
        let forged = theirs.sign("at+jwt", &json!({ "sub": "x" })).unwrap();
        assert_eq!(ring.verify(&forged, "at+jwt"), Err(VerifyError::Signature));
        assert_eq!(ring.verify("a.b", "at+jwt"), Err(VerifyError::Malformed));
    }
}

//! A partner client as a test uses it: an ES256 key pair, its public JWK set, and
//! signed client assertions (valid or deliberately broken).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

pub struct Partner {
    pub client_id: String,
    pub kid: String,
    pkcs8: Vec<u8>,
    pub jwks: Value,
}

impl Partner {
    pub fn new(client_id: &str) -> Self {
        Self::with_kid(client_id, &format!("{client_id}-1"))
    }

    /// A second key for the same client (key rotation).
    pub fn with_kid(client_id: &str, kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        let kid = kid.to_owned();
        let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) }] });
        Self {
            client_id: client_id.into(),
            kid,
            pkcs8: pkcs8.as_ref().to_vec(),
            jwks,
        }
    }

    /// Standard claims for `aud`, valid for 60 s from `now_ms`.
    pub fn claims(&self, aud: &str, now_ms: i64) -> Value {
        let now = now_ms / 1000;
        json!({ "iss": self.client_id, "sub": self.client_id, "aud": aud, "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string() })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }

    pub fn assertion(&self, aud: &str, now_ms: i64) -> String {
        self.sign(&self.claims(aud, now_ms))
    }

    /// The public key alone, as a DPoP proof carries it.
    pub fn public_jwk(&self) -> Value {
        self.jwks["keys"][0].clone()
    }

    /// A DPoP proof (RFC 9449) for `htm htu`, made at `now_ms`.
    pub fn dpop(&self, htm: &str, htu: &str, now_ms: i64, jti: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.public_jwk()).unwrap());
        let claims = json!({ "jti": jti, "htm": htm, "htu": htu, "iat": now_ms / 1000 });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

/// A JWT with any header and claims and a garbage signature (for `alg: none` and
/// friends).
pub fn unsigned(header: Value, claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "{}.{}.{}",
        enc(&header),
        enc(claims),
        URL_SAFE_NO_PAD.encode(b"sig")
    )
}

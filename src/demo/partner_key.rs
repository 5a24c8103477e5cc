//! The demo partner clients' key pairs, so the examples can sign client assertions
//! against `cargo run --release` without any setup. Kept in `data/demo-clients/`
//! with mode 0600; the server itself only ever uses the public halves.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

use crate::crypto::CryptoError;
use crate::secrets_file::{read_secret_file, write_secret_file, SecretFileError};

/// The file format the examples read too.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    pub client_id: String,
    pub kid: String,
    pub alg: String,
    /// PKCS#8 DER, base64.
    pub pkcs8: String,
}

pub struct DemoPartnerKey {
    kid: String,
    public_point: Vec<u8>,
}

impl DemoPartnerKey {
    /// Loads `client_id`'s key from `path`, or makes and stores a new one.
    pub fn load_or_create(path: &Path, client_id: &str) -> Result<Self, SecretFileError> {
        let rng = SystemRandom::new();
        let stored: Stored = match read_secret_file(path)? {
            Some(s) => s,
            None => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| SecretFileError::Crypto(CryptoError::Random))?;
                let s = Stored {
                    client_id: client_id.into(),
                    kid: format!("{client_id}-1"),
                    alg: "ES256".into(),
                    pkcs8: STANDARD.encode(pkcs8.as_ref()),
                };
                write_secret_file(path, &s)?;
                s
            }
        };
        let der = STANDARD
            .decode(&stored.pkcs8)
            .map_err(|_| SecretFileError::Crypto(CryptoError::Open))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|_| SecretFileError::Crypto(CryptoError::Open))?;
        Ok(Self {
            kid: stored.kid,
            public_point: pair.public_key().as_ref().to_vec(),
        })
    }

    /// The public key as a JWK set, as a partner would register it.
    pub fn public_jwks(&self) -> Value {
        // An uncompressed P-256 point: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
        let (x, y) = self
            .public_point
            .get(1..)
            .map_or((&[][..], &[][..]), |xy| xy.split_at(xy.len() / 2));
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }
}

//! Server secrets: the HMAC key for identity lookups and the key-encryption key
//! (KEK) that wraps every pupil's data key.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

use super::CryptoError;

/// Key bytes that never print and are wiped when dropped.
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn from_base64(s: &str) -> Result<Self, base64::DecodeError> {
        B64.decode(s.trim()).map(Self::new)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(redacted)")
    }
}

/// The secrets the vault needs, from configuration or the key file.
#[derive(Debug, Clone)]
pub struct KeyMaterial {
    pub hmac_key: SecretBytes,
    pub kek_id: String,
    pub kek: SecretBytes,
}

/// The key file's format (JSON, mode 0600).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub hmac_key: String,
    pub kek_id: String,
    pub kek: String,
}

impl KeyMaterial {
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let mut hmac = vec![0u8; 32];
        let mut kek = vec![0u8; 32];
        rng.fill(&mut hmac).map_err(|_| CryptoError::Random)?;
        rng.fill(&mut kek).map_err(|_| CryptoError::Random)?;
        Ok(Self {
            hmac_key: SecretBytes::new(hmac),
            kek_id: "k1".into(),
            kek: SecretBytes::new(kek),
        })
    }

    pub fn generate_system() -> Result<Self, CryptoError> {
        Self::generate(&SystemRandom::new())
    }

    pub fn from_file(f: &KeyFile) -> Result<Self, CryptoError> {
        let decode =
            |s: &str, what| SecretBytes::from_base64(s).map_err(|_| CryptoError::KeyLength(what));
        let km = Self {
            hmac_key: decode(&f.hmac_key, "hmac_key")?,
            kek_id: f.kek_id.clone(),
            kek: decode(&f.kek, "kek")?,
        };
        km.check()?;
        Ok(km)
    }

    pub fn to_file(&self) -> KeyFile {
        KeyFile {
            hmac_key: B64.encode(self.hmac_key.expose()),
            kek_id: self.kek_id.clone(),
            kek: B64.encode(self.kek.expose()),
        }
    }

    pub fn check(&self) -> Result<(), CryptoError> {
        if self.hmac_key.expose().len() < 32 {
            return Err(CryptoError::KeyLength("hmac_key must be at least 32 bytes"));
        }
        if self.kek.expose().len() != 32 {
            return Err(CryptoError::KeyLength("kek must be exactly 32 bytes"));
        }
        Ok(())
    }
}

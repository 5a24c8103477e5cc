//! Keys and the pupil vault. Identity numbers are only ever hashed (for lookup) or
//! sealed (to be read back by the pupil's own pages); erasing a pupil destroys
//! their data key.

pub mod keys;
pub mod vault;

pub use keys::{KeyMaterial, SecretBytes};
pub use vault::{SealedPupil, Vault};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a key has the wrong length: {0}")]
    KeyLength(&'static str),
    #[error("could not seal data")]
    Seal,
    #[error("sealed data does not open: wrong key or tampered")]
    Open,
    #[error("the pupil's data key has been destroyed")]
    Erased,
    #[error("no randomness available")]
    Random,
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

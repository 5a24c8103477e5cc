//! Sealing and looking up identity numbers.
//!
//! - lookup: HMAC-SHA256(server key, domain tag ‖ digits), so the same pupil is found
//!   again without the number being stored;
//! - sealing: AES-256-GCM under a random per-pupil data key, itself wrapped by the
//!   KEK. Destroying the wrapped key (crypto-shredding) erases the pupil while the
//!   rest of the record, and any audit chain over it, stays intact.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{CryptoError, KeyMaterial};
use crate::domain::identity::IdentityNumber;

const LOOKUP_TAG: &[u8] = b"samtykke/pupil-lookup/v1\0";
const WRAP_TAG: &[u8] = b"samtykke/pupil-key/v1\0";
const SEAL_TAG: &[u8] = b"samtykke/pupil-identity/v1\0";

/// What the store keeps for a pupil; nothing in it reveals the number without keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPupil {
    pub lookup_hash: Vec<u8>,
    pub sealed_identity: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub kek_id: String,
}

pub struct Vault {
    hmac: hmac::Key,
    kek: LessSafeKey,
    kek_id: String,
    rng: Box<dyn SecureRandom + Send + Sync>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

impl Vault {
    pub fn new(keys: &KeyMaterial) -> Result<Self, CryptoError> {
        Self::with_rng(keys, Box::new(SystemRandom::new()))
    }

    pub fn with_rng(
        keys: &KeyMaterial,
        rng: Box<dyn SecureRandom + Send + Sync>,
    ) -> Result<Self, CryptoError> {
        keys.check()?;
        let kek = UnboundKey::new(&AES_256_GCM, keys.kek.expose())
            .map_err(|_| CryptoError::KeyLength("kek"))?;
        Ok(Self {
            hmac: hmac::Key::new(hmac::HMAC_SHA256, keys.hmac_key.expose()),
            kek: LessSafeKey::new(kek),
            kek_id: keys.kek_id.clone(),
            rng,
        })
    }

    pub fn lookup_hash(&self, n: &IdentityNumber) -> Vec<u8> {
        let digits = Zeroizing::new(n.expose_digits());
        let mut ctx = hmac::Context::with_key(&self.hmac);
        ctx.update(LOOKUP_TAG);
        ctx.update(digits.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    pub fn seal(&self, pupil_id: Uuid, n: &IdentityNumber) -> Result<SealedPupil, CryptoError> {
        let mut data_key = Zeroizing::new([0u8; 32]);
        self.rng
            .fill(data_key.as_mut())
            .map_err(|_| CryptoError::Random)?;
        let key = aead_key(data_key.as_ref())?;
        let digits = Zeroizing::new(n.expose_digits().into_bytes());
        let sealed_identity = self.encrypt(&key, &aad(SEAL_TAG, pupil_id), &digits)?;
        let wrapped_key = self.encrypt(&self.kek, &aad(WRAP_TAG, pupil_id), data_key.as_ref())?;
        Ok(SealedPupil {
            lookup_hash: self.lookup_hash(n),
            sealed_identity,
            wrapped_key,
            kek_id: self.kek_id.clone(),
        })
    }

    /// Opens a sealed number; fails with `Erased` once the data key is gone.
    pub fn open(
        &self,
        pupil_id: Uuid,
        sealed_identity: &[u8],
        wrapped_key: Option<&[u8]>,
    ) -> Result<IdentityNumber, CryptoError> {
        let wrapped = wrapped_key.ok_or(CryptoError::Erased)?;
        let data_key = Zeroizing::new(decrypt(&self.kek, &aad(WRAP_TAG, pupil_id), wrapped)?);
        let key = aead_key(&data_key)?;
        let digits = Zeroizing::new(decrypt(&key, &aad(SEAL_TAG, pupil_id), sealed_identity)?);
        let text = std::str::from_utf8(&digits).map_err(|_| CryptoError::Open)?;
        IdentityNumber::parse(text).map_err(|_| CryptoError::Open)
    }

    /// Seals something about a pupil (a tutor's nickname for them, a scanned form)
    /// under the pupil's data key: gone when the pupil is erased. `tag` says what
    /// it is, so one kind cannot be opened as another.
    pub fn seal_for_pupil(
        &self,
        pupil_id: Uuid,
        wrapped_key: &[u8],
        tag: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let data_key = Zeroizing::new(decrypt(&self.kek, &aad(WRAP_TAG, pupil_id), wrapped_key)?);
        self.encrypt(&aead_key(&data_key)?, &aad(tag, pupil_id), plain)
    }

    /// Opens what `seal_for_pupil` sealed; fails with `Erased` once the key is gone.
    pub fn open_for_pupil(
        &self,
        pupil_id: Uuid,
        wrapped_key: Option<&[u8]>,
        tag: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let wrapped = wrapped_key.ok_or(CryptoError::Erased)?;
        let data_key = Zeroizing::new(decrypt(&self.kek, &aad(WRAP_TAG, pupil_id), wrapped)?);
        decrypt(&aead_key(&data_key)?, &aad(tag, pupil_id), sealed).map(Zeroizing::new)
    }

    /// Seals a server secret (e.g. a signing key) under the KEK, bound to `context`.
    pub fn wrap(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.encrypt(&self.kek, context, plain)
    }

    pub fn unwrap(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        decrypt(&self.kek, context, sealed).map(Zeroizing::new)
    }

    pub fn kek_id(&self) -> &str {
        &self.kek_id
    }

    /// A stable pseudonym for `subject` as seen by `audience`: different audiences
    /// get unlinkable values.
    pub fn pairwise(&self, audience: &[u8], subject: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.hmac);
        ctx.update(b"samtykke/pairwise/v1\0");
        ctx.update(&(audience.len() as u64).to_be_bytes());
        ctx.update(audience);
        ctx.update(subject);
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &ctx.sign().as_ref()[..18],
        )
    }

    fn encrypt(
        &self,
        key: &LessSafeKey,
        aad_bytes: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad_bytes),
            &mut buf,
        )
        .map_err(|_| CryptoError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::KeyLength("data key"))
}

/// Binds a ciphertext to its purpose and pupil, so sealed values cannot be swapped
/// between rows.
fn aad(tag: &[u8], pupil_id: Uuid) -> Vec<u8> {
    let mut v = tag.to_vec();
    v.extend_from_slice(pupil_id.as_bytes());
    v
}

fn decrypt(key: &LessSafeKey, aad_bytes: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN {
        return Err(CryptoError::Open);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut buf = ct.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad_bytes), &mut buf)
        .map_err(|_| CryptoError::Open)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn vault() -> Vault {
        Vault::new(&KeyMaterial::generate_system().unwrap()).unwrap()
    }

    #[test]
    fn seal_open_and_shred() {
        let v = vault();
        let n = IdentityNumber::synthetic(date!(2008 - 02 - 03), 11).unwrap();
        let id = Uuid::new_v4();
        let s = v.seal(id, &n).unwrap();
        let digits = n.expose_digits();
        for blob in [&s.lookup_hash, &s.sealed_identity, &s.wrapped_key] {
            assert!(!blob.windows(11).any(|w| w == digits.as_bytes()));
        }
        assert_eq!(
            v.open(id, &s.sealed_identity, Some(&s.wrapped_key))
                .unwrap(),
            n
        );
        assert!(matches!(
            v.open(id, &s.sealed_identity, None),
            Err(CryptoError::Erased)
        ));
        assert!(
            matches!(
                v.open(Uuid::new_v4(), &s.sealed_identity, Some(&s.wrapped_key)),
                Err(CryptoError::Open)
            ),
            "a sealed value moved to another pupil does not open"
        );
    }

    #[test]
    fn lookup_is_stable_and_keyed() {
        let n = IdentityNumber::synthetic(date!(2007 - 11 - 30), 2).unwrap();
        let a = vault();
        assert_eq!(a.lookup_hash(&n), a.lookup_hash(&n));
        assert_ne!(a.lookup_hash(&n), vault().lookup_hash(&n));
    }
}

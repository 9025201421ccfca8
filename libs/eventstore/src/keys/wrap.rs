//! Family keys at rest: each stored wrapped (XChaCha20-Poly1305, the family id as associated
//! data) under a key-encryption key that never enters NATS. The bucket and its backups alone
//! open nothing.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use luukku_domain::sealing::FamilyKey;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The first byte of a wrapped key: its format.
const FORMAT: u8 = 1;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;

/// Why a family key cannot be wrapped or unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error(
        "the stored key is not wrapped (written before key wrapping); run `luukku ops rewrap-keys` with the key-encryption key"
    )]
    Unwrapped,
    #[error("the stored key is wrapped under key-encryption key {0}, which this service was not given")]
    UnknownKek(String),
    #[error(
        "the stored key does not open with its key-encryption key: tampered, or stored for another family"
    )]
    Tampered,
    #[error("the stored key is not a wrapped family key")]
    Malformed,
    #[error("a key-encryption key is 32 bytes, base64 encoded (`openssl rand -base64 32`); {0}")]
    BadKek(String),
}

/// Wraps and unwraps family keys. A key management service can implement it later.
pub trait KeyWrapper: Send + Sync + 'static {
    fn wrap(&self, family: &str, key: &FamilyKey) -> Result<Vec<u8>, WrapError>;
    fn unwrap(&self, family: &str, wrapped: &[u8]) -> Result<FamilyKey, WrapError>;
    /// Whether `wrapped` is wrapped under the key new keys are wrapped with.
    fn is_current(&self, wrapped: &[u8]) -> bool;
}

/// A 256-bit key-encryption key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Kek {
    key: [u8; 32],
    #[zeroize(skip)]
    id: [u8; ID_LEN],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id())
    }
}

impl Kek {
    pub fn generate() -> Self {
        Self::from_key(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    fn from_key(key: [u8; 32]) -> Self {
        let digest = Sha256::digest([b"luukku-kek-id:".as_slice(), &key].concat());
        let mut id = [0; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Self { key, id }
    }

    /// A key from its base64 text (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, WrapError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| WrapError::BadKek("this is not base64".to_owned()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| WrapError::BadKek(format!("this one is {} bytes", bytes.len())))?;
        Ok(Self::from_key(key))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key))
    }

    /// A key from a file holding its base64 text.
    pub fn from_file(path: &Path) -> Result<Self, WrapError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|error| WrapError::BadKek(format!("{}: {error}", path.display())))?,
        );
        Self::from_base64(&text)
    }

    /// The key's public fingerprint, stored with each key it wraps.
    pub fn id(&self) -> String {
        self.id.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.key).into())
    }
}

fn aad(family: &str) -> Vec<u8> {
    [b"luukku-family-key:".as_slice(), family.as_bytes()].concat()
}

/// The key-encryption keys of a deployment: the current one wraps, and previous ones still
/// unwrap what they wrapped until `luukku ops rewrap-keys` has moved it to the current one.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: Kek,
    previous: Vec<Kek>,
}

impl KeyRing {
    pub fn new(current: Kek, previous: Vec<Kek>) -> Self {
        Self { current, previous }
    }

    fn find(&self, id: &[u8]) -> Option<&Kek> {
        std::iter::once(&self.current).chain(&self.previous).find(|kek| kek.id == id)
    }
}

impl KeyWrapper for KeyRing {
    fn wrap(&self, family: &str, key: &FamilyKey) -> Result<Vec<u8>, WrapError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(&nonce, Payload { msg: key.as_bytes(), aad: &aad(family) })
            .map_err(|_| WrapError::Malformed)?;
        let mut wrapped = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + ciphertext.len());
        wrapped.push(FORMAT);
        wrapped.extend_from_slice(&self.current.id);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&ciphertext);
        Ok(wrapped)
    }

    fn unwrap(&self, family: &str, wrapped: &[u8]) -> Result<FamilyKey, WrapError> {
        if wrapped.len() == FamilyKey::LEN {
            return Err(WrapError::Unwrapped);
        }
        let (Some(&FORMAT), Some(id), Some(nonce), Some(ciphertext)) = (
            wrapped.first(),
            wrapped.get(1..1 + ID_LEN),
            wrapped.get(1 + ID_LEN..1 + ID_LEN + NONCE_LEN),
            wrapped.get(1 + ID_LEN + NONCE_LEN..),
        ) else {
            return Err(WrapError::Malformed);
        };
        let kek = self
            .find(id)
            .ok_or_else(|| WrapError::UnknownKek(id.iter().map(|byte| format!("{byte:02x}")).collect()))?;
        let plain = Zeroizing::new(
            kek.cipher()
                .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad(family) })
                .map_err(|_| WrapError::Tampered)?,
        );
        FamilyKey::from_bytes(&plain).map_err(|_| WrapError::Malformed)
    }

    fn is_current(&self, wrapped: &[u8]) -> bool {
        wrapped.get(1..1 + ID_LEN) == Some(self.current.id.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_for_its_family_under_a_known_kek() {
        let ring = KeyRing::new(Kek::generate(), vec![]);
        let key = FamilyKey::generate();
        let wrapped = ring.wrap("family-1", &key).expect("wrapped");
        assert!(
            !wrapped.windows(FamilyKey::LEN).any(|window| window == key.as_bytes()),
            "no key in the clear"
        );
        assert_eq!(ring.unwrap("family-1", &wrapped).expect("unwrapped"), key);
        assert!(matches!(ring.unwrap("family-2", &wrapped), Err(WrapError::Tampered)));
        let stranger = KeyRing::new(Kek::generate(), vec![]);
        assert!(matches!(stranger.unwrap("family-1", &wrapped), Err(WrapError::UnknownKek(_))));
        assert!(matches!(ring.unwrap("family-1", key.as_bytes()), Err(WrapError::Unwrapped)));
    }

    #[test]
    fn after_a_rotation_the_previous_kek_still_opens_what_it_wrapped() {
        let old = Kek::generate();
        let before = KeyRing::new(old.clone(), vec![]);
        let key = FamilyKey::generate();
        let wrapped = before.wrap("family-1", &key).expect("wrapped");
        let after = KeyRing::new(Kek::generate(), vec![old]);
        assert!(!after.is_current(&wrapped));
        assert_eq!(after.unwrap("family-1", &wrapped).expect("unwrapped"), key);
        assert!(after.is_current(&after.wrap("family-1", &key).expect("rewrapped")));
    }

    #[test]
    fn a_kek_is_read_from_base64_and_never_printed() {
        let kek = Kek::generate();
        let again = Kek::from_base64(&format!("  {}\n", kek.to_base64().as_str())).expect("read");
        assert_eq!(again.id(), kek.id());
        assert_eq!(format!("{kek:?}"), format!("Kek({})", kek.id()));
        assert!(matches!(Kek::from_base64("c2hvcnQ="), Err(WrapError::BadKek(_))));
    }
}

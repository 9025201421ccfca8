//! Personal data sealed with a per-family key, so that the immutable log can still forget.
//!
//! Every field of an event that holds personal data (names, identity codes, birth dates, free
//! text) is a [`Personal`]. Deciding a command produces it in the clear; before the event is
//! encoded the service seals it with the family's [`FamilyKey`] (XChaCha20-Poly1305, with the
//! family's id as associated data, so a sealed field cannot be moved to another family). A
//! `Personal` refuses to be encoded unsealed, so personal data cannot reach the stream by
//! mistake. When the key is deleted (erasure), sealed fields open as [`Personal::Erased`].

use std::fmt;

// Each sealed field is opened on its own, and fields are short: Poly1305's AVX2 backend, which
// the poly1305 crate picks at run time on x86, costs about 1.7 µs more per field than its
// portable one (docs/performance.md). .cargo/config.toml selects the portable backend; a build
// whose flags replace that list (RUSTFLAGS, CARGO_ENCODED_RUSTFLAGS, a target's rustflags in a
// user's Cargo config) would be quietly slower, so it stops here instead.
#[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), not(poly1305_force_soft)))]
compile_error!(
    "build with `--cfg poly1305_force_soft` (as .cargo/config.toml does): add it to RUSTFLAGS \
     or to the rustflags that replace the configured ones"
);

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a family key must be {expected} bytes, got {got}")]
    KeyLength { expected: usize, got: usize },
    #[error("sealed personal data does not open with the family's key (tampered, or another family's)")]
    Tampered,
    #[error("cannot encode personal data: {0}")]
    Encode(String),
    #[error("sealed personal data opened but does not decode: {0}")]
    Decode(String),
}

/// A family's 256-bit data key. It never leaves the key store except to seal and open, and
/// its bytes are wiped from memory when it is dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct FamilyKey([u8; FamilyKey::LEN]);

impl FamilyKey {
    pub const LEN: usize = 32;

    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let key: [u8; Self::LEN] =
            bytes.try_into().map_err(|_| SealError::KeyLength { expected: Self::LEN, got: bytes.len() })?;
        Ok(Self(key))
    }

    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }
}

impl fmt::Debug for FamilyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FamilyKey([redacted])")
    }
}

/// The persisted form of a sealed field: a random nonce and the ciphertext with its tag.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    nonce: [u8; 24],
    ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// A field holding personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Personal<T> {
    /// Readable: as decided, or opened with the family's key.
    Plain(T),
    /// As persisted, not opened yet.
    Sealed(Sealed),
    /// The family's key is gone; the data cannot be read by anyone.
    Erased,
}

impl<T> Personal<T> {
    /// The value, when it is readable.
    pub fn plain(&self) -> Option<&T> {
        match self {
            Personal::Plain(value) => Some(value),
            Personal::Sealed(_) | Personal::Erased => None,
        }
    }

    /// The value, when it is readable, taken out of the field.
    pub fn into_plain(self) -> Option<T> {
        match self {
            Personal::Plain(value) => Some(value),
            Personal::Sealed(_) | Personal::Erased => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, Personal::Erased)
    }
}

impl Personal<String> {
    /// Free text as given, without surrounding white space.
    pub fn text(text: &str) -> Self {
        Personal::Plain(text.trim().to_owned())
    }
}

/// Sealing and opening, whatever the field's type; see [`HasPersonal`].
pub trait PersonalField {
    /// Seals a plain value; a sealed one is left as it is.
    fn seal(&mut self, key: &FamilyKey, family: &[u8]) -> Result<(), SealError>;
    /// Opens a sealed value; without a key it becomes [`Personal::Erased`].
    fn open(&mut self, key: Option<&FamilyKey>, family: &[u8]) -> Result<(), SealError>;
}

impl<T: Serialize + DeserializeOwned> PersonalField for Personal<T> {
    fn seal(&mut self, key: &FamilyKey, family: &[u8]) -> Result<(), SealError> {
        let Personal::Plain(value) = self else {
            return Ok(());
        };
        let plaintext = postcard::to_stdvec(value).map_err(|error| SealError::Encode(error.to_string()))?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = key
            .cipher()
            .encrypt(&nonce, Payload { msg: &plaintext, aad: family })
            .map_err(|_| SealError::Encode("encryption failed".to_owned()))?;
        *self = Personal::Sealed(Sealed { nonce: nonce.into(), ciphertext });
        Ok(())
    }

    fn open(&mut self, key: Option<&FamilyKey>, family: &[u8]) -> Result<(), SealError> {
        let Personal::Sealed(sealed) = self else {
            return Ok(());
        };
        let Some(key) = key else {
            *self = Personal::Erased;
            return Ok(());
        };
        let plaintext = key
            .cipher()
            .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: family })
            .map_err(|_| SealError::Tampered)?;
        let value = postcard::from_bytes(&plaintext).map_err(|error| SealError::Decode(error.to_string()))?;
        *self = Personal::Plain(value);
        Ok(())
    }
}

thread_local! {
    /// Whether erased values are encoded and decoded as [`Sealed::empty`] on this thread.
    static ERASED_AS_EMPTY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `code` (an encoding or decoding) with erased values as an empty marker: for read
/// models, which keep states whose personal values were dropped ([`HasPersonal::drop_sealed`]).
/// Values in the clear are refused here too. Anywhere else an erased value is refused, so that
/// an event never loses a value by mistake, and an empty sealed value stays sealed (and fails
/// to open as tampered).
pub fn erased_as_empty<R>(code: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ERASED_AS_EMPTY.set(self.0);
        }
    }
    let _reset = Reset(ERASED_AS_EMPTY.replace(true));
    code()
}

impl Sealed {
    /// The marker of an erased value: no real sealed value is empty (each has its 16-byte tag).
    fn empty() -> Self {
        Self { nonce: [0; 24], ciphertext: Vec::new() }
    }
}

impl<T> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Personal::Sealed(sealed) => sealed.serialize(serializer),
            Personal::Plain(_) => {
                Err(serde::ser::Error::custom("personal data must be sealed before it is encoded"))
            }
            Personal::Erased if ERASED_AS_EMPTY.get() => Sealed::empty().serialize(serializer),
            Personal::Erased => Err(serde::ser::Error::custom("erased personal data cannot be encoded")),
        }
    }
}

impl<'de, T> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let sealed = Sealed::deserialize(deserializer)?;
        Ok(if ERASED_AS_EMPTY.get() && sealed == Sealed::empty() {
            Personal::Erased
        } else {
            Personal::Sealed(sealed)
        })
    }
}

/// An event (or anything) holding personal fields.
pub trait HasPersonal {
    /// Every personal field, for sealing or opening in place.
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField>;

    fn seal(&mut self, key: &FamilyKey, family: &[u8]) -> Result<(), SealError> {
        self.personal_fields().into_iter().try_for_each(|field| field.seal(key, family))
    }

    fn open(&mut self, key: Option<&FamilyKey>, family: &[u8]) -> Result<(), SealError> {
        self.personal_fields().into_iter().try_for_each(|field| field.open(key, family))
    }

    /// Drops every sealed value, for a model that never opens them: each becomes
    /// [`Personal::Erased`], and its ciphertext is freed.
    fn drop_sealed(&mut self) {
        for field in self.personal_fields() {
            // Without a key a sealed value becomes erased; that cannot fail.
            field.open(None, &[]).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable-backend flag (`.cargo/config.toml`) is the one `poly1305` 0.8 reads; 0.9
    /// reads `poly1305_backend="soft"` and would quietly go back to AVX2 on an upgrade.
    #[test]
    fn the_portable_backend_flag_is_the_one_the_locked_poly1305_reads() {
        let lock = include_str!("../../../Cargo.lock");
        let versions: Vec<&str> = lock
            .split("[[package]]")
            .filter(|package| package.contains("\nname = \"poly1305\"\n"))
            .filter_map(|package| package.lines().find_map(|line| line.strip_prefix("version = ")))
            .collect();
        assert!(!versions.is_empty(), "Cargo.lock names poly1305");
        for version in versions {
            assert!(
                version.starts_with("\"0.8."),
                "poly1305 {version} is locked: change `--cfg poly1305_force_soft` in .cargo/config.toml, \
                 and the check in sealing.rs, to the flag it reads"
            );
        }
    }

    fn sealed(text: &str, key: &FamilyKey, family: &[u8]) -> Personal<String> {
        let mut field = Personal::Plain(text.to_owned());
        field.seal(key, family).expect("seal");
        field
    }

    #[test]
    fn erased_values_encode_and_decode_only_for_read_models() {
        let erased: Personal<String> = Personal::Erased;
        assert!(postcard::to_allocvec(&erased).is_err(), "an event never carries an erased value");
        let bytes = erased_as_empty(|| postcard::to_allocvec(&erased)).expect("a read model's record");
        let decoded = erased_as_empty(|| postcard::from_bytes::<Personal<String>>(&bytes)).expect("decoded");
        assert_eq!(decoded, Personal::Erased);
        let outside = postcard::from_bytes::<Personal<String>>(&bytes).expect("decoded");
        assert!(matches!(outside, Personal::Sealed(_)), "elsewhere the marker stays sealed");
        let mut opened = outside;
        assert_eq!(opened.open(Some(&FamilyKey::generate()), b"family"), Err(SealError::Tampered));
        let plain = Personal::Plain("Aino".to_owned());
        assert!(erased_as_empty(|| postcard::to_allocvec(&plain)).is_err(), "never in the clear");
        assert!(postcard::to_allocvec(&erased).is_err(), "only within erased_as_empty");
        let key = FamilyKey::generate();
        let real = sealed("Aino", &key, b"family");
        let bytes = postcard::to_allocvec(&real).expect("sealed");
        assert_eq!(postcard::from_bytes::<Personal<String>>(&bytes).expect("decoded"), real);
    }

    #[test]
    fn dropping_sealed_values_erases_them_and_keeps_plain_ones() {
        struct Two {
            sealed: Personal<String>,
            plain: Personal<String>,
        }
        impl HasPersonal for Two {
            fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
                vec![&mut self.sealed, &mut self.plain]
            }
        }
        let key = FamilyKey::generate();
        let mut two =
            Two { sealed: sealed("Aino", &key, b"family-1"), plain: Personal::Plain("x".to_owned()) };
        two.drop_sealed();
        assert!(two.sealed.is_erased());
        assert_eq!(two.plain.plain().map(String::as_str), Some("x"));
    }

    #[test]
    fn sealed_field_opens_with_the_key_and_hides_the_text() {
        let key = FamilyKey::generate();
        let field = sealed("Aino Virtanen", &key, b"family-1");
        let bytes = postcard::to_stdvec(&field).expect("encode");
        assert!(!bytes.windows(4).any(|window| window == b"Aino"));
        let mut decoded: Personal<String> = postcard::from_bytes(&bytes).expect("decode");
        decoded.open(Some(&key), b"family-1").expect("open");
        assert_eq!(decoded, Personal::Plain("Aino Virtanen".to_owned()));
    }

    #[test]
    fn without_the_key_the_field_is_erased() {
        let mut field = sealed("Aino", &FamilyKey::generate(), b"family-1");
        field.open(None, b"family-1").expect("open");
        assert!(field.is_erased());
    }

    #[test]
    fn another_family_or_key_cannot_open_it() {
        let key = FamilyKey::generate();
        let mut moved = sealed("Aino", &key, b"family-1");
        assert_eq!(moved.open(Some(&key), b"family-2"), Err(SealError::Tampered));
        let mut other_key = sealed("Aino", &key, b"family-1");
        assert_eq!(other_key.open(Some(&FamilyKey::generate()), b"family-1"), Err(SealError::Tampered));
    }

    #[test]
    fn plain_personal_data_refuses_to_encode() {
        assert!(postcard::to_stdvec(&Personal::Plain("Aino".to_owned())).is_err());
        assert!(postcard::to_stdvec(&Personal::<String>::Erased).is_err());
    }
}

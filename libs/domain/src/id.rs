//! Identifiers: ULIDs in their canonical 26-character Crockford base32 form.
//!
//! Identifiers end up in NATS subjects, so anything outside the strict alphabet is refused
//! at parse time and an invalid identifier cannot exist inside the system.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier must be 26 characters (a ULID), got {0}")]
    Length(usize),
    #[error("identifier contains {0:?}, which is not a Crockford base32 character")]
    Character(char),
    #[error("identifier is not a valid ULID: {0}")]
    Invalid(String),
    #[error("request id must be 1 to {max} characters of A-Z a-z 0-9 - _, got {len} characters")]
    RequestIdLength { len: usize, max: usize },
    #[error("request id contains {0:?}; allowed are A-Z a-z 0-9 - _")]
    RequestIdCharacter(char),
}

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Parses a canonical ULID, refusing anything that is not exactly 26 upper-case Crockford
/// base32 characters (no lower case, no separators, no white space, no wildcards).
pub fn parse_ulid(input: &str) -> Result<Ulid, IdError> {
    if input.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(bad) = input.chars().find(|c| !CROCKFORD.contains(*c)) {
        return Err(IdError::Character(bad));
    }
    if input.len() != 26 {
        return Err(IdError::Length(input.chars().count()));
    }
    // 26 base32 digits hold 130 bits; a ULID has 128, so the first digit is at most 7.
    if !input.starts_with(['0', '1', '2', '3', '4', '5', '6', '7']) {
        return Err(IdError::Invalid("the first character of a ULID is 0 to 7".to_owned()));
    }
    Ulid::from_str(input).map_err(|error| IdError::Invalid(error.to_string()))
}

/// Declares a ULID-backed identifier newtype.
#[macro_export]
macro_rules! ulid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(::ulid::Ulid);

        impl $name {
            /// A new identifier for the given moment (milliseconds since the Unix epoch).
            pub fn generate() -> Self {
                Self(::ulid::Ulid::new())
            }

            /// Parses the canonical form; see [`$crate::id::parse_ulid`].
            pub fn parse(input: &str) -> Result<Self, $crate::id::IdError> {
                $crate::id::parse_ulid(input).map(Self)
            }

            pub fn from_ulid(ulid: ::ulid::Ulid) -> Self {
                Self(ulid)
            }

            pub fn as_ulid(&self) -> ::ulid::Ulid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::IdError;
            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl From<$name> for $crate::id::AggregateId {
            fn from(id: $name) -> Self {
                $crate::id::AggregateId::from_ulid(id.as_ulid())
            }
        }
    };
}

/// The identity of any aggregate, the last token of its subject.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AggregateId(Ulid);

impl AggregateId {
    pub fn generate() -> Self {
        Self(Ulid::new())
    }

    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_ulid(input).map(Self)
    }

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self(ulid)
    }

    pub fn as_ulid(&self) -> Ulid {
        self.0
    }
}

impl fmt::Display for AggregateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for AggregateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AggregateId({})", self.0)
    }
}

impl FromStr for AggregateId {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

/// A caller's request id: the idempotency key of one mutating call, carried to the event
/// store as the message id. Letters, digits, `-` and `_` only (a UUID or a ULID fits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl TryFrom<String> for RequestId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RequestId> for String {
    fn from(value: RequestId) -> Self {
        value.0
    }
}

impl RequestId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, IdError> {
        if input.is_empty() || input.len() > Self::MAX_LEN {
            return Err(IdError::RequestIdLength { len: input.len(), max: Self::MAX_LEN });
        }
        if let Some(bad) = input.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(IdError::RequestIdCharacter(bad));
        }
        Ok(Self(input.to_owned()))
    }

    /// A fresh request id, for callers that issue a command once (tools, tests).
    pub fn generate() -> Self {
        Self(Ulid::new().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ulid_parses_and_round_trips() {
        let id = AggregateId::generate();
        let text = id.to_string();
        assert_eq!(AggregateId::parse(&text), Ok(id));
    }

    #[test]
    fn subject_metacharacters_and_noise_are_refused() {
        let valid = AggregateId::generate().to_string();
        for bad in [
            format!("{}.", &valid[..25]),
            format!("{}*", &valid[..25]),
            format!("{}>", &valid[..25]),
            format!("{} ", &valid[..25]),
            format!("{}\t", &valid[..25]),
            format!("{}ä", &valid[..24]),
            valid.to_lowercase(),
            "families.>".to_owned(),
        ] {
            assert!(AggregateId::parse(&bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(AggregateId::parse(""), Err(IdError::Empty));
        assert_eq!(AggregateId::parse("01ARZ3NDEKTSV4RRFFQ69G5FA"), Err(IdError::Length(25)));
        assert_eq!(AggregateId::parse("01ARZ3NDEKTSV4RRFFQ69G5FA."), Err(IdError::Character('.')));
    }

    #[test]
    fn overflowing_ulid_is_refused() {
        assert!(matches!(AggregateId::parse("80000000000000000000000000"), Err(IdError::Invalid(_))));
    }

    #[test]
    fn request_ids_accept_uuids_and_refuse_header_breakers() {
        assert!(RequestId::parse("0b6f9f1e-6a53-4a0e-9d39-2b1f4c8e7d10").is_ok());
        assert!(RequestId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").is_ok());
        assert_eq!(RequestId::parse("a\r\nb"), Err(IdError::RequestIdCharacter('\r')));
        assert_eq!(RequestId::parse("a.b"), Err(IdError::RequestIdCharacter('.')));
        assert!(matches!(RequestId::parse(""), Err(IdError::RequestIdLength { .. })));
        assert!(matches!(RequestId::parse(&"x".repeat(65)), Err(IdError::RequestIdLength { .. })));
    }
}

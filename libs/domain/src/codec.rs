//! The contract between typed domain events and their persisted bytes.
//!
//! Each event type has an explicit schema version. Encoding always writes the newest version;
//! decoding accepts every version ever written and upcasts it, and refuses versions it does not
//! know (written by a newer release) with a clear error instead of guessing.

/// Errors turning bytes into events and back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {event_type:?}")]
    UnknownEventType { event_type: String },
    #[error(
        "event {event_type} has schema version {version}, this release reads versions {known:?}; \
         upgrade the reader"
    )]
    UnsupportedSchemaVersion { event_type: String, version: u16, known: Vec<u16> },
    #[error(
        "envelope version {version} is not known to this release (newest known {newest}); upgrade the reader"
    )]
    UnsupportedEnvelopeVersion { version: u16, newest: u16 },
    #[error("cannot decode {what}: {reason}")]
    Malformed { what: String, reason: String },
    #[error("cannot encode {what}: {reason}")]
    Encode { what: String, reason: String },
}

/// One event type and the schema versions this release can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSchema {
    pub event_type: &'static str,
    pub versions: &'static [u16],
}

/// A family of events persisted together (one enum per aggregate).
pub trait DomainEvent: Sized {
    /// Every event type with every readable version; golden fixtures cover each pair.
    const SCHEMAS: &'static [EventSchema];

    fn event_type(&self) -> &'static str;

    /// The version `encode` writes.
    fn schema_version(&self) -> u16;

    fn encode(&self) -> Result<Vec<u8>, CodecError>;

    /// Decodes one persisted event, upcasting old versions.
    fn decode(event_type: &str, version: u16, data: &[u8]) -> Result<Self, CodecError>;
}

/// Encodes a value with postcard, naming what failed.
pub fn to_postcard<T: serde::Serialize>(what: &str, value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value)
        .map_err(|error| CodecError::Encode { what: what.to_owned(), reason: error.to_string() })
}

/// Decodes a value with postcard, refusing trailing bytes.
pub fn from_postcard<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, CodecError> {
    let malformed = |reason: String| CodecError::Malformed { what: what.to_owned(), reason };
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|error| malformed(error.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// The error for a version outside `schema.versions`.
pub fn unsupported_version(schemas: &[EventSchema], event_type: &str, version: u16) -> CodecError {
    let known =
        schemas.iter().find(|schema| schema.event_type == event_type).map(|schema| schema.versions.to_vec());
    match known {
        Some(known) => {
            CodecError::UnsupportedSchemaVersion { event_type: event_type.to_owned(), version, known }
        }
        None => CodecError::UnknownEventType { event_type: event_type.to_owned() },
    }
}

/// Declares an event enum whose every variant wraps one payload struct at schema version 1,
/// with its [`DomainEvent`] implementation. A later schema change replaces the macro for that
/// enum with a hand-written implementation that upcasts the old version.
#[macro_export]
macro_rules! v1_events {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident($payload:ty) = $event_type:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis enum $name {
            $($variant($payload)),*
        }

        impl $crate::DomainEvent for $name {
            const SCHEMAS: &'static [$crate::EventSchema] =
                &[$($crate::EventSchema { event_type: $event_type, versions: &[1] }),*];

            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $event_type),*
                }
            }

            fn schema_version(&self) -> u16 {
                1
            }

            fn encode(&self) -> Result<Vec<u8>, $crate::CodecError> {
                match self {
                    $(Self::$variant(payload) => $crate::codec::to_postcard($event_type, payload)),*
                }
            }

            fn decode(event_type: &str, version: u16, data: &[u8]) -> Result<Self, $crate::CodecError> {
                match (event_type, version) {
                    $(($event_type, 1) => Ok(Self::$variant($crate::codec::from_postcard(event_type, data)?)),)*
                    _ => Err($crate::codec::unsupported_version(Self::SCHEMAS, event_type, version)),
                }
            }
        }
    };
}

//! The persisted form of one accepted command: a postcard envelope with its events, and
//! headers that tools can read without decoding.
//!
//! Layout: `varint(envelope_version) ++ postcard(EnvelopeV2)`. Each event inside carries its
//! own type name and schema version, so readers upcast event by event.

use async_nats::HeaderMap;
use bytes::Bytes;
use luukku_domain::codec::{from_postcard, to_postcard};
use luukku_domain::{Actor, AggregateId, CodecError, DomainEvent, RequestId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Position, Stream};

/// The newest envelope layout; the one this release writes.
pub const ENVELOPE_VERSION: u16 = 2;

pub const HEADER_ENVELOPE: &str = "Luukku-Envelope";
pub const HEADER_EVENT_TYPES: &str = "Luukku-Event-Types";
pub const HEADER_SCHEMA_VERSIONS: &str = "Luukku-Schema-Versions";
pub const HEADER_REQUEST_ID: &str = "Luukku-Request-Id";
pub const HEADER_ACTOR: &str = "Luukku-Actor";
pub const HEADER_ACTOR_ROLE: &str = "Luukku-Actor-Role";
pub const HEADER_ACTOR_SECTOR: &str = "Luukku-Actor-Sector";
pub const HEADER_ACTOR_ORGANISATION: &str = "Luukku-Actor-Organisation";
pub const HEADER_ACTOR_SYSTEM: &str = "Luukku-Actor-System";

/// One event as persisted: its type, its schema version and its postcard bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    pub event_type: String,
    pub schema_version: u16,
    pub data: Vec<u8>,
}

impl RawEvent {
    /// Encodes a typed event at its newest schema version.
    pub fn encode<E: DomainEvent>(event: &E) -> Result<Self, CodecError> {
        Ok(Self {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            data: event.encode()?,
        })
    }

    /// Decodes into a typed event, upcasting old versions.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, CodecError> {
        E::decode(&self.event_type, self.schema_version, &self.data)
    }
}

/// One command's events with who recorded them, when, and under which request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub recorded_at: Timestamp,
    pub request_id: RequestId,
    pub actor: Actor,
    pub events: Vec<RawEvent>,
    /// What the request was, so that its id cannot be reused for another; `None` in messages
    /// written before fingerprints, and for processes' own writes.
    pub fingerprint: Option<Fingerprint>,
}

/// A request's method and a digest of its whole message. The same request id with the same
/// fingerprint is a retry; with another fingerprint, the id was reused.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The method, e.g. `RegisterFamily`.
    pub method: String,
    /// The first 16 bytes of SHA-256 over the method and the request's bytes.
    pub digest: [u8; 16],
}

impl Fingerprint {
    /// The fingerprint of `request`, the encoded message of a call to `method`.
    pub fn of(method: &str, request: &[u8]) -> Self {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update((method.len() as u64).to_be_bytes());
        hasher.update(method.as_bytes());
        hasher.update(request);
        let mut digest = [0; 16];
        digest.copy_from_slice(&hasher.finalize()[..16]);
        Self { method: method.to_owned(), digest }
    }
}

impl Fingerprint {
    /// The fingerprint as kept beside data sealed under `key` (a family's key): its digest
    /// keyed with it (HMAC-SHA-256), so that once the key is erased the digest cannot confirm
    /// a guess at the request's content.
    pub fn keyed(&self, key: &[u8]) -> Self {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"luukku request fingerprint\0");
        mac.update(&self.digest);
        let mut digest = [0; 16];
        digest.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        Self { method: self.method.clone(), digest }
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digest: String = self.digest.iter().map(|byte| format!("{byte:02x}")).collect();
        write!(f, "{}:{digest}", self.method)
    }
}

/// The message id JetStream deduplicates on: the request id scoped to its caller (the calling
/// system and the person it acts for), so that two callers' ids never meet.
pub fn message_id(actor: &Actor, request_id: &RequestId) -> String {
    let parts = [actor.system.as_str(), actor.person_id.as_str(), request_id.as_str()];
    digest_of(&parts).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The first 16 bytes of SHA-256 over `parts`, each prefixed with its length, so that no two
/// different lists of parts give the same input.
pub fn digest_of(parts: &[&str]) -> [u8; 16] {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut digest = [0; 16];
    digest.copy_from_slice(&hasher.finalize()[..16]);
    digest
}

/// The first envelope layout. Never change it.
#[derive(Deserialize)]
struct EnvelopeV1 {
    recorded_at: Timestamp,
    request_id: RequestId,
    actor: Actor,
    events: Vec<RawEvent>,
}

/// The second layout: the first with the request's fingerprint. Never change it: add
/// `EnvelopeV3` instead. `EnvelopeV2Ref` is the same layout, borrowed, for encoding without
/// copies.
#[derive(Deserialize)]
struct EnvelopeV2 {
    recorded_at: Timestamp,
    request_id: RequestId,
    actor: Actor,
    events: Vec<RawEvent>,
    fingerprint: Option<Fingerprint>,
}

#[derive(Serialize)]
struct EnvelopeV2Ref<'a> {
    recorded_at: Timestamp,
    request_id: &'a RequestId,
    actor: &'a Actor,
    events: &'a [RawEvent],
    fingerprint: &'a Option<Fingerprint>,
}

impl Envelope {
    pub fn encode(&self) -> Result<Bytes, CodecError> {
        let body = EnvelopeV2Ref {
            recorded_at: self.recorded_at,
            request_id: &self.request_id,
            actor: &self.actor,
            events: &self.events,
            fingerprint: &self.fingerprint,
        };
        Ok(Bytes::from(to_postcard("envelope", &(ENVELOPE_VERSION, body))?))
    }

    /// Whether this message was written by `actor`'s request `request_id`.
    pub fn written_by(&self, actor: &Actor, request_id: &RequestId) -> bool {
        &self.request_id == request_id
            && self.actor.system == actor.system
            && self.actor.person_id == actor.person_id
    }

    /// Whether a request with `fingerprint` is the one this message recorded: true unless both
    /// have a fingerprint and they differ.
    pub fn same_request(&self, fingerprint: Option<&Fingerprint>) -> bool {
        match (&self.fingerprint, fingerprint) {
            (Some(recorded), Some(asked)) => recorded == asked,
            _ => true,
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (version, rest): (u16, &[u8]) = postcard::take_from_bytes(bytes).map_err(|error| {
            CodecError::Malformed { what: "envelope version".to_owned(), reason: error.to_string() }
        })?;
        match version {
            1 => {
                let body: EnvelopeV1 = from_postcard("envelope v1", rest)?;
                Ok(Self {
                    recorded_at: body.recorded_at,
                    request_id: body.request_id,
                    actor: body.actor,
                    events: body.events,
                    fingerprint: None,
                })
            }
            2 => {
                let body: EnvelopeV2 = from_postcard("envelope v2", rest)?;
                Ok(Self {
                    recorded_at: body.recorded_at,
                    request_id: body.request_id,
                    actor: body.actor,
                    events: body.events,
                    fingerprint: body.fingerprint,
                })
            }
            other => Err(CodecError::UnsupportedEnvelopeVersion { version: other, newest: ENVELOPE_VERSION }),
        }
    }

    /// Headers describing the message for tools that filter without decoding.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ENVELOPE, ENVELOPE_VERSION.to_string().as_str());
        let types: Vec<&str> = self.events.iter().map(|event| event.event_type.as_str()).collect();
        headers.insert(HEADER_EVENT_TYPES, types.join(",").as_str());
        let versions: Vec<String> =
            self.events.iter().map(|event| event.schema_version.to_string()).collect();
        headers.insert(HEADER_SCHEMA_VERSIONS, versions.join(",").as_str());
        headers.insert(HEADER_REQUEST_ID, self.request_id.as_str());
        headers.insert(HEADER_ACTOR, self.actor.person_id.as_str());
        headers.insert(HEADER_ACTOR_ROLE, self.actor.role.as_code());
        if let Some(sector) = self.actor.sector {
            headers.insert(HEADER_ACTOR_SECTOR, sector.as_code());
        }
        headers.insert(HEADER_ACTOR_ORGANISATION, self.actor.organisation.as_str());
        headers.insert(HEADER_ACTOR_SYSTEM, self.actor.system.as_str());
        headers
    }
}

/// A message read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub position: Position,
    pub subject: String,
    pub envelope: Envelope,
    /// The trace context of the call that wrote it (W3C `traceparent`), when there was one;
    /// read by followers of a stream (an aggregate's load leaves it out).
    pub traceparent: Option<String>,
}

impl Recorded {
    /// The aggregate id in the subject, when it is an aggregate subject.
    pub fn aggregate_id(&self) -> Option<AggregateId> {
        crate::streams::parse_subject(&self.subject).map(|(_, id)| id)
    }

    /// The aggregate type token of the subject.
    pub fn aggregate_type(&self) -> Option<&str> {
        crate::streams::parse_subject(&self.subject).map(|(aggregate_type, _)| aggregate_type)
    }

    /// Decodes every event of the message into `E`.
    pub fn decode_events<E: DomainEvent>(&self) -> Result<Vec<E>, CodecError> {
        self.envelope.events.iter().map(RawEvent::decode).collect()
    }

    pub(crate) fn from_parts(
        stream: Stream,
        sequence: u64,
        subject: &str,
        payload: &[u8],
        headers: Option<&async_nats::HeaderMap>,
    ) -> crate::Result<Self> {
        let envelope = Envelope::decode(payload).map_err(|error| match error {
            CodecError::UnsupportedEnvelopeVersion { .. } => crate::Error::Codec(error),
            other => crate::Error::Corrupt {
                stream,
                sequence,
                subject: subject.to_owned(),
                reason: other.to_string(),
            },
        })?;
        Ok(Self {
            position: Position { stream, sequence },
            subject: subject.to_owned(),
            envelope,
            traceparent: crate::trace_context::traceparent_of(headers),
        })
    }
}

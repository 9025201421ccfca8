//! The persisted form of one accepted command: a postcard envelope with its events, and
//! headers that tools can read without decoding.
//!
//! Layout: `varint(envelope_version) ++ postcard(EnvelopeV1)`. Each event inside carries its
//! own type name and schema version, so readers upcast event by event.

use async_nats::HeaderMap;
use bytes::Bytes;
use luukku_domain::codec::{from_postcard, to_postcard};
use luukku_domain::{Actor, AggregateId, CodecError, DomainEvent, RequestId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Position, Stream};

/// The newest envelope layout; the one this release writes.
pub const ENVELOPE_VERSION: u16 = 1;

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

/// One command's events with who recorded them, when, and under which request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub recorded_at: Timestamp,
    pub request_id: RequestId,
    pub actor: Actor,
    pub events: Vec<RawEvent>,
}

/// The first (and so far only) envelope layout. Never change it: add `EnvelopeV2` instead.
/// `EnvelopeV1Ref` is the same layout, borrowed, for encoding without copies.
#[derive(Deserialize)]
struct EnvelopeV1 {
    recorded_at: Timestamp,
    request_id: RequestId,
    actor: Actor,
    events: Vec<RawEvent>,
}

#[derive(Serialize)]
struct EnvelopeV1Ref<'a> {
    recorded_at: Timestamp,
    request_id: &'a RequestId,
    actor: &'a Actor,
    events: &'a [RawEvent],
}

impl Envelope {
    pub fn encode(&self) -> Result<Bytes, CodecError> {
        let body = EnvelopeV1Ref {
            recorded_at: self.recorded_at,
            request_id: &self.request_id,
            actor: &self.actor,
            events: &self.events,
        };
        Ok(Bytes::from(to_postcard("envelope", &(ENVELOPE_VERSION, body))?))
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
        Ok(Self { position: Position { stream, sequence }, subject: subject.to_owned(), envelope })
    }
}

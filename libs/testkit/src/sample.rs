//! A small event type with two schema versions, used to test the event store and the codec
//! machinery without depending on any service's events.

use luukku_domain::codec::{from_postcard, to_postcard, unsupported_version};
use luukku_domain::{CodecError, DomainEvent, EventSchema};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleEvent {
    Noted { text: String, tags: Vec<String> },
    Cleared,
}

#[derive(Serialize, Deserialize)]
struct NotedV1 {
    text: String,
}

#[derive(Serialize, Deserialize)]
struct NotedV2 {
    text: String,
    tags: Vec<String>,
}

impl DomainEvent for SampleEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema { event_type: "Noted", versions: &[1, 2] },
        EventSchema { event_type: "Cleared", versions: &[1] },
    ];

    fn event_type(&self) -> &'static str {
        match self {
            SampleEvent::Noted { .. } => "Noted",
            SampleEvent::Cleared => "Cleared",
        }
    }

    fn schema_version(&self) -> u16 {
        match self {
            SampleEvent::Noted { .. } => 2,
            SampleEvent::Cleared => 1,
        }
    }

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            SampleEvent::Noted { text, tags } => {
                to_postcard("Noted v2", &NotedV2 { text: text.clone(), tags: tags.clone() })
            }
            SampleEvent::Cleared => to_postcard("Cleared v1", &()),
        }
    }

    fn decode(event_type: &str, version: u16, data: &[u8]) -> Result<Self, CodecError> {
        match (event_type, version) {
            ("Noted", 1) => {
                let v1: NotedV1 = from_postcard("Noted v1", data)?;
                Ok(SampleEvent::Noted { text: v1.text, tags: Vec::new() })
            }
            ("Noted", 2) => {
                let v2: NotedV2 = from_postcard("Noted v2", data)?;
                Ok(SampleEvent::Noted { text: v2.text, tags: v2.tags })
            }
            ("Cleared", 1) => {
                from_postcard::<()>("Cleared v1", data)?;
                Ok(SampleEvent::Cleared)
            }
            _ => Err(unsupported_version(Self::SCHEMAS, event_type, version)),
        }
    }
}

/// Encodes a `Noted` at schema version 1, as an old release wrote it.
pub fn noted_v1_bytes(text: &str) -> Vec<u8> {
    postcard::to_stdvec(&NotedV1 { text: text.to_owned() }).unwrap_or_default()
}

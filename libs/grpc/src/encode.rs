//! Application outcomes into the messages every service shares.

use luukku_app::{Entry, Written};
use luukku_domain::{Actor, DomainEvent, Narrate, Telling};
use luukku_eventstore::Position;
use luukku_proto::common::v1 as common;

pub fn position_pb(position: &Position) -> common::Position {
    common::Position { stream: position.stream.name().to_owned(), sequence: position.sequence }
}

pub fn written_pb(written: Written) -> Option<common::WriteResult> {
    Some(common::WriteResult {
        version: written.version,
        position: written.position.as_ref().map(position_pb),
        replayed: written.replayed,
    })
}

pub fn actor_pb(actor: &Actor) -> common::Actor {
    common::Actor {
        person_id: actor.person_id.as_str().to_owned(),
        role: actor.role.as_code().to_owned(),
        sector: actor.sector.map(|sector| sector.as_code().to_owned()).unwrap_or_default(),
        organisation: actor.organisation.as_str().to_owned(),
        system: actor.system.as_str().to_owned(),
    }
}

/// One history entry, its events told with the personal data the caller may read.
pub fn history_entry<E: DomainEvent + Narrate>(entry: &Entry<E>) -> common::HistoryEntry {
    let envelope = &entry.recorded.envelope;
    common::HistoryEntry {
        version: entry.recorded.position.sequence,
        recorded_at_ms: envelope.recorded_at.as_millis(),
        request_id: envelope.request_id.as_str().to_owned(),
        actor: Some(actor_pb(&envelope.actor)),
        events: entry
            .events
            .iter()
            .map(|event| common::HistoryEvent {
                event_type: event.event_type().to_owned(),
                schema_version: u32::from(event.schema_version()),
                summary: event.narrate(Telling::WithPersonal),
            })
            .collect(),
    }
}

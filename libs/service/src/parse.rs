//! Reading request fields into domain values, gathering every bad field, and writing the shared
//! response messages.

use jiff::civil::Date;
use luukku_domain::family::Municipality;
use luukku_domain::{Actor, DomainEvent, IdError, RequestId};
use luukku_proto::common::v1 as common;
use tonic::Status;

use crate::Violations;
use crate::repository::{Entry, Write};

pub fn request_id(violations: &mut Violations, value: &str) -> Option<RequestId> {
    violations.check("request_id", RequestId::parse(value))
}

/// A required id at `field`.
pub fn id<T>(
    violations: &mut Violations,
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, IdError>,
) -> Option<T> {
    violations.check(field, parse(value))
}

/// A caller-chosen id, or a new one when empty.
pub fn optional_id<T>(
    violations: &mut Violations,
    field: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, IdError>,
    generate: impl Fn() -> T,
) -> Option<T> {
    if value.is_empty() { Some(generate()) } else { violations.check(field, parse(value)) }
}

pub fn write(
    violations: &mut Violations,
    request_id_value: &str,
    expected_version: Option<u64>,
    actor: Actor,
) -> Option<Write> {
    let request_id = request_id(violations, request_id_value)?;
    Some(Write { request_id, expected_version, actor })
}

pub fn date(violations: &mut Violations, field: &str, value: &str) -> Option<Date> {
    violations.check(field, value.parse::<Date>().map_err(|_| format!("{value:?} is not a date YYYY-MM-DD")))
}

pub fn optional_date(violations: &mut Violations, field: &str, value: &str) -> Option<Option<Date>> {
    if value.is_empty() { Some(None) } else { date(violations, field, value).map(Some) }
}

pub fn municipality(violations: &mut Violations, field: &str, value: &str) -> Option<Municipality> {
    violations.check(field, Municipality::parse(value))
}

/// Every element of `values` parsed, each bad one named `field[index]`.
pub fn list<T, E: std::fmt::Display>(
    violations: &mut Violations,
    field: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| violations.check(&format!("{field}[{index}]"), parse(value)))
        .collect()
}

/// A value that is present once the request had no violations.
pub fn checked<T>(value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| Status::invalid_argument("the request is incomplete"))
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

/// One history entry, each event told by `summary`.
pub fn history_entry<E: DomainEvent>(
    entry: &Entry<E>,
    summary: impl Fn(&E) -> String,
) -> common::HistoryEntry {
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
                summary: summary(event),
            })
            .collect(),
    }
}

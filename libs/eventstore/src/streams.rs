//! The streams of luukku, their immutable-log settings, and aggregate addressing.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use luukku_domain::AggregateId;
use serde::{Deserialize, Serialize};

use crate::StoreSettings;

/// One bounded context's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamSpec {
    /// The JetStream stream name, e.g. `FAMILIES`.
    pub name: &'static str,
    /// The first subject token, e.g. `families`; the stream holds `families.>`.
    pub subject_root: &'static str,
    pub description: &'static str,
}

pub const FAMILIES: StreamSpec =
    StreamSpec { name: "FAMILIES", subject_root: "families", description: "families, members, consents" };
pub const CONTACTS: StreamSpec = StreamSpec {
    name: "CONTACTS",
    subject_root: "contacts",
    description: "contact persons, assignments, the contact log",
};
pub const REFERRALS: StreamSpec = StreamSpec {
    name: "REFERRALS",
    subject_root: "referrals",
    description: "the service catalogue and referrals across sectors",
};
pub const MEETINGS: StreamSpec = StreamSpec {
    name: "MEETINGS",
    subject_root: "meetings",
    description: "network meetings and agreed actions",
};

/// Every stream luukku writes.
pub const ALL: [StreamSpec; 4] = [FAMILIES, CONTACTS, REFERRALS, MEETINGS];

impl StreamSpec {
    /// The stream's JetStream configuration: an immutable, deduplicated log.
    pub fn config(&self, settings: &StoreSettings) -> Config {
        Config {
            name: self.name.to_owned(),
            description: Some(format!("luukku: {}", self.description)),
            subjects: vec![format!("{}.>", self.subject_root)],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::New,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            allow_rollup: false,
            num_replicas: settings.replicas,
            max_message_size: i32::try_from(settings.max_message_bytes).unwrap_or(i32::MAX),
            duplicate_window: settings.duplicate_window,
            max_age: Duration::ZERO,
            ..Default::default()
        }
    }

    pub fn by_name(name: &str) -> Option<StreamSpec> {
        ALL.into_iter().find(|spec| spec.name == name)
    }
}

/// The address of one aggregate: its stream, its type and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregateRef {
    pub stream: StreamSpec,
    /// A lower-case token naming the aggregate type, e.g. `family`.
    pub aggregate_type: &'static str,
    pub id: AggregateId,
}

impl AggregateRef {
    pub fn new(stream: StreamSpec, aggregate_type: &'static str, id: impl Into<AggregateId>) -> Self {
        debug_assert!(
            !aggregate_type.is_empty()
                && aggregate_type.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_'),
            "aggregate type {aggregate_type:?} must be a lower-case token"
        );
        Self { stream, aggregate_type, id: id.into() }
    }

    /// `<context>.<aggregate_type>.<id>`; every part is validated, so this is a literal subject.
    pub fn subject(&self) -> String {
        format!("{}.{}.{}", self.stream.subject_root, self.aggregate_type, self.id)
    }
}

impl fmt::Display for AggregateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject())
    }
}

/// Where a message sits: its stream and stream sequence. Every write returns one, and
/// readers can wait until they have passed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub stream: String,
    pub sequence: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.stream, self.sequence)
    }
}

/// Splits a subject into its aggregate type and id, if it is a well-formed aggregate subject.
pub fn parse_subject(subject: &str) -> Option<(&str, AggregateId)> {
    let mut parts = subject.split('.');
    let _root = parts.next()?;
    let aggregate_type = parts.next()?;
    let id = AggregateId::parse(parts.next()?).ok()?;
    parts.next().is_none().then_some((aggregate_type, id))
}

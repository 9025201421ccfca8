//! The streams of luukku, their immutable-log settings, aggregate addressing, and how far a
//! reader has come in each stream.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use luukku_domain::AggregateId;
use serde::{Deserialize, Serialize};

use crate::StoreSettings;

/// One bounded context's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Families, members, consents.
    Families,
    /// Contact persons, assignments, the contact log, consultations.
    Contacts,
    /// The service catalogue and referrals across sectors.
    Referrals,
    /// Network meetings and agreed actions.
    Meetings,
}

impl Stream {
    /// Every stream luukku writes, in the order of [`Checkpoints`].
    pub const ALL: [Stream; 4] = [Stream::Families, Stream::Contacts, Stream::Referrals, Stream::Meetings];

    /// The JetStream stream name, e.g. `FAMILIES`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Families => "FAMILIES",
            Stream::Contacts => "CONTACTS",
            Stream::Referrals => "REFERRALS",
            Stream::Meetings => "MEETINGS",
        }
    }

    /// The first subject token, e.g. `families`; the stream holds `families.>`.
    pub fn subject_root(self) -> &'static str {
        match self {
            Stream::Families => "families",
            Stream::Contacts => "contacts",
            Stream::Referrals => "referrals",
            Stream::Meetings => "meetings",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Stream::Families => "families, members, consents",
            Stream::Contacts => "contact persons, assignments, the contact log",
            Stream::Referrals => "the service catalogue and referrals across sectors",
            Stream::Meetings => "network meetings and agreed actions",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The stream's JetStream configuration: an immutable, deduplicated log.
    pub fn config(self, settings: &StoreSettings) -> Config {
        Config {
            name: self.name().to_owned(),
            description: Some(format!("luukku: {}", self.description())),
            subjects: vec![format!("{}.>", self.subject_root())],
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
            max_bytes: settings.max_stream_bytes,
            ..Default::default()
        }
    }
}

/// A name that is not one of luukku's streams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a stream; the streams are FAMILIES, CONTACTS, REFERRALS, MEETINGS")]
pub struct UnknownStream(pub String);

impl FromStr for Stream {
    type Err = UnknownStream;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Stream::ALL
            .into_iter()
            .find(|stream| stream.name() == name)
            .ok_or_else(|| UnknownStream(name.to_owned()))
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Stream {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// How far a reader has come in every stream: the last sequence it has, per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoints([u64; 4]);

impl Checkpoints {
    pub fn get(&self, stream: Stream) -> u64 {
        self.0[stream.index()]
    }

    pub fn set(&mut self, stream: Stream, sequence: u64) {
        self.0[stream.index()] = sequence;
    }

    /// Raises the checkpoint of `stream` to `sequence` if it is further.
    pub fn raise(&mut self, stream: Stream, sequence: u64) {
        let at = &mut self.0[stream.index()];
        *at = (*at).max(sequence);
    }

    /// Whether these have reached `targets` in every stream.
    pub fn reached(&self, targets: &Checkpoints) -> bool {
        Stream::ALL.into_iter().all(|stream| self.get(stream) >= targets.get(stream))
    }

    pub fn iter(&self) -> impl Iterator<Item = (Stream, u64)> + '_ {
        Stream::ALL.into_iter().map(|stream| (stream, self.get(stream)))
    }
}

impl fmt::Display for Checkpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.iter().map(|(stream, sequence)| format!("{stream} {sequence}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// The address of one aggregate: its stream, its type and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregateRef {
    pub stream: Stream,
    /// A lower-case token naming the aggregate type, e.g. `family`.
    pub aggregate_type: &'static str,
    pub id: AggregateId,
}

impl AggregateRef {
    pub fn new(stream: Stream, aggregate_type: &'static str, id: impl Into<AggregateId>) -> Self {
        debug_assert!(
            !aggregate_type.is_empty()
                && aggregate_type.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_'),
            "aggregate type {aggregate_type:?} must be a lower-case token"
        );
        Self { stream, aggregate_type, id: id.into() }
    }

    /// `<context>.<aggregate_type>.<id>`; every part is validated, so this is a literal subject.
    pub fn subject(&self) -> String {
        format!("{}.{}.{}", self.stream.subject_root(), self.aggregate_type, self.id)
    }
}

impl fmt::Display for AggregateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject())
    }
}

/// Where a message sits: its stream and stream sequence. Every write returns one, and
/// readers can wait until they have passed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub stream: Stream,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_reach_targets_stream_by_stream() {
        let mut at = Checkpoints::default();
        at.set(Stream::Families, 10);
        at.raise(Stream::Families, 4);
        assert_eq!(at.get(Stream::Families), 10);
        let mut targets = Checkpoints::default();
        targets.set(Stream::Families, 10);
        assert!(at.reached(&targets));
        targets.set(Stream::Meetings, 1);
        assert!(!at.reached(&targets));
        assert_eq!(at.to_string(), "FAMILIES 10, CONTACTS 0, REFERRALS 0, MEETINGS 0");
    }

    #[test]
    fn stream_names_round_trip() {
        for stream in Stream::ALL {
            assert_eq!(stream.name().parse::<Stream>(), Ok(stream));
        }
        assert!("AUDIT.>".parse::<Stream>().is_err());
    }
}

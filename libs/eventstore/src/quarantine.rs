//! Messages a read model could not read, and where each read model stands.
//!
//! A read model that meets a message it cannot decode records it here (stream, sequence,
//! subject, reason) and stops at it: nothing is skipped silently. An operator skips a corrupt
//! message with a reason (`luukku ops quarantine skip`), and every read model stopped at it
//! goes on; the skip stays recorded with who and why. A message written by a newer release is
//! never skipped: the reader waits for its upgrade.
//!
//! Each read model also reports its positions and why it stopped, for `luukku ops streams`.
//! The reports expire when a process stops reporting.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use luukku_domain::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Error, EventStore, Result, Stream};

/// The bucket of quarantined messages.
pub const QUARANTINE_BUCKET: &str = "LUUKKU_QUARANTINE";
/// The bucket of read models' reports.
pub const READERS_BUCKET: &str = "LUUKKU_READERS";
/// How long a read model's report is kept after its last refresh.
pub const REPORT_TTL: Duration = Duration::from_secs(5 * 60);

/// A message a read model could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub stream: Stream,
    pub sequence: u64,
    pub subject: String,
    /// Why it could not be read (no personal data: a codec's error).
    pub reason: String,
    /// Written by a newer release: never skipped, the reader must be upgraded.
    pub newer: bool,
    /// The read model that found it first.
    pub found_by: String,
    pub found_at_ms: i64,
    pub skip: Option<Skip>,
}

/// An operator's decision to let read models go on past a quarantined message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub by: String,
    pub reason: String,
    pub at_ms: i64,
}

/// Why a skip was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipRefused {
    #[error("message {sequence} of {stream} is not quarantined")]
    NotQuarantined { stream: Stream, sequence: u64 },
    #[error(
        "message {sequence} of {stream} was written by a newer release and is never skipped: upgrade this service"
    )]
    Newer { stream: Stream, sequence: u64 },
    #[error("a skip needs a reason")]
    NoReason,
}

fn key(stream: Stream, sequence: u64) -> String {
    format!("{}.{sequence}", stream.name())
}

fn quarantine_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: QUARANTINE_BUCKET.to_owned(),
        description: "luukku: messages read models could not read, and operators' skips".to_owned(),
        history: 5,
        max_value_size: 16 * 1024,
        max_bytes: 16 * 1024 * 1024,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

fn readers_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: READERS_BUCKET.to_owned(),
        description: "luukku: where each read model stands, refreshed while it runs".to_owned(),
        history: 1,
        max_age: REPORT_TTL,
        max_value_size: 16 * 1024,
        max_bytes: 16 * 1024 * 1024,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// Creates both buckets, or brings them to their settings (admin only).
pub async fn provision(store: &EventStore) -> Result<()> {
    store.provision_bucket(quarantine_config(store.settings().replicas)).await?;
    store.provision_bucket(readers_config(store.settings().replicas)).await
}

fn encode<T: Serialize>(value: &T) -> Result<bytes::Bytes> {
    serde_json::to_vec(value).map(Into::into).map_err(|error| Error::Nats(error.to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|error| Error::Nats(format!("{what} does not decode: {error}")))
}

/// The quarantine bucket.
#[derive(Clone, Debug)]
pub struct Quarantine {
    bucket: kv::Store,
}

impl Quarantine {
    pub async fn open(store: &EventStore) -> Result<Self> {
        Ok(Self { bucket: store.open_bucket(QUARANTINE_BUCKET, "the quarantine bucket").await? })
    }

    /// Records `found`, unless the message is quarantined already; answers the record kept.
    pub async fn record(&self, found: &Quarantined) -> Result<Quarantined> {
        let key = key(found.stream, found.sequence);
        match self.bucket.create(&key, encode(found)?).await {
            Ok(_) => Ok(found.clone()),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.get(found.stream, found.sequence).await?.ok_or_else(|| {
                    Error::Unavailable(format!("the quarantine record {key} exists but does not answer"))
                })
            }
            Err(error) => Err(Error::Unavailable(format!("recording {key} in quarantine: {error}"))),
        }
    }

    pub async fn get(&self, stream: Stream, sequence: u64) -> Result<Option<Quarantined>> {
        Ok(self.entry(stream, sequence).await?.map(|(quarantined, _)| quarantined))
    }

    async fn entry(&self, stream: Stream, sequence: u64) -> Result<Option<(Quarantined, u64)>> {
        let entry = self.bucket.entry(key(stream, sequence)).await.map_err(Error::nats)?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((decode(&entry.value, "a quarantine record")?, entry.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Every quarantined message, skipped ones included, by stream and sequence.
    pub async fn list(&self) -> Result<Vec<Quarantined>> {
        let mut keys = self.bucket.keys().await.map_err(Error::nats)?;
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(Error::nats)?;
            let Some((stream, sequence)) = key.split_once('.') else { continue };
            let (Ok(stream), Ok(sequence)) = (stream.parse::<Stream>(), sequence.parse::<u64>()) else {
                continue;
            };
            if let Some(quarantined) = self.get(stream, sequence).await? {
                found.push(quarantined);
            }
        }
        found.sort_by_key(|quarantined| (quarantined.stream.name(), quarantined.sequence));
        Ok(found)
    }

    /// Lets every read model go on past the message, recording who decided and why. A message
    /// of a newer release is never skipped.
    pub async fn skip(
        &self,
        stream: Stream,
        sequence: u64,
        by: &str,
        reason: &str,
    ) -> Result<Result<Quarantined, SkipRefused>> {
        if reason.trim().is_empty() {
            return Ok(Err(SkipRefused::NoReason));
        }
        loop {
            let Some((mut quarantined, revision)) = self.entry(stream, sequence).await? else {
                return Ok(Err(SkipRefused::NotQuarantined { stream, sequence }));
            };
            if quarantined.newer {
                return Ok(Err(SkipRefused::Newer { stream, sequence }));
            }
            if quarantined.skip.is_some() {
                return Ok(Ok(quarantined));
            }
            quarantined.skip = Some(Skip {
                by: by.to_owned(),
                reason: reason.trim().to_owned(),
                at_ms: Timestamp::now().as_millis(),
            });
            match self.bucket.update(key(stream, sequence), encode(&quarantined)?, revision).await {
                Ok(_) => return Ok(Ok(quarantined)),
                // Someone else changed it meanwhile: look again.
                Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(error) => return Err(Error::Unavailable(format!("recording the skip: {error}"))),
            }
        }
    }
}

/// Where a read model stands, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderReport {
    /// The read model, e.g. `coordination projection`.
    pub name: String,
    /// The process it runs in: its id and host.
    pub process: String,
    /// The last sequence it has passed in each stream it follows.
    pub positions: Vec<(Stream, u64)>,
    pub stopped: Option<Stopped>,
    pub reported_at_ms: i64,
}

/// Why a read model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    pub stream: Stream,
    pub sequence: u64,
    pub reason: String,
    pub newer: bool,
}

/// A call that failed on the server's side (never a caller's mistake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at_ms: i64,
    /// The RPC, e.g. `luukku.families.v1.FamilyService/GetFamily`.
    pub rpc: String,
    /// The gRPC status code, e.g. `UNAVAILABLE`.
    pub code: String,
    pub message: String,
}

/// The last failures of one process, as it reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFailures {
    pub process: String,
    pub failures: Vec<Failure>,
    pub reported_at_ms: i64,
}

/// Where processes' failure reports are kept in the readers' bucket.
const FAILURES_PREFIX: &str = "failures.";

/// The read models' reports, and the processes' last failures.
#[derive(Clone, Debug)]
pub struct Readers {
    bucket: kv::Store,
}

impl Readers {
    pub async fn open(store: &EventStore) -> Result<Self> {
        Ok(Self { bucket: store.open_bucket(READERS_BUCKET, "the read models' bucket").await? })
    }

    /// Stores `report` under `key`, a token unique to the read model in its process.
    pub async fn report(&self, key: &str, report: &ReaderReport) -> Result<()> {
        self.bucket
            .put(key, encode(report)?)
            .await
            .map(|_| ())
            .map_err(|error| Error::Unavailable(format!("reporting a read model: {error}")))
    }

    /// Stores a process's last failures under a key made from `process`.
    pub async fn report_failures(&self, failures: &ProcessFailures) -> Result<()> {
        let token: String =
            failures.process.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        self.bucket
            .put(format!("{FAILURES_PREFIX}{token}"), encode(failures)?)
            .await
            .map(|_| ())
            .map_err(|error| Error::Unavailable(format!("reporting failures: {error}")))
    }

    /// The failures processes reported within the last few minutes.
    pub async fn failures(&self) -> Result<Vec<ProcessFailures>> {
        let mut keys = self.bucket.keys().await.map_err(Error::nats)?;
        let mut reports = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(Error::nats)?;
            if !key.starts_with(FAILURES_PREFIX) {
                continue;
            }
            if let Some(value) = self.bucket.get(&key).await.map_err(Error::nats)? {
                reports.push(decode::<ProcessFailures>(&value, "a process's failures")?);
            }
        }
        Ok(reports)
    }

    /// Every read model reported within the last few minutes, by name.
    pub async fn list(&self) -> Result<Vec<ReaderReport>> {
        let mut keys = self.bucket.keys().await.map_err(Error::nats)?;
        let mut reports = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(Error::nats)?;
            if key.starts_with(FAILURES_PREFIX) {
                continue;
            }
            if let Some(value) = self.bucket.get(&key).await.map_err(Error::nats)? {
                reports.push(decode::<ReaderReport>(&value, "a read model's report")?);
            }
        }
        reports.sort_by(|a, b| (&a.name, &a.process).cmp(&(&b.name, &b.process)));
        Ok(reports)
    }
}

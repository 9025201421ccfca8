//! Loading a family (opening its personal data with its key) and carrying out one command:
//! replay the first answer of a seen request id, check the expected version, decide, seal,
//! append, and decide again on a concurrent change.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use luukku_domain::family::{Family, FamilyCommand, FamilyEvent, FamilyId, FamilyStatus};
use luukku_domain::sealing::{FamilyKey, HasPersonal};
use luukku_domain::{Actor, Aggregate, DomainEvent, RequestId};
use luukku_eventstore::streams::{self, parse_subject};
use luukku_eventstore::{AggregateRef, Error, EventStore, Expected, KeyStore, Position, Recorded};
use luukku_proto::common::v1 as common;
use luukku_service::status::{store_status, version_conflict};
use tonic::Status;

use crate::errors::family_status;

/// How often a command is decided again after losing a race it did not ask to lose.
const ATTEMPTS: usize = 8;

/// One message of the family's history, its events opened.
#[derive(Debug, Clone)]
pub struct Entry {
    pub recorded: Recorded,
    pub events: Vec<FamilyEvent>,
}

/// A family as loaded: state, version and history.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub family: Family,
    pub version: u64,
    pub entries: Vec<Entry>,
}

/// A mutating call's who, which request and which version it expects.
#[derive(Debug, Clone)]
pub struct Write {
    pub request_id: RequestId,
    pub expected_version: Option<u64>,
    pub actor: Actor,
}

/// The answer to a command: the events it recorded (as first recorded, when replayed).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub family_id: FamilyId,
    pub events: Vec<FamilyEvent>,
    pub result: common::WriteResult,
}

pub fn aggregate(family_id: FamilyId) -> AggregateRef {
    AggregateRef::new(streams::FAMILIES, Family::TYPE, family_id)
}

fn position(position: &Position) -> common::Position {
    common::Position { stream: position.stream.clone(), sequence: position.sequence }
}

fn written(at: &Position, replayed: bool) -> common::WriteResult {
    common::WriteResult { version: at.sequence, position: Some(position(at)), replayed }
}

/// How many families' states a service keeps in memory.
const CACHED_FAMILIES: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// Families loaded from the stream, with their states cached and refreshed on each use.
pub struct Repository<K> {
    store: EventStore,
    keys: K,
    cache: Mutex<LruCache<FamilyId, Arc<Loaded>>>,
}

fn decode(messages: &[Recorded]) -> Result<Vec<Entry>, Status> {
    messages
        .iter()
        .map(|recorded| {
            let events = recorded.decode_events::<FamilyEvent>().map_err(|error| {
                tracing::error!(%error, sequence = recorded.position.sequence, "undecodable family event");
                Status::internal(format!("message {} does not decode: {error}", recorded.position))
            })?;
            Ok(Entry { recorded: recorded.clone(), events })
        })
        .collect()
}

impl<K: KeyStore> Repository<K> {
    pub fn new(store: EventStore, keys: K) -> Self {
        Self { store, keys, cache: Mutex::new(LruCache::new(CACHED_FAMILIES)) }
    }

    /// The family as it is now: the cached state refreshed with the messages appended since
    /// (one direct get), or loaded in full. Personal data is opened with the family's key,
    /// unless the family is erased.
    pub async fn load(&self, family_id: FamilyId) -> Result<Arc<Loaded>, Status> {
        let cached = self.cached(family_id);
        let after = cached.as_ref().map_or(0, |loaded| loaded.version);
        let fresh = self.store.load_after(&aggregate(family_id), after).await.map_err(store_status)?;
        let (Some(cached), false) = (&cached, fresh.messages.is_empty()) else {
            return match cached {
                Some(cached) => Ok(cached),
                None => self.build(family_id, Loaded::default(), fresh.messages).await,
            };
        };
        let erasure =
            fresh.messages.iter().flat_map(|message| &message.envelope.events).any(|event| {
                event.event_type == luukku_domain::DomainEvent::event_type(&FamilyEvent::Erased)
            });
        if erasure {
            // Opened personal data must not outlive the erasure, not even in memory.
            self.forget(family_id);
            let everything = self.store.load(&aggregate(family_id)).await.map_err(store_status)?;
            return self.build(family_id, Loaded::default(), everything.messages).await;
        }
        self.build(family_id, (**cached).clone(), fresh.messages).await
    }

    /// `base` with `messages` applied, opened, and cached.
    async fn build(
        &self,
        family_id: FamilyId,
        mut base: Loaded,
        messages: Vec<Recorded>,
    ) -> Result<Arc<Loaded>, Status> {
        let mut entries = decode(&messages)?;
        let erased = base.family.status == FamilyStatus::Erased
            || entries.iter().flat_map(|entry| &entry.events).any(|event| *event == FamilyEvent::Erased);
        let key = if entries.is_empty() || erased { None } else { Some(self.existing_key(family_id).await?) };
        let family_aad = family_id.to_string();
        for event in entries.iter_mut().flat_map(|entry| entry.events.iter_mut()) {
            event.open(key.as_ref(), family_aad.as_bytes()).map_err(|error| {
                tracing::error!(%error, %family_id, "personal data does not open");
                Status::data_loss(format!("personal data of family {family_id} does not open: {error}"))
            })?;
        }
        for entry in entries {
            for event in &entry.events {
                base.family.apply(event);
            }
            base.version = entry.recorded.position.sequence;
            base.entries.push(entry);
        }
        let loaded = Arc::new(base);
        if loaded.version > 0 {
            self.lock_cache().put(family_id, Arc::clone(&loaded));
        }
        Ok(loaded)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, LruCache<FamilyId, Arc<Loaded>>> {
        // A panic while holding the lock leaves a consistent map (puts and pops are whole).
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, family_id: FamilyId) -> Option<Arc<Loaded>> {
        self.lock_cache().get(&family_id).cloned()
    }

    fn forget(&self, family_id: FamilyId) {
        self.lock_cache().pop(&family_id);
    }

    async fn existing_key(&self, family_id: FamilyId) -> Result<FamilyKey, Status> {
        self.keys.get(&family_id.to_string()).await.map_err(store_status)?.ok_or_else(|| {
            tracing::error!(%family_id, "family has events but no key and is not erased");
            Status::data_loss(format!("the key of family {family_id} is missing although it was not erased"))
        })
    }

    /// Carries out `command` on the family.
    pub async fn execute(
        &self,
        family_id: FamilyId,
        write: &Write,
        command: &FamilyCommand,
    ) -> Result<Outcome, Status> {
        for _ in 0..ATTEMPTS {
            let current = self.load(family_id).await?;
            if let Some(entry) =
                current.entries.iter().find(|entry| entry.recorded.envelope.request_id == write.request_id)
            {
                return self.replayed(family_id, entry).await;
            }
            if let Some(expected) = write.expected_version
                && expected != current.version
            {
                return Err(version_conflict(&aggregate(family_id).subject(), expected, current.version));
            }
            let context = luukku_service::context_now();
            let events =
                current.family.decide(command, &context).map_err(|error| family_status(family_id, error))?;
            if events.is_empty() {
                let result =
                    common::WriteResult { version: current.version, position: None, replayed: false };
                return Ok(Outcome { family_id, events, result });
            }
            let key = if current.version == 0 {
                self.keys.get_or_create(&family_id.to_string()).await.map_err(store_status)?
            } else {
                self.existing_key(family_id).await?
            };
            let mut sealed = events.clone();
            for event in &mut sealed {
                event
                    .seal(&key, family_id.to_string().as_bytes())
                    .map_err(|error| Status::internal(format!("sealing {}: {error}", event.event_type())))?;
            }
            let expected =
                if current.version == 0 { Expected::New } else { Expected::Version(current.version) };
            let appended = self
                .store
                .append_events(&aggregate(family_id), expected, &sealed, &write.request_id, &write.actor)
                .await;
            match appended {
                // A twin of this request landed first: answer as it did, on the next round.
                Ok(appended) if appended.duplicate => continue,
                Ok(appended) => {
                    self.finish_erasure(family_id, &events).await?;
                    return Ok(Outcome { family_id, events, result: written(&appended.position, false) });
                }
                Err(Error::Conflict { .. }) if write.expected_version.is_none() => continue,
                Err(Error::Conflict { subject, current, .. }) => {
                    return Err(version_conflict(&subject, current_expected(write), current));
                }
                Err(Error::RequestIdReused { original_subject, .. })
                    if matches!(command, FamilyCommand::Register { .. }) =>
                {
                    return self.replay_registration(&original_subject, write).await;
                }
                Err(error) => return Err(store_status(error)),
            }
        }
        Err(Status::aborted(format!(
            "family {family_id} kept changing while the command was decided {ATTEMPTS} times; retry"
        )))
    }

    async fn replayed(&self, family_id: FamilyId, entry: &Entry) -> Result<Outcome, Status> {
        // An erasure whose key deletion did not finish completes on its retry.
        self.finish_erasure(family_id, &entry.events).await?;
        Ok(Outcome {
            family_id,
            events: entry.events.clone(),
            result: written(&entry.recorded.position, true),
        })
    }

    async fn finish_erasure(&self, family_id: FamilyId, events: &[FamilyEvent]) -> Result<(), Status> {
        if events.contains(&FamilyEvent::Erased) {
            self.keys.erase(&family_id.to_string()).await.map_err(store_status)?;
            tracing::info!(%family_id, "family key erased");
        }
        Ok(())
    }

    /// A registration retried without a family id was given a new id; its request id points
    /// at the family the first attempt registered.
    async fn replay_registration(&self, original_subject: &str, write: &Write) -> Result<Outcome, Status> {
        let reused = || {
            Status::already_exists(format!(
                "request id {} was already used for another request ({original_subject})",
                write.request_id
            ))
        };
        let Some((Family::TYPE, id)) = parse_subject(original_subject) else {
            return Err(reused());
        };
        let family_id = FamilyId::from_ulid(id.as_ulid());
        let original = self.load(family_id).await?;
        let entry = original
            .entries
            .iter()
            .find(|entry| entry.recorded.envelope.request_id == write.request_id)
            .filter(|entry| matches!(entry.events.first(), Some(FamilyEvent::Registered(_))))
            .ok_or_else(reused)?;
        self.replayed(family_id, entry).await
    }
}

fn current_expected(write: &Write) -> u64 {
    write.expected_version.unwrap_or_default()
}

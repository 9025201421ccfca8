//! Loading an aggregate (opening its personal data with its family's key) and carrying out one
//! command: replay the first answer of a seen request id, check the expected version, decide,
//! seal, append, and decide again after a concurrent change.
//!
//! Aggregates whose id is a family id (the family itself, its contact person assignment, its
//! contact log, its meetings) seal personal data with that family's key. Loaded states are
//! cached and refreshed with the messages appended since; every load also asks the key store for
//! the key (the services keep keys in memory only until the bucket's watch reports them erased,
//! [`cached_keys`]), so a family erased anywhere is unreadable here once that is reported.
//!
//! A command decides on its aggregate's cached state and appends with the cached version as its
//! expectation: a newer message on its subject makes the append conflict, and the command is
//! decided again on a fresh load. A refusal, nothing to write, or a retry is answered only from
//! a fresh load. The family itself seals with the key its cached state was opened with (an
//! erasure lands on its subject); other aggregates of a family ask the key store. What a command
//! writes goes into the cache.
//!
//! [`Reader`] only loads; [`Repository`] also decides and appends. A use case that only reads
//! another aggregate (a family, before recording a contact) holds a `Reader` of it.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use luukku_domain::sealing::{FamilyKey, HasPersonal};
use luukku_domain::{Actor, Aggregate, AggregateId, DomainEvent, RequestId};
use luukku_eventstore::{
    AggregateRef, Error as StoreError, EventStore, Expected, Fingerprint, KeyStore, Position, Recorded,
    Stream,
};

use crate::caller::Caller;
use crate::clock::context_now;
use crate::erasures::{self, Forget};
use crate::error::RepositoryError;

/// How often a command is decided again after losing a race it did not ask to lose.
const ATTEMPTS: usize = 8;

/// How many aggregates' states one reader keeps in memory.
const CACHED: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// How many families' keys a write service keeps in memory by default, each until the family
/// is erased anywhere (see [`luukku_eventstore::CachedKeys`]): the families being worked on.
/// A key held costs about 180 bytes.
pub const CACHED_KEYS: NonZeroUsize = NonZeroUsize::new(100_000).expect("non-zero");

/// The key store a write service seals and opens personal data with: `keys`, up to
/// [`CACHED_KEYS`] of them kept in memory until their erasure, so that a command on a family
/// worked on a moment ago asks nothing of the key bucket.
pub fn cached_keys(keys: luukku_eventstore::NatsKeyStore) -> luukku_eventstore::CachedKeys {
    luukku_eventstore::CachedKeys::new(keys, CACHED_KEYS)
}

/// Which family the aggregate belongs to, from its state and its new events (clear fields).
pub type FamilyOf<A> = fn(&A, &[<A as Aggregate>::Event]) -> Option<AggregateId>;

/// Where an aggregate's personal data key comes from.
pub enum Keys<A: Aggregate> {
    /// Its events hold no personal data.
    None,
    /// The aggregate is the family: its first write creates the family key.
    CreatesFamilyKey,
    /// The aggregate's id is a family id whose key the family created (and erasure deleted).
    FamilyKey,
    /// The aggregate belongs to the family this finds (such as a referral naming its family).
    FamilyOf(FamilyOf<A>),
}

impl<A: Aggregate> Clone for Keys<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: Aggregate> Copy for Keys<A> {}

/// One message of the history, its events opened.
#[derive(Debug, Clone)]
pub struct Entry<E> {
    pub recorded: Recorded,
    pub events: Vec<E>,
}

/// An aggregate as loaded: state, version and history.
///
/// The history's entries are shared: a load that finds newer messages, or a write, copies the
/// list of them, never the entries themselves.
#[derive(Debug, Clone)]
pub struct Loaded<A: Aggregate> {
    pub state: A,
    pub version: u64,
    pub entries: Vec<Arc<Entry<A::Event>>>,
    /// Whether personal data was opened (false after erasure, or with no personal data).
    opened: bool,
    /// The family's key it was opened with, for keying request fingerprints.
    key: Option<FamilyKey>,
}

impl<A: Aggregate> Default for Loaded<A> {
    fn default() -> Self {
        Self { state: A::default(), version: 0, entries: Vec::new(), opened: false, key: None }
    }
}

impl<A: Aggregate> Loaded<A> {
    /// The entry written by `actor`'s request `request_id`, if any.
    pub fn written_by(&self, actor: &Actor, request_id: &RequestId) -> Option<&Entry<A::Event>> {
        self.entries
            .iter()
            .map(Arc::as_ref)
            .find(|entry| entry.recorded.envelope.written_by(actor, request_id))
    }

    /// When the aggregate's first message was recorded.
    pub fn created_at(&self) -> Option<luukku_domain::Timestamp> {
        self.entries.first().map(|entry| entry.recorded.envelope.recorded_at)
    }
}

/// `fingerprint` as kept with data sealed under `key`: keyed with it.
fn keyed(fingerprint: Option<&Fingerprint>, key: Option<&FamilyKey>) -> Option<Fingerprint> {
    fingerprint.map(|fingerprint| match key {
        Some(key) => fingerprint.keyed(key.as_bytes()),
        None => fingerprint.clone(),
    })
}

/// Which request a write is, and the version it expects the aggregate to be at.
///
/// A request id belongs to its caller: the calling system and the person it acts for. The
/// same caller's same id with the same fingerprint is a retry and gets the first answer; with
/// another fingerprint, the id was reused and the write is refused (`ALREADY_EXISTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub request_id: RequestId,
    pub expected_version: Option<u64>,
    /// What the request was; `None` for processes' own writes, whose ids are derived.
    pub fingerprint: Option<Fingerprint>,
}

impl Write {
    pub fn new(request_id: RequestId) -> Self {
        Self { request_id, expected_version: None, fingerprint: None }
    }

    /// The same request under another id: one part of a request that writes several
    /// aggregates.
    pub fn part(&self, request_id: RequestId) -> Self {
        Self { request_id, expected_version: None, fingerprint: self.fingerprint.clone() }
    }

    /// The id of the aggregate this request creates, when the caller named none: derived from
    /// the caller, the request id and `kind`, so that a retry at any later time, past the
    /// store's duplicate window, finds the aggregate the first attempt created.
    pub fn new_id(&self, caller: &Caller, kind: &str) -> ulid::Ulid {
        let actor = &caller.actor;
        let parts = [kind, actor.system.as_str(), actor.person_id.as_str(), self.request_id.as_str()];
        let bytes = luukku_eventstore::envelope::digest_of(&parts);
        ulid::Ulid::from_bytes(bytes)
    }
}

/// Where a write landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The aggregate's version after the write.
    pub version: u64,
    /// Where the write landed; `None` when the command changed nothing.
    pub position: Option<Position>,
    /// The request id had been seen: nothing new was written and this is the first answer.
    pub replayed: bool,
}

impl Written {
    fn at(position: Position, replayed: bool) -> Self {
        Self { version: position.sequence, position: Some(position), replayed }
    }
}

/// The answer to a command: the events it recorded (as first recorded, when replayed).
#[derive(Debug, Clone)]
pub struct Outcome<E> {
    pub id: AggregateId,
    pub events: Vec<E>,
    pub written: Written,
}

/// Loaded aggregates, which forget every aggregate of a family when it is erased.
struct Cache<A: Aggregate> {
    entries: Mutex<LruCache<AggregateId, Arc<Loaded<A>>>>,
    key_source: Keys<A>,
}

impl<A: Aggregate + Send + Sync> Forget for Cache<A>
where
    A::Event: Send + Sync,
{
    fn forget(&self, family: AggregateId) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let of_family: Vec<AggregateId> = entries
            .iter()
            .filter(|(id, loaded)| family_of(self.key_source, **id, &loaded.state, &[]) == Some(family))
            .map(|(id, _)| *id)
            .collect();
        for id in of_family {
            entries.pop(&id);
        }
    }
}

/// The family whose key seals the aggregate's personal data, if any.
fn family_of<A: Aggregate>(
    key_source: Keys<A>,
    id: AggregateId,
    state: &A,
    events: &[A::Event],
) -> Option<AggregateId> {
    match key_source {
        Keys::None => None,
        Keys::CreatesFamilyKey | Keys::FamilyKey => Some(id),
        Keys::FamilyOf(find) => find(state, events),
    }
}

/// Loads aggregates of one type, with their personal data opened.
pub struct Reader<A: Aggregate, K> {
    store: EventStore,
    keys: K,
    stream: Stream,
    key_source: Keys<A>,
    cache: Arc<Cache<A>>,
}

fn decode<A: Aggregate>(messages: Vec<Recorded>) -> Result<Vec<Entry<A::Event>>, RepositoryError<A::Error>> {
    messages
        .into_iter()
        .map(|recorded| {
            let events = recorded.decode_events::<A::Event>().map_err(|error| {
                tracing::error!(%error, position = %recorded.position, "undecodable event");
                RepositoryError::Store(StoreError::Corrupt {
                    stream: recorded.position.stream,
                    sequence: recorded.position.sequence,
                    subject: recorded.subject.clone(),
                    reason: error.to_string(),
                })
            })?;
            Ok(Entry { recorded, events })
        })
        .collect()
}

impl<A, K> Reader<A, K>
where
    A: Aggregate + Clone + Send + Sync + 'static,
    A::Event: Send + Sync,
    K: KeyStore,
{
    pub fn new(store: EventStore, keys: K, stream: Stream, key_source: Keys<A>) -> Self {
        let cache = Arc::new(Cache { entries: Mutex::new(LruCache::new(CACHED)), key_source });
        let forget: Arc<dyn Forget> = cache.clone();
        erasures::register(Arc::downgrade(&forget));
        Self { store, keys, stream, key_source, cache }
    }

    pub fn aggregate(&self, id: AggregateId) -> AggregateRef {
        AggregateRef::new(self.stream, A::TYPE, id)
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub fn keys(&self) -> &K {
        &self.keys
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, LruCache<AggregateId, Arc<Loaded<A>>>> {
        // Puts and pops are whole, so a panic elsewhere cannot leave the map half-changed.
        self.cache.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The family whose key seals the aggregate's personal data, if any.
    fn family_of(&self, id: AggregateId, state: &A, events: &[A::Event]) -> Option<AggregateId> {
        family_of(self.key_source, id, state, events)
    }

    async fn key_of(
        &self,
        family: Option<AggregateId>,
    ) -> Result<Option<FamilyKey>, RepositoryError<A::Error>> {
        match family {
            // An erased family's data is never opened, whatever keys exist.
            Some(family) if erasures::is_erased(family) => Ok(None),
            Some(family) => Ok(self.keys.get(&family.to_string()).await?),
            None => Ok(None),
        }
    }

    /// The aggregate as this process last loaded or wrote it, without asking the store; `None`
    /// when it is not cached, or its family was erased since.
    fn cached(&self, id: AggregateId) -> Option<Arc<Loaded<A>>> {
        let cached = self.lock_cache().get(&id).cloned()?;
        let family = self.family_of(id, &cached.state, &[]);
        (!family.is_some_and(erasures::is_erased)).then_some(cached)
    }

    /// The aggregate as this process last loaded or wrote it, if that was at `version`: the
    /// state a command of this process just left it in, without a round trip to the store.
    pub fn cached_at(&self, id: AggregateId, version: u64) -> Option<Arc<Loaded<A>>> {
        self.cached(id).filter(|cached| cached.version == version)
    }

    /// Caches `after`, the state a command of this process wrote on top of `before`: only if
    /// the cache still holds `before` itself (or nothing, for a new aggregate), and the family
    /// was not erased meanwhile; otherwise the cached entry goes, and the next load reads anew.
    fn wrote(&self, id: AggregateId, before: &Arc<Loaded<A>>, after: Loaded<A>) {
        let mut cache = self.lock_cache();
        // Checked under the cache's lock: an erasure is recorded before its caches are told.
        let erased = self.family_of(id, &after.state, &[]).is_some_and(erasures::is_erased);
        let current = cache.get(&id).is_some_and(|cached| Arc::ptr_eq(cached, before));
        let new = before.version == 0 && !cache.contains(&id);
        if !erased && (current || new) {
            cache.put(id, Arc::new(after));
        } else {
            cache.pop(&id);
        }
    }

    /// The aggregate at least as new as the stream's leader has it when this is called: for a
    /// load that decides a write on another aggregate (a family closed a moment ago, a consent
    /// just revoked). A direct get may be answered by a replica behind the leader; on a
    /// replicated stream the load is checked against the leader's last message of the
    /// aggregate, and made again until it holds it.
    pub async fn load_latest(&self, id: AggregateId) -> Result<Arc<Loaded<A>>, RepositoryError<A::Error>> {
        if !self.store.replicated(self.stream).await {
            return self.load(id).await;
        }
        let aggregate = self.aggregate(id);
        for attempt in 0..ATTEMPTS {
            let loaded = self.load(id).await?;
            if self.store.leader_version(&aggregate).await? <= loaded.version {
                return Ok(loaded);
            }
            tracing::debug!(
                subject = aggregate.subject(),
                "a load behind the stream's leader; loading again"
            );
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_millis(2 << attempt.min(6))).await;
            }
        }
        Err(RepositoryError::Unavailable(format!(
            "{}: the replicas did not catch up with the stream's leader",
            aggregate.subject()
        )))
    }

    /// The aggregate as it is now.
    pub async fn load(&self, id: AggregateId) -> Result<Arc<Loaded<A>>, RepositoryError<A::Error>> {
        let cached = self.lock_cache().get(&id).cloned();
        let version = cached.as_ref().map_or(0, |cached| cached.version);
        let fresh = self.store.load_after(&self.aggregate(id), version).await?;
        if cached.is_none() && fresh.messages.is_empty() && matches!(self.key_source, Keys::CreatesFamilyKey)
        {
            // No family yet: nothing to open, and its first write makes its key. Not kept: a
            // command creating the family decides on a fresh load, so that it never makes a key
            // for a family registered and erased since this load.
            return Ok(Arc::new(Loaded::default()));
        }
        let mut entries = decode::<A>(fresh.messages)?;
        let new_events: Vec<A::Event> = entries.iter().flat_map(|entry| entry.events.clone()).collect();
        let family = match &cached {
            Some(cached) => self.family_of(id, &cached.state, &new_events),
            None => self.family_of(id, &A::default(), &new_events),
        };
        let key = self.key_of(family).await?;
        let base = match cached {
            // The key came or went (erasure): opened data must not outlive it, not even in
            // memory, so everything is read again.
            Some(cached) if cached.opened != key.is_some() => {
                entries = decode::<A>(self.store.load(&self.aggregate(id)).await?.messages)?;
                Loaded::default()
            }
            Some(cached) if entries.is_empty() => {
                metrics::counter!("luukku_cache_lookups_total", "aggregate" => A::TYPE, "result" => "hit")
                    .increment(1);
                return Ok(cached);
            }
            // Only the list of entries is copied: the entries themselves are shared.
            Some(cached) => (*cached).clone(),
            None => Loaded::default(),
        };
        metrics::counter!("luukku_cache_lookups_total", "aggregate" => A::TYPE, "result" => "miss")
            .increment(1);
        let aad = family.map(|family| family.to_string()).unwrap_or_default();
        for event in entries.iter_mut().flat_map(|entry| entry.events.iter_mut()) {
            event.open(key.as_ref(), aad.as_bytes()).map_err(|error| {
                tracing::error!(%error, %id, "personal data does not open");
                RepositoryError::Unreadable { id, reason: error.to_string() }
            })?;
        }
        let mut loaded = base;
        loaded.opened = key.is_some();
        loaded.key = key;
        for entry in entries {
            for event in &entry.events {
                loaded.state.apply(event);
            }
            loaded.version = entry.recorded.position.sequence;
            loaded.entries.push(Arc::new(entry));
        }
        // Kept even when nothing was ever written (but not a family, above): a command creating
        // the aggregate then decides on it without asking the store again, and its append
        // expects it new.
        let loaded = Arc::new(loaded);
        self.lock_cache().put(id, Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// Loads aggregates of one type and carries out their commands.
pub struct Repository<A: Aggregate, K> {
    reader: Reader<A, K>,
}

impl<A, K> Repository<A, K>
where
    A: Aggregate + Clone + Send + Sync + 'static,
    A::Event: Send + Sync + PartialEq,
    A::Command: Sync,
    K: KeyStore,
{
    pub fn new(store: EventStore, keys: K, stream: Stream, key_source: Keys<A>) -> Self {
        Self { reader: Reader::new(store, keys, stream, key_source) }
    }

    pub fn reader(&self) -> &Reader<A, K> {
        &self.reader
    }

    pub fn store(&self) -> &EventStore {
        self.reader.store()
    }

    pub fn keys(&self) -> &K {
        self.reader.keys()
    }

    pub async fn load(&self, id: AggregateId) -> Result<Arc<Loaded<A>>, RepositoryError<A::Error>> {
        self.reader.load(id).await
    }

    /// See [`Reader::load_latest`]: for a load another aggregate's write is decided on.
    pub async fn load_latest(&self, id: AggregateId) -> Result<Arc<Loaded<A>>, RepositoryError<A::Error>> {
        self.reader.load_latest(id).await
    }

    /// Carries out `command` for `caller`.
    pub async fn execute(
        &self,
        id: AggregateId,
        caller: &Caller,
        write: &Write,
        command: &A::Command,
    ) -> Result<Outcome<A::Event>, RepositoryError<A::Error>> {
        let aggregate = self.reader.aggregate(id);
        for attempt in 0..ATTEMPTS {
            // The first attempt decides on the cached state, with no round trip to the store: its
            // append expects the cached version, so a newer message anywhere makes it conflict.
            // A refusal, or nothing to write, is only answered from a fresh load.
            let cached = (attempt == 0)
                .then(|| self.reader.cached(id))
                .flatten()
                .filter(|cached| write.expected_version.is_none_or(|expected| expected == cached.version));
            let from_cache = cached.is_some();
            let current = match cached {
                Some(cached) => cached,
                None => self.load(id).await?,
            };
            // A fingerprint is kept keyed with the family's key, so that it tells nothing of
            // the request once the key is erased.
            let family = self.reader.family_of(id, &current.state, &[]);
            let fingerprint = keyed(write.fingerprint.as_ref(), current.key.as_ref());
            if let Some(entry) = current.written_by(&caller.actor, &write.request_id) {
                // A replay writes nothing that could conflict: it is answered from a fresh load
                // (which opens nothing of a family erased meanwhile).
                if from_cache {
                    continue;
                }
                let first = &entry.recorded.envelope;
                // An erased family's fingerprints cannot be compared: its retries are replays.
                let comparable = family.is_none() || current.key.is_some();
                if comparable && !first.same_request(fingerprint.as_ref()) {
                    return Err(RepositoryError::RequestIdReused {
                        request_id: write.request_id.clone(),
                        original_subject: entry.recorded.subject.clone(),
                        method: first.fingerprint.as_ref().map(|first| first.method.clone()),
                    });
                }
                return Ok(Outcome {
                    id,
                    events: entry.events.clone(),
                    written: Written::at(entry.recorded.position, true),
                });
            }
            if let Some(expected) = write.expected_version
                && expected != current.version
            {
                if !self.latest(&aggregate, &current, attempt).await? {
                    continue;
                }
                return Err(RepositoryError::Conflict {
                    subject: aggregate.subject(),
                    expected,
                    current: current.version,
                });
            }
            let decided = current.state.decide(command, &context_now());
            if from_cache && !decided.as_ref().is_ok_and(|events| !events.is_empty()) {
                continue;
            }
            // A refusal, or nothing to write, is answered only on the aggregate's latest version:
            // a load may be answered by a replica that lags behind the stream's leader.
            if !decided.as_ref().is_ok_and(|events| !events.is_empty())
                && !self.latest(&aggregate, &current, attempt).await?
            {
                continue;
            }
            let events = decided.map_err(|error| RepositoryError::Refused { noun: A::NOUN, id, error })?;
            if events.is_empty() {
                let written = Written { version: current.version, position: None, replayed: false };
                return Ok(Outcome { id, events, written });
            }
            let sealed = self.seal(id, &current, &events).await;
            // No key for the family is a refusal too, answered only on the latest version: a
            // replica behind the leader may not hold a registration since erased, whose retry is
            // answered as a replay.
            if matches!(sealed, Err(RepositoryError::FamilyErased { .. }))
                && !self.latest(&aggregate, &current, attempt).await?
            {
                continue;
            }
            let (sealed, used) = sealed?;
            let fingerprint = match &used {
                Some(key) => keyed(write.fingerprint.as_ref(), Some(key)),
                None => fingerprint,
            };
            let expected =
                if current.version == 0 { Expected::New } else { Expected::Version(current.version) };
            let appended = self
                .store()
                .append_request(
                    &aggregate,
                    expected,
                    &sealed,
                    &write.request_id,
                    fingerprint.as_ref(),
                    &caller.actor,
                )
                .await;
            match appended {
                // A twin of this request landed first: answer as it did, on the next round.
                Ok(appended) if appended.duplicate => continue,
                Ok(appended) => {
                    if let Some(envelope) = appended.written {
                        let mut after = (*current).clone();
                        if used.is_some() {
                            // Its data is open under the key it was sealed with.
                            after.key = used;
                            after.opened = true;
                        }
                        for event in &events {
                            after.state.apply(event);
                        }
                        after.version = appended.position.sequence;
                        let recorded = Recorded {
                            position: appended.position,
                            subject: aggregate.subject(),
                            envelope: *envelope,
                            traceparent: None,
                        };
                        after.entries.push(Arc::new(Entry { recorded, events: events.clone() }));
                        self.reader.wrote(id, &current, after);
                    }
                    return Ok(Outcome { id, events, written: Written::at(appended.position, false) });
                }
                // Decided again on a fresh load: a newer message may be this request's own (a
                // retry whose first append landed unacknowledged) and is then answered as it
                // was; a version the caller expected that is not the latest is refused there,
                // once the stream's leader confirms the load.
                Err(StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(RepositoryError::Contended { subject: aggregate.subject(), attempts: ATTEMPTS })
    }

    /// Whether `current` is the aggregate's latest version, as the stream's leader knows it;
    /// when it is not, waits a moment (longer at each `attempt`) for the replicas to catch up.
    async fn latest(
        &self,
        aggregate: &AggregateRef,
        current: &Loaded<A>,
        attempt: usize,
    ) -> Result<bool, RepositoryError<A::Error>> {
        // A stream of one replica is its own leader: a direct get answers as it does.
        let latest = !self.store().replicated(aggregate.stream).await
            || self.store().leader_version(aggregate).await? <= current.version;
        if !latest {
            tracing::debug!(
                subject = aggregate.subject(),
                "a load behind the stream's leader; loading again"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2 << attempt.min(6))).await;
        }
        Ok(latest)
    }

    async fn seal(
        &self,
        id: AggregateId,
        current: &Loaded<A>,
        events: &[A::Event],
    ) -> Result<(Vec<A::Event>, Option<FamilyKey>), RepositoryError<A::Error>> {
        let mut sealed = events.to_vec();
        if sealed.iter_mut().all(|event| event.personal_fields().is_empty()) {
            return Ok((sealed, None));
        }
        let found = self.reader.family_of(id, &current.state, events);
        let family = found.map(|family| family.to_string()).unwrap_or_default();
        let key = match (self.reader.key_source, found) {
            (Keys::CreatesFamilyKey, _) if current.version == 0 => {
                match self.keys().get_or_create(&family).await {
                    Ok(key) => Some(key),
                    Err(StoreError::KeyErased { .. }) => None,
                    Err(error) => return Err(error.into()),
                }
            }
            // The family itself: the key its cached state was opened with. An erasure lands on
            // its own subject, so an append on a state from before it conflicts.
            (Keys::CreatesFamilyKey, Some(found)) if current.key.is_some() && !erasures::is_erased(found) => {
                current.key.clone()
            }
            // Another aggregate of the family: an erasure does not touch its subject, so the
            // key store is asked (it answers none once the key is gone).
            (_, found) => self.reader.key_of(found).await?,
        };
        let Some(key) = key else {
            return Err(RepositoryError::FamilyErased { family: found.unwrap_or(id) });
        };
        for event in &mut sealed {
            event.seal(&key, family.as_bytes()).map_err(|error| {
                RepositoryError::Sealing(format!("sealing {}: {error}", event.event_type()))
            })?;
        }
        Ok((sealed, Some(key)))
    }
}

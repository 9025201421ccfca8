//! Read models kept in sled and checkpointed: a model follows its streams from where it last
//! stopped, not from their start, so a service answers soon after it starts however long the
//! streams are, and its models' size is bounded by the disk, not by memory.
//!
//! A model is one sled tree in the process's [`Folder`]. It applies the messages of each stream
//! in chunks: each message reads and writes records through a [`View`] (the chunk's changes over
//! the tree), and the chunk's changes are written in one commit together with the stream's
//! checkpoint ([`crate::writes`]), so a model never holds half a message after a crash, nor a
//! message applied twice. A query reads
//! the tree once the model has reached the stream's end as it was when the call came.
//!
//! A model is written anew from the streams' start when its folder is new, when it was written
//! by another version of the model (its `version` names the shape of its records), or when its
//! stream was replaced (as by a restore): a checkpoint lies past the stream's end, or the
//! message at the checkpoint was recorded at another time than the one the checkpoint keeps.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use luukku_domain::CodecError;
use luukku_eventstore::{EventStore, Recorded, Stream, Undecodable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::error::AppError;
use crate::standing::{Standing, undecodable_events};
use crate::writes::{LoggedTree, Writes};

/// How long a query waits for a model to reach its streams' ends.
const CATCH_UP: Duration = Duration::from_secs(5);
/// At most this many messages are applied in one commit.
const CHUNK: usize = 512;
/// How long a model waits before it reads its streams again from its checkpoint, after a write
/// to its folder failed.
const RETRY: Duration = Duration::from_secs(1);
/// sled's page cache for the process's models. The models' records are small (ids, dates and
/// states with their sealed values dropped); the cache holds the ones used most.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The key of the model's version; records' keys begin with a letter.
const VERSION_KEY: &[u8] = b"\0version";

fn checkpoint_key(stream: Stream) -> Vec<u8> {
    [b"\0checkpoint.".as_slice(), stream.name().as_bytes()].concat()
}

/// A stream's checkpoint: the last sequence applied, and when that message was recorded (when
/// it was read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
struct Checkpoint {
    sequence: u64,
    recorded_at: Option<i64>,
}

impl Checkpoint {
    fn of(recorded: &Recorded) -> Self {
        Self {
            sequence: recorded.position.sequence,
            recorded_at: Some(recorded.envelope.recorded_at.as_millis()),
        }
    }

    fn encoded(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_else(|error| unreachable!("a checkpoint encodes: {error}"))
    }
}

/// The folder of a process's checkpointed read models: one sled database, a tree per model.
#[derive(Clone)]
pub struct Folder {
    db: sled::Db,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder").finish_non_exhaustive()
    }
}

impl Folder {
    /// Opens (or makes) the folder at `path`. One process at a time may hold it.
    pub fn open(path: &Path) -> Result<Self, AppError> {
        let db =
            sled::Config::new().path(path).cache_capacity(CACHE_BYTES).open().map_err(|error| {
                AppError::Unavailable(format!("opening the read models' folder: {error}"))
            })?;
        Ok(Self { db })
    }

    /// A folder that is gone when the process ends: its models are written from the streams'
    /// start at every start (tests and benchmarks).
    pub fn temporary() -> Self {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(CACHE_BYTES)
            .open()
            .unwrap_or_else(|error| panic!("a temporary sled folder cannot be made: {error}"));
        Self { db }
    }

    /// Removes the tree of a model no longer kept (replaced by another), if it is there.
    pub fn retire(&self, model: &str) -> Result<(), AppError> {
        LoggedTree::drop_tree(&self.db, model).map(drop).map_err(store_error)
    }

    /// Writes what the models have applied to disk.
    pub fn flush(&self) -> Result<(), AppError> {
        self.db.flush().map(drop).map_err(store_error)
    }
}

fn store_error(error: sled::Error) -> AppError {
    AppError::Unavailable(format!("the read models' folder cannot be read: {error}"))
}

/// A record encoded; its personal values are dropped ([`luukku_domain::sealing::erased_as_empty`]).
/// A record decoded.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    luukku_domain::sealing::erased_as_empty(|| postcard::from_bytes(bytes))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    luukku_domain::sealing::erased_as_empty(|| postcard::to_allocvec(value))
        .map_err(|error| format!("a record does not encode: {error}"))
}

/// A chunk's changes over a model's tree: reads see the changes made before them. The changes
/// of the message being applied are kept apart until it is applied whole.
///
/// What the tree held at each key read is kept for the chunk (the tree is not written while a
/// chunk is applied): a key is read from sled once, and a record left as the tree holds it is
/// not written again. Many messages leave what a model reads as it was (a referral's steps
/// leave the family's access facts alone), and each write is a sled insert and part of the
/// commit's redo record.
pub struct View<'a> {
    tree: &'a sled::Tree,
    changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    stored: HashMap<Vec<u8>, Option<Vec<u8>>>,
    failed: Option<String>,
}

impl<'a> View<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            changes: BTreeMap::new(),
            pending: BTreeMap::new(),
            stored: HashMap::new(),
            failed: None,
        }
    }

    /// Keeps the message's changes.
    fn keep(&mut self) {
        self.changes.append(&mut self.pending);
    }

    /// Drops the message's changes.
    fn drop_pending(&mut self) {
        self.pending.clear();
    }

    fn raw(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(change) = self.pending.get(key).or_else(|| self.changes.get(key)) {
            return change.clone();
        }
        if let Some(stored) = self.stored.get(key) {
            return stored.clone();
        }
        match self.tree.get(key) {
            Ok(found) => {
                let found = found.map(|value| value.to_vec());
                self.stored.insert(key.to_vec(), found.clone());
                found
            }
            Err(error) => {
                self.failed.get_or_insert_with(|| error.to_string());
                None
            }
        }
    }

    /// The record at `key`.
    pub fn get<T: DeserializeOwned>(&mut self, key: &[u8]) -> Option<T> {
        let bytes = self.raw(key)?;
        match decode(&bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                self.failed.get_or_insert_with(|| format!("a record does not decode: {error}"));
                None
            }
        }
    }

    /// Whether there is a record at `key`.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.raw(key).is_some()
    }

    /// The keys beginning with `prefix`, in order, as the chunk's changes so far leave them.
    /// None when the tree cannot be read: the chunk then fails whole, and nothing of it is
    /// written.
    pub fn keys(&mut self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let mut keys = BTreeSet::new();
        for key in self.tree.scan_prefix(prefix).keys() {
            match key {
                Ok(key) => keys.insert(key.to_vec()),
                Err(error) => {
                    self.failed.get_or_insert_with(|| error.to_string());
                    return Vec::new();
                }
            };
        }
        // The message's own changes come after the chunk's.
        for changes in [&self.changes, &self.pending] {
            for (key, change) in changes.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
                if !key.starts_with(prefix) {
                    break;
                }
                match change {
                    Some(_) => keys.insert(key.clone()),
                    None => keys.remove(key),
                };
            }
        }
        keys.into_iter().collect()
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        match encode(value) {
            Ok(bytes) => {
                self.pending.insert(key, Some(bytes));
            }
            Err(error) => {
                self.failed.get_or_insert(error);
            }
        }
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// Makes the record at `key` `value`, reading it first: nothing is written when it is
    /// `value` already. For records most messages find as they would make them (an id's
    /// family, named again by each of its messages).
    pub fn ensure<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.raw(&key);
        self.put(key, value);
    }

    /// Changes the record at `key` (a default one when there is none) with `change`.
    pub fn update<T, R>(&mut self, key: Vec<u8>, change: impl FnOnce(&mut T) -> R) -> R
    where
        T: Default + Serialize + DeserializeOwned,
    {
        let mut value: T = self.get(&key).unwrap_or_default();
        let result = change(&mut value);
        self.put(key, &value);
        result
    }

    /// The changes kept, to be written together: those that leave a record as the tree holds
    /// it are left out.
    fn into_batch(self) -> Writes {
        let mut batch = Writes::default();
        for (key, change) in self.changes {
            if self.stored.get(&key) == Some(&change) {
                continue;
            }
            match change {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch
    }

    /// Makes the index entries `before` into `after`: removes the ones gone, adds the new ones
    /// (empty values).
    pub fn reindex(&mut self, before: Vec<Vec<u8>>, after: Vec<Vec<u8>>) {
        for gone in before.iter().filter(|key| !after.contains(key)) {
            self.pending.insert(gone.clone(), None);
        }
        for new in after.into_iter().filter(|key| !before.contains(key)) {
            self.pending.insert(new, Some(Vec::new()));
        }
    }
}

/// A tree of its own for trying a model's [`Apply`] (in tests): each message is applied whole
/// and written, as a model writes a chunk.
pub struct Scratch {
    tree: LoggedTree,
}

impl Scratch {
    pub fn new() -> Self {
        let tree = LoggedTree::open(&Folder::temporary().db, "scratch")
            .unwrap_or_else(|error| panic!("a temporary sled tree cannot be made: {error}"));
        Self { tree }
    }

    /// Applies `recorded` through `apply`; nothing of it is written when it fails.
    pub fn apply<C>(&self, context: &C, apply: Apply<C>, recorded: &Recorded) -> Result<(), String> {
        let mut view = View::new(&self.tree);
        apply(context, &mut view, recorded).map_err(|error| error.to_string())?;
        view.keep();
        if let Some(failed) = view.failed.take() {
            return Err(failed);
        }
        self.tree.commit(view.into_batch()).map_err(|error| error.to_string())
    }

    /// The keys beginning with `prefix`, in order, whole.
    pub fn keys(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.tree.scan_prefix(prefix).keys().filter_map(|key| key.ok().map(|key| key.to_vec())).collect()
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// How a model applies one message through a view of its tree, with its context `C` (things it
/// tells as it applies, such as a revocation); an `Err` leaves nothing of the message.
pub type Apply<C> = fn(&C, &mut View<'_>, &Recorded) -> Result<(), CodecError>;

/// What applying a chunk came to.
enum Applied {
    /// Everything, up to this sequence.
    Through(u64),
    /// The messages before `at` (up to `through`, if any), then a message that does not decode.
    StoppedAt { through: Option<u64>, at: usize, error: CodecError },
}

/// One checkpointed read model.
pub struct Projected<C> {
    name: &'static str,
    tree: LoggedTree,
    streams: Vec<Stream>,
    applied: Vec<watch::Sender<u64>>,
    standing: Arc<Standing>,
    context: C,
    apply: Apply<C>,
    /// One chunk is applied at a time, whatever its stream.
    writing: Mutex<()>,
    /// Messages applied since the process started.
    count: AtomicU64,
    /// Whether its tree has been checked (its version, its streams) and may be read.
    prepared: watch::Sender<bool>,
    /// Why its last write failed, while it is retried: it is not read meanwhile.
    failing: Mutex<Option<String>>,
    /// Tests only: how many of the next chunks fail as a write to the folder would.
    #[cfg(feature = "faults")]
    faults: std::sync::atomic::AtomicUsize,
}

impl<C: Send + Sync + 'static> Projected<C> {
    /// Opens the model `name` (of record shapes `version`) in `folder` and follows `streams`
    /// from its checkpoints in the background, applying each message with `apply`. Following
    /// stops when the model is dropped.
    pub fn spawn(
        folder: &Folder,
        store: EventStore,
        name: &'static str,
        version: u32,
        streams: &[Stream],
        context: C,
        apply: Apply<C>,
    ) -> Arc<Self> {
        Self::spawn_then(folder, store, name, version, streams, context, apply, |_| {})
    }

    /// As [`Projected::spawn`], calling `prepared` once the tree is checked and before it is
    /// read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn_then(
        folder: &Folder,
        store: EventStore,
        name: &'static str,
        version: u32,
        streams: &[Stream],
        context: C,
        apply: Apply<C>,
        prepared: fn(&Self),
    ) -> Arc<Self> {
        let standing = Standing::start(&store, name);
        let tree = LoggedTree::open(&folder.db, name.as_bytes());
        let tree = tree.unwrap_or_else(|error| panic!("the read model {name} cannot be opened: {error}"));
        let model = Arc::new(Self {
            name,
            tree,
            streams: streams.to_vec(),
            applied: streams.iter().map(|_| watch::Sender::new(0)).collect(),
            standing,
            context,
            apply,
            writing: Mutex::new(()),
            count: AtomicU64::new(0),
            prepared: watch::Sender::new(false),
            failing: Mutex::new(None),
            #[cfg(feature = "faults")]
            faults: std::sync::atomic::AtomicUsize::new(0),
        });
        // Its lag shows from the start, until it has read where it stands.
        streams.iter().for_each(|stream| model.standing.passed(*stream, 0));
        model.standing.starting_until_caught_up(streams.to_vec());
        let weak = Arc::downgrade(&model);
        tokio::spawn(async move { start(weak, store, version, prepared).await });
        model
    }

    /// Where the model stands, and whether it stopped.
    pub fn standing(&self) -> &Arc<Standing> {
        &self.standing
    }

    pub fn context(&self) -> &C {
        &self.context
    }

    /// How many messages the model has applied since the process started: after a start on
    /// its folder, only the ones written since it last stopped.
    pub fn applied_since_start(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the model may be read: its tree was checked at its start, and no write is
    /// failing. Facts it cannot vouch for are never used.
    fn readable(&self) -> Result<(), AppError> {
        if !*self.prepared.borrow() {
            return Err(AppError::Unavailable(format!(
                "the read model {} is starting; retry shortly",
                self.name
            )));
        }
        match self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            Some(failing) => Err(AppError::Unavailable(format!(
                "the read model {} cannot be written ({failing}); retry shortly",
                self.name
            ))),
            None => Ok(()),
        }
    }

    /// Records whether its writes are failing, in its standing too: the health of every
    /// service reading it says `NOT_SERVING` meanwhile, as the model refuses to be read.
    fn failed(&self, failing: Option<String>) {
        self.standing.set_failing(failing.is_some());
        *self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = failing;
    }

    /// Tests only: the next `chunks` chunks the model applies fail, as when its folder cannot
    /// be written (0: none).
    #[cfg(feature = "faults")]
    pub fn fail_next_chunks(&self, chunks: usize) {
        self.faults.store(chunks, Ordering::Release);
    }

    /// A write to the folder failed: the model is not read until it is retried from its
    /// checkpoint and succeeds.
    fn write_failed(&self, error: String) {
        tracing::error!(model = self.name, %error, "read model: a write failed; reading again from its checkpoint");
        self.failed(Some(error));
    }

    /// Reads with no commit of the model under way: what `read` gets (through `get` and the
    /// like) is as whole commits left it. For answers that combine several records; `read`
    /// only reads (it may not write, nor call this again).
    pub(crate) fn whole<R>(&self, read: impl FnOnce(&Self) -> R) -> R {
        self.tree.whole(|_| read(self))
    }

    /// The record at `key`.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, AppError> {
        self.readable()?;
        match self.tree.get(key).map_err(store_error)? {
            Some(bytes) => self.decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Whether there is a record at `key`.
    pub fn contains(&self, key: &[u8]) -> Result<bool, AppError> {
        self.readable()?;
        self.tree.contains_key(key).map_err(store_error)
    }

    /// Removes the entry at `key` once the work it stands for is done: for a model whose
    /// entries are a worker's queue. A rewrite of the model from the streams' start brings the
    /// entry back, so the work must bear being done again.
    pub fn done(&self, key: &[u8]) -> Result<(), AppError> {
        let _writing = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.tree.remove(key).map(drop).map_err(store_error)
    }

    /// The keys beginning with `prefix`, in order, without their prefix, whether the model may
    /// be read yet or not.
    pub(crate) fn keys_unchecked(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<Vec<u8>, sled::Error>> + use<C> {
        let skip = prefix.len();
        self.tree.scan_prefix(prefix).keys().map(move |key| Ok(key?[skip..].to_vec()))
    }

    /// The keys beginning with `prefix`, in order, without their prefix.
    pub fn keys<'a>(&'a self, prefix: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, AppError>> + use<'a, C> {
        self.keys_from(prefix, Bound::Unbounded)
    }

    /// The keys beginning with `prefix` whose rest is within `from` (a bound on the rest), in
    /// order, without their prefix.
    pub fn keys_from<'a>(
        &'a self,
        prefix: &[u8],
        from: Bound<&[u8]>,
    ) -> impl Iterator<Item = Result<Vec<u8>, AppError>> + use<'a, C> {
        let skip = prefix.len();
        let within = prefix.to_vec();
        let start = match from {
            Bound::Excluded(after) => Bound::Excluded([prefix, after].concat()),
            Bound::Included(from) => Bound::Included([prefix, from].concat()),
            Bound::Unbounded => Bound::Included(prefix.to_vec()),
        };
        let unreadable = self.readable().err();
        let readable = unreadable.is_none();
        let keys = self
            .tree
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .keys()
            .take_while(move |key| key.as_ref().map_or(true, |key| key.starts_with(&within)))
            .map(move |key| Ok(key.map_err(store_error)?[skip..].to_vec()));
        unreadable.map(Err).into_iter().chain(keys.take_while(move |_| readable))
    }

    /// The records whose keys begin with `prefix`, in order, with their keys' rest.
    pub fn records<'a, T: DeserializeOwned>(
        &'a self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), AppError>> + use<'a, T, C> {
        let skip = prefix.len();
        let unreadable = self.readable().err();
        let readable = unreadable.is_none();
        let records = self.tree.scan_prefix(prefix).map(move |found| {
            let (key, value) = found.map_err(store_error)?;
            Ok((key[skip..].to_vec(), self.decode(&value)?))
        });
        unreadable.map(Err).into_iter().chain(records.take_while(move |_| readable))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, AppError> {
        decode(bytes).map_err(|error| {
            AppError::Internal(format!("the read model {} holds a bad record: {error}", self.name))
        })
    }

    /// Waits (at most [`CATCH_UP`], and never past the call's deadline) until the model may be
    /// read: its tree was checked at its start. `UNAVAILABLE` otherwise.
    pub async fn ready(&self) -> Result<(), AppError> {
        let mut prepared = self.prepared.subscribe();
        let now = tokio::time::Instant::now();
        let call = luukku_eventstore::deadline::current();
        // Answered a moment before the caller gives up.
        let until =
            (now + CATCH_UP).min(call.checked_sub(luukku_eventstore::deadline::MARGIN).unwrap_or(now));
        match tokio::time::timeout_at(until, prepared.wait_for(|prepared| *prepared)).await {
            Ok(Ok(_)) => Ok(()),
            _ => {
                Err(AppError::Unavailable(format!("the read model {} is starting; retry shortly", self.name)))
            }
        }
    }

    /// Waits (at most [`CATCH_UP`]) until the model has applied `stream` up to `sequence`;
    /// whether it has.
    pub async fn reached(&self, stream: Stream, sequence: u64) -> bool {
        let Some(index) = self.streams.iter().position(|known| *known == stream) else {
            return false;
        };
        let mut applied = self.applied[index].subscribe();
        tokio::select! {
            biased;
            reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= sequence)) => {
                matches!(reached, Ok(Ok(_)))
            }
            _ = self.standing.until_stopped() => false,
        }
    }

    /// Waits until everything in the model's streams now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), AppError> {
        self.caught_up_on(store, &self.streams).await
    }

    /// As [`Projected::caught_up`], for those of the model's streams that `streams` names, in
    /// the model's order.
    pub async fn caught_up_on(&self, store: &EventStore, streams: &[Stream]) -> Result<(), AppError> {
        // The streams' ends, asked for together: one round trip's wait, not one per stream.
        let wanted: Vec<(usize, Stream)> =
            self.streams.iter().copied().enumerate().filter(|(_, stream)| streams.contains(stream)).collect();
        let ends =
            futures::future::try_join_all(wanted.iter().map(|(_, stream)| store.last_sequence(*stream)))
                .await?;
        for ((index, stream), last) in wanted.into_iter().zip(ends) {
            let mut applied = self.applied[index].subscribe();
            let reached = tokio::select! {
                biased;
                reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)) => reached,
                stopped = self.standing.until_stopped() => return Err(self.standing.stopped_error(&stopped)),
            };
            if !matches!(reached, Ok(Ok(_))) {
                return Err(AppError::Unavailable(format!(
                    "the read model {} has not reached sequence {last} of {stream} yet; retry shortly",
                    self.name
                )));
            }
        }
        Ok(())
    }

    fn checkpoint(&self, stream: Stream) -> Result<Checkpoint, sled::Error> {
        // Read again after a failed write: that write is made whole first, or not read past.
        self.tree.finish()?;
        Ok(self
            .tree
            .get(checkpoint_key(stream))?
            .and_then(|bytes| postcard::from_bytes(&bytes).ok())
            .unwrap_or_default())
    }

    /// Makes the tree the model's `version`, with no stream `replaced`: empties it otherwise.
    /// Answers the checkpoints' sequences.
    fn prepare(&self, version: u32, replaced: Option<String>) -> Result<Vec<u64>, sled::Error> {
        let stored = self.tree.get(VERSION_KEY)?;
        // Emptied keys go one by one: a tree with anything left and no version is emptied again.
        let fresh = self.tree.first()?.is_none();
        let reason = match (stored.as_deref(), replaced) {
            (None, _) if fresh => None,
            (_, Some(replaced)) => Some(replaced),
            (Some(stored), None) if stored == version.to_be_bytes() => None,
            (Some(stored), None) => {
                Some(format!("written by version {stored:?} of the model, not {version}"))
            }
            (None, None) => Some("no version recorded".to_owned()),
        };
        if let Some(reason) = reason {
            tracing::warn!(model = self.name, %reason, "read model written anew from the streams' start");
            // The version goes first, and for good: the checkpoints sort before it, so a stop
            // while the rest goes would otherwise leave records under the version with no
            // checkpoint, which the next start would keep and apply the streams over.
            self.tree.remove(VERSION_KEY)?;
            self.tree.flush()?;
            self.tree.clear()?;
        }
        self.tree.insert(VERSION_KEY, &version.to_be_bytes())?;
        self.streams.iter().map(|stream| Ok(self.checkpoint(*stream)?.sequence)).collect()
    }

    /// Whether one of the model's streams was replaced since its checkpoint, and how.
    async fn replaced(&self, store: &EventStore) -> Result<Option<String>, String> {
        for stream in &self.streams {
            let checkpoint = self.checkpoint(*stream).map_err(|error| error.to_string())?;
            let last = store.last_sequence(*stream).await.map_err(|error| error.to_string())?;
            if checkpoint.sequence > last {
                let at = checkpoint.sequence;
                return Ok(Some(format!(
                    "its checkpoint {at} lies past the end of {stream} ({last}): the stream was replaced"
                )));
            }
            let Some(kept) = checkpoint.recorded_at.filter(|_| checkpoint.sequence > 0) else {
                continue;
            };
            let found =
                store.recorded_at(*stream, checkpoint.sequence).await.map_err(|error| error.to_string())?;
            if found.is_some_and(|found| found.as_millis() != kept) {
                let at = checkpoint.sequence;
                return Ok(Some(format!(
                    "message {at} of {stream} is not the one it applied: the stream was replaced"
                )));
            }
        }
        Ok(None)
    }

    /// Applies `messages` of `stream` and writes them with the checkpoint they reach, in one
    /// commit; stops before a message that does not decode.
    fn apply_chunk(&self, stream: Stream, messages: &[Recorded]) -> Result<Applied, String> {
        let _writing = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(feature = "faults")]
        if self.faults.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(1)).is_ok() {
            return Err("a write failure made for a test".to_owned());
        }
        // A commit of another stream that failed midway is made whole before this one reads.
        self.tree.finish().map_err(|error| error.to_string())?;
        let mut view = View::new(&self.tree);
        let mut through: Option<Checkpoint> = None;
        let mut stopped = None;
        for (at, recorded) in messages.iter().enumerate() {
            match (self.apply)(&self.context, &mut view, recorded) {
                Ok(()) => {
                    view.keep();
                    through = Some(Checkpoint::of(recorded));
                }
                Err(error) => {
                    view.drop_pending();
                    stopped = Some((at, error));
                    break;
                }
            }
        }
        if let Some(failed) = view.failed.take() {
            return Err(failed);
        }
        let mut batch = view.into_batch();
        if let Some(through) = through {
            batch.insert(checkpoint_key(stream), through.encoded());
        }
        self.tree.commit(batch).map_err(|error| error.to_string())?;
        let count = messages.len().min(stopped.as_ref().map_or(usize::MAX, |(at, _)| *at));
        self.count.fetch_add(count as u64, Ordering::Relaxed);
        let through = through.map(|through| through.sequence);
        Ok(match stopped {
            None => Applied::Through(through.unwrap_or_default()),
            Some((at, error)) => Applied::StoppedAt { through, at, error },
        })
    }

    /// Records `sequence` of `stream` as passed, with nothing written (a skipped message).
    fn pass(&self, stream: Stream, sequence: u64) -> Result<(), sled::Error> {
        let _writing = self.writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let checkpoint = Checkpoint { sequence, recorded_at: None };
        self.tree.insert(checkpoint_key(stream), checkpoint.encoded()).map(drop)
    }

    fn passed(&self, index: usize, sequence: u64) {
        self.applied[index].send_replace(sequence);
        self.standing.passed(self.streams[index], sequence);
    }
}

/// Prepares the model's tree, then follows each of its streams from its checkpoint.
async fn start<C: Send + Sync + 'static>(
    model: Weak<Projected<C>>,
    store: EventStore,
    version: u32,
    prepared: fn(&Projected<C>),
) {
    let mut backoff = Duration::from_millis(100);
    let checkpoints = loop {
        let Some(this) = model.upgrade() else {
            return;
        };
        match this.replaced(&store).await {
            Ok(replaced) => match this.prepare(version, replaced) {
                Ok(checkpoints) => break checkpoints,
                Err(error) => {
                    tracing::error!(model = this.name, %error, "read model: its folder cannot be read")
                }
            },
            Err(error) => {
                tracing::warn!(model = this.name, %error, "read model: its checkpoints cannot be checked yet")
            }
        }
        drop(this);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    };
    let Some(this) = model.upgrade() else {
        return;
    };
    prepared(&this);
    this.prepared.send_replace(true);
    for (index, checkpoint) in checkpoints.into_iter().enumerate() {
        this.passed(index, checkpoint);
    }
    for index in 0..this.streams.len() {
        tokio::spawn(follow(model.clone(), store.clone(), index));
    }
}

/// Runs `work` on the model on a blocking thread (sled's reads and writes block); a panic in it
/// is an error like a failed write.
async fn blocking<C: Send + Sync + 'static, T: Send + 'static>(
    this: &Arc<Projected<C>>,
    work: impl FnOnce(&Projected<C>) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let this = Arc::clone(this);
    tokio::task::spawn_blocking(move || work(&this))
        .await
        .unwrap_or_else(|panicked| Err(panicked.to_string()))
}

/// Follows stream `index` of the model from its checkpoint for as long as the model lives.
async fn follow<C: Send + Sync + 'static>(model: Weak<Projected<C>>, store: EventStore, index: usize) {
    'reading: loop {
        let Some(this) = model.upgrade() else {
            return;
        };
        let stream = this.streams[index];
        let checkpoint = match this.checkpoint(stream) {
            Ok(checkpoint) => checkpoint.sequence,
            Err(error) => {
                tracing::error!(model = this.name, %error, "read model: its checkpoint cannot be read");
                drop(this);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        drop(this);
        let mut messages = std::pin::pin!(store.follow(stream, checkpoint + 1).ready_chunks(CHUNK));
        while let Some(chunk) = messages.next().await {
            // Messages up to the first that cannot be read, then that one, and so on. The
            // readable ones move to the thread that applies them, and back.
            let mut rest: VecDeque<Result<Recorded, Undecodable>> = chunk.into();
            while !rest.is_empty() {
                let readable = rest.iter().take_while(|item| item.is_ok()).count();
                let recorded: Vec<Recorded> = rest.drain(..readable).filter_map(Result::ok).collect();
                let Some(this) = model.upgrade() else {
                    return;
                };
                let applied = blocking(&this, move |this| {
                    this.apply_chunk(stream, &recorded).map(|applied| (applied, recorded))
                })
                .await;
                let stopped_at;
                let undecodable: &Undecodable = match applied {
                    Ok((Applied::Through(through), _)) => {
                        this.failed(None);
                        if readable > 0 {
                            this.passed(index, through);
                        }
                        match rest.front() {
                            Some(Err(undecodable)) => undecodable,
                            _ => continue,
                        }
                    }
                    Ok((Applied::StoppedAt { through, at, error }, mut recorded)) => {
                        this.failed(None);
                        if let Some(through) = through {
                            this.passed(index, through);
                        }
                        // The message stopped at and those after it go back, to be read again
                        // once it is dealt with.
                        let after = recorded.split_off(at);
                        let Some(stopped) = after.first() else {
                            unreachable!("the message stopped at is a readable one")
                        };
                        stopped_at = undecodable_events(stopped, error);
                        after.into_iter().rev().for_each(|message| rest.push_front(Ok(message)));
                        &stopped_at
                    }
                    Err(error) => {
                        this.write_failed(error);
                        drop(this);
                        tokio::time::sleep(RETRY).await;
                        continue 'reading;
                    }
                };
                // Stopped until an operator skips the message.
                let standing = Arc::clone(&this.standing);
                drop(this);
                if !standing.stop_at(undecodable, || model.strong_count() > 0).await {
                    return;
                }
                let Some(this) = model.upgrade() else {
                    return;
                };
                let sequence = undecodable.position.sequence;
                let passed = blocking(&this, move |this| {
                    this.pass(stream, sequence).map_err(|error| error.to_string())
                });
                if let Err(error) = passed.await {
                    this.write_failed(error);
                    drop(this);
                    tokio::time::sleep(RETRY).await;
                    continue 'reading;
                }
                this.passed(index, sequence);
                rest.pop_front();
            }
        }
    }
}

/// A key: a one-letter kind, then parts (ids as their 16 big-endian bytes).
pub fn key(kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + parts.iter().map(|part| part.len()).sum::<usize>());
    key.push(kind);
    parts.iter().for_each(|part| key.extend_from_slice(part));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindex_removes_the_gone_and_adds_the_new() {
        let folder = Folder::temporary();
        let tree = folder.db.open_tree("t").expect("a tree");
        let mut view = View::new(&tree);
        view.reindex(vec![b"a".to_vec(), b"b".to_vec()], vec![b"b".to_vec(), b"c".to_vec()]);
        view.keep();
        assert_eq!(view.changes.get(b"a".as_slice()), Some(&None));
        assert_eq!(view.changes.get(b"c".as_slice()), Some(&Some(Vec::new())));
        assert!(!view.changes.contains_key(b"b".as_slice()));
    }

    #[test]
    fn a_view_reads_its_own_changes_over_the_tree() {
        let folder = Folder::temporary();
        let tree = folder.db.open_tree("t").expect("a tree");
        tree.insert(b"k", encode(&1u32).expect("encoded")).expect("written");
        let mut view = View::new(&tree);
        assert_eq!(view.get::<u32>(b"k"), Some(1));
        view.update(b"k".to_vec(), |value: &mut u32| *value += 1);
        assert_eq!(view.get::<u32>(b"k"), Some(2));
        view.remove(b"k".to_vec());
        assert!(!view.contains(b"k"));
        view.drop_pending();
        assert_eq!(view.get::<u32>(b"k"), Some(1), "a message's changes dropped whole");
        assert_eq!(
            tree.get(b"k").expect("read").map(|value| value.to_vec()),
            Some(encode(&1u32).expect("encoded"))
        );
    }

    #[test]
    fn a_view_writes_only_the_records_it_changed() {
        let folder = Folder::temporary();
        let tree = folder.db.open_tree("t").expect("a tree");
        tree.insert(b"same", encode(&1u32).expect("encoded")).expect("written");
        tree.insert(b"back", encode(&5u32).expect("encoded")).expect("written");
        tree.insert(b"id", encode(&9u32).expect("encoded")).expect("written");
        tree.insert(b"changed", encode(&2u32).expect("encoded")).expect("written");
        let mut view = View::new(&tree);
        view.update(b"same".to_vec(), |_: &mut u32| ());
        view.keep();
        // Changed by one message and changed back by the next.
        view.update(b"back".to_vec(), |value: &mut u32| *value += 1);
        view.keep();
        view.update(b"back".to_vec(), |value: &mut u32| *value -= 1);
        view.keep();
        view.ensure(b"id".to_vec(), &9u32);
        view.ensure(b"new".to_vec(), &3u32);
        view.update(b"more".to_vec(), |value: &mut u32| *value += 2);
        view.update(b"changed".to_vec(), |value: &mut u32| *value += 1);
        view.put(b"written".to_vec(), &1u32);
        view.remove(b"absent".to_vec());
        view.keep();
        let batch = view.into_batch();
        assert_eq!(batch.keys(), [b"absent".as_slice(), b"changed", b"more", b"new", b"written"]);
    }

    #[test]
    fn a_view_lists_keys_as_its_changes_leave_them() {
        let folder = Folder::temporary();
        let tree = folder.db.open_tree("t").expect("a tree");
        for key in [b"pa".as_slice(), b"pb", b"pc", b"q"] {
            tree.insert(key, Vec::new()).expect("written");
        }
        let mut view = View::new(&tree);
        view.remove(b"pb".to_vec());
        view.reindex(Vec::new(), vec![b"pd".to_vec()]);
        view.keep();
        view.remove(b"pc".to_vec());
        view.reindex(Vec::new(), vec![b"pb".to_vec(), b"o".to_vec()]);
        assert_eq!(view.keys(b"p"), [b"pa".to_vec(), b"pb".to_vec(), b"pd".to_vec()]);
        view.drop_pending();
        assert_eq!(view.keys(b"p"), [b"pa".to_vec(), b"pc".to_vec(), b"pd".to_vec()]);
    }
}

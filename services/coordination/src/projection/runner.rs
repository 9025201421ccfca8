//! Following the four streams into one sled tree. One reader follows each stream from its
//! checkpoint and decodes each message's events; one applier writes batches of messages
//! together with the checkpoints they reach, so a crash at any point loses whole batches only,
//! and a restart resumes from the checkpoints with nothing applied twice and nothing skipped.
//! The applier, one batch at a time, is much of what a large rebuild waits on (busy 73–74 % of
//! a rebuild at 1,000,000 families; docs/performance.md), so what can be done before a batch is
//! done by the readers.
//!
//! Each reader sends into a channel of its own. Behind (catching up, or rebuilding), the
//! applier takes the streams' messages in the order they were recorded, from the stream
//! furthest behind in time, so that a batch holds a span of time of the streams: a family's
//! messages, written close together in different streams, then mostly fall in one batch, and
//! its document and timeline are read and written once rather than once per stream. A reader
//! ahead in time waits on its full channel, for a second at most ([`MAX_HOLD`]). The result
//! does not depend on how the streams interleave; this is for speed only.
//!
//! A message that cannot be read stops the projection at it: the messages of its batch before
//! it are written, it is recorded in the quarantine, and nothing after it is applied until an
//! operator skips it (a message of a newer release is never skipped; see
//! `luukku_app::standing`). A batch that fails (the folder cannot be read or written) is tried
//! again, after a pause that grows, from what the tree then holds.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt;
use luukku_app::EventsError;
use luukku_app::Standing;
use luukku_app::standing::undecodable_events;
use luukku_domain::Timestamp;
use luukku_domain::family::FamilyId;
use luukku_domain::sealing::FamilyKey;
use luukku_eventstore::{Checkpoints, EventStore, Followed, Stream, Undecodable};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::apply::Decoded;
use super::store::{ProjectionError, ProjectionTree, Result, Txn};
use super::{FamilyKeys, FetchKeys, Indexing};

/// Messages one batch holds at most.
const BATCH: usize = 16_384;
/// Messages each stream's channel holds, and the most the applier holds of each stream
/// besides: a reader ahead of the others in time waits on its full channel.
const CHANNEL: usize = BATCH / 4;
/// At least this many messages at hand means the projection is behind (catching up, or
/// rebuilding): the batch then takes the streams in step, in the order their messages were
/// recorded, and waits up to [`BACKLOG_WAIT`] for a stream that runs out, since each batch has
/// costs of its own (every family it touches is read and written once per batch). Live
/// traffic makes small batches, which are applied at once.
const BACKLOG: usize = 1024;
const BACKLOG_WAIT: Duration = Duration::from_millis(20);
/// How long a stream's messages at hand may be passed over by batches taken in step before
/// they are taken whatever their time.
const MAX_HOLD: Duration = Duration::from_secs(1);
/// How many messages' family keys are read together, for indexing names.
const KEY_BATCH: usize = 256;
/// How many such reads run at once.
const KEY_READS: usize = 4;
/// How long the applier waits for messages before it indexes again the families it could not.
const REINDEX_EVERY: Duration = Duration::from_secs(10);
/// How long the first batch that needs the search key waits for it.
const KEY_WAIT: Duration = Duration::from_secs(2);
/// The pause before a failed batch is tried again: at first, and at most.
const RETRY: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// What a runner's applier has done since it started: with the time it took, whether a slow
/// catch-up or rebuild waits on its writes (busy nearly all the time) or on the messages
/// reaching it.
#[derive(Debug, Default)]
pub struct Applied {
    batches: AtomicU64,
    messages: AtomicU64,
    families: AtomicU64,
    busy_nanos: AtomicU64,
}

impl Applied {
    /// Batches committed (a failed one is not counted).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Messages those batches applied.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Families those batches changed, each counted once per batch: about as many reads and
    /// writes of a family's document and timeline (an erased family's are removed instead).
    pub fn families(&self) -> u64 {
        self.families.load(Ordering::Relaxed)
    }

    /// The time spent in those batches, as the clock runs (time the thread waited for a
    /// processor counts): projecting the messages' events (decoded as they were read, and
    /// again only when a failed batch is tried again) and writing the tree.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed))
    }

    /// A batch that applied `messages` to `families` in `took`, by the live projection or a
    /// rebuild.
    fn add(&self, messages: usize, families: usize, took: Duration, live: bool) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
        self.families.fetch_add(families as u64, Ordering::Relaxed);
        self.busy_nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let phase = if live { "live" } else { "rebuild" };
        metrics::counter!("luukku_projection_applied_messages_total", "phase" => phase)
            .increment(messages as u64);
        metrics::histogram!("luukku_projection_batch_duration_seconds", "phase" => phase)
            .record(took.as_secs_f64());
    }
}

/// Projects the streams into one generation's tree while it lives.
pub struct Runner {
    pub tree: ProjectionTree,
    positions: watch::Receiver<Checkpoints>,
    /// Whether this runner's changes are announced (false while it rebuilds).
    pub live: Arc<AtomicBool>,
    /// Where it stands, and whether it stopped at a message it cannot read.
    pub standing: Arc<Standing>,
    /// What its applier has done.
    pub applied: Arc<Applied>,
    /// Tests only: how many of the next batches fail.
    #[cfg(feature = "faults")]
    pub faults: Arc<std::sync::atomic::AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Runner {
    /// Starts following every stream from the tree's checkpoints.
    pub fn start(
        store: &EventStore,
        tree: ProjectionTree,
        indexing: &Indexing,
        changes: broadcast::Sender<FamilyId>,
        live: bool,
        name: &str,
    ) -> Result<Self> {
        let start = tree.checkpoints()?;
        let (positions_tx, positions) = watch::channel(start);
        let live = Arc::new(AtomicBool::new(live));
        let mut tasks = Vec::new();
        let mut inbox = Inbox::default();
        for stream in Stream::ALL {
            let (sink, messages) = mpsc::channel::<Item>(CHANNEL);
            inbox.streams.push(Inbound::new(messages));
            // A message that changes a family's members comes with the family's key, read
            // (for the messages at hand together) while the messages before are applied; each
            // comes with its events decoded, here rather than on the applier.
            let fetch = Arc::clone(&indexing.keys);
            let follow = store
                .follow(stream, start.get(stream) + 1)
                .ready_chunks(KEY_BATCH)
                .map(move |messages| with_keys(Arc::clone(&fetch), messages))
                .buffered(KEY_READS)
                .flat_map(futures::stream::iter);
            tasks.push(tokio::spawn(async move {
                let mut follow = std::pin::pin!(follow);
                while let Some(item) = follow.next().await {
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
            }));
        }
        let standing = Standing::start(store, name);
        standing.measure_lag(live.load(Ordering::Relaxed));
        if live.load(Ordering::Relaxed) {
            standing.starting_until_caught_up(Stream::ALL.to_vec());
        }
        for (stream, sequence) in start.iter() {
            standing.passed(stream, sequence);
        }
        #[cfg(feature = "faults")]
        let faults = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let account = Arc::new(Applied::default());
        let applier = Applier {
            tree: tree.clone(),
            indexing: indexing.clone(),
            // Families may be marked from before this start.
            pending: true,
            waited_for_key: false,
            applied: start,
            positions: positions_tx,
            changes,
            live: live.clone(),
            standing: standing.clone(),
            account: Arc::clone(&account),
            #[cfg(feature = "faults")]
            faults: Arc::clone(&faults),
        };
        tasks.push(tokio::spawn(applier.run(inbox)));
        Ok(Self {
            tree,
            positions,
            live,
            standing,
            applied: account,
            #[cfg(feature = "faults")]
            faults,
            tasks,
        })
    }

    pub fn positions(&self) -> Checkpoints {
        *self.positions.borrow()
    }

    /// Stops following, as dropping the last handle does: for a runner swapped out while a
    /// wait may still hold it.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    pub fn watch_positions(&self) -> watch::Receiver<Checkpoints> {
        self.positions.clone()
    }
}

struct Applier {
    tree: ProjectionTree,
    indexing: Indexing,
    /// Whether families may be marked to be indexed again.
    pending: bool,
    /// Whether a batch has waited for the search key already.
    waited_for_key: bool,
    applied: Checkpoints,
    positions: watch::Sender<Checkpoints>,
    changes: broadcast::Sender<FamilyId>,
    live: Arc<AtomicBool>,
    standing: Arc<Standing>,
    account: Arc<Applied>,
    #[cfg(feature = "faults")]
    faults: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Applier {
    fn drop(&mut self) {
        // An applier ends only when its runner stops or on a fault (a panic, a checkpoint that
        // cannot be written): its service then no longer says it serves.
        self.standing.set_failing(true);
    }
}

impl Applier {
    async fn run(mut self, mut inbox: Inbox) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut retry = RETRY.0;
        loop {
            if self.pending && self.indexing.search_key().is_some() {
                self.reindex_pending().await;
            }
            // Idle, it indexes again the families it could not index before.
            match tokio::time::timeout(REINDEX_EVERY, inbox.next_batch(&mut batch)).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => {
                    self.reindex_pending().await;
                    continue;
                }
            }
            let (mut work, keys): (Vec<(Followed, Decoding)>, Vec<Fetched>) =
                batch.drain(..).map(|(message, decoding, key)| ((message, decoding), key)).unzip();
            let keys: Arc<FamilyKeys> = Arc::new(keys.into_iter().flatten().collect());
            loop {
                let tree = self.tree.clone();
                let applied = self.applied;
                // Each command's trace ends with the batch that applies its message.
                let spans = applied_spans(&work, self.live.load(Ordering::Relaxed));
                // Without the search key yet, renamed families are marked to be indexed later
                // (at a start, the first such batch waits a moment for it).
                let search = match (self.indexing.search_key(), keys.is_empty() || self.waited_for_key) {
                    (Some(search), _) => Some(search),
                    (None, true) => None,
                    (None, false) => {
                        self.waited_for_key = true;
                        self.indexing.search_key_within(KEY_WAIT).await
                    }
                };
                let batch_keys = Arc::clone(&keys);
                let fails = self.injected_fault();
                // sled is blocking; keep it off the async workers.
                let outcome = tokio::task::spawn_blocking(move || {
                    let began = Instant::now();
                    let batch = match fails {
                        Some(fault) => Err(fault),
                        None => apply_batch(&tree, applied, &mut work, search.as_ref(), &batch_keys),
                    };
                    (work, batch.map(|batch| (batch, began.elapsed())))
                })
                .await;
                drop(spans);
                let (stop, done) = match outcome {
                    Ok((done, Ok((Batch { applied, count, changed, stop, marked }, took)))) => {
                        self.account.add(count, changed.len(), took, self.live.load(Ordering::Relaxed));
                        self.passed(applied, changed);
                        self.pending |= marked;
                        retry = RETRY.0;
                        self.standing.set_failing(false);
                        (stop, done)
                    }
                    Ok((failed, Err(error))) => {
                        metrics::counter!("luukku_projection_failed_batches_total").increment(1);
                        self.standing.set_failing(true);
                        tracing::error!(
                            %error,
                            retry_in_ms = retry.as_millis() as u64,
                            "projection: a batch failed; it is tried again"
                        );
                        work = failed;
                        // Tried again only on a tree made whole, from the checkpoints it holds.
                        loop {
                            tokio::time::sleep(retry).await;
                            retry = (retry * 2).min(RETRY.1);
                            if self.read_again().await {
                                break;
                            }
                        }
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(%error, "projection: the batch task failed");
                        return;
                    }
                };
                let Some((at, made)) = stop else { break };
                work = done;
                let rest = work.split_off(at + 1);
                let undecodable = match (made, work.pop()) {
                    (Some(undecodable), _) | (None, Some((Err(undecodable), _))) => undecodable,
                    (None, _) => {
                        tracing::error!("projection: a batch stopped at a message it can read");
                        return;
                    }
                };
                // Stopped at a message it cannot read: go on past it only once it is skipped.
                self.standing.stop_at(&undecodable, || true).await;
                let mut applied = self.applied;
                applied.set(undecodable.position.stream, undecodable.position.sequence);
                work = rest;
                let tree = self.tree.clone();
                match tokio::task::spawn_blocking(move || write_checkpoints(&tree, applied)).await {
                    Ok(Ok(())) => self.passed(applied, BTreeSet::new()),
                    _ => {
                        tracing::error!("projection: the checkpoint past a skipped message was not written");
                        return;
                    }
                }
            }
        }
    }

    /// Indexes the families marked as not indexed (their key or the search key could not be
    /// read when their members changed), a batch at a time.
    async fn reindex_pending(&mut self) {
        let Some(search) = self.indexing.search_key() else { return };
        // What fails now is tried again when the applier is next idle.
        self.pending = false;
        let tree = self.tree.clone();
        let pending = match tokio::task::spawn_blocking(move || tree.pending_index(KEY_BATCH)).await {
            Ok(Ok(pending)) if !pending.is_empty() => pending,
            Ok(Ok(_)) => return,
            Ok(Err(error)) => {
                tracing::error!(%error, "projection: the families to index again cannot be read");
                return;
            }
            Err(_) => return,
        };
        let Some(keys) = read_keys(&self.indexing.keys, pending.clone()).await else {
            tracing::warn!(
                families = pending.len(),
                "projection: families to index again: a key cannot be used"
            );
            return;
        };
        let tree = self.tree.clone();
        let indexed = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut txn = Txn::new(&tree.0);
            for family in pending {
                txn.load_family(family)?;
                txn.rename(family);
            }
            txn.index_names(Some(&search), &keys)?;
            txn.commit().map(|_changed| ())
        })
        .await;
        if !matches!(indexed, Ok(Ok(()))) {
            tracing::error!("projection: families marked to be indexed again were not");
        }
    }

    /// After a failed batch: makes whole what its commit may have left half made, and goes on
    /// from the checkpoints the tree then holds (that commit may have reached them), so that
    /// nothing is applied twice. The families it changed, if it did, are not announced (a
    /// watch shows them with the family's next change), and any it marked to be indexed again
    /// are looked for. Whether it could.
    async fn read_again(&mut self) -> bool {
        let tree = self.tree.clone();
        let stored = tokio::task::spawn_blocking(move || -> Result<Checkpoints> {
            tree.0.finish()?;
            tree.checkpoints()
        })
        .await;
        let error = match stored {
            Ok(Ok(stored)) => {
                if stored != self.applied {
                    self.pending = true;
                }
                self.passed(stored, BTreeSet::new());
                return true;
            }
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        metrics::counter!("luukku_projection_failed_batches_total").increment(1);
        tracing::error!(%error, "projection: the tree cannot be read again");
        false
    }

    /// Tests only: a failure instead of the next batch, while any are asked for.
    fn injected_fault(&self) -> Option<ProjectionError> {
        #[cfg(feature = "faults")]
        if self.faults.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(1)).is_ok() {
            return Some(ProjectionError::Codec("a failure a test asked for".to_owned()));
        }
        None
    }

    fn passed(&mut self, applied: Checkpoints, changed: BTreeSet<FamilyId>) {
        self.applied = applied;
        self.positions.send_replace(applied);
        for (stream, sequence) in applied.iter() {
            self.standing.passed(stream, sequence);
        }
        if self.live.load(Ordering::Relaxed) {
            for family in changed {
                let _ = self.changes.send(family);
            }
        }
    }
}

/// The messages the readers have sent: each stream's channel, and what the applier has
/// taken from it and not yet put in a batch.
#[derive(Default)]
struct Inbox {
    streams: Vec<Inbound>,
}

/// One stream's part of the [`Inbox`].
struct Inbound {
    messages: mpsc::Receiver<Item>,
    held: VecDeque<Item>,
    /// When a batch last took from it, or found nothing of it held: how long its held
    /// messages have been passed over.
    taken: tokio::time::Instant,
    /// When the last message a batch took from it was recorded: where a message that cannot
    /// be read stands in time.
    last_ms: i64,
}

impl Inbound {
    fn new(messages: mpsc::Receiver<Item>) -> Self {
        Self { messages, held: VecDeque::new(), taken: tokio::time::Instant::now(), last_ms: i64::MIN }
    }

    /// When its next message was recorded, by its writer's clock, but no later than `now_ms`
    /// (a writer's clock ahead does not hold its messages back); a message that cannot be
    /// read stands where the one before it does.
    fn front_ms(&self, now_ms: i64) -> Option<i64> {
        let (message, _, _) = self.held.front()?;
        Some(match message {
            Ok(recorded) => recorded.envelope.recorded_at.as_millis().min(now_ms),
            Err(_) => self.last_ms,
        })
    }

    /// Takes what its channel holds, up to [`CHANNEL`] messages held, without waiting.
    fn take_sent(&mut self) {
        while self.held.len() < CHANNEL {
            let Ok(item) = self.messages.try_recv() else { break };
            self.held.push_back(item);
        }
    }

    /// Moves its next message into `batch`.
    fn take(&mut self, batch: &mut Vec<Item>, now_ms: i64) {
        if let Some(at) = self.front_ms(now_ms) {
            self.last_ms = at;
        }
        batch.extend(self.held.pop_front());
        self.taken = tokio::time::Instant::now();
    }
}

impl Inbox {
    /// Waits for a message, then puts the next batch in `batch`: every message at hand when
    /// there are few (live traffic, applied at once). When there are many, up to [`BATCH`] in
    /// the order they were recorded, from the streams that had messages at hand; it ends when
    /// one of them has none left and sends none until [`BACKLOG_WAIT`] after the batch began,
    /// so that the others do not go on past it in time. A stream's messages passed over for
    /// [`MAX_HOLD`] are taken whatever their time (a writer's clock behind the others', or a
    /// stream far ahead), and its reader goes on. How many it holds: 0 once every reader has
    /// ended. A batch left part made (the call cancelled) is given back as it is.
    async fn next_batch(&mut self, batch: &mut Vec<Item>) -> usize {
        if !batch.is_empty() {
            return batch.len();
        }
        if self.held() == 0 && !self.any().await {
            return 0;
        }
        for stream in &mut self.streams {
            stream.take_sent();
            if stream.held.is_empty() {
                stream.taken = tokio::time::Instant::now();
            }
        }
        if self.held() < BACKLOG {
            for stream in &mut self.streams {
                batch.extend(stream.held.drain(..));
                stream.taken = tokio::time::Instant::now();
            }
            return batch.len();
        }
        let now_ms = Timestamp::now().as_millis();
        for stream in &mut self.streams {
            if !stream.held.is_empty() && stream.taken.elapsed() >= MAX_HOLD {
                while !stream.held.is_empty() && batch.len() < BATCH {
                    stream.take(batch, now_ms);
                }
            }
        }
        // Behind: the streams that have messages at hand are taken in step, in time.
        let until = tokio::time::Instant::now() + BACKLOG_WAIT;
        let mut taking: Vec<bool> = self.streams.iter().map(|stream| !stream.held.is_empty()).collect();
        while batch.len() < BATCH {
            let mut earliest: Option<(usize, i64)> = None;
            for (index, stream) in self.streams.iter_mut().enumerate() {
                if !taking[index] {
                    continue;
                }
                if stream.held.is_empty() {
                    match tokio::time::timeout_at(until, stream.messages.recv()).await {
                        Ok(Some(item)) => {
                            stream.held.push_back(item);
                            stream.take_sent();
                        }
                        Ok(None) => {
                            taking[index] = false;
                            continue;
                        }
                        // Slower than the wait: the batch ends here, lest the others go on
                        // past it in time.
                        Err(_) => return batch.len(),
                    }
                }
                let at = stream.front_ms(now_ms).unwrap_or(i64::MAX);
                if earliest.is_none_or(|(_, earliest)| at < earliest) {
                    earliest = Some((index, at));
                }
            }
            let Some((index, _)) = earliest else { break };
            self.streams[index].take(batch, now_ms);
        }
        batch.len()
    }

    /// Messages taken from the channels and not yet in a batch.
    fn held(&self) -> usize {
        self.streams.iter().map(|stream| stream.held.len()).sum()
    }

    /// Waits for a message from any stream; false once every reader has ended.
    async fn any(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            let mut open = false;
            for stream in &mut self.streams {
                match stream.messages.poll_recv(cx) {
                    Poll::Ready(Some(item)) => {
                        stream.held.push_back(item);
                        return Poll::Ready(true);
                    }
                    Poll::Ready(None) => {}
                    Poll::Pending => open = true,
                }
            }
            if open { Poll::Pending } else { Poll::Ready(false) }
        })
        .await
    }
}

/// A message as a reader sends it to the applier.
type Item = (Followed, Decoding, Fetched);

/// A family's key read for a message that changes its members.
type Fetched = Option<(FamilyId, Option<FamilyKey>)>;

/// A message's events as decoded when it was read (`None` for a message that cannot be read,
/// and once a batch has taken them: a batch tried again decodes them anew).
type Decoding = Option<std::result::Result<Option<Decoded>, EventsError>>;

/// The messages, each with the key of the family whose members it changes, if it does: read
/// together. While NATS does not answer they are read again (the projection is stalled then
/// anyway); a key that cannot be used (wrapped under a key-encryption key not given, or
/// corrupt) is left out, and that family's index entries stay as they were.
async fn with_keys(fetch: FetchKeys, messages: Vec<Followed>) -> Vec<Item> {
    let renamed: Vec<Option<FamilyId>> =
        messages.iter().map(|message| message.as_ref().ok().and_then(super::apply::renames)).collect();
    let families: Vec<FamilyId> =
        renamed.iter().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let keys = if families.is_empty() {
        HashMap::new()
    } else {
        match read_keys(&fetch, families.clone()).await {
            Some(keys) => keys,
            // One of them cannot be used: each on its own.
            None => {
                let mut keys = HashMap::new();
                for family in families {
                    match read_keys(&fetch, vec![family]).await {
                        Some(read) => keys.extend(read),
                        None => {
                            metrics::counter!("luukku_projection_unusable_keys_total").increment(1);
                            tracing::error!(%family, "projection: the family's key cannot be used; its names are not indexed again");
                        }
                    }
                }
                keys
            }
        }
    };
    messages
        .into_iter()
        .zip(renamed)
        .map(|(message, family)| {
            let key = family.and_then(|family| keys.get(&family).map(|key| (family, key.clone())));
            let decoding = message.as_ref().ok().map(super::apply::decode);
            (message, decoding, key)
        })
        .collect()
}

/// The families' keys; again while NATS does not answer; `None` on any other failure.
async fn read_keys(fetch: &FetchKeys, families: Vec<FamilyId>) -> Option<FamilyKeys> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match fetch(families.clone()).await {
            Ok(read) => return Some(read),
            Err(luukku_eventstore::Error::Unavailable(error)) => {
                tracing::warn!(%error, "projection: family keys cannot be read; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::warn!(%error, families = families.len(), "projection: a family key cannot be used");
                return None;
            }
        }
    }
}

/// A span for each message written by a traced call, child of that call's span, lasting until
/// the batch is applied. Made only while spans are exported, and not while catching up (a
/// rebuild reads years of messages).
fn applied_spans(messages: &[(Followed, Decoding)], live: bool) -> Vec<tracing::Span> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !live || !luukku_eventstore::trace_context::exporting() {
        return Vec::new();
    }
    messages
        .iter()
        .filter_map(|(message, _)| message.as_ref().ok())
        .filter_map(|recorded| {
            let traceparent = recorded.traceparent.as_deref()?;
            let span = tracing::info_span!(
                "projection.apply",
                stream = recorded.position.stream.name(),
                sequence = recorded.position.sequence
            );
            let _ = span.set_parent(luukku_eventstore::trace_context::parent(traceparent));
            Some(span)
        })
        .collect()
}

/// A message whose events this release cannot read.
fn undecodable_of(recorded: &luukku_eventstore::Recorded, error: EventsError) -> Undecodable {
    match error {
        EventsError::Codec(error) => undecodable_events(recorded, error),
        other => undecodable_events(
            recorded,
            luukku_domain::CodecError::UnknownEventType { event_type: other.to_string() },
        ),
    }
}

/// Writes `applied` as the checkpoints, alone: past a skipped message.
fn write_checkpoints(tree: &ProjectionTree, applied: Checkpoints) -> Result<()> {
    let mut txn = Txn::new(&tree.0);
    for (stream, sequence) in applied.iter() {
        txn.checkpoint(stream, sequence);
    }
    txn.commit().map(|_| ())
}

/// What one batch did: the checkpoints it reached, the families it changed, and where the
/// message it stopped at is in the batch, if it stopped: with why, when the message itself
/// reads but its events do not.
struct Batch {
    applied: Checkpoints,
    /// How many messages it applied: not those applied before, nor the one it stopped at.
    count: usize,
    changed: BTreeSet<FamilyId>,
    stop: Option<(usize, Option<Undecodable>)>,
    /// Whether it marked families to be indexed again.
    marked: bool,
}

/// Applies the messages not applied yet and the checkpoints they reach, in one commit, up
/// to the first message that cannot be read; indexes the names of the families whose members
/// changed with their `keys`.
fn apply_batch(
    tree: &ProjectionTree,
    mut applied: Checkpoints,
    messages: &mut [(Followed, Decoding)],
    search: Option<&super::search::SearchKey>,
    keys: &FamilyKeys,
) -> Result<Batch> {
    let mut txn = Txn::new(&tree.0);
    let mut stop = None;
    let mut count = 0;
    for (at, (message, decoding)) in messages.iter_mut().enumerate() {
        let position = match message {
            Ok(recorded) => recorded.position,
            Err(undecodable) => undecodable.position,
        };
        if position.sequence <= applied.get(position.stream) {
            continue;
        }
        let Ok(recorded) = message else {
            stop = Some((at, None));
            break;
        };
        let decoded = match decoding.take().unwrap_or_else(|| super::apply::decode(recorded)) {
            Ok(decoded) => decoded,
            Err(error) => {
                stop = Some((at, Some(undecodable_of(recorded, error))));
                break;
            }
        };
        super::apply::apply(&mut txn, recorded, decoded)?;
        applied.set(position.stream, position.sequence);
        count += 1;
    }
    let marked = txn.index_names(search, keys)?;
    for (stream, sequence) in applied.iter() {
        txn.checkpoint(stream, sequence);
    }
    let changed = txn.commit()?;
    Ok(Batch { applied, count, changed, stop, marked })
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;
    use luukku_domain::{Actor, Code, RequestId, Role};
    use luukku_eventstore::{Envelope, Position, Recorded};

    use super::*;

    /// A message of `stream` at `sequence`, recorded at `at_ms`.
    fn sent(stream: Stream, sequence: u64, at_ms: i64) -> Item {
        let code = |text: &str| Code::try_from(text.to_owned()).expect("a code");
        let actor = Actor {
            person_id: code("p"),
            role: Role::ContactPerson,
            sector: None,
            organisation: code("o"),
            system: code("s"),
        };
        let envelope = Envelope {
            recorded_at: Timestamp::from_millis(at_ms),
            request_id: RequestId::generate(),
            actor,
            events: Vec::new(),
            fingerprint: None,
        };
        let recorded = Recorded {
            position: Position { stream, sequence },
            subject: String::new(),
            envelope,
            traceparent: None,
        };
        (Ok(recorded), None, None)
    }

    /// A message of `stream` at `sequence` that cannot be read.
    fn unreadable(stream: Stream, sequence: u64) -> Item {
        let error = luukku_eventstore::Error::Corrupt {
            stream,
            sequence,
            subject: String::new(),
            reason: "a test's".to_owned(),
        };
        (
            Err(Undecodable { position: Position { stream, sequence }, subject: String::new(), error }),
            None,
            None,
        )
    }

    /// An inbox of the four streams, and their readers' ends.
    fn inbox() -> (Vec<mpsc::Sender<Item>>, Inbox) {
        let mut inbox = Inbox::default();
        let mut senders = Vec::new();
        for _ in Stream::ALL {
            let (sender, messages) = mpsc::channel(CHANNEL);
            senders.push(sender);
            inbox.streams.push(Inbound::new(messages));
        }
        (senders, inbox)
    }

    /// Each message's stream and sequence, and when it was recorded (`None`: it cannot be read).
    fn positions(batch: &[Item]) -> Vec<(Stream, u64, Option<i64>)> {
        batch
            .iter()
            .map(|(message, _, _)| match message {
                Ok(recorded) => (
                    recorded.position.stream,
                    recorded.position.sequence,
                    Some(recorded.envelope.recorded_at.as_millis()),
                ),
                Err(undecodable) => (undecodable.position.stream, undecodable.position.sequence, None),
            })
            .collect()
    }

    async fn next(inbox: &mut Inbox) -> Vec<(Stream, u64, Option<i64>)> {
        let mut batch = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), inbox.next_batch(&mut batch)).await.expect("a batch");
        positions(&batch)
    }

    fn send(
        sender: &mpsc::Sender<Item>,
        stream: Stream,
        sequences: std::ops::RangeInclusive<u64>,
        at_ms: impl Fn(u64) -> i64,
    ) {
        for sequence in sequences {
            sender.try_send(sent(stream, sequence, at_ms(sequence))).expect("room");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_batch_takes_the_streams_in_step_and_ends_where_one_runs_out() {
        let (senders, mut inbox) = inbox();
        // Families holds 3,000 messages a millisecond apart; contacts 1,000 over the same
        // first second: contacts' reader has not sent more yet.
        send(&senders[0], Stream::Families, 1..=3_000, |sequence| sequence as i64);
        send(&senders[1], Stream::Contacts, 1..=1_000, |sequence| sequence as i64);

        let first = next(&mut inbox).await;
        assert_eq!(first.len(), 2_000, "each stream's first second");
        assert!(first.windows(2).all(|pair| pair[0].2 <= pair[1].2), "in the order recorded");
        assert_eq!(first.iter().filter_map(|message| message.2).max(), Some(1_000));

        // Contacts has nothing more at hand: families goes on alone.
        let second = next(&mut inbox).await;
        assert_eq!(second.first().map(|message| (message.0, message.1)), Some((Stream::Families, 1_001)));
        assert_eq!(second.len(), 2_000);

        // Nothing is lost or taken twice.
        let mut all: Vec<(Stream, u64)> =
            first.iter().chain(&second).map(|message| (message.0, message.1)).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_passed_over_for_a_second_is_taken_whatever_its_time() {
        let (senders, mut inbox) = inbox();
        let began = tokio::time::Instant::now();
        let now = Timestamp::now().as_millis();
        send(&senders[1], Stream::Contacts, 1..=2_000, |sequence| now + sequence as i64);
        // Meetings' writer clock is an hour behind, and it keeps sending: each batch takes
        // its messages first and ends where they run out.
        let hour = 3_600_000;
        let mut sent = 0;
        let taken = loop {
            send(&senders[3], Stream::Meetings, sent + 1..=sent + 1_100, |sequence| {
                now - hour + sequence as i64
            });
            sent += 1_100;
            let batch = next(&mut inbox).await;
            if batch.iter().any(|message| message.0 == Stream::Contacts) {
                break batch;
            }
            assert!(sent < 200 * 1_100, "contacts is never taken");
        };
        assert!(began.elapsed() >= MAX_HOLD, "passed over for {:?}", began.elapsed());
        assert_eq!(taken.iter().filter(|message| message.0 == Stream::Contacts).count(), 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_that_cannot_be_read_keeps_its_place_in_time() {
        let (senders, mut inbox) = inbox();
        send(&senders[0], Stream::Families, 1..=1_100, |sequence| sequence as i64);
        assert_eq!(next(&mut inbox).await.len(), 1_100);
        // The next batch begins with a family message that cannot be read; contacts' reader
        // now sends its first 1,600, recorded meanwhile.
        senders[0].try_send(unreadable(Stream::Families, 1_101)).expect("room");
        send(&senders[0], Stream::Families, 1_102..=1_600, |sequence| sequence as i64 - 1);
        send(&senders[1], Stream::Contacts, 1..=1_600, |sequence| sequence as i64);

        let batch = next(&mut inbox).await;
        let at =
            batch.iter().position(|message| message.2.is_none()).expect("the message that cannot be read");
        assert_eq!(batch[at].1, 1_101);
        assert!(at >= 1_099, "contacts' messages recorded before it come first: {at}");
        assert!(batch[..at].iter().all(|message| message.2 <= Some(1_100)), "recorded until then, before it");
        assert!(batch[at + 1..].iter().all(|message| message.2 >= Some(1_100)), "recorded after, after it");
        // Contacts' last messages, recorded after families' last, come next.
        assert_eq!(batch.len() + next(&mut inbox).await.len(), 2_100);
    }

    #[tokio::test]
    async fn a_few_messages_are_taken_at_once_and_an_ended_inbox_gives_none() {
        let (senders, mut inbox) = inbox();
        senders[2].try_send(sent(Stream::Referrals, 1, 5)).expect("room");
        senders[3].try_send(sent(Stream::Meetings, 1, 1)).expect("room");
        let mut batch = Vec::new();
        assert_eq!(inbox.next_batch(&mut batch).now_or_never(), Some(2), "without waiting");

        drop(senders);
        let mut batch = Vec::new();
        assert_eq!(inbox.next_batch(&mut batch).await, 0);
    }
}

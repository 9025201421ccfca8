//! The projection of the four streams into sled: open the current generation, follow the
//! streams, rebuild into a new generation and swap it in while queries keep reading the old
//! one.

pub mod access_log;
mod apply;
pub mod doc;
mod runner;
pub mod search;
pub mod store;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use luukku_domain::family::FamilyId;
use luukku_domain::sealing::FamilyKey;
use luukku_eventstore::{Checkpoints, EventStore, KeyStore, SEARCH_INDEX_KEY, Stream};
use tokio::sync::broadcast;

pub use runner::Applied;
use runner::Runner;
pub use store::{ProjectionError, ProjectionTree, Result, TimelineCursor};

const CURRENT: &[u8] = b"current";
/// Which layout of the projection the current generation has.
const FORMAT: &[u8] = b"format";
/// The layout this release writes: 2 added the families' timelines, 3 the search index, 4
/// keyed its name hashes per family, 5 kept each caseload's name hashes together under its
/// contact person. A generation of another layout is not read: a new one is projected from the
/// start of the streams.
const LAYOUT: u64 = 5;

/// The families' keys (`None` for an erased one's), for indexing their members' names.
pub type FamilyKeys = std::collections::HashMap<FamilyId, Option<FamilyKey>>;

/// Reads families' keys together.
pub type FetchKeys =
    Arc<dyn Fn(Vec<FamilyId>) -> BoxFuture<'static, luukku_eventstore::Result<FamilyKeys>> + Send + Sync>;

/// What the projection indexes names with: the deployment's search key (read in the
/// background until the families service has made it), and the family keys that open the names.
#[derive(Clone)]
pub struct Indexing {
    search: tokio::sync::watch::Receiver<Option<search::SearchKey>>,
    pub keys: FetchKeys,
}

impl std::fmt::Debug for Indexing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexing")
            .field("search_key_read", &self.search.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl Indexing {
    /// Indexing with `keys`: the search key is read from them, again and again until it is
    /// there (the families service makes it; a coordination service may not write the bucket).
    pub fn from_keys<K: KeyStore + Clone>(keys: K) -> Self {
        let (found, search) = tokio::sync::watch::channel(None);
        let reader = keys.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            let mut told = false;
            while !found.is_closed() {
                match reader.get(SEARCH_INDEX_KEY).await {
                    Ok(Some(key)) => {
                        found.send_replace(Some(search::SearchKey::new(&key)));
                        return;
                    }
                    Ok(None) if !told => {
                        tracing::info!("waiting for the families service to make the search index key");
                        told = true;
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "the search index key cannot be read; trying again"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        let fetch: FetchKeys = Arc::new(move |families: Vec<FamilyId>| {
            let keys = keys.clone();
            Box::pin(async move {
                let names: Vec<String> = families.iter().map(FamilyId::to_string).collect();
                let mut read = keys.get_many(&names).await?;
                Ok(families
                    .into_iter()
                    .zip(names)
                    .map(|(family, name)| (family, read.remove(&name).flatten()))
                    .collect())
            })
        });
        Self { search, keys: fetch }
    }

    /// The search key, once it has been read.
    pub fn search_key(&self) -> Option<search::SearchKey> {
        self.search.borrow().clone()
    }

    /// The search key, waiting for it up to `limit`.
    pub async fn search_key_within(&self, limit: Duration) -> Option<search::SearchKey> {
        let mut search = self.search.clone();
        match tokio::time::timeout(limit, search.wait_for(Option::is_some)).await {
            Ok(Ok(key)) => key.clone(),
            _ => self.search_key(),
        }
    }
}

/// The memory sled keeps pages in (its default is 1 GB): the operating system's page cache
/// keeps the rest of the files at hand.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

fn tree_name(generation: u64) -> String {
    format!("view-{generation}")
}

pub struct Projection {
    db: sled::Db,
    store: EventStore,
    indexing: Indexing,
    access_log: Arc<access_log::AccessLog>,
    live: RwLock<(u64, Arc<Runner>)>,
    changes: broadcast::Sender<FamilyId>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl Projection {
    /// Opens (or creates) the projection under `folder` and starts following the streams.
    pub fn open(folder: &Path, store: EventStore, indexing: Indexing) -> Result<Arc<Self>> {
        let db =
            sled::Config::new().path(folder).flush_every_ms(Some(200)).cache_capacity(CACHE_BYTES).open()?;
        let meta = db.open_tree("meta")?;
        let number = |key: &[u8]| -> Result<Option<u64>> {
            meta.get(key)?
                .map(|bytes| {
                    let bytes =
                        bytes.as_ref().try_into().map_err(|_| ProjectionError::Codec("meta".into()))?;
                    Ok(u64::from_be_bytes(bytes))
                })
                .transpose()
        };
        let generation = match (number(CURRENT)?, number(FORMAT)?) {
            (Some(generation), Some(LAYOUT)) => generation,
            (found, layout) => {
                let generation = found.map_or(1, |old| old + 1);
                if let Some(old) = found {
                    tracing::warn!(
                        layout = layout.unwrap_or(1),
                        new_layout = LAYOUT,
                        "the projection was written in another layout: projecting it anew"
                    );
                    luukku_app::writes::LoggedTree::drop_tree(&db, tree_name(old))?;
                }
                luukku_app::writes::LoggedTree::drop_tree(&db, tree_name(generation))?;
                meta.insert(CURRENT, &generation.to_be_bytes())?;
                meta.insert(FORMAT, &LAYOUT.to_be_bytes())?;
                generation
            }
        };
        let (changes, _) = broadcast::channel(4096);
        let tree = ProjectionTree::open(&db, tree_name(generation))?;
        let runner =
            Runner::start(&store, tree, &indexing, changes.clone(), true, "coordination projection")?;
        let access_log = access_log::AccessLog::start(&db, &store)?;
        Ok(Arc::new(Self {
            db,
            store,
            indexing,
            access_log,
            live: RwLock::new((generation, Arc::new(runner))),
            changes,
            rebuilding: tokio::sync::Mutex::new(()),
        }))
    }

    fn live(&self) -> (u64, Arc<Runner>) {
        let live = self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (live.0, Arc::clone(&live.1))
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The access log's records by family.
    pub fn access_log(&self) -> &access_log::AccessLog {
        &self.access_log
    }

    /// The key the search index's hashes are made with, once it has been read.
    pub fn search_key(&self) -> Option<search::SearchKey> {
        self.indexing.search_key()
    }

    /// The tree queries read now.
    pub fn tree(&self) -> ProjectionTree {
        self.live().1.tree.clone()
    }

    pub fn generation(&self) -> u64 {
        self.live().0
    }

    /// Where the live projection stands, and whether it stopped at a message it cannot read.
    pub fn standing(&self) -> Arc<luukku_app::Standing> {
        Arc::clone(&self.live().1.standing)
    }

    /// What the live projection's applier has done since it started (or since this
    /// generation's rebuild did).
    pub fn applied(&self) -> Arc<Applied> {
        Arc::clone(&self.live().1.applied)
    }

    /// Tests only: the live projection's next `batches` batches fail, as when its folder
    /// cannot be written (0: none).
    #[cfg(feature = "faults")]
    pub fn fail_next_batches(&self, batches: usize) {
        self.live().1.faults.store(batches, std::sync::atomic::Ordering::Release);
    }

    /// Where the live projection stands in each stream.
    pub fn positions(&self) -> Checkpoints {
        self.live().1.positions()
    }

    /// The families whose documents change, as they are projected.
    pub fn subscribe(&self) -> broadcast::Receiver<FamilyId> {
        self.changes.subscribe()
    }

    /// Waits until the live projection has reached `targets`, for at most `limit`. Gives where
    /// it stands if it has not.
    pub async fn wait_for(&self, targets: Checkpoints, limit: Duration) -> Result<(), Checkpoints> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (generation, runner) = self.live();
            let mut positions = runner.watch_positions();
            let outcome = tokio::select! {
                biased;
                outcome = tokio::time::timeout_at(deadline, positions.wait_for(|at| at.reached(&targets))) => outcome,
                _ = runner.standing.until_stopped() => return Err(runner.positions()),
            };
            match outcome {
                Ok(Ok(_)) => return Ok(()),
                // The runner was swapped out: wait on the new one.
                Ok(Err(_)) if self.generation() != generation => continue,
                // Its applier has ended (it would go on at once, for ever, otherwise).
                Ok(Err(_)) | Err(_) => return Err(runner.positions()),
            }
        }
    }

    /// Projects everything again into a new generation, from the start of the streams, while
    /// queries keep reading the current one; when the new one has caught up it takes over and
    /// the old one is dropped. Calls `progress` with the new generation's positions and the
    /// targets.
    pub async fn rebuild(&self, mut progress: impl FnMut(Checkpoints, Checkpoints)) -> Result<u64> {
        let _only_one = self.rebuilding.lock().await;
        let (old, _) = self.live();
        let generation = old + 1;
        let name = tree_name(generation);
        luukku_app::writes::LoggedTree::drop_tree(&self.db, &name)?;
        let tree = ProjectionTree::open(&self.db, &name)?;
        let runner = Runner::start(
            &self.store,
            tree,
            &self.indexing,
            self.changes.clone(),
            false,
            "coordination projection",
        )?;
        let mut positions = runner.watch_positions();
        loop {
            let mut targets = Checkpoints::default();
            for stream in Stream::ALL {
                targets.set(stream, self.store.last_sequence(stream).await?);
            }
            let now = *positions.borrow();
            progress(now, targets);
            if now.reached(&targets) {
                break;
            }
            // A newer release's message is never passed: this rebuild cannot finish.
            if let Some(stopped) = runner.standing.stopped().filter(|stopped| stopped.newer) {
                drop(runner);
                luukku_app::writes::LoggedTree::drop_tree(&self.db, &name)?;
                return Err(ProjectionError::Codec(format!(
                    "the rebuild stopped at message {} of {}, written by a newer release: upgrade this service",
                    stopped.sequence, stopped.stream
                )));
            }
            if let Ok(Err(_)) = tokio::time::timeout(Duration::from_millis(200), positions.changed()).await {
                drop(runner);
                luukku_app::writes::LoggedTree::drop_tree(&self.db, &name)?;
                return Err(ProjectionError::Ended("the rebuild cannot finish; see the log".to_owned()));
            }
        }
        let meta = self.db.open_tree("meta")?;
        meta.insert(CURRENT, &generation.to_be_bytes())?;
        self.db.flush_async().await?;
        runner.live.store(true, std::sync::atomic::Ordering::Relaxed);
        runner.standing.measure_lag(true);
        let previous = {
            let mut live = self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *live, (generation, Arc::new(runner)))
        };
        // A wait may still hold the old runner: it follows no more, and the wait moves on to
        // the new one, before the old tree goes.
        previous.1.stop();
        drop(previous);
        luukku_app::writes::LoggedTree::drop_tree(&self.db, tree_name(old))?;
        tracing::info!(generation, "projection rebuilt and swapped in");
        Ok(generation)
    }

    /// The tree of the projection's own settings and published figures.
    pub fn meta(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree("meta")?)
    }

    /// Writes everything to disk now.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }
}

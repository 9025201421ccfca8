//! Family keys kept in memory by the services, and forgotten the moment an erasure purges one
//! anywhere: a watch on the bucket tells every process. While the watch is not running nothing
//! is cached, so a key is never used after its erasure was visible to the bucket's watchers.
//! A family whose purge the watch reported is not served a key again by this process, even one
//! read from a bucket replica still behind the purge, or put back later.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use lru::LruCache;
use luukku_domain::sealing::FamilyKey;

use super::{KeyStore, NatsKeyStore};
use crate::Result;

struct Shared {
    kept: Mutex<Kept>,
    /// Counts what was forgotten, so that a key read before a forgetting is not cached after it.
    forgotten: AtomicU64,
    /// Whether the watch runs: without it nothing is cached.
    watching: AtomicBool,
}

struct Kept {
    keys: LruCache<String, FamilyKey>,
    /// The families whose key the watch saw deleted or purged (or this process erased), for the
    /// process's life: an erasure is for good. A few bytes each, and erasures are rare.
    erased: HashSet<String>,
}

/// What was so before a read from the bucket: how many forgettings, and whether the watch ran.
#[derive(Clone, Copy)]
struct BeforeRead {
    forgotten: u64,
    watching: bool,
}

impl Shared {
    fn before_read(&self) -> BeforeRead {
        BeforeRead {
            forgotten: self.forgotten.load(Ordering::SeqCst),
            watching: self.watching.load(Ordering::SeqCst),
        }
    }

    /// Caches keys read from the bucket, unless the watch was not running or something was
    /// forgotten since `before` (the key read may be one erased meanwhile).
    fn keep<'a>(&self, before: BeforeRead, read: impl IntoIterator<Item = (&'a str, &'a FamilyKey)>) {
        let mut kept = self.kept();
        // Under the lock: a forgetting after the read leaves them out.
        if before.watching && self.forgotten.load(Ordering::SeqCst) == before.forgotten {
            for (family, key) in read {
                if !kept.erased.contains(family) {
                    kept.keys.put(family.to_owned(), key.clone());
                }
            }
        }
    }

    /// Whether the family's key is known to be erased.
    fn erased(&self, family: &str) -> bool {
        self.kept().erased.contains(family)
    }

    /// `key`, read from the bucket for `family`, unless the family's key was erased before now.
    fn unless_erased(&self, family: &str, key: Option<FamilyKey>) -> Option<FamilyKey> {
        key.filter(|_| !self.erased(family))
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the key of `family`, erased for good.
    fn forget(&self, family: &str) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        let mut kept = self.kept();
        kept.keys.pop(family);
        kept.erased.insert(family.to_owned());
    }

    /// Forgets every kept key (the watch broke); what is known erased stays so.
    fn forget_all(&self) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        self.kept().keys.clear();
    }
}

/// A [`NatsKeyStore`] with the keys it read kept until their erasure; cheap to clone.
#[derive(Clone)]
pub struct CachedKeys {
    inner: NatsKeyStore,
    shared: Arc<Shared>,
    _watch: Arc<Watching>,
}

impl std::fmt::Debug for CachedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.shared.kept();
        f.debug_struct("CachedKeys")
            .field("cached", &kept.keys.len())
            .field("erased", &kept.erased.len())
            .finish_non_exhaustive()
    }
}

/// The watch task, stopped with the last clone.
struct Watching(tokio::task::JoinHandle<()>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl CachedKeys {
    /// Keeps up to `capacity` keys of `inner`, and starts watching the bucket for erasures.
    pub fn new(inner: NatsKeyStore, capacity: NonZeroUsize) -> Self {
        let shared = Arc::new(Shared {
            kept: Mutex::new(Kept { keys: LruCache::new(capacity), erased: HashSet::new() }),
            forgotten: AtomicU64::new(0),
            watching: AtomicBool::new(false),
        });
        let task = tokio::spawn(watch(inner.bucket.clone(), Arc::clone(&shared)));
        Self { inner, shared, _watch: Arc::new(Watching(task)) }
    }

    /// Whether keys are being cached now (the erasure watch runs).
    pub fn caching(&self) -> bool {
        self.shared.watching.load(Ordering::SeqCst)
    }
}

/// Follows every change to the bucket from now on: a deleted or purged key is forgotten. When
/// the watch breaks, everything is forgotten and caching stops until it runs again.
async fn watch(bucket: kv::Store, shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match bucket.watch_all().await {
            Ok(mut changes) => {
                shared.watching.store(true, Ordering::SeqCst);
                backoff = Duration::from_millis(100);
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(entry) if entry.operation == kv::Operation::Put => {}
                        Ok(entry) => shared.forget(&entry.key),
                        Err(error) => {
                            tracing::warn!(%error, "the family key watch failed; keys are not cached until it runs");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "the family key watch does not start; keys are not cached"),
        }
        shared.watching.store(false, Ordering::SeqCst);
        shared.forget_all();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Counts `count` reads of kept keys as `outcome` (`hit` or `miss`).
fn counted(outcome: &'static str, count: usize) {
    metrics::counter!("luukku_family_key_cache_total", "outcome" => outcome).increment(count as u64);
}

impl KeyStore for CachedKeys {
    async fn get_or_create(&self, family: &str) -> Result<FamilyKey> {
        if let Some(key) = self.shared.kept().keys.get(family) {
            counted("hit", 1);
            return Ok(key.clone());
        }
        counted("miss", 1);
        if self.shared.erased(family) {
            return Err(crate::Error::KeyErased { family: family.to_owned() });
        }
        let before = self.shared.before_read();
        let key = self.inner.get_or_create(family).await?;
        // Erased while it was read: a replica behind the purge may have answered.
        if self.shared.erased(family) {
            return Err(crate::Error::KeyErased { family: family.to_owned() });
        }
        self.shared.keep(before, [(family, &key)]);
        Ok(key)
    }

    async fn get(&self, family: &str) -> Result<Option<FamilyKey>> {
        if let Some(key) = self.shared.kept().keys.get(family) {
            counted("hit", 1);
            return Ok(Some(key.clone()));
        }
        counted("miss", 1);
        if self.shared.erased(family) {
            return Ok(None);
        }
        let before = self.shared.before_read();
        let key = self.shared.unless_erased(family, self.inner.get(family).await?);
        self.shared.keep(before, key.as_ref().map(|key| (family, key)));
        Ok(key)
    }

    async fn get_many(&self, families: &[String]) -> Result<HashMap<String, Option<FamilyKey>>> {
        let mut keys = HashMap::with_capacity(families.len());
        let mut missing = Vec::new();
        {
            let mut kept = self.shared.kept();
            let Kept { keys: cached, erased } = &mut *kept;
            for family in families {
                if let Some(key) = cached.get(family) {
                    keys.insert(family.clone(), Some(key.clone()));
                } else if erased.contains(family) {
                    keys.insert(family.clone(), None);
                } else {
                    missing.push(family.clone());
                }
            }
        }
        let hits = keys.values().filter(|key| key.is_some()).count();
        counted("hit", hits);
        counted("miss", families.len() - hits);
        if missing.is_empty() {
            return Ok(keys);
        }
        let before = self.shared.before_read();
        let read: HashMap<String, Option<FamilyKey>> = (self.inner.get_many(&missing).await?.into_iter())
            .map(|(family, key)| {
                let key = self.shared.unless_erased(&family, key);
                (family, key)
            })
            .collect();
        self.shared.keep(
            before,
            read.iter().filter_map(|(family, key)| key.as_ref().map(|key| (family.as_str(), key))),
        );
        keys.extend(read);
        Ok(keys)
    }

    async fn erase(&self, family: &str) -> Result<()> {
        self.shared.forget(family);
        let erased = self.inner.erase(family).await;
        self.shared.forget(family);
        erased
    }
}

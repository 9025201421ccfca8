//! The families erased, as this process has learnt of them (its relationships model follows
//! `FAMILIES`; the families service also records its own erasures at once). A load never
//! opens an erased family's data, whatever keys still exist (a deletion that failed, a key
//! restored from a backup), and every repository cache forgets the family the moment it is
//! recorded, so opened data does not stay in memory.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, RwLock, Weak};

use luukku_domain::AggregateId;

/// A cache that can forget everything of one family.
pub trait Forget: Send + Sync {
    fn forget(&self, family: AggregateId);
}

static ERASED: LazyLock<RwLock<HashSet<AggregateId>>> = LazyLock::new(RwLock::default);
static CACHES: LazyLock<Mutex<Vec<Weak<dyn Forget>>>> = LazyLock::new(Mutex::default);

/// Records that `family` is erased, and makes every cache forget it.
pub fn record(family: AggregateId) {
    let new = ERASED.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(family);
    if !new {
        return;
    }
    let caches: Vec<_> = {
        let mut caches = CACHES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        caches.retain(|cache| cache.strong_count() > 0);
        caches.iter().filter_map(Weak::upgrade).collect()
    };
    for cache in caches {
        cache.forget(family);
    }
}

/// Whether `family` is known to be erased.
pub fn is_erased(family: AggregateId) -> bool {
    ERASED.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&family)
}

/// Registers a cache to forget erased families, for as long as it lives.
pub fn register(cache: Weak<dyn Forget>) {
    CACHES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(cache);
}

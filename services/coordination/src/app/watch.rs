//! Watching a family's view, or a contact person's caseload, change as the projection moves.

use luukku_app::{AppError, Caller, Result};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::FamilyId;
use luukku_eventstore::{Checkpoints, KeyStore};
use tokio::sync::{broadcast, mpsc};

use super::Coordination;
use super::timeline::TimelineItem;
use super::view::{CaseloadEntry, FamilyView};

/// The events of one message of a watched family, and its view after them.
#[derive(Debug, Clone)]
pub struct FamilyChange {
    pub entries: Vec<TimelineItem>,
    pub view: FamilyView,
}

/// How many changes a watcher may fall behind by before the oldest wait.
const BUFFER: usize = 64;

/// How many watches one caller may hold at once, and how long each lasts.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    pub per_caller: usize,
    pub lifetime: std::time::Duration,
}

impl Default for WatchLimits {
    fn default() -> Self {
        Self { per_caller: 8, lifetime: std::time::Duration::from_secs(30 * 60) }
    }
}

/// The watches open, per caller.
#[derive(Clone, Default)]
pub(crate) struct Watches {
    open: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    pub(crate) per_caller: usize,
    pub(crate) lifetime: std::time::Duration,
}

/// One open watch; closing it (dropping) frees its place at once.
pub(crate) struct WatchPermit {
    open: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    caller: String,
}

impl Drop for WatchPermit {
    fn drop(&mut self) {
        metrics::gauge!("luukku_watches_open").decrement(1);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

impl Watches {
    pub(crate) fn new(limits: WatchLimits) -> Self {
        Self { open: Default::default(), per_caller: limits.per_caller, lifetime: limits.lifetime }
    }

    /// A place for one more watch of `caller`, or `RESOURCE_EXHAUSTED` at the cap.
    pub(crate) fn acquire(&self, caller: &Caller) -> Result<WatchPermit> {
        let key = format!("{}\0{}", caller.actor.system, caller.actor.person_id);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key.clone()).or_default();
        if *count >= self.per_caller {
            return Err(AppError::Exhausted(format!(
                "{} watches are open for this caller, the most allowed; close one first",
                self.per_caller
            )));
        }
        *count += 1;
        metrics::gauge!("luukku_watches_open").increment(1);
        Ok(WatchPermit { open: std::sync::Arc::clone(&self.open), caller: key })
    }

    /// How many watches are open, for every caller together.
    pub(crate) fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().sum()
    }
}

impl<K: KeyStore + Clone> Coordination<K> {
    fn clone_handle(&self) -> Self {
        Self {
            projection: std::sync::Arc::clone(&self.projection),
            keys: self.keys.clone(),
            watches: self.watches.clone(),
        }
    }

    /// The family's view now, then each change once, in order, with the view after it.
    pub async fn watch_family(
        &self,
        caller: &Caller,
        family: FamilyId,
    ) -> Result<mpsc::Receiver<Result<FamilyChange, AppError>>> {
        let permit = self.watches.acquire(caller)?;
        let lifetime = self.watches.lifetime;
        let mut changes = self.projection.subscribe();
        let (first, history) = self.view_and_history(family, usize::MAX).await?;
        // Every entry is sent once; notifications may cover several changes (projected in one
        // batch, or missed when lagging), so each round sends the entries past the newest sent
        // in their stream (each stream is projected in order).
        let mut sent = Checkpoints::default();
        let mark = |sent: &mut Checkpoints, item: &TimelineItem| {
            sent.set(item.stream, sent.get(item.stream).max(item.sequence));
        };
        history.iter().for_each(|item| mark(&mut sent, item));
        let (sender, receiver) = mpsc::channel(BUFFER);
        let watcher = self.clone_handle();
        tokio::spawn(async move {
            let _permit = permit;
            let ends = tokio::time::sleep(lifetime);
            tokio::pin!(ends);
            if sender.send(Ok(FamilyChange { entries: Vec::new(), view: first })).await.is_err() {
                return;
            }
            loop {
                let changed = tokio::select! {
                    () = sender.closed() => return,
                    () = &mut ends => return,
                    received = changes.recv() => match received {
                        Ok(changed) => changed == family,
                        Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                if !changed {
                    continue;
                }
                let (view, history) = match watcher.view_and_history(family, usize::MAX).await {
                    Ok(found) => found,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                let mut new: Vec<TimelineItem> =
                    history.into_iter().filter(|item| item.sequence > sent.get(item.stream)).collect();
                new.reverse(); // oldest first
                new.iter().for_each(|item| mark(&mut sent, item));
                let mut messages: Vec<Vec<TimelineItem>> = Vec::new();
                for item in new {
                    match messages.last_mut() {
                        Some(last) if (last[0].stream, last[0].sequence) == (item.stream, item.sequence) => {
                            last.push(item)
                        }
                        _ => messages.push(vec![item]),
                    }
                }
                for entries in messages {
                    if sender.send(Ok(FamilyChange { entries, view: view.clone() })).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// The whole caseload, then each change once, in order: a family joining or its entry
    /// changing, a family leaving. A watcher that falls behind (a full buffer, or projection
    /// notifications it missed) gets the whole caseload again instead. The watch ends when the
    /// caller goes, or after its lifetime.
    pub async fn watch_caseload(
        &self,
        caller: &Caller,
        person: ContactPersonId,
        from: super::Wait,
    ) -> Result<mpsc::Receiver<Result<CaseloadMessage, AppError>>> {
        let permit = self.watches.acquire(caller)?;
        self.reached(from).await?;
        let mut changes = self.projection.subscribe();
        let first = self.caseload_now(person).await?;
        let positions = self.projection.positions();
        let (sender, receiver) = mpsc::channel(BUFFER);
        let watcher = self.clone_handle();
        let lifetime = self.watches.lifetime;
        tokio::spawn(async move {
            let _permit = permit;
            let ends = tokio::time::sleep(lifetime);
            tokio::pin!(ends);
            let mut current = first.clone();
            let resync = CaseloadMessage { change: CaseloadChange::Resync(first), positions };
            if sender.send(Ok(resync)).await.is_err() {
                return;
            }
            loop {
                let mut lagged = tokio::select! {
                    () = sender.closed() => return,
                    () = &mut ends => return,
                    received = changes.recv() => match received {
                        Ok(family) => {
                            if !watcher.concerns(person, &current, family) {
                                continue;
                            }
                            false
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                // Notifications that came meanwhile are covered by this round.
                loop {
                    match changes.try_recv() {
                        Ok(_) => {}
                        Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                        Err(_) => break,
                    }
                }
                let positions = watcher.projection.positions();
                let now = match watcher.caseload_now(person).await {
                    Ok(now) => now,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                let messages = if lagged {
                    vec![CaseloadChange::Resync(now.clone())]
                } else {
                    caseload_diff(&current, &now)
                };
                current = now;
                let mut behind = false;
                for change in messages {
                    match sender.try_send(Ok(CaseloadMessage { change, positions })) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            behind = true;
                            break;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                if behind {
                    // The watcher is behind: once it has room, the whole caseload as it is then.
                    let slot = tokio::select! {
                        () = &mut ends => return,
                        slot = sender.reserve() => match slot {
                            Ok(slot) => slot,
                            Err(_) => return,
                        },
                    };
                    let positions = watcher.projection.positions();
                    match watcher.caseload_now(person).await {
                        Ok(now) => {
                            current = now.clone();
                            slot.send(Ok(CaseloadMessage { change: CaseloadChange::Resync(now), positions }));
                        }
                        Err(error) => {
                            slot.send(Err(error));
                            return;
                        }
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// Whether a change of `family` may change `person`'s caseload: it is or was in it.
    fn concerns(&self, person: ContactPersonId, current: &[CaseloadEntry], family: FamilyId) -> bool {
        current.iter().any(|entry| entry.family_id == family)
            || self
                .projection
                .tree()
                .person(person)
                .ok()
                .flatten()
                .is_none_or(|doc| doc.families.contains(&family))
    }
}

/// One change of a watched caseload.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseloadChange {
    /// The whole caseload.
    Resync(Vec<CaseloadEntry>),
    /// A family joined, or its entry changed.
    Upserted(CaseloadEntry),
    /// A family left.
    Left(FamilyId),
}

/// A change, and where the projection stood for it.
#[derive(Debug, Clone)]
pub struct CaseloadMessage {
    pub change: CaseloadChange,
    pub positions: luukku_eventstore::Checkpoints,
}

/// What changed from `before` to `after`: the families that left, then the entries that
/// joined or changed, in the caseload's order.
pub fn caseload_diff(before: &[CaseloadEntry], after: &[CaseloadEntry]) -> Vec<CaseloadChange> {
    let mut changes: Vec<CaseloadChange> = before
        .iter()
        .filter(|old| !after.iter().any(|new| new.family_id == old.family_id))
        .map(|old| CaseloadChange::Left(old.family_id))
        .collect();
    changes.extend(
        after
            .iter()
            .filter(|new| !before.iter().any(|old| old == *new))
            .map(|new| CaseloadChange::Upserted(new.clone())),
    );
    changes
}

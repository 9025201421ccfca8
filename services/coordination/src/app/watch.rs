//! Watching a family's view, or a contact person's caseload, change as the projection moves.

use std::collections::HashSet;

use luukku_app::{AppError, Caller, Result};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::FamilyId;
use luukku_eventstore::KeyStore;
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

impl<K: KeyStore + Clone> Coordination<K> {
    fn clone_handle(&self) -> Self {
        Self { projection: std::sync::Arc::clone(&self.projection), keys: self.keys.clone() }
    }

    /// The family's view now, then each change once, in order, with the view after it.
    pub async fn watch_family(
        &self,
        _caller: &Caller,
        family: FamilyId,
    ) -> Result<mpsc::Receiver<Result<FamilyChange, AppError>>> {
        let mut changes = self.projection.subscribe();
        let (first, history) = self.view_and_history(family).await?;
        // Every entry is sent once; notifications may cover several changes (projected in one
        // batch, or missed when lagging), so each round sends all entries not sent yet.
        let key = |item: &TimelineItem| (item.stream, item.sequence, item.part);
        let mut sent: HashSet<_> = history.iter().map(key).collect();
        let (sender, receiver) = mpsc::channel(BUFFER);
        let watcher = self.clone_handle();
        tokio::spawn(async move {
            if sender.send(Ok(FamilyChange { entries: Vec::new(), view: first })).await.is_err() {
                return;
            }
            loop {
                let changed = match changes.recv().await {
                    Ok(changed) => changed == family,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !changed {
                    continue;
                }
                let (view, history) = match watcher.view_and_history(family).await {
                    Ok(found) => found,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                // Only what the projection has reached; the history may run ahead of it.
                let projected = watcher.projection.positions();
                let mut new: Vec<TimelineItem> = history
                    .into_iter()
                    .filter(|item| item.sequence <= projected.get(item.stream) && !sent.contains(&key(item)))
                    .collect();
                new.reverse(); // oldest first
                let mut messages: Vec<Vec<TimelineItem>> = Vec::new();
                for item in new {
                    sent.insert(key(&item));
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

    /// Each family of the caseload whose entry changes, as it changes.
    pub async fn watch_caseload(
        &self,
        _caller: &Caller,
        person: ContactPersonId,
    ) -> Result<mpsc::Receiver<Result<CaseloadEntry, AppError>>> {
        let mut changes = self.projection.subscribe();
        let (sender, receiver) = mpsc::channel(BUFFER);
        let watcher = self.clone_handle();
        tokio::spawn(async move {
            loop {
                let family = match changes.recv().await {
                    Ok(family) => family,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Ok(entries) = watcher.caseload_now(person).await else { continue };
                if let Some(entry) = entries.into_iter().find(|entry| entry.family_id == family)
                    && sender.send(Ok(entry)).await.is_err()
                {
                    return;
                }
                if sender.is_closed() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

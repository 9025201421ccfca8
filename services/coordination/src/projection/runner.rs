//! Following the four streams into one sled tree. One reader follows each stream from its
//! checkpoint; one applier writes batches of messages together with the checkpoints they
//! reach, so a crash at any point loses whole batches only, and a restart resumes from the
//! checkpoints with nothing applied twice and nothing skipped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use luukku_domain::family::FamilyId;
use luukku_eventstore::{Checkpoints, EventStore, Followed, Stream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::store::{ProjectionTree, Result, Txn};

/// Messages one batch holds at most.
const BATCH: usize = 16_384;

/// Projects the streams into one generation's tree while it lives.
pub struct Runner {
    pub tree: ProjectionTree,
    positions: watch::Receiver<Checkpoints>,
    /// Whether this runner's changes are announced (false while it rebuilds).
    pub live: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Runner {
    /// Starts following every stream from the tree's checkpoints.
    pub fn start(
        store: &EventStore,
        tree: ProjectionTree,
        changes: broadcast::Sender<FamilyId>,
        live: bool,
    ) -> Result<Self> {
        let start = tree.checkpoints()?;
        let (positions_tx, positions) = watch::channel(start);
        let (messages_tx, messages) = mpsc::channel::<Followed>(2 * BATCH);
        let live = Arc::new(AtomicBool::new(live));
        let mut tasks = Vec::new();
        for stream in Stream::ALL {
            let follow = store.follow(stream, start.get(stream) + 1);
            let sink = messages_tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut follow = std::pin::pin!(follow);
                while let Some(item) = follow.next().await {
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
            }));
        }
        let applier = Applier {
            tree: tree.clone(),
            applied: start,
            positions: positions_tx,
            changes,
            live: live.clone(),
        };
        tasks.push(tokio::spawn(applier.run(messages)));
        Ok(Self { tree, positions, live, tasks })
    }

    pub fn positions(&self) -> Checkpoints {
        *self.positions.borrow()
    }

    pub fn watch_positions(&self) -> watch::Receiver<Checkpoints> {
        self.positions.clone()
    }
}

struct Applier {
    tree: ProjectionTree,
    applied: Checkpoints,
    positions: watch::Sender<Checkpoints>,
    changes: broadcast::Sender<FamilyId>,
    live: Arc<AtomicBool>,
}

impl Applier {
    async fn run(mut self, mut messages: mpsc::Receiver<Followed>) {
        let mut batch = Vec::with_capacity(BATCH);
        while messages.recv_many(&mut batch, BATCH).await > 0 {
            let tree = self.tree.clone();
            let applied = self.applied;
            let work = std::mem::take(&mut batch);
            // sled is blocking; keep it off the async workers.
            let outcome = tokio::task::spawn_blocking(move || apply_batch(&tree, applied, &work)).await;
            match outcome {
                Ok(Ok((applied, changed))) => {
                    self.applied = applied;
                    self.positions.send_replace(applied);
                    if self.live.load(Ordering::Relaxed) {
                        for family in changed {
                            let _ = self.changes.send(family);
                        }
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "projection: a batch failed; stopping this projection");
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "projection: the batch task failed");
                    return;
                }
            }
        }
    }
}

/// Applies the messages not applied yet and the checkpoints they reach, in one sled batch.
fn apply_batch(
    tree: &ProjectionTree,
    mut applied: Checkpoints,
    messages: &[Followed],
) -> Result<(Checkpoints, BTreeSet<FamilyId>)> {
    let mut txn = Txn::new(&tree.0);
    for message in messages {
        let position = match message {
            Ok(recorded) => recorded.position,
            Err(undecodable) => undecodable.position,
        };
        if position.sequence <= applied.get(position.stream) {
            continue;
        }
        let outcome = match message {
            Ok(recorded) => super::apply::apply(&mut txn, recorded),
            Err(undecodable) => Err(super::store::ProjectionError::Codec(undecodable.error.to_string())),
        };
        if let Err(error) = outcome {
            // A message that cannot be projected is logged and passed; `luukku ops verify`
            // reports it. Stopping here would stop every view.
            tracing::error!(%error, %position, "projection: message not projected");
        }
        applied.set(position.stream, position.sequence);
    }
    for (stream, sequence) in applied.iter() {
        txn.checkpoint(stream, sequence);
    }
    let changed = txn.commit()?;
    Ok((applied, changed))
}

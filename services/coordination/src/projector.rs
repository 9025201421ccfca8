//! Following the four streams into one sled tree. Readers follow each stream from its
//! checkpoint; one applier writes batches of messages together with the checkpoints they
//! reach, so a crash at any point loses whole batches only, and a restart resumes from the
//! checkpoints with nothing applied twice and nothing skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use luukku_domain::family::FamilyId;
use luukku_eventstore::{EventStore, ReadOptions, Recorded};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::store::{self, Result, STREAMS, Txn};

/// Messages one batch holds at most.
const BATCH: usize = 16_384;

pub struct Projector {
    pub tree: sled::Tree,
    positions: watch::Receiver<[u64; 4]>,
    /// Whether this projector's changes are announced (false while it rebuilds).
    pub live: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Projector {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Projector {
    /// Starts following every stream from the tree's checkpoints.
    pub fn start(
        store: EventStore,
        tree: sled::Tree,
        changes: broadcast::Sender<FamilyId>,
        live: bool,
    ) -> Result<Self> {
        let start = store::checkpoints(&tree)?;
        let (positions_tx, positions) = watch::channel(start);
        let (messages_tx, messages) = mpsc::channel::<(usize, Recorded)>(2 * BATCH);
        let live = Arc::new(AtomicBool::new(live));
        let mut tasks = Vec::new();
        for (stream, name) in STREAMS.iter().enumerate() {
            tasks.push(tokio::spawn(read(
                store.clone(),
                name,
                stream,
                start[stream] + 1,
                messages_tx.clone(),
            )));
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

    pub fn positions(&self) -> [u64; 4] {
        *self.positions.borrow()
    }

    pub fn watch_positions(&self) -> watch::Receiver<[u64; 4]> {
        self.positions.clone()
    }
}

/// Follows one stream from `from`, subscribing again after a failure.
async fn read(
    store: EventStore,
    name: &'static str,
    stream: usize,
    mut from: u64,
    sink: mpsc::Sender<(usize, Recorded)>,
) {
    loop {
        match store.subscribe(name, ReadOptions { from_sequence: from, filter_subject: None }).await {
            Ok(mut messages) => {
                while let Some(message) = messages.next().await {
                    match message {
                        Ok(recorded) => {
                            from = recorded.position.sequence + 1;
                            if sink.send((stream, recorded)).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(stream = name, %error, "projection: reading failed; following again");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(stream = name, %error, "projection: cannot follow"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Applier {
    tree: sled::Tree,
    applied: [u64; 4],
    positions: watch::Sender<[u64; 4]>,
    changes: broadcast::Sender<FamilyId>,
    live: Arc<AtomicBool>,
}

impl Applier {
    async fn run(mut self, mut messages: mpsc::Receiver<(usize, Recorded)>) {
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
                    tracing::error!(%error, "projection: a batch failed; stopping this projector");
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
    tree: &sled::Tree,
    mut applied: [u64; 4],
    messages: &[(usize, Recorded)],
) -> Result<([u64; 4], std::collections::BTreeSet<FamilyId>)> {
    let mut txn = Txn::new(tree);
    for (stream, recorded) in messages {
        let sequence = recorded.position.sequence;
        if sequence <= applied[*stream] {
            continue;
        }
        if let Err(error) = crate::project::apply(&mut txn, *stream, recorded) {
            // A message that cannot be projected is logged and passed; `luukku ops verify`
            // reports it. Stopping here would stop every view.
            tracing::error!(%error, position = %recorded.position, "projection: message not projected");
        }
        applied[*stream] = sequence;
    }
    for (stream, sequence) in applied.iter().enumerate() {
        txn.checkpoint(stream, *sequence);
    }
    let changed = txn.commit()?;
    Ok((applied, changed))
}

//! The access log's records by family, followed from the `AUDIT` stream into a sled tree of
//! their own, so that a family's log report reads sled, not the stream. The records are kept
//! as stored (their chain hashes stay checkable); the tree is never rebuilt with the
//! projection's generations, and an erasure leaves the records, as it leaves the stream's.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use luukku_app::writes::{LoggedTree, Writes};
use luukku_domain::family::FamilyId;
use luukku_eventstore::EventStore;
use luukku_eventstore::audit::{AccessRecord, ReportPage, ReportQuery};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::store::{ProjectionError, Result};

const TREE: &str = "access-log";
/// The stream sequence the tree has reached, as followed by a release that reads blocks. A
/// follower from before blocks kept its own under `c` and left their records out (it took
/// `block` for a family it could not parse): without this key, the copy is read again from the
/// log's start, and records copied already are written again under the same keys. So a
/// rollback to such a release, and back, costs a second reading, not records.
const CHECKPOINT: &[u8] = b"C";
/// A record: this kind, the family, its stream sequence.
const RECORD: u8 = b'r';
/// How many messages one commit writes at most: one record each when the log is quiet, tens
/// each under load; a block holds at most 256 KiB.
const BATCH: usize = 256;
/// How long a report waits for the records stored before it to be followed, at most.
const FRESH: Duration = Duration::from_secs(2);

fn key(family: FamilyId, sequence: u64) -> [u8; 25] {
    let mut key = [0; 25];
    key[0] = RECORD;
    key[1..17].copy_from_slice(&family.as_ulid().to_bytes());
    key[17..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub struct AccessLog {
    tree: LoggedTree,
    store: EventStore,
    reached: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AccessLog {
    /// Opens the tree in `db` and follows the access log from where it stands.
    pub fn start(db: &sled::Db, store: &EventStore) -> Result<Arc<Self>> {
        let tree = LoggedTree::open(db, TREE)?;
        let checkpoint = match tree.get(CHECKPOINT)? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| ProjectionError::Codec("the access log's checkpoint".into()))?,
            ),
            None => 0,
        };
        let (reached_tx, reached) = watch::channel(checkpoint);
        let (written, store_followed) = (tree.clone(), store.clone());
        // A failed write is tried again from the last checkpoint, never skipped: until then
        // reports answer `UNAVAILABLE`, as the copy does not reach the stream's end.
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let from = *reached_tx.borrow() + 1;
                let follow = store_followed.follow_audit(from).ready_chunks(BATCH);
                let mut follow = std::pin::pin!(follow);
                while let Some(messages) = follow.next().await {
                    let tree = written.clone();
                    let stored = tokio::task::spawn_blocking(move || -> Result<u64> {
                        let mut batch = Writes::default();
                        let mut last = 0;
                        for message in messages {
                            // A block holds at most one record of each family: one key each.
                            for record in message.records {
                                if let Some(family) = record.family {
                                    batch.insert(&key(family, message.sequence)[..], record.bytes.as_ref());
                                }
                            }
                            last = message.sequence;
                        }
                        batch.insert(CHECKPOINT, last.to_be_bytes());
                        tree.commit(batch)?;
                        Ok(last)
                    })
                    .await;
                    match stored {
                        Ok(Ok(last)) => {
                            reached_tx.send_replace(last);
                            backoff = Duration::from_millis(100);
                        }
                        Ok(Err(error)) => {
                            tracing::error!(%error, "the access log's records were not stored; trying again");
                            break;
                        }
                        Err(error) => {
                            tracing::error!(%error, "the access log's writer failed; trying again");
                            break;
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        });
        Ok(Arc::new(Self { tree, store: store.clone(), reached, task }))
    }

    /// The stream sequence of the last record followed.
    pub fn reached(&self) -> u64 {
        *self.reached.borrow()
    }

    /// A page of the family's log report, with every record stored before the call began.
    pub async fn report(&self, query: &ReportQuery) -> Result<ReportPage, luukku_app::AppError> {
        let last = self.store.audit_last_sequence().await.map_err(luukku_app::AppError::from)?;
        let mut reached = self.reached.clone();
        // Not reached within the time, or the copy's writer is gone: the copy may be short.
        let fresh =
            matches!(tokio::time::timeout(FRESH, reached.wait_for(|at| *at >= last)).await, Ok(Ok(_)));
        if !fresh {
            return Err(luukku_app::AppError::Unavailable(format!(
                "the access log has not been read up to its end within {} ms: it is at {}, the end at {last}",
                FRESH.as_millis(),
                self.reached()
            )));
        }
        let tree = self.tree.clone();
        let query = query.clone();
        tokio::task::spawn_blocking(move || {
            let from = key(query.family, query.after_sequence.saturating_add(1));
            let to = key(query.family, u64::MAX);
            let mut failed = None;
            let stored = tree.range(from..=to).map_while(|entry| {
                let read = entry.map_err(|error| error.to_string()).and_then(|(key, bytes)| {
                    let sequence = key
                        .get(17..)
                        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                        .map(u64::from_be_bytes)
                        .ok_or_else(|| "an access log key".to_owned())?;
                    Ok((sequence, AccessRecord::decode(&bytes).ok()))
                });
                read.map_err(|error| failed = Some(error)).ok()
            });
            // The page stops reading once it is full.
            let page = query.page(stored);
            match failed {
                Some(error) => {
                    Err(luukku_app::AppError::Internal(format!("reading the access log: {error}")))
                }
                None => Ok(page),
            }
        })
        .await
        .map_err(|error| luukku_app::AppError::Internal(error.to_string()))?
    }
}

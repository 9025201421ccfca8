//! The access log's records by family, followed from the `AUDIT` stream into a sled tree of
//! their own, so that a family's log report reads sled, not the stream. The records are kept
//! as stored (their chain hashes stay checkable); the tree is never rebuilt with the
//! projection's generations, and an erasure leaves the records, as it leaves the stream's.
//!
//! The tree keeps which stream it copied (the stream's `created` time). A stream deleted and
//! made anew, or restored from a backup (which keeps the original's `created`, and so is told
//! by ending before the copy, or by its message at the copy's checkpoint not being the one
//! copied), is noticed at the start and within a second while running. The copy is then
//! cleared and read again from the start; meanwhile reports answer `UNAVAILABLE`. A tree copied
//! by a release that did not keep `created` is kept when the stream's message at its
//! checkpoint is the one it copied. Left: a restored stream that grows past the copy's end and
//! is copied on from there within the second between two looks, which then looks right.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use luukku_app::writes::{LoggedTree, Writes};
use luukku_domain::family::FamilyId;
use luukku_domain::{RefusalKind, Rule};
use luukku_eventstore::EventStore;
use luukku_eventstore::audit::{AccessRecord, AuditEnd, ReportPage, ReportQuery};
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
/// Which stream the records were copied from: its `created` time ([`AuditEnd`]), 16 bytes; empty
/// while the copy is being cleared. A key of its own, so that a release that knows only the
/// checkpoint still starts on the tree.
const STREAM: &[u8] = b"S";
/// A record: this kind, the family, its stream sequence.
const RECORD: u8 = b'r';
/// How many messages one commit writes at most: one record each when the log is quiet, tens
/// each under load; a block holds at most 256 KiB.
const BATCH: usize = 256;
/// How many records one commit of a clear removes.
const CLEAR_BATCH: usize = 10_000;
/// How long a report waits for the records stored before it to be followed, at most.
const FRESH: Duration = Duration::from_secs(2);
/// How often the follower asks which stream there is: a stream deleted and made anew under it
/// is read on from where it stood, with no error.
const CONFIRM_EVERY: Duration = Duration::from_secs(1);

/// A report's next page asked for after the stream it began on was made anew.
const MADE_ANEW: Rule = Rule::new("ACCESS_LOG_MADE_ANEW", RefusalKind::RuleBroken);

fn key(family: FamilyId, sequence: u64) -> [u8; 25] {
    let mut key = [0; 25];
    key[0] = RECORD;
    key[1..17].copy_from_slice(&family.as_ulid().to_bytes());
    key[17..].copy_from_slice(&sequence.to_be_bytes());
    key
}

/// How far the copy reaches, and of which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Copied {
    /// The stream's `created` time; `None` until the follower has confirmed it, and while the
    /// copy is cleared.
    of: Option<i128>,
    /// The last stream sequence copied.
    sequence: u64,
    /// How many times the copy was cleared: a report read across a clear is refused.
    clears: u64,
}

/// What the tree says of the stream its records came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Nothing: a new tree, or one written by a release that did not keep it.
    Unknown,
    /// A clear was begun and not finished.
    Clearing,
    Of(i128),
}

fn source(tree: &sled::Tree) -> Result<Source> {
    Ok(match tree.get(STREAM)? {
        None => Source::Unknown,
        Some(bytes) if bytes.is_empty() => Source::Clearing,
        Some(bytes) => Source::Of(i128::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| ProjectionError::Codec("the access log's stream".into()))?,
        )),
    })
}

/// Marks the copy as being cleared, so that a stop before [`clear_some`] has removed every
/// record finishes the clear at the next start.
fn begin_clear(tree: &LoggedTree) -> Result<()> {
    let mut mark = Writes::default();
    mark.insert(STREAM, []);
    mark.insert(CHECKPOINT, 0_u64.to_be_bytes());
    Ok(tree.commit(mark)?)
}

/// Removes up to [`CLEAR_BATCH`] copied records; says whether any were left to remove.
fn clear_some(tree: &LoggedTree) -> Result<bool> {
    let mut batch = Writes::default();
    for key in tree.scan_prefix([RECORD]).keys().take(CLEAR_BATCH) {
        batch.remove(key?);
    }
    let removed = !batch.is_empty();
    tree.commit(batch)?;
    Ok(removed)
}

/// Runs `write` on a blocking thread.
async fn blocking<T: Send + 'static>(
    tree: &LoggedTree,
    write: impl FnOnce(&LoggedTree) -> Result<T> + Send + 'static,
) -> Result<T> {
    let tree = tree.clone();
    tokio::task::spawn_blocking(move || write(&tree))
        .await
        .map_err(|error| ProjectionError::Ended(error.to_string()))?
}

pub struct AccessLog {
    tree: LoggedTree,
    store: EventStore,
    copied: watch::Receiver<Copied>,
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
        let (copied_tx, copied) = watch::channel(Copied { of: None, sequence: checkpoint, clears: 0 });
        let task = tokio::spawn(follow(tree.clone(), store.clone(), copied_tx));
        Ok(Arc::new(Self { tree, store: store.clone(), copied, task }))
    }

    /// The stream sequence of the last record followed.
    pub fn reached(&self) -> u64 {
        self.copied.borrow().sequence
    }

    /// A page of the family's log report, with every record stored before the call began, and
    /// the `created` time of the stream it comes from. A page that goes on from one of
    /// stream `continues` is refused once the stream there is another.
    pub async fn report(
        &self,
        query: &ReportQuery,
        continues: Option<i128>,
    ) -> Result<(ReportPage, i128), luukku_app::AppError> {
        use luukku_app::AppError;
        let end = self.store.audit_end().await.map_err(AppError::from)?;
        if continues.is_some_and(|created| created != end.created) {
            return Err(AppError::Refused {
                rule: MADE_ANEW,
                subject: format!("family/{}", query.family),
                message: "the access log was made anew since the report's first page: ask for it again \
                          from the first page"
                    .to_owned(),
                violations: Vec::new(),
            });
        }
        let ready = |copied: &Copied| copied.of == Some(end.created) && copied.sequence >= end.last_sequence;
        let mut copied = self.copied.clone();
        // Not reached within the time, or the copy's writer is gone: the copy may be short, or
        // of another stream.
        let Ok(Ok(read)) =
            tokio::time::timeout(FRESH, copied.wait_for(ready)).await.map(|read| read.map(|c| *c))
        else {
            let at = *self.copied.borrow();
            let anew = match at.of {
                Some(of) => of != end.created,
                None => at.clears > 0,
            };
            let (at, last) = (at.sequence, end.last_sequence);
            return Err(AppError::Unavailable(if anew {
                format!(
                    "the access log's stream was made anew: its copy is being read again from the \
                     start (at {at}, the end at {last})"
                )
            } else {
                format!(
                    "the access log has not been read up to its end within {} ms: it is at {at}, the end at {last}",
                    FRESH.as_millis()
                )
            }));
        };
        let tree = self.tree.clone();
        let query = query.clone();
        let page = tokio::task::spawn_blocking(move || {
            // Up to the end the call began at: what the follower copied since may not be
            // confirmed yet.
            let from = key(query.family, query.after_sequence.saturating_add(1));
            let to = key(query.family, end.last_sequence);
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
                Some(error) => Err(AppError::Internal(format!("reading the access log: {error}"))),
                None => Ok(page),
            }
        })
        .await
        .map_err(|error| AppError::Internal(error.to_string()))??;
        // A clear begun while the page was read may have taken records from under it; and
        // a stream made anew since the call began may have been copied past the old one's end
        // before the follower noticed.
        let cleared = self.copied.borrow().clears != read.clears;
        if cleared || self.store.audit_end().await.map_err(AppError::from)?.created != end.created {
            return Err(AppError::Unavailable(
                "the access log's stream was made anew while the report was read: ask again".into(),
            ));
        }
        Ok((page, end.created))
    }
}

/// Copies the access log into `tree` from where it stands, for as long as the service runs. A
/// failed write is tried again from the last checkpoint, never skipped: until then reports
/// answer `UNAVAILABLE`, as the copy does not reach the stream's end.
async fn follow(tree: LoggedTree, store: EventStore, copied: watch::Sender<Copied>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match confirm(&tree, &store, &copied).await {
            Ok(stream) => {
                follow_stream(&tree, &store, &copied, stream, &mut backoff).await;
            }
            Err(error) => {
                tracing::warn!(%error, "the access log's copy cannot confirm which stream it follows yet");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Copies the stream made at `stream`, until a write fails or the stream there is another one.
async fn follow_stream(
    tree: &LoggedTree,
    store: &EventStore,
    copied: &watch::Sender<Copied>,
    stream: i128,
    backoff: &mut Duration,
) {
    let from = copied.borrow().sequence + 1;
    let follow = store.follow_audit(from).ready_chunks(BATCH);
    let mut follow = std::pin::pin!(follow);
    let mut confirmed = Instant::now();
    loop {
        let wait = CONFIRM_EVERY.saturating_sub(confirmed.elapsed());
        let next = tokio::time::timeout(wait, follow.next()).await;
        // A stream made anew is read on from where the old one stood, with no error: asked at
        // least every second, and before what was received since is stored. Records of a new
        // stream stored before it is noticed are cleared with the rest, and reports do not
        // read them meanwhile (they ask which stream there is themselves).
        if confirmed.elapsed() >= CONFIRM_EVERY {
            let at = copied.borrow().sequence;
            let same = match store.audit_end().await {
                Ok(end) if end.created == stream && end.last_sequence >= at => {
                    // A restored stream keeps the original's `created`: its message at the
                    // checkpoint tells.
                    holds(tree, store, at).await.map(|held| held != Some(false))
                }
                Ok(_) => Ok(false),
                Err(error) => Err(error.into()),
            };
            match same {
                Ok(true) => confirmed = Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "the access log's stream cannot be asked for; following again");
                    return;
                }
            }
        }
        let messages = match next {
            Ok(Some(messages)) => messages,
            Ok(None) => return,
            Err(_) => continue,
        };
        let stored = blocking(tree, move |tree| {
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
            Ok(last) => {
                copied.send_modify(|copied| copied.sequence = last);
                *backoff = Duration::from_millis(100);
            }
            Err(error) => {
                tracing::error!(%error, "the access log's records were not stored; trying again");
                return;
            }
        }
    }
}

/// Asks which stream there is, and clears the copy when it is not the one its records came
/// from: a stream deleted and made anew (its `created` differs), one that ends before the
/// copy does, or one whose message at the copy's checkpoint is not the one copied (restored
/// from a backup, which keeps the original's `created`). The copy is then read again from the
/// start. Returns the stream's `created`.
async fn confirm(tree: &LoggedTree, store: &EventStore, copied: &watch::Sender<Copied>) -> Result<i128> {
    let mut end: AuditEnd = store.audit_end().await?;
    let known = source(tree)?;
    let at = copied.borrow().sequence;
    let mut replaced = differs(tree, store, known, at, &end).await?;
    if replaced == Some(Differs::Created) {
        // Asked again before a whole copy is cleared on an answer of `created` alone: a clear
        // costs a reading of the whole log.
        tokio::time::sleep(CONFIRM_EVERY).await;
        end = store.audit_end().await?;
        replaced = differs(tree, store, known, at, &end).await?;
    }
    if let Some(how) = replaced {
        let copied_from = match known {
            Source::Of(created) => Some(created),
            Source::Unknown | Source::Clearing => None,
        };
        tracing::warn!(
            copied_to = at,
            copied_from,
            stream_end = end.last_sequence,
            stream_created = end.created,
            ?how,
            "the access log's stream is not the one its copy was read from: the copy is cleared and read again"
        );
        copied.send_modify(|copied| {
            *copied = Copied { of: None, sequence: 0, clears: copied.clears + 1 };
        });
        // A batch at a time, so that a service stopped meanwhile lets go of its folder soon.
        blocking(tree, begin_clear).await?;
        while blocking(tree, clear_some).await? {}
    }
    if known != Source::Of(end.created) || replaced.is_some() {
        let created = end.created;
        blocking(tree, move |tree| {
            let mut mark = Writes::default();
            mark.insert(STREAM, created.to_be_bytes());
            Ok(tree.commit(mark)?)
        })
        .await?;
    }
    copied.send_modify(|copied| copied.of = Some(end.created));
    Ok(end.created)
}

/// How a copy is found not to be of the stream there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Differs {
    /// A clear was begun and not finished.
    Clearing,
    /// The stream ends before the copy: a stream's end never moves back.
    Shorter,
    /// The stream was made at another time.
    Created,
    /// The stream's message at the copy's checkpoint is not the one copied.
    Message,
}

/// How a copy that reached `at`, of the stream `known` says, is not a copy of the stream that
/// ends at `end`; `None` when it is (or nothing tells).
async fn differs(
    tree: &LoggedTree,
    store: &EventStore,
    known: Source,
    at: u64,
    end: &AuditEnd,
) -> Result<Option<Differs>> {
    Ok(match known {
        Source::Clearing => Some(Differs::Clearing),
        _ if at > end.last_sequence => Some(Differs::Shorter),
        Source::Of(created) if created != end.created => Some(Differs::Created),
        _ if at == 0 => None,
        // Also a copy by a release that did not keep the stream's `created`.
        Source::Of(_) | Source::Unknown => {
            (holds(tree, store, at).await? == Some(false)).then_some(Differs::Message)
        }
    })
}

/// How many messages back from the checkpoint [`holds`] looks for one with a family's record.
const LOOK_BACK: u64 = 16;

/// Whether the tree holds the records of the stream's messages up to `at` as stored: compared
/// at the last of them (at most [`LOOK_BACK`] back) with a family's record. `None` when none
/// of those has one, and so nothing tells.
async fn holds(tree: &LoggedTree, store: &EventStore, at: u64) -> Result<Option<bool>> {
    for sequence in (at.saturating_sub(LOOK_BACK - 1).max(1)..=at).rev() {
        // Copied, so held by the same stream: a message gone from it is another stream.
        let Some(message) = store.audit_message(sequence).await? else {
            return Ok(Some(false));
        };
        let mut compared = false;
        for record in &message.records {
            let Some(family) = record.family else { continue };
            if tree.get(key(family, sequence))?.as_deref() != Some(record.bytes.as_ref()) {
                return Ok(Some(false));
            }
            compared = true;
        }
        if compared {
            return Ok(Some(true));
        }
    }
    Ok(None)
}

//! Following a stream from a checkpoint for as long as the reader wants, through restarts,
//! leader changes and lost connections: the one primitive every read model is built on.

use std::time::Duration;

use futures::StreamExt;

use crate::{Error, EventStore, Position, ReadOptions, Recorded, RecordedStream, Stream};

/// The longest pause between two attempts to follow again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A message that is not a luukku envelope this release can read, and why.
#[derive(Debug)]
pub struct Undecodable {
    pub position: Position,
    pub subject: String,
    pub error: Error,
}

/// What following delivers: the next message, or the next message that cannot be read.
pub type Followed = Result<Recorded, Undecodable>;

/// How long a subscription may deliver nothing before the stream is asked whether it should
/// have.
const QUIET: Duration = Duration::from_secs(5);

struct Follower {
    store: EventStore,
    stream: Stream,
    next: u64,
    live: Option<RecordedStream>,
    backoff: Duration,
}

impl Follower {
    async fn next_item(&mut self) -> Followed {
        loop {
            let Some(live) = self.live.as_mut() else {
                match self
                    .store
                    .subscribe(self.stream, ReadOptions { from_sequence: self.next, filter_subject: None })
                    .await
                {
                    Ok(live) => self.live = Some(live),
                    Err(error) => self.pause(&error).await,
                }
                continue;
            };
            let Ok(item) = tokio::time::timeout(QUIET, live.next()).await else {
                // Quiet: fine if nothing was written; otherwise the subscription is stuck (its
                // consumer lost with a node, say, and not made again): subscribe anew.
                match self.store.last_sequence(self.stream).await {
                    Ok(last) if last >= self.next => {
                        tracing::warn!(stream = %self.stream, from = self.next, last, "a quiet subscription behind its stream; subscribing again");
                        self.live = None;
                    }
                    _ => {}
                }
                continue;
            };
            match item {
                Some(Ok(recorded)) => {
                    self.next = recorded.position.sequence + 1;
                    self.backoff = Duration::ZERO;
                    return Ok(recorded);
                }
                Some(Err(Error::Corrupt { stream, sequence, subject, reason })) => {
                    self.next = sequence + 1;
                    let error = Error::Corrupt { stream, sequence, subject: subject.clone(), reason };
                    let position = Position { stream: self.stream, sequence };
                    return Err(Undecodable { position, subject, error });
                }
                Some(Err(Error::Newer { stream, sequence, subject, reason })) => {
                    self.next = sequence + 1;
                    let error = Error::Newer { stream, sequence, subject: subject.clone(), reason };
                    let position = Position { stream: self.stream, sequence };
                    return Err(Undecodable { position, subject, error });
                }
                Some(Err(error)) => {
                    self.live = None;
                    self.pause(&error).await;
                }
                None => {
                    self.live = None;
                    self.pause(&Error::Unavailable("the subscription ended".to_owned())).await;
                }
            }
        }
    }

    async fn pause(&mut self, error: &Error) {
        self.backoff = (self.backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
        tracing::warn!(stream = %self.stream, from = self.next, %error, retry_in_ms = self.backoff.as_millis() as u64, "following again");
        tokio::time::sleep(self.backoff).await;
    }
}

impl EventStore {
    /// Every message of `stream` from sequence `from` on, then each new one as it is appended,
    /// for as long as the returned stream is polled. A failure (a restarted server, a lost
    /// connection) is retried with a growing pause from the message after the last one
    /// delivered, so nothing is skipped or delivered twice. A message that cannot be read,
    /// corrupt or written by a newer release ([`Error::Newer`]), is delivered as
    /// [`Undecodable`]: what to do about it is the reader's decision (read models stop at it;
    /// see `luukku_app::readers`). Polling on goes on after it.
    pub fn follow(
        &self,
        stream: Stream,
        from: u64,
    ) -> impl futures::Stream<Item = Followed> + Send + 'static {
        let follower =
            Follower { store: self.clone(), stream, next: from.max(1), live: None, backoff: Duration::ZERO };
        futures::stream::unfold(follower, |mut follower| async move {
            let item = follower.next_item().await;
            Some((item, follower))
        })
    }
}

//! A read model kept in memory by following one stream, for queries that span aggregates. A
//! query first waits until the model has reached the stream's end as it was at the time of
//! the call, so it sees every write acknowledged before it.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use luukku_domain::CodecError;
use luukku_eventstore::{EventStore, Recorded, Stream};
use tokio::sync::watch;

use crate::error::AppError;
use crate::standing::{Standing, undecodable_events};

/// How long a query waits for the model to reach the stream's end.
const CATCH_UP: Duration = Duration::from_secs(5);

/// How a read model applies one message: it changes nothing when the message's events do not
/// decode.
pub type Apply<S> = fn(&mut S, &Recorded) -> Result<(), CodecError>;

pub struct ReadModel<S> {
    stream: Stream,
    state: RwLock<S>,
    applied: watch::Sender<u64>,
    standing: Arc<Standing>,
}

impl<S: Default + Send + Sync + 'static> ReadModel<S> {
    /// Starts following `stream` from its start in the background, applying each message with
    /// `apply`; `name` names the model in reports and the quarantine. Following stops when the
    /// model is dropped.
    pub fn spawn(store: EventStore, stream: Stream, name: &str, apply: Apply<S>) -> Arc<Self> {
        let reader = Standing::start(&store, name);
        // Measured from the start, so that a model stuck at its first message shows its lag.
        reader.passed(stream, 0);
        let model = Arc::new(Self {
            stream,
            state: RwLock::default(),
            applied: watch::Sender::new(0),
            standing: reader.clone(),
        });
        let weak = Arc::downgrade(&model);
        tokio::spawn(async move { Self::follow(weak, store, reader, apply).await });
        model
    }

    async fn follow(model: Weak<Self>, store: EventStore, reader: Arc<Standing>, apply: Apply<S>) {
        let Some(stream) = model.upgrade().map(|model| model.stream) else {
            return;
        };
        let write = |this: &Self, recorded: &Recorded| {
            apply(&mut this.state.write().unwrap_or_else(std::sync::PoisonError::into_inner), recorded)
        };
        follow_stream(model, store, stream, reader, write, |this, sequence| {
            this.applied.send_replace(sequence);
        })
        .await;
    }

    /// Where the model stands, and whether it stopped.
    pub fn standing(&self) -> &Arc<Standing> {
        &self.standing
    }

    /// Waits until everything in the stream now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), AppError> {
        let last = store.last_sequence(self.stream).await?;
        let mut applied = self.applied.subscribe();
        let reached = tokio::select! {
            biased;
            reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)) => reached,
            stopped = self.standing.until_stopped() => return Err(self.standing.stopped_error(&stopped)),
        };
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(AppError::Unavailable(format!(
                "the read model has not reached sequence {last} of {} yet; retry shortly",
                self.stream
            ))),
        }
    }

    /// Reads the model.
    pub fn read<T>(&self, read: impl FnOnce(&S) -> T) -> T {
        read(&self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Follows `stream` from its start for as long as `model` lives: applies each message with
/// `apply` and tells `passed` (and `reader`) each sequence passed. At a message that cannot be
/// read it stops, through `reader`, until an operator skips it.
pub(crate) async fn follow_stream<M>(
    model: Weak<M>,
    store: EventStore,
    stream: Stream,
    reader: Arc<Standing>,
    apply: impl Fn(&M, &Recorded) -> Result<(), CodecError>,
    passed: impl Fn(&M, u64),
) {
    let mut messages = std::pin::pin!(store.follow(stream, 1));
    while let Some(item) = messages.next().await {
        let Some(this) = model.upgrade() else {
            return;
        };
        let outcome = match item {
            Ok(recorded) => match apply(&this, &recorded) {
                Ok(()) => Ok(recorded.position.sequence),
                Err(error) => Err(undecodable_events(&recorded, error)),
            },
            Err(undecodable) => Err(undecodable),
        };
        let sequence = match outcome {
            Ok(sequence) => sequence,
            Err(undecodable) => {
                drop(this);
                if !reader.stop_at(&undecodable, || model.strong_count() > 0).await {
                    return;
                }
                undecodable.position.sequence
            }
        };
        let Some(this) = model.upgrade() else {
            return;
        };
        passed(&this, sequence);
        reader.passed(stream, sequence);
    }
}

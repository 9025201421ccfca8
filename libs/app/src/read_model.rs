//! A read model kept in memory by following one stream, for queries that span aggregates. A
//! query first waits until the model has reached the stream's end as it was at the time of
//! the call, so it sees every write acknowledged before it.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use luukku_eventstore::{EventStore, Recorded, Stream};
use tokio::sync::watch;

use crate::error::AppError;

/// How long a query waits for the model to reach the stream's end.
const CATCH_UP: Duration = Duration::from_secs(5);

pub struct ReadModel<S> {
    stream: Stream,
    state: RwLock<S>,
    applied: watch::Sender<u64>,
}

impl<S: Default + Send + Sync + 'static> ReadModel<S> {
    /// Starts following `stream` from its start in the background, applying each message with
    /// `apply`. Following stops when the model is dropped.
    pub fn spawn(store: EventStore, stream: Stream, apply: fn(&mut S, &Recorded)) -> Arc<Self> {
        let model = Arc::new(Self { stream, state: RwLock::default(), applied: watch::Sender::new(0) });
        let weak = Arc::downgrade(&model);
        tokio::spawn(async move { Self::follow(weak, store, apply).await });
        model
    }

    async fn follow(model: Weak<Self>, store: EventStore, apply: fn(&mut S, &Recorded)) {
        let Some(stream) = model.upgrade().map(|model| model.stream) else {
            return;
        };
        let write = |this: &Self, recorded: &Recorded| {
            apply(&mut this.state.write().unwrap_or_else(std::sync::PoisonError::into_inner), recorded)
        };
        follow_stream(model, store, stream, write, |this, sequence| {
            this.applied.send_replace(sequence);
        })
        .await;
    }

    /// Waits until everything in the stream now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), AppError> {
        let last = store.last_sequence(self.stream).await?;
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)).await {
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
/// `apply`, logs one that cannot be decoded (following goes on after it), and tells `passed`
/// each sequence passed.
pub(crate) async fn follow_stream<M>(
    model: Weak<M>,
    store: EventStore,
    stream: Stream,
    apply: impl Fn(&M, &Recorded),
    passed: impl Fn(&M, u64),
) {
    let mut messages = std::pin::pin!(store.follow(stream, 1));
    while let Some(item) = messages.next().await {
        let Some(this) = model.upgrade() else {
            return;
        };
        let sequence = match item {
            Ok(recorded) => {
                apply(&this, &recorded);
                recorded.position.sequence
            }
            Err(undecodable) => {
                tracing::error!(
                    %stream,
                    position = %undecodable.position,
                    error = %undecodable.error,
                    "read model: message not applied"
                );
                undecodable.position.sequence
            }
        };
        passed(&this, sequence);
    }
}

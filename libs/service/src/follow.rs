//! A read model kept in memory by following one stream from its start, for queries that span
//! aggregates. A query first waits until the model has reached the stream's end as it was at
//! the time of the call, so it sees every write acknowledged before it.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use luukku_eventstore::{EventStore, ReadOptions, Recorded};
use tokio::sync::watch;
use tonic::Status;

use crate::status::store_status;

/// How long a query waits for the model to reach the stream's end.
const CATCH_UP: Duration = Duration::from_secs(5);

pub struct Followed<S> {
    stream: &'static str,
    state: RwLock<S>,
    applied: watch::Sender<u64>,
}

impl<S: Default + Send + Sync + 'static> Followed<S> {
    /// Starts following `stream` in the background, applying each message with `apply`. The
    /// follower stops when the model is dropped.
    pub fn spawn(store: EventStore, stream: &'static str, apply: fn(&mut S, &Recorded)) -> Arc<Self> {
        let followed = Arc::new(Self { stream, state: RwLock::default(), applied: watch::Sender::new(0) });
        let weak = Arc::downgrade(&followed);
        tokio::spawn(async move { Self::follow(weak, store, apply).await });
        followed
    }

    async fn follow(model: Weak<Self>, store: EventStore, apply: fn(&mut S, &Recorded)) {
        loop {
            let Some(this) = model.upgrade() else {
                return;
            };
            let from = *this.applied.borrow() + 1;
            match store
                .subscribe(this.stream, ReadOptions { from_sequence: from, filter_subject: None })
                .await
            {
                Ok(mut messages) => {
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(recorded) => {
                                apply(
                                    &mut this
                                        .state
                                        .write()
                                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                                    &recorded,
                                );
                                this.applied.send_replace(recorded.position.sequence);
                            }
                            Err(error) => {
                                tracing::warn!(stream = this.stream, %error, "following the stream failed");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(stream = this.stream, %error, "cannot follow the stream"),
            }
            drop(this);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits until everything in the stream now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), Status> {
        let last = store.last_sequence(self.stream).await.map_err(store_status)?;
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Status::unavailable(format!(
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

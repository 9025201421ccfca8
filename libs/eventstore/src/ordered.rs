//! An ordered consumer's messages, each delivered once.
//!
//! async-nats makes a lost ordered consumer (a server restarted, a leader changed, heartbeats
//! missed) anew from the message after the last one it delivered, but from the stream's start
//! (`DeliverPolicy::All`) when it has delivered none yet, whatever it was first asked for. A
//! follower at its stream's end when the server restarts would read the whole stream again.

use async_nats::jetstream::consumer::pull::{OrderedConfig, OrderedError, OrderedErrorKind};
use async_nats::jetstream::consumer::{Consumer, DeliverPolicy, StreamError};
use async_nats::jetstream::{self};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

/// The consumer's messages. A message at or before the last one delivered, or before the
/// first one asked for, ends them with an error instead: whoever reads subscribes again from
/// where it stands (every follower does so after an error) rather than being sent the stream
/// again from its start.
pub async fn messages(
    consumer: Consumer<OrderedConfig>,
) -> Result<BoxStream<'static, Result<jetstream::Message, OrderedError>>, StreamError> {
    let after = starts_after(&consumer);
    Ok(once(consumer.messages().await?, after))
}

/// The stream sequence the consumer's first message comes after: before the one it was asked
/// to start at, or as the server reports it (the stream's end for `DeliverPolicy::New`).
fn starts_after(consumer: &Consumer<OrderedConfig>) -> u64 {
    let info = consumer.cached_info();
    match info.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_sequence } => start_sequence.saturating_sub(1),
        _ => info.delivered.stream_sequence,
    }
}

/// `messages`, ended by an error at the first at or before stream sequence `after` or the
/// last one passed on.
fn once(
    messages: impl Stream<Item = Result<jetstream::Message, OrderedError>> + Send + Unpin + 'static,
    after: u64,
) -> BoxStream<'static, Result<jetstream::Message, OrderedError>> {
    futures::stream::unfold(Some((messages, after)), |state| async move {
        let (mut messages, last) = state?;
        let message = messages.next().await?;
        let sequence =
            message.as_ref().ok().and_then(|message| message.info().ok()).map(|info| info.stream_sequence);
        match sequence {
            Some(sequence) if sequence <= last => {
                tracing::warn!(
                    sequence,
                    after = last,
                    "an ordered consumer made anew is sending its stream again"
                );
                let error = OrderedError::with_source(
                    OrderedErrorKind::Recreate,
                    format!("made anew, it sent message {sequence} again, after {last}"),
                );
                Some((Err(error), None))
            }
            Some(sequence) => Some((message, Some((messages, sequence)))),
            // Passed on: the reader decides what a failure or a message without its place is.
            None => Some((message, Some((messages, last)))),
        }
    })
    .boxed()
}

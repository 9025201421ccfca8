//! An ordered consumer's messages, each delivered once.
//!
//! async-nats makes a lost ordered consumer (a server restarted, a leader changed, heartbeats
//! missed) anew from the message after the last one it delivered, but from the stream's start
//! (`DeliverPolicy::All`) when it has delivered none yet, whatever it was first asked for. A
//! follower at its stream's end when the server restarts would read the whole stream again.

use async_nats::jetstream::consumer::pull::{OrderedConfig, OrderedError};
use async_nats::jetstream::consumer::{Consumer, DeliverPolicy, StreamError};
use async_nats::jetstream::{self};
use futures::{Stream, StreamExt};

/// The consumer's messages, without any at or before the last one delivered, or before the
/// first it was asked for.
pub async fn messages(
    consumer: Consumer<OrderedConfig>,
) -> Result<impl Stream<Item = Result<jetstream::Message, OrderedError>> + Send + Unpin, StreamError> {
    let after = starts_after(&consumer);
    Ok(once(consumer.messages().await?, after))
}

/// The stream sequence the consumer's first message comes after: before the one it was asked
/// to start at, or the stream's end when it was made (`DeliverPolicy::New`, as the server
/// reports it), or 0.
fn starts_after(consumer: &Consumer<OrderedConfig>) -> u64 {
    let info = consumer.cached_info();
    match info.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_sequence } => start_sequence.saturating_sub(1),
        DeliverPolicy::New => info.delivered.stream_sequence,
        _ => 0,
    }
}

/// `messages`, without any at or before stream sequence `after` or the last one passed on.
fn once(
    messages: impl Stream<Item = Result<jetstream::Message, OrderedError>> + Send + Unpin,
    after: u64,
) -> impl Stream<Item = Result<jetstream::Message, OrderedError>> + Send + Unpin {
    let mut last = after;
    messages.filter(move |message| {
        let again = match message.as_ref().map(jetstream::Message::info) {
            Ok(Ok(info)) if info.stream_sequence <= last => true,
            Ok(Ok(info)) => {
                last = info.stream_sequence;
                false
            }
            // Passed on: the reader decides what a failure or a message without its place is.
            _ => false,
        };
        std::future::ready(!again)
    })
}

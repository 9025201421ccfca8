//! Reading a stream in order, to its current end or live.

use std::pin::Pin;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};

/// How long one pull request of a follower waits for messages.
const CONSUMER_EXPIRES: std::time::Duration = std::time::Duration::from_secs(4);
use futures::StreamExt;

use luukku_domain::CodecError;

use crate::{Error, EventStore, Recorded, Result, Stream};

/// A stream of recorded messages.
pub type RecordedStream = Pin<Box<dyn futures::Stream<Item = Result<Recorded>> + Send>>;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// First stream sequence to deliver (1 for the start).
    pub from_sequence: u64,
    /// Only subjects matching this filter, e.g. `families.family.<id>`.
    pub filter_subject: Option<String>,
}

impl EventStore {
    /// Reads `stream` from `options.from_sequence` up to its last message at the time of the
    /// call, then ends.
    pub async fn read(&self, stream: Stream, options: ReadOptions) -> Result<RecordedStream> {
        let last = self.last_sequence(stream).await?;
        let from = options.from_sequence.max(1);
        if from > last {
            return Ok(Box::pin(futures::stream::empty()));
        }
        // From the start when no sequence is given (0 would mean only new messages).
        let live = self.subscribe(stream, ReadOptions { from_sequence: from, ..options }).await?;
        // Ends right after the message at `last`, without waiting for one more to arrive.
        let bounded = futures::stream::unfold(Some(live), move |state| async move {
            let mut live = state?;
            let item = live.next().await?;
            let finished = match &item {
                Ok(recorded) => recorded.position.sequence >= last,
                Err(_) => true,
            };
            Some((item, (!finished).then_some(live)))
        });
        Ok(Box::pin(bounded))
    }

    /// Follows `stream` from `options.from_sequence` (0 for only new messages) without end.
    pub async fn subscribe(&self, stream: Stream, options: ReadOptions) -> Result<RecordedStream> {
        let handle = self.stream(stream).await?;
        let deliver_policy = match options.from_sequence {
            0 => DeliverPolicy::New,
            start_sequence => DeliverPolicy::ByStartSequence { start_sequence },
        };
        let consumer = handle
            .create_consumer(OrderedConfig {
                deliver_policy,
                filter_subject: options.filter_subject.unwrap_or_default(),
                // Pull requests expire in 4 s, so the server's idle heartbeat comes every 2 s
                // and a consumer lost with its node (a cluster's leader killed) is noticed and
                // made again within about 4 s, not the client's default half a minute.
                max_expires: CONSUMER_EXPIRES,
                ..Default::default()
            })
            .await
            .map_err(Error::nats)?;
        let messages = crate::ordered::messages(consumer).await.map_err(Error::nats)?;
        Ok(Box::pin(messages.map(move |message| {
            let message = message.map_err(|error| Error::Unavailable(error.to_string()))?;
            let sequence = message.info().map_err(Error::nats)?.stream_sequence;
            // A reader of a stream learns where an unreadable message sits, whatever the reason.
            // An unknown envelope layout is a newer release's only when the message says so in
            // its header; otherwise it is corrupt (garbage can look like any version).
            let subject = message.subject.as_str();
            let declared = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(crate::envelope::HEADER_ENVELOPE))
                .and_then(|value| value.as_str().parse::<u16>().ok());
            Recorded::from_parts(stream, sequence, subject, &message.payload, message.headers.as_ref())
                .map_err(|error| match error {
                    Error::Codec(codec @ CodecError::UnsupportedEnvelopeVersion { version, .. })
                        if declared == Some(version) =>
                    {
                        Error::Newer {
                            stream,
                            sequence,
                            subject: subject.to_owned(),
                            reason: codec.to_string(),
                        }
                    }
                    Error::Codec(codec) => Error::Corrupt {
                        stream,
                        sequence,
                        subject: subject.to_owned(),
                        reason: codec.to_string(),
                    },
                    other => other,
                })
        })))
    }
}

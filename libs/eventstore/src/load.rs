//! Loading one aggregate's messages with batched direct gets: one request per few hundred
//! messages, no consumer to create. A direct get left unanswered (a replica that stopped) is
//! asked of the stream's leader instead.

use std::time::Duration;

use futures::StreamExt;

use crate::{AggregateRef, Error, EventStore, Recorded, Result};

/// Messages asked for per direct-get request.
const BATCH: usize = 512;

/// How many times a load that found nothing, where the stream's leader has something, is made
/// again before it is answered as it is.
const LAGGING_RETRIES: u32 = 6;

/// What one attempt at a load with direct gets came to.
enum Attempt {
    Loaded(Loaded),
    /// A request no replica began to answer: the `messages` before it, and the sequence it
    /// asked from.
    Unanswered {
        messages: Vec<Recorded>,
        next: u64,
    },
}

/// An aggregate's messages in order, and its version (the sequence of the last one, 0 if none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub version: u64,
    pub messages: Vec<Recorded>,
}

impl EventStore {
    /// Loads every message of one aggregate.
    pub async fn load(&self, aggregate: &AggregateRef) -> Result<Loaded> {
        self.load_after(aggregate, 0).await
    }

    /// Loads the aggregate's messages after stream sequence `after`, for refreshing a cached
    /// state. A stream with no responder (JetStream restarting, a leader being elected) is asked
    /// again with backoff before the load gives up as unavailable.
    pub async fn load_after(&self, aggregate: &AggregateRef, after: u64) -> Result<Loaded> {
        let mut retry = crate::deadline::Retry::start();
        let mut behind = 0;
        loop {
            match self.load_once(aggregate, after).await {
                Ok(Attempt::Unanswered { messages, next }) => {
                    return self.load_from_leader(aggregate, messages, next).await;
                }
                // Nothing at all may be a replica that lags behind an aggregate made a moment
                // ago: on a replicated stream, "not found" is answered only when the stream's
                // leader agrees. A stream of one replica is its own leader.
                Ok(Attempt::Loaded(loaded))
                    if after == 0
                        && loaded.version == 0
                        && behind < LAGGING_RETRIES
                        && self.replicated(aggregate.stream).await =>
                {
                    if self.leader_version(aggregate).await? == 0 {
                        return Ok(loaded);
                    }
                    behind += 1;
                    tracing::debug!(
                        subject = aggregate.subject(),
                        "a load behind the stream's leader; loading again"
                    );
                    tokio::time::sleep(Duration::from_millis(5 << behind)).await;
                }
                Err(Error::StreamNotFound(stream)) => {
                    tracing::warn!(%stream, "no JetStream responder; asking again");
                    if !retry.pause().await {
                        return Err(crate::store::no_responder(&aggregate.subject()));
                    }
                }
                Ok(Attempt::Loaded(loaded)) => return Ok(loaded),
                Err(error) => return Err(error),
            }
        }
    }

    /// The rest of a load, from stream sequence `next` on, as the stream's leader has it, one
    /// request a message: for a load whose direct get was not answered, after the `messages` it
    /// had. A leader that does not answer by the call's deadline (one being elected) makes it
    /// `UNAVAILABLE`.
    async fn load_from_leader(
        &self,
        aggregate: &AggregateRef,
        mut messages: Vec<Recorded>,
        mut next: u64,
    ) -> Result<Loaded> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let stream = aggregate.stream;
        let subject = aggregate.subject();
        let unavailable = |error: &dyn std::fmt::Display| {
            Error::Unavailable(format!("the leader of {stream} did not answer for {subject}: {error}"))
        };
        let handle =
            self.jetstream.get_stream_no_info(stream.name()).await.map_err(|error| unavailable(&error))?;
        loop {
            let asked = handle.raw_message_builder().sequence(next).next_by_subject(subject.clone()).send();
            let Ok(answer) = tokio::time::timeout_at(crate::deadline::answer_by(), asked).await else {
                return Err(unavailable(&"no answer within the call's deadline"));
            };
            match answer {
                Ok(message) => {
                    messages.push(Recorded::from_parts(
                        stream,
                        message.sequence,
                        &subject,
                        &message.payload,
                        None,
                    )?);
                    next = message.sequence + 1;
                }
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(error) => return Err(unavailable(&error)),
            }
        }
        // Where the load began, when it found nothing.
        let version = messages.last().map_or(next - 1, |message| message.position.sequence);
        Ok(Loaded { version, messages })
    }

    /// One attempt at a load with direct gets.
    async fn load_once(&self, aggregate: &AggregateRef, after: u64) -> Result<Attempt> {
        let stream = aggregate.stream;
        let subject = aggregate.subject();
        let api = format!("$JS.API.DIRECT.GET.{}", stream.name());
        let inbox = self.client.new_inbox();
        let mut replies = self.client.subscribe(inbox.clone()).await.map_err(Error::nats)?;
        let mut messages = Vec::new();
        let mut next = after + 1;
        loop {
            let request = serde_json::json!({ "seq": next, "next_by_subj": subject, "batch": BATCH });
            self.client
                .publish_with_reply(api.clone(), inbox.clone(), request.to_string().into())
                .await
                .map_err(Error::nats)?;
            let mut received = 0;
            loop {
                // A replica that stopped never sends the first part; one that sent it answers.
                let reply = if received == 0 {
                    let first =
                        crate::deadline::first_answer(stream.name(), &subject, replies.next()).await?;
                    let Some(reply) = first else {
                        let _ = replies.unsubscribe().await;
                        return Ok(Attempt::Unanswered { messages, next });
                    };
                    reply
                } else {
                    crate::deadline::later_answer(&subject, replies.next()).await?
                };
                let reply =
                    reply.ok_or_else(|| Error::Unavailable("connection closed during load".to_owned()))?;
                if let Some(status) = reply.status {
                    match status.as_u16() {
                        // 204 ends a batch; 404 says there is nothing (more) to read.
                        204 | 404 => break,
                        503 => return Err(Error::StreamNotFound(stream)),
                        code => {
                            let description = reply.description.unwrap_or_default();
                            return Err(Error::Nats(format!(
                                "direct get of {subject}: {code} {description}"
                            )));
                        }
                    }
                }
                let headers = reply.headers.as_ref();
                let sequence = headers
                    .and_then(|headers| headers.get("Nats-Sequence"))
                    .and_then(|value| value.as_str().parse::<u64>().ok())
                    .ok_or_else(|| {
                        Error::Nats(format!("direct get of {subject}: reply without a sequence"))
                    })?;
                // Loads decide commands; only readers that follow a stream continue traces.
                messages.push(Recorded::from_parts(stream, sequence, &subject, &reply.payload, None)?);
                next = sequence + 1;
                received += 1;
            }
            if received < BATCH {
                break;
            }
        }
        let _ = replies.unsubscribe().await;
        let version = messages.last().map_or(after, |message| message.position.sequence);
        Ok(Attempt::Loaded(Loaded { version, messages }))
    }
}

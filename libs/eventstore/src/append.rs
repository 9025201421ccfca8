//! Appending one command's events to one aggregate.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use bytes::Bytes;
use luukku_domain::{Actor, DomainEvent, RequestId, Timestamp};

use crate::envelope::message_id;
use crate::{AggregateRef, Envelope, Error, EventStore, Fingerprint, Position, RawEvent, Result};

/// The version an append expects the aggregate to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The aggregate must not exist yet.
    New,
    /// The aggregate's last message must be at this stream sequence.
    Version(u64),
}

impl Expected {
    /// The value of `Nats-Expected-Last-Subject-Sequence`.
    fn header_value(self) -> u64 {
        match self {
            Expected::New => 0,
            Expected::Version(sequence) => sequence,
        }
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Where the command's message sits: the aggregate's new version.
    pub position: Position,
    /// True when this request id had already been appended: nothing new was written and
    /// `position` is the original one.
    pub duplicate: bool,
    /// The message as written, when this call wrote it (not on a duplicate).
    pub written: Option<Box<Envelope>>,
}

impl EventStore {
    /// Appends typed events; see [`append`](Self::append).
    pub async fn append_events<E: DomainEvent>(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        events: &[E],
        request_id: &RequestId,
        actor: &Actor,
    ) -> Result<Appended> {
        self.append_request(aggregate, expected, events, request_id, None, actor).await
    }

    /// Appends typed events of a request with `fingerprint`: the same request id with another
    /// fingerprint gives [`Error::RequestIdReused`].
    pub async fn append_request<E: DomainEvent>(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        events: &[E],
        request_id: &RequestId,
        fingerprint: Option<&Fingerprint>,
        actor: &Actor,
    ) -> Result<Appended> {
        let raw = events.iter().map(RawEvent::encode).collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope {
            recorded_at: Timestamp::now(),
            request_id: request_id.clone(),
            actor: actor.clone(),
            events: raw,
            fingerprint: fingerprint.cloned(),
        };
        self.append_envelope(aggregate, expected, envelope).await
    }

    /// Appends one command's events to one aggregate as a single message, atomically.
    ///
    /// A stale `expected` gives [`Error::Conflict`] with the current version. A request id
    /// belongs to its caller (the actor's system and person): seen before from the same caller
    /// on the same aggregate, it gives the original position with `duplicate: true`; seen on
    /// another aggregate, or for another request, [`Error::RequestIdReused`]. A publish whose
    /// acknowledgement does not arrive is sent again with the same message id, so it is written
    /// at most once.
    pub async fn append(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        events: Vec<RawEvent>,
        request_id: &RequestId,
        actor: &Actor,
    ) -> Result<Appended> {
        let envelope = Envelope {
            recorded_at: Timestamp::now(),
            request_id: request_id.clone(),
            actor: actor.clone(),
            events,
            fingerprint: None,
        };
        self.append_envelope(aggregate, expected, envelope).await
    }

    /// Appends in a span of its own (a child of the call's): the message carries that span's
    /// trace context, so what reads it continues the trace.
    async fn append_envelope(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        envelope: Envelope,
    ) -> Result<Appended> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "eventstore.append",
            otel.kind = "producer",
            stream = aggregate.stream.name()
        );
        self.append_in_span(aggregate, expected, envelope).instrument(span).await
    }

    async fn append_in_span(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        envelope: Envelope,
    ) -> Result<Appended> {
        let request_id = &envelope.request_id;
        let message_id = message_id(&envelope.actor, request_id);
        let payload = envelope.encode()?;
        if payload.len() > self.settings.max_message_bytes {
            return Err(Error::TooLarge { bytes: payload.len(), max: self.settings.max_message_bytes });
        }
        // The call's trace goes on in whoever reads the message.
        let trace = crate::trace_context::current();
        let headers = || {
            let mut headers = envelope.headers();
            crate::trace_context::inject(&mut headers, &trace);
            headers.insert("Nats-Msg-Id", message_id.as_str());
            headers
                .insert("Nats-Expected-Last-Subject-Sequence", expected.header_value().to_string().as_str());
            headers
        };
        let subject = aggregate.subject();
        let stream_name = aggregate.stream.name();
        let started = std::time::Instant::now();
        let mut attempt = 0;
        let mut no_responder = crate::deadline::Retry::start();
        // An acknowledgement is waited for only as long as the call allows: a node that stopped
        // answering (paused, or its connection not yet found dead) makes it `UNAVAILABLE` before
        // the caller gives up. The message may still land; its message id makes a retry land once.
        let answer_by = crate::deadline::answer_by();
        loop {
            let sending = async {
                match self.send(&subject, headers(), payload.clone()).await {
                    Ok(ack_future) => ack_future.await,
                    Err(error) => Err(error),
                }
            };
            let Ok(outcome) = tokio::time::timeout_at(answer_by, sending).await else {
                metrics::counter!("luukku_append_unacknowledged_total", "stream" => stream_name).increment(1);
                return Err(Error::Unavailable(format!(
                    "no acknowledgement for {subject} within the call's deadline; retry with the same request id"
                )));
            };
            match outcome {
                Ok(ack) => {
                    let stream = ack.stream.parse().map_err(|_| {
                        Error::Nats(format!("{subject} was stored in {}, not a luukku stream", ack.stream))
                    })?;
                    let position = Position { stream, sequence: ack.sequence };
                    if ack.duplicate {
                        self.check_duplicate(&subject, &envelope, &position).await?;
                    }
                    metrics::histogram!("luukku_append_duration_seconds", "stream" => stream_name)
                        .record(started.elapsed().as_secs_f64());
                    let written = (!ack.duplicate).then(|| Box::new(envelope.clone()));
                    return Ok(Appended { position, duplicate: ack.duplicate, written });
                }
                Err(error) => match error.kind() {
                    PublishErrorKind::WrongLastSequence => {
                        let resolved = self.resolve_conflict(aggregate, expected, &envelope, subject).await;
                        if matches!(resolved, Err(Error::Conflict { .. })) {
                            metrics::counter!("luukku_append_conflicts_total", "stream" => stream_name)
                                .increment(1);
                        }
                        return resolved;
                    }
                    // "No responders": JetStream restarting or electing a leader. The same
                    // message id is sent again, so it is written at most once.
                    PublishErrorKind::StreamNotFound => {
                        tracing::warn!(%subject, %request_id, "no JetStream responder; sending again");
                        metrics::counter!("luukku_append_retries_total", "stream" => stream_name)
                            .increment(1);
                        if !no_responder.pause().await {
                            return Err(crate::store::no_responder(&subject));
                        }
                    }
                    PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe
                        if attempt < self.settings.publish_retries =>
                    {
                        attempt += 1;
                        tracing::warn!(%subject, %request_id, attempt, "publish not acknowledged; sending again");
                        metrics::counter!("luukku_append_resent_total", "stream" => stream_name).increment(1);
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                        return Err(Error::Unavailable(format!(
                            "no acknowledgement for {subject} after {} attempts: {error}",
                            attempt + 1
                        )));
                    }
                    PublishErrorKind::MaxPayloadExceeded => {
                        return Err(Error::TooLarge {
                            bytes: payload.len(),
                            max: self.client.server_info().max_payload,
                        });
                    }
                    _ if error.to_string().contains("maximum bytes exceeded")
                        || error.to_string().contains("maximum messages exceeded") =>
                    {
                        return Err(Error::Full { subject, reason: error.to_string() });
                    }
                    _ => return Err(Error::nats(error)),
                },
            }
        }
    }

    async fn send(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAckFuture, async_nats::jetstream::context::PublishError> {
        self.jetstream.publish_with_headers(subject.to_owned(), headers, payload).await
    }

    /// A duplicate acknowledgement names the original message of this caller's request id;
    /// make sure it was this request, on this aggregate, or the caller reused the id for
    /// something else.
    async fn check_duplicate(&self, subject: &str, envelope: &Envelope, original: &Position) -> Result<()> {
        let message = self.message_at(original.stream.name(), original.sequence).await?.ok_or_else(|| {
            Error::Nats(format!("{original}, the message a duplicate acknowledgement names, is not there"))
        })?;
        let recorded = Envelope::decode(&message.payload).ok();
        let first_method =
            recorded.as_ref().and_then(|first| first.fingerprint.as_ref()).map(|f| f.method.clone());
        let same = message.subject.as_str() == subject
            && recorded.as_ref().is_none_or(|first| first.same_request(envelope.fingerprint.as_ref()));
        if same {
            return Ok(());
        }
        Err(Error::RequestIdReused {
            request_id: envelope.request_id.clone(),
            original_subject: message.subject.to_string(),
            original: *original,
            method: first_method,
        })
    }

    /// After a wrong-last-sequence answer: either this request was appended already (the
    /// server checks the expected sequence before it deduplicates, so a retry lands here) and
    /// its original position is the answer, or someone else got there first.
    async fn resolve_conflict(
        &self,
        aggregate: &AggregateRef,
        expected: Expected,
        envelope: &Envelope,
        subject: String,
    ) -> Result<Appended> {
        let since = self.load_after(aggregate, expected.header_value()).await?;
        let mine = since
            .messages
            .iter()
            .find(|message| message.envelope.written_by(&envelope.actor, &envelope.request_id));
        if let Some(original) = mine {
            if !original.envelope.same_request(envelope.fingerprint.as_ref()) {
                return Err(Error::RequestIdReused {
                    request_id: envelope.request_id.clone(),
                    original_subject: original.subject.clone(),
                    original: original.position,
                    method: original.envelope.fingerprint.as_ref().map(|f| f.method.clone()),
                });
            }
            return Ok(Appended { position: original.position, duplicate: true, written: None });
        }
        Err(Error::Conflict { subject, expected: expected.header_value(), current: since.version })
    }

    /// The aggregate's version: the stream sequence of its last message, 0 if it has none.
    pub async fn version(&self, aggregate: &AggregateRef) -> Result<u64> {
        let stream = self.jetstream.get_stream_no_info(aggregate.stream.name()).await.map_err(Error::nats)?;
        let subject = aggregate.subject();
        let asked = stream.direct_get_last_for_subject(&subject);
        match crate::deadline::first_answer(aggregate.stream.name(), &subject, asked).await? {
            Some(Ok(message)) => Ok(message.sequence),
            Some(Err(error))
                if error.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound =>
            {
                Ok(0)
            }
            Some(Err(error)) => Err(Error::nats(error)),
            None => self.leader_version(aggregate).await,
        }
    }
}

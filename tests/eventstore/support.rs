use luukku_domain::{AggregateId, RequestId};
use luukku_eventstore::Stream::Families as FAMILIES;
use luukku_eventstore::{AggregateRef, Appended, EventStore, Expected};
use luukku_testkit::sample::SampleEvent;

pub fn new_aggregate() -> AggregateRef {
    AggregateRef::new(FAMILIES, "family", AggregateId::generate())
}

pub fn noted(text: &str) -> SampleEvent {
    SampleEvent::Noted { text: text.to_owned(), tags: vec!["t".to_owned()] }
}

pub async fn append_note(
    store: &EventStore,
    aggregate: &AggregateRef,
    expected: Expected,
    text: &str,
) -> anyhow::Result<Appended> {
    Ok(store
        .append_events(aggregate, expected, &[noted(text)], &RequestId::generate(), &luukku_testkit::actor())
        .await?)
}

/// The number of messages the stream holds, as the server counts them.
pub async fn message_count(store: &EventStore, stream: luukku_eventstore::Stream) -> anyhow::Result<u64> {
    Ok(store.stream(stream).await?.cached_info().state.messages)
}

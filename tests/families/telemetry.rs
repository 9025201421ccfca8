//! A command's trace runs on into the stream: its event carries the call's W3C trace context,
//! continuing the caller's trace when the call came with one.

use luukku_domain::family::Family;
use luukku_domain::{Aggregate, AggregateId};
use luukku_eventstore::{AggregateRef, ReadOptions, Stream};

use crate::support::*;

/// The `traceparent` of the family's first message, as a reader of the stream sees it.
async fn traceparent(harness: &Harness, family_id: &str) -> anyhow::Result<String> {
    use futures::StreamExt as _;
    let id: AggregateId = family_id.parse()?;
    let subject = AggregateRef::new(Stream::Families, Family::TYPE, id).subject();
    let options = ReadOptions { from_sequence: 1, filter_subject: Some(subject) };
    let mut messages = harness.store.read(Stream::Families, options).await?;
    let first = messages.next().await.ok_or_else(|| anyhow::anyhow!("no message"))??;
    first.traceparent.ok_or_else(|| anyhow::anyhow!("the event carries no traceparent"))
}

/// The parts of a `traceparent`: version, trace id, parent span id, flags.
fn parts(traceparent: &str) -> Vec<&str> {
    traceparent.split('-').collect()
}

#[tokio::test]
async fn a_commands_event_carries_the_trace_context_of_its_call() -> anyhow::Result<()> {
    luukku_testkit::telemetry();
    let mut harness = Harness::start().await?;

    let request = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
    let family = harness.client.register_family(harness.call(request)).await?.into_inner().family_id;
    let own = traceparent(&harness, &family).await?;
    let own = parts(&own);
    assert_eq!(own.len(), 4, "{own:?}");
    assert_eq!(own[0], "00");
    assert!(own[1].len() == 32 && own[1].bytes().all(|b| b.is_ascii_hexdigit()) && own[1] != "0".repeat(32));
    assert!(own[2].len() == 16 && own[2] != "0".repeat(16));

    // A caller's trace goes on: same trace id, a span of the service's own.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let request = luukku_testkit::fixtures::registration_request(&request_id(), "Korhonen");
    let mut call = harness.call(request);
    call.metadata_mut().insert("traceparent", format!("00-{caller_trace}-{caller_span}-01").parse()?);
    let family = harness.client.register_family(call).await?.into_inner().family_id;
    let continued = traceparent(&harness, &family).await?;
    let continued = parts(&continued);
    assert_eq!(continued[1], caller_trace, "{continued:?}");
    assert_ne!(continued[2], caller_span, "the service's span is a child of the caller's");
    assert_ne!(continued[1], own[1], "another call, another trace");
    Ok(())
}

use std::sync::Arc;

use luukku_domain::{AggregateId, RequestId};
use luukku_eventstore::{Error, Expected};
use luukku_testkit::TestNats;

use crate::support::{append_note, message_count, new_aggregate, noted};

#[tokio::test]
async fn concurrent_writers_on_one_aggregate_have_exactly_one_winner_per_round() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = Arc::new(nats.store().await?);
    let aggregate = new_aggregate();
    let rounds = 8;
    let writers = 32;
    let mut expected = Expected::New;
    let mut successes = 0u64;
    for round in 0..rounds {
        let mut tasks = Vec::new();
        for writer in 0..writers {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                append_note(&store, &aggregate, expected, &format!("round {round} writer {writer}")).await
            }));
        }
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            match task.await? {
                Ok(appended) => winners.push(appended.position.sequence),
                Err(error) => match error.downcast::<Error>()? {
                    Error::Conflict { current, .. } => conflicts.push(current),
                    other => anyhow::bail!("unexpected error {other}"),
                },
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(conflicts.len(), writers - 1);
        // Every loser learns the version the winner wrote.
        assert!(conflicts.iter().all(|current| *current == winners[0]), "round {round}: {conflicts:?}");
        successes += 1;
        expected = Expected::Version(winners[0]);
    }
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, successes);
    let loaded = store.load(&aggregate).await?;
    assert_eq!(loaded.messages.len() as u64, successes);
    Ok(())
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_original_position_and_appends_nothing()
-> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let request_id = RequestId::generate();
    let actor = luukku_testkit::actor();

    let first =
        store.append_events(&aggregate, Expected::New, &[noted("first")], &request_id, &actor).await?;
    assert!(!first.duplicate);
    // The retry carries the same expectation as the original, now stale: still the first answer.
    let retry =
        store.append_events(&aggregate, Expected::New, &[noted("first")], &request_id, &actor).await?;
    assert!(retry.duplicate);
    assert_eq!(retry.position, first.position);
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, 1);

    // The same request id for another aggregate is refused, not silently mapped to the first.
    let other = new_aggregate();
    let reused = store.append_events(&other, Expected::New, &[noted("other")], &request_id, &actor).await;
    match reused {
        Err(Error::RequestIdReused { original, original_subject, .. }) => {
            assert_eq!(original, first.position);
            assert_eq!(original_subject, aggregate.subject());
        }
        other => panic!("expected RequestIdReused, got {other:?}"),
    }
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_naming_the_current_version() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let first = append_note(&store, &aggregate, Expected::New, "one").await?;
    let second = append_note(&store, &aggregate, Expected::Version(first.position.sequence), "two").await?;

    let stale = append_note(&store, &aggregate, Expected::Version(first.position.sequence), "three").await;
    let error = stale.expect_err("a stale append must fail").downcast::<Error>()?;
    assert!(
        matches!(error, Error::Conflict { current, expected, .. } if current == second.position.sequence && expected == first.position.sequence),
        "{error:?}"
    );
    let new_again = append_note(&store, &aggregate, Expected::New, "again").await;
    assert!(matches!(new_again.expect_err("exists").downcast::<Error>()?, Error::Conflict { .. }));
    assert_eq!(store.version(&aggregate).await?, second.position.sequence);
    Ok(())
}

#[tokio::test]
async fn an_oversized_command_is_refused_before_it_is_sent() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let huge = "x".repeat(store.settings().max_message_bytes + 1);
    let result = append_note(&store, &aggregate, Expected::New, &huge).await;
    assert!(matches!(result.expect_err("too large").downcast::<Error>()?, Error::TooLarge { .. }));
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, 0);
    Ok(())
}

#[tokio::test]
async fn identifiers_that_could_reach_a_subject_as_wildcards_are_refused() -> anyhow::Result<()> {
    for hostile in [
        "*",
        ">",
        "01ARZ3NDEKTSV4RRFFQ69G5FA.",
        "01ARZ3NDEKTSV4RRFFQ69G5F*",
        "01ARZ3NDEKTSV4RRFFQ69G5F>",
        "01ARZ3NDEKTSV4RRFFQ69G5F ",
        "01ARZ3NDEKTSV4RRFFQ69G5FÄ",
        "x.families.>",
    ] {
        assert!(AggregateId::parse(hostile).is_err(), "{hostile:?} was accepted");
    }
    // A valid id gives a literal three-token subject.
    let aggregate = new_aggregate();
    let subject = aggregate.subject();
    assert_eq!(subject.split('.').count(), 3);
    assert!(!subject.contains('*') && !subject.contains('>') && !subject.contains(' '));
    Ok(())
}

/// "No responders" (JetStream restarting, a leader being elected) is asked again with backoff,
/// and the call is answered once the stream answers; if it never does, the call is unavailable.
#[tokio::test]
async fn a_stream_without_a_responder_is_asked_again_then_unavailable() -> anyhow::Result<()> {
    use luukku_eventstore::{EventStore, StoreSettings, Stream};
    let nats = TestNats::start().await?;
    let store = EventStore::new(nats.client().await?, StoreSettings::default());
    let aggregate = new_aggregate();

    // No stream yet: it comes up while the append waits.
    let late = store.clone();
    let provisioning = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        late.provision(&Stream::ALL).await
    });
    let appended = append_note(&store, &aggregate, Expected::New, "while JetStream came up").await?;
    provisioning.await??;
    assert_eq!(appended.position.sequence, 1);
    assert_eq!(store.load(&aggregate).await?.messages.len(), 1, "written once");

    // A stream that never answers: unavailable, not an internal error.
    let meetings = luukku_eventstore::AggregateRef::new(Stream::Meetings, "family", AggregateId::generate());
    let other = TestNats::start().await?;
    let bare = EventStore::new(other.client().await?, StoreSettings::default());
    let error = bare.load(&meetings).await.expect_err("no stream");
    assert!(matches!(&error, Error::Unavailable(why) if why.contains("no responder")), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn a_full_stream_refuses_the_write_as_exhausted_and_keeps_what_it_has() -> anyhow::Result<()> {
    use luukku_eventstore::{StoreSettings, Stream};
    let nats = TestNats::start().await?;
    let settings = StoreSettings { max_stream_bytes: 16 * 1024, ..Default::default() };
    let store = nats.store_with(settings).await?;
    let info = store.stream(Stream::Families).await?.cached_info().clone();
    assert_eq!(info.config.max_bytes, 16 * 1024, "the stream is bounded");

    let mut written = 0;
    let refused = loop {
        match append_note(&store, &new_aggregate(), Expected::New, &"x".repeat(500)).await {
            Ok(_) => written += 1,
            Err(error) => break error,
        }
        assert!(written < 1_000, "the stream never filled");
    };
    let refused = refused.downcast::<Error>()?;
    assert!(matches!(refused, Error::Full { .. }), "{refused:?}");
    assert_eq!(
        message_count(&store, Stream::Families).await?,
        written,
        "nothing already written is discarded"
    );
    Ok(())
}

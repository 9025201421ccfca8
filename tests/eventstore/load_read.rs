use std::time::Duration;

use futures::StreamExt;
use luukku_eventstore::{Expected, ReadOptions};
use luukku_testkit::TestNats;
use luukku_testkit::sample::SampleEvent;

use crate::support::{append_note, new_aggregate};

#[tokio::test]
async fn loading_an_aggregate_after_ten_thousand_appends_gives_them_all_in_order() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let neighbour = new_aggregate();
    let mut expected = Expected::New;
    let mut neighbour_expected = Expected::New;
    for index in 0..10_000 {
        let appended = append_note(&store, &aggregate, expected, &format!("note {index}")).await?;
        expected = Expected::Version(appended.position.sequence);
        if index % 1000 == 0 {
            let other = append_note(&store, &neighbour, neighbour_expected, "neighbour").await?;
            neighbour_expected = Expected::Version(other.position.sequence);
        }
    }
    let loaded = store.load(&aggregate).await?;
    assert_eq!(loaded.messages.len(), 10_000);
    let Expected::Version(last) = expected else { unreachable!("appended at least once") };
    assert_eq!(loaded.version, last);
    for (index, message) in loaded.messages.iter().enumerate() {
        let events = message.decode_events::<SampleEvent>()?;
        assert_eq!(
            events,
            vec![SampleEvent::Noted { text: format!("note {index}"), tags: vec!["t".into()] }]
        );
        assert_eq!(message.subject, aggregate.subject());
    }
    assert!(loaded.messages.windows(2).all(|pair| pair[0].position.sequence < pair[1].position.sequence));

    // Loading only what came after a cached version.
    let tail = store.load_after(&aggregate, loaded.messages[9_989].position.sequence).await?;
    assert_eq!(tail.messages.len(), 10);
    assert_eq!(tail.version, last);
    Ok(())
}

#[tokio::test]
async fn loading_an_aggregate_that_does_not_exist_gives_version_zero() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let loaded = store.load(&new_aggregate()).await?;
    assert_eq!(loaded.version, 0);
    assert!(loaded.messages.is_empty());
    Ok(())
}

#[tokio::test]
async fn reading_a_stream_from_a_sequence_gives_the_rest_and_ends() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let mut positions = Vec::new();
    for index in 0..25 {
        positions
            .push(append_note(&store, &new_aggregate(), Expected::New, &format!("n{index}")).await?.position);
    }
    let from = positions[10].sequence;
    let read: Vec<_> = store
        .read(luukku_eventstore::Stream::Families, ReadOptions { from_sequence: from, filter_subject: None })
        .await?
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let sequences: Vec<u64> = read.iter().map(|message| message.position.sequence).collect();
    let expected: Vec<u64> = positions[10..].iter().map(|position| position.sequence).collect();
    assert_eq!(sequences, expected);
    let texts: Vec<SampleEvent> =
        read.iter().flat_map(|message| message.decode_events().unwrap_or_default()).collect();
    assert_eq!(texts.first(), Some(&SampleEvent::Noted { text: "n10".into(), tags: vec!["t".into()] }));

    let beyond = store
        .read(luukku_eventstore::Stream::Families, ReadOptions { from_sequence: 1_000, filter_subject: None })
        .await?;
    assert_eq!(beyond.count().await, 0);

    // Without a start sequence, from the first message.
    let everything = store.read(luukku_eventstore::Stream::Families, ReadOptions::default()).await?;
    let everything = tokio::time::timeout(Duration::from_secs(10), everything.count()).await?;
    assert_eq!(everything, 25);
    Ok(())
}

#[tokio::test]
async fn a_subscription_sees_events_appended_after_it_started() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    append_note(&store, &new_aggregate(), Expected::New, "before").await?;
    let mut live = store.subscribe(luukku_eventstore::Stream::Families, ReadOptions::default()).await?;
    let aggregate = new_aggregate();
    let appended = append_note(&store, &aggregate, Expected::New, "after").await?;
    let seen = tokio::time::timeout(Duration::from_secs(10), live.next()).await?.expect("stream ended")?;
    assert_eq!(seen.position, appended.position);
    assert_eq!(seen.subject, aggregate.subject());
    assert_eq!(seen.aggregate_id(), Some(aggregate.id));
    assert_eq!(seen.decode_events::<SampleEvent>()?, vec![crate::support::noted("after")]);
    Ok(())
}

use std::time::Duration;

use futures::future::join_all;
use luukku_eventstore::{Expected, StoreSettings};
use luukku_testkit::TestNats;
use luukku_testkit::sample::SampleEvent;

use crate::support::{append_note, message_count, new_aggregate};

#[tokio::test]
async fn killing_and_restarting_the_server_on_the_same_store_loses_no_acknowledged_append()
-> anyhow::Result<()> {
    let mut nats = TestNats::start().await?;
    let store = nats
        .store_with(StoreSettings { publish_timeout: Duration::from_secs(2), ..Default::default() })
        .await?;
    let aggregates: Vec<_> = (0..200).map(|_| new_aggregate()).collect();
    let appends = aggregates.iter().map(|aggregate| append_note(&store, aggregate, Expected::New, "kept"));
    let acknowledged: Vec<_> = join_all(appends).await.into_iter().collect::<Result<_, _>>()?;

    nats.server.kill().await?; // SIGKILL, right after the acknowledgements
    nats.server.restart().await?;

    let store = nats.store().await?; // a fresh connection, as a restarted service would have
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, acknowledged.len() as u64);
    for (aggregate, appended) in aggregates.iter().zip(&acknowledged) {
        let loaded = store.load(aggregate).await?;
        assert_eq!(loaded.version, appended.position.sequence);
        assert_eq!(loaded.messages[0].decode_events::<SampleEvent>()?, vec![crate::support::noted("kept")]);
    }
    // And the log goes on from where it was.
    let next =
        append_note(&store, &aggregates[0], Expected::Version(acknowledged[0].position.sequence), "after")
            .await?;
    assert!(next.position.sequence > acknowledged.iter().map(|a| a.position.sequence).max().unwrap_or(0));
    Ok(())
}

#[tokio::test]
async fn a_publish_that_times_out_is_sent_again_and_written_once() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let settings = StoreSettings {
        publish_timeout: Duration::from_millis(400),
        publish_retries: 5,
        ..Default::default()
    };
    let store = nats.store_with(settings).await?;
    let aggregate = new_aggregate();

    nats.server.pause().await?;
    let (started, has_started) = tokio::sync::oneshot::channel();
    let append = tokio::spawn({
        let store = store.clone();
        async move {
            let _ = started.send(());
            append_note(&store, &aggregate, Expected::New, "once").await
        }
    });
    // On a busy machine the task may start late; the pause counts from its start, long
    // enough for the first publish and its first resend to time out.
    has_started.await?;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    nats.server.resume()?;

    let appended = append.await??;
    // The answer came to a resend, which found the first send already written.
    assert!(appended.duplicate, "the publish was not sent again");
    assert_eq!(message_count(&store, luukku_eventstore::Stream::Families).await?, 1);
    let loaded = store.load(&aggregate).await?;
    assert_eq!(loaded.messages.len(), 1);
    assert_eq!(loaded.version, appended.position.sequence);
    Ok(())
}

/// A follower at its stream's end when the server restarts goes on with what is appended
/// after, and delivers nothing it was not asked for: the client makes a lost ordered consumer
/// anew from the stream's start when it had delivered nothing yet.
#[tokio::test]
async fn a_follower_at_the_end_goes_on_after_a_restart_without_reading_the_stream_again() -> anyhow::Result<()>
{
    use futures::StreamExt;
    let mut nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let mut version = 0;
    for text in ["one", "two", "three"] {
        let expected = if version == 0 { Expected::New } else { Expected::Version(version) };
        version = append_note(&store, &aggregate, expected, text).await?.position.sequence;
    }
    let (delivered, mut received) = tokio::sync::mpsc::unbounded_channel();
    let follow = store.follow(luukku_eventstore::Stream::Families, version + 1);
    tokio::spawn(async move {
        let mut follow = std::pin::pin!(follow);
        while let Some(item) = follow.next().await {
            if delivered.send(item.map(|recorded| recorded.position.sequence).ok()).is_err() {
                return;
            }
        }
    });
    // Its consumer exists before the restart, and is made again after it.
    let consumers = |store: luukku_eventstore::EventStore| async move {
        let stream = store.stream(luukku_eventstore::Stream::Families).await?;
        anyhow::Ok(stream.cached_info().state.consumer_count)
    };
    wait_until(|| consumers(store.clone()), |count| *count > 0).await?;
    nats.server.kill().await?;
    nats.server.restart().await?;
    let store = nats.store().await?;
    wait_until(|| consumers(store.clone()), |count| *count > 0).await?;

    let next = append_note(&store, &aggregate, Expected::Version(version), "four").await?;
    let first = tokio::time::timeout(Duration::from_secs(30), received.recv()).await?;
    assert_eq!(first, Some(Some(next.position.sequence)), "only what was appended after its start");
    Ok(())
}

/// Asks `ask` until `done` holds for its answer, for up to 30 s.
async fn wait_until<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    ask: impl Fn() -> F,
    done: impl Fn(&T) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(answer) = ask().await
            && done(&answer)
        {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "not within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

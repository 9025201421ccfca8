//! `append`: the event store's append path against the raw JetStream ceiling.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::future::try_join_all;
use luukku_domain::{AggregateId, RequestId, Timestamp};
use luukku_eventstore::Stream::Families as FAMILIES;
use luukku_eventstore::{AggregateRef, Envelope, EventStore, Expected, RawEvent, Stream};
use luukku_testkit::TestNats;

use crate::stats::{latency_histogram, median, millis, record};

/// The subject root of a stream with the event store's settings, for raw publishes that
/// bypass it.
pub const RAW: &str = "rawbench";

/// Creates the raw stream: `FAMILIES`'s configuration under another name and subjects.
pub async fn provision_raw(store: &EventStore) -> anyhow::Result<()> {
    let mut config = Stream::Families.config(store.settings());
    config.name = RAW.to_uppercase();
    config.description = Some("luukku-bench: raw ceiling".to_owned());
    config.subjects = vec![format!("{RAW}.>")];
    // The ceilings and the floor write a few hundred megabytes at most: no larger reservation
    // of the server's storage, whatever the event streams are given.
    config.max_bytes = 2 * 1024 * 1024 * 1024;
    store.jetstream().create_or_update_stream(config).await?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// Aggregates (and subjects) written concurrently, one append in flight each.
    #[arg(long, default_value_t = 1000)]
    aggregates: usize,
    /// Appends per aggregate in each trial.
    #[arg(long, default_value_t = 60)]
    rounds: usize,
    /// Trials of each side, alternating which goes first; the medians are reported.
    #[arg(long, default_value_t = 6)]
    trials: usize,
    /// Sequential appends for the latency figures.
    #[arg(long, default_value_t = 3000)]
    latency_samples: usize,
    /// Bytes of event data per append.
    #[arg(long, default_value_t = 200)]
    event_bytes: usize,
}

pub async fn run(args: AppendArgs) -> anyhow::Result<crate::stats::Row> {
    let nats = TestNats::start().await?;
    let (store, _) = crate::data::bench_store(&nats, crate::data::Streams::Usual).await?;
    provision_raw(&store).await?;
    let event =
        RawEvent { event_type: "BenchNoted".into(), schema_version: 1, data: vec![7; args.event_bytes] };
    println!(
        "luukku-bench append: {} aggregates x {} appends per trial, {} trials, {} B events, nats-server {}",
        args.aggregates,
        args.rounds,
        args.trials,
        args.event_bytes,
        nats.url()
    );

    // Warm both paths up (connections, stream files, allocator) before measuring.
    raw_trial(&store, args.aggregates, 2, &event).await?;
    store_trial(&store, &args, 2, &event).await?;

    let mut raw_rates = Vec::new();
    let mut store_rates = Vec::new();
    for trial in 1..=args.trials {
        // Throughput drifts as the stream grows; alternating which side goes first keeps both
        // sides sampled at the same stream sizes.
        let (raw, appended) = if trial % 2 == 1 {
            let raw = raw_trial(&store, args.aggregates, args.rounds, &event).await?;
            (raw, store_trial(&store, &args, args.rounds, &event).await?)
        } else {
            let appended = store_trial(&store, &args, args.rounds, &event).await?;
            (raw_trial(&store, args.aggregates, args.rounds, &event).await?, appended)
        };
        println!("trial {trial}: raw {raw:.0} msg/s, event store {appended:.0} appends/s");
        raw_rates.push(raw);
        store_rates.push(appended);
    }
    let ceiling = median(raw_rates);
    let rate = median(store_rates);

    let latency = single_append_latency(&store, args.latency_samples, &event).await?;
    println!(
        "ceiling (raw JetStream publish, expected subject sequence, {} subjects): {ceiling:.0} msg/s",
        args.aggregates
    );
    println!("event store append ({} aggregates): {rate:.0} appends/s", args.aggregates);
    println!(
        "single append latency: p50 {:.3} ms, p99 {:.3} ms ({} sequential appends)",
        millis(latency.value_at_quantile(0.50)),
        millis(latency.value_at_quantile(0.99)),
        latency.len()
    );
    println!("ratio={:.3}", rate / ceiling);
    Ok(crate::stats::Row::rate(
        "append",
        "appends",
        rate,
        &format!("{} aggregates", args.aggregates),
        &latency,
        "raw JetStream publish with expected subject sequences",
        ceiling,
    ))
}

/// Raw pipelined publishes of the very bytes and headers the event store writes, encoded once:
/// each subject's task keeps one publish in flight with a message id and an
/// expected-last-subject-sequence, as the event store does.
pub async fn raw_trial(
    store: &EventStore,
    writers: usize,
    rounds: usize,
    event: &RawEvent,
) -> anyhow::Result<f64> {
    let envelope = Envelope {
        recorded_at: Timestamp::now(),
        request_id: RequestId::generate(),
        actor: luukku_testkit::actor(),
        events: vec![event.clone()],
        fingerprint: None,
    };
    let payload = envelope.encode()?;
    let envelope_headers = envelope.headers();
    let jetstream = store.jetstream().clone();
    writes_per_second(writers, rounds, || {
        let jetstream = jetstream.clone();
        let payload = payload.clone();
        let envelope_headers = envelope_headers.clone();
        async move {
            let subject = format!("{RAW}.bench.{}", AggregateId::generate());
            let mut last = 0u64;
            for _ in 0..rounds {
                let mut headers = envelope_headers.clone();
                headers.insert("Nats-Msg-Id", RequestId::generate().as_str());
                headers.insert("Nats-Expected-Last-Subject-Sequence", last.to_string().as_str());
                let ack =
                    jetstream.publish_with_headers(subject.clone(), headers, payload.clone()).await?.await?;
                last = ack.sequence;
            }
            Ok(())
        }
    })
    .await
}

/// The same load through `EventStore::append`: envelope encoding, headers, concurrency checks.
async fn store_trial(
    store: &EventStore,
    args: &AppendArgs,
    rounds: usize,
    event: &RawEvent,
) -> anyhow::Result<f64> {
    let store = Arc::new(store.clone());
    let actor = Arc::new(luukku_testkit::actor());
    writes_per_second(args.aggregates, rounds, || {
        let store = Arc::clone(&store);
        let actor = Arc::clone(&actor);
        let event = event.clone();
        async move {
            let aggregate = AggregateRef::new(FAMILIES, "family", AggregateId::generate());
            let mut expected = Expected::New;
            for _ in 0..rounds {
                let appended = store
                    .append(&aggregate, expected, vec![event.clone()], &RequestId::generate(), &actor)
                    .await?;
                expected = Expected::Version(appended.position.sequence);
            }
            Ok(())
        }
    })
    .await
}

/// Runs `writers` tasks at once, each making `rounds` writes, and gives writes per second.
pub async fn writes_per_second<Writer, Task>(
    writers: usize,
    rounds: usize,
    writer: Writer,
) -> anyhow::Result<f64>
where
    Writer: Fn() -> Task,
    Task: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let started = Instant::now();
    let tasks = (0..writers).map(|_| tokio::spawn(writer()));
    for result in try_join_all(tasks).await? {
        result?;
    }
    Ok((writers * rounds) as f64 / started.elapsed().as_secs_f64())
}

async fn single_append_latency(
    store: &EventStore,
    samples: usize,
    event: &RawEvent,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let mut histogram = latency_histogram()?;
    let actor = luukku_testkit::actor();
    let aggregate = AggregateRef::new(FAMILIES, "family", AggregateId::generate());
    let mut expected = Expected::New;
    for _ in 0..samples {
        let started = Instant::now();
        let appended =
            store.append(&aggregate, expected, vec![event.clone()], &RequestId::generate(), &actor).await?;
        record(&mut histogram, started.elapsed());
        expected = Expected::Version(appended.position.sequence);
    }
    Ok(histogram)
}

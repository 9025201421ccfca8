//! `replay`: rebuilding the coordination projection from all four streams of realistic
//! families, against the raw ordered-consumer read rate of the same streams, measured in the
//! same run.

use std::time::Instant;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use luukku_eventstore::{Checkpoints, EventStore, NatsKeyStore, Stream};
use luukku_testkit::TestNats;

use crate::data;
use crate::processes::processor_time;
use crate::stats::Spent;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Realistic families in the streams (about 40 events each).
    #[arg(long, default_value_t = 25_000)]
    families: usize,
}

/// Reads the four streams to `ends` with one ordered consumer each, concurrently, decoding
/// nothing: the ceiling.
pub async fn raw_read(store: &EventStore, ends: Checkpoints) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut readers = Vec::new();
    for stream in Stream::ALL {
        let last = ends.get(stream);
        if last == 0 {
            continue;
        }
        let stream = store.stream(stream).await?;
        readers.push(async move {
            let consumer = stream.create_consumer(OrderedConfig::default()).await?;
            let mut messages = consumer.messages().await?;
            let mut count = 0u64;
            while let Some(message) = messages.next().await {
                let message = message?;
                count += 1;
                if message.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence >= last {
                    break;
                }
            }
            anyhow::Ok(count)
        });
    }
    let counts = futures::future::try_join_all(readers).await?;
    let count: u64 = counts.into_iter().sum();
    Ok((count, count as f64 / started.elapsed().as_secs_f64()))
}

/// Processor time per event in microseconds, this process's and nats-server's together.
fn total(spent: &Spent) -> f64 {
    spent.per_call().iter().sum()
}

/// Processor time per event, to a tenth of a microsecond: this process's and nats-server's.
fn per_event(spent: &Spent) -> String {
    let [process, nats] = spent.per_call();
    format!(
        "{:.1} µs ({process:.1} + nats-server {nats:.1}; {:.2} processors busy)",
        total(spent),
        spent.busy()
    )
}

/// Projects the four streams into a fresh sled folder: the rate in events per second, and what
/// its applier did.
async fn rebuild(
    store: &EventStore,
    keys: &NatsKeyStore,
    ends: Checkpoints,
    events: u64,
) -> anyhow::Result<(f64, String)> {
    let folder = tempfile::tempdir()?;
    let indexing = luukku_coordination::Indexing::from_keys(luukku_coordination::cached_keys(keys.clone()));
    let started = Instant::now();
    let coordination = luukku_coordination::Projection::open(folder.path(), store.clone(), indexing)?;
    data::caught_up(&coordination, ends).await?;
    let seconds = started.elapsed().as_secs_f64();
    let applier = data::applier_account(&coordination.applied(), seconds);
    drop(coordination);
    Ok((events as f64 / seconds, applier))
}

/// Writes the access relations (the model every service keeps, from the four streams) into a
/// fresh folder: the rate in events per second.
async fn relations(store: &EventStore, events: u64) -> anyhow::Result<f64> {
    let folder = tempfile::tempdir()?;
    let started = Instant::now();
    let relations = luukku_app::Relations::spawn(&luukku_app::Folder::open(folder.path())?, store.clone());
    data::relations_caught_up(&relations, store).await?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<crate::stats::Row> {
    let nats = TestNats::start().await?;
    let (store, keys) = data::bench_store(&nats, data::Streams::for_families(args.families)).await?;
    println!("luukku-bench replay: {} realistic families, nats-server {}", args.families, nats.url());
    let filled = data::fill(&store, &keys, args.families, args.families, 16).await?;
    let ends = data::ends(&store).await?;
    println!(
        "wrote {} events ({:.1} per family) into the four streams in {:.1} s; stream ends {ends}",
        filled.events,
        filled.events as f64 / args.families as f64,
        filled.seconds
    );
    let nats_pid = nats.server.pid().ok_or_else(|| anyhow::anyhow!("nats-server is not running"))?;
    let ((events, ceiling), read) = processor_time(nats_pid, raw_read(&store, ends)).await?;
    println!(
        "ceiling (ordered consumer reads of the four streams, concurrently, {events} events): {ceiling:.0} events/s"
    );
    let ((rate, applier), rebuilt) = processor_time(nats_pid, rebuild(&store, &keys, ends, events)).await?;
    println!(
        "projection rebuild (decode, project, timelines, sled batches with checkpoints): {rate:.0} events/s; {applier}"
    );
    let [read, rebuilt] = [read, rebuilt].map(|used| {
        let mut spent = Spent::default();
        spent.add(used, events as usize);
        spent
    });
    println!(
        "processor time per event, from the first read until both processes are idle again (this process; and nats-server), and the processors busy meanwhile: read {}, rebuild {}",
        per_event(&read),
        per_event(&rebuilt)
    );
    let models = relations(&store, events).await?;
    println!(
        "access relations rebuild (the checkpointed model every service keeps, from the four streams): {models:.0} events/s, {:.3} of the ceiling",
        models / ceiling
    );
    println!("ratio={:.3}", rate / ceiling);
    Ok(crate::stats::Row {
        name: "replay",
        figure: format!(
            "{rate:.0} events/s rebuilding {events} events of {} realistic families; processor time per event {:.1} µs (the read's {:.1}), {:.2} processors busy (the read {:.2})",
            args.families,
            total(&rebuilt),
            total(&read),
            rebuilt.busy(),
            read.busy()
        ),
        ceiling: format!("ordered consumer reads of the four streams, {ceiling:.0} events/s"),
        ratio: rate / ceiling,
    })
}

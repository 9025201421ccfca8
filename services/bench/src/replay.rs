//! `replay`: rebuilding the coordination projection against the raw ordered-consumer read rate
//! of the same events, measured in the same run.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use luukku_domain::family::{
    FamilyEvent, FamilyId, MemberDetails, MemberJoined, MemberRole, Municipality, MunicipalityChanged,
    Registered,
};
use luukku_domain::sealing::{FamilyKey, HasPersonal, Personal};
use luukku_domain::{RequestId, Timestamp};
use luukku_eventstore::Stream::Families as FAMILIES;
use luukku_eventstore::{AggregateRef, Envelope, EventStore, RawEvent};
use luukku_eventstore::{Checkpoints, Stream};
use luukku_testkit::TestNats;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Events in the stream.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Families they belong to (each registered, then moving between municipalities).
    #[arg(long, default_value_t = 10_000)]
    families: usize,
}

fn registered(family: FamilyId) -> anyhow::Result<FamilyEvent> {
    let details = |name: &str, born| MemberDetails {
        given_names: name.to_owned(),
        family_name: "Virtanen".to_owned(),
        birth_date: Some(born),
        identity_code: None,
        languages: vec!["fi".to_owned()],
    };
    let member = |role, name: &str, born| MemberJoined {
        member_id: luukku_domain::family::MemberId::generate(),
        role,
        details: Personal::Plain(details(name, born)),
    };
    let mut event = FamilyEvent::Registered(Registered {
        municipality: Municipality::parse("091").map_err(anyhow::Error::msg)?,
        members: vec![
            member(MemberRole::Guardian, "Maria", jiff::civil::date(1985, 3, 2)),
            member(MemberRole::Child, "Eero", jiff::civil::date(2015, 5, 1)),
        ],
    });
    event.seal(&FamilyKey::generate(), family.to_string().as_bytes())?;
    Ok(event)
}

/// Publishes the events as the event store writes them, pipelined.
async fn fill(store: &EventStore, args: &ReplayArgs) -> anyhow::Result<()> {
    let actor = luukku_testkit::actor();
    let families: Vec<FamilyId> = (0..args.families).map(|_| FamilyId::generate()).collect();
    let per_family = args.events / args.families;
    let jetstream = store.jetstream().clone();
    let mut pending = futures::stream::FuturesUnordered::new();
    let started = Instant::now();
    for round in 0..per_family {
        for family in &families {
            let event = if round == 0 {
                registered(*family)?
            } else {
                let code = format!("{:03}", (round * 7) % 1000);
                FamilyEvent::MunicipalityChanged(MunicipalityChanged {
                    municipality: Municipality::parse(&code).map_err(anyhow::Error::msg)?,
                })
            };
            let envelope = Envelope {
                recorded_at: Timestamp::now(),
                request_id: RequestId::generate(),
                actor: actor.clone(),
                events: vec![RawEvent::encode(&event)?],
                fingerprint: None,
            };
            let subject = AggregateRef::new(FAMILIES, "family", *family).subject();
            let ack = jetstream.publish_with_headers(subject, envelope.headers(), envelope.encode()?).await?;
            pending.push(std::future::IntoFuture::into_future(ack));
            if pending.len() >= 4096 {
                while pending.len() > 2048 {
                    if let Some(ack) = pending.next().await {
                        ack?;
                    }
                }
            }
        }
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    println!(
        "filled FAMILIES with {} events in {:.1} s",
        per_family * args.families,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads the whole stream with an ordered consumer, decoding nothing: the ceiling.
async fn raw_read(store: &EventStore, last: u64) -> anyhow::Result<f64> {
    let stream = store.stream(Stream::Families).await?;
    let consumer = stream.create_consumer(OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let started = Instant::now();
    let mut count = 0u64;
    while let Some(message) = messages.next().await {
        let message = message?;
        count += 1;
        if message.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence >= last {
            break;
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Projects the whole stream into a fresh sled folder.
async fn rebuild(store: &EventStore, last: u64) -> anyhow::Result<f64> {
    let folder = tempfile::tempdir()?;
    let started = Instant::now();
    let coordination = luukku_coordination::Projection::open(folder.path(), store.clone())?;
    let mut targets = Checkpoints::default();
    targets.set(Stream::Families, last);
    coordination
        .wait_for(targets, Duration::from_secs(3600))
        .await
        .map_err(|at| anyhow::anyhow!("the projection stopped at {at}"))?;
    let rate = last as f64 / started.elapsed().as_secs_f64();
    drop(coordination);
    Ok(rate)
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    println!(
        "luukku-bench replay: {} events over {} families, nats-server {}",
        args.events,
        args.families,
        nats.url()
    );
    fill(&store, &args).await?;
    let last = store.last_sequence(Stream::Families).await?;
    let ceiling = raw_read(&store, last).await?;
    println!("ceiling (ordered consumer read of {last} events): {ceiling:.0} events/s");
    let rate = rebuild(&store, last).await?;
    println!("projection rebuild (decode, project, sled batches with checkpoints): {rate:.0} events/s");
    println!("ratio={:.3}", rate / ceiling);
    Ok(())
}

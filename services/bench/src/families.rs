//! `families`: whole commands through the families gRPC service (load, decide, seal, append)
//! against the raw JetStream publish ceiling, measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use luukku_domain::{Actor, RequestId};
use luukku_eventstore::{NatsKeyStore, RawEvent};
use luukku_grpc::with_identity;
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::serve_routes;
use tonic::transport::Channel;

use crate::append::{raw_trial, writes_per_second};
use crate::stats::{latency_histogram, median, millis, record};

#[derive(Debug, clap::Args)]
pub struct FamiliesArgs {
    /// Concurrent callers, each on a family of its own.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Calls per caller in each trial: one RegisterFamily, then ChangeMunicipality.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Trials of each side, alternating which goes first; the medians are reported.
    #[arg(long, default_value_t = 4)]
    trials: usize,
    /// Sequential calls for the latency figures.
    #[arg(long, default_value_t = 1000)]
    latency_samples: usize,
}

fn register_request() -> pb::RegisterFamilyRequest {
    let member = |role: pb::MemberRole, name: &str, born: &str| pb::NewMember {
        member_id: String::new(),
        details: Some(pb::MemberInput {
            role: role as i32,
            given_names: name.to_owned(),
            family_name: "Virtanen".to_owned(),
            birth_date: born.to_owned(),
            identity_code: String::new(),
            languages: vec!["fi".to_owned()],
        }),
    };
    pb::RegisterFamilyRequest {
        request_id: RequestId::generate().to_string(),
        family_id: String::new(),
        municipality: "091".to_owned(),
        members: vec![
            member(pb::MemberRole::Guardian, "Maria", "1985-03-02"),
            member(pb::MemberRole::Child, "Eero", "2015-05-01"),
        ],
    }
}

fn change_request(family_id: &str, round: usize) -> pb::ChangeMunicipalityRequest {
    pb::ChangeMunicipalityRequest {
        request_id: RequestId::generate().to_string(),
        family_id: family_id.to_owned(),
        expected_version: None,
        municipality: if round.is_multiple_of(2) { "837" } else { "091" }.to_owned(),
    }
}

async fn grpc_trial(
    channels: &[Channel],
    actor: &Arc<Actor>,
    writers: usize,
    rounds: usize,
) -> anyhow::Result<f64> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    writes_per_second(writers, rounds, || {
        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut client = FamilyServiceClient::new(channels[index % channels.len()].clone());
        let actor = Arc::clone(actor);
        async move {
            let family_id = client
                .register_family(with_identity(register_request(), &actor))
                .await?
                .into_inner()
                .family_id;
            for round in 1..rounds {
                client.change_municipality(with_identity(change_request(&family_id, round), &actor)).await?;
            }
            Ok(())
        }
    })
    .await
}

pub async fn run(args: FamiliesArgs) -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    crate::append::provision_raw(&store).await?;
    let keys = NatsKeyStore::open(&store).await?;
    let served = serve_routes(luukku_families::routes(store.clone(), keys).await?).await?;
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(tonic::transport::Endpoint::from_shared(served.url())?.connect().await?);
    }
    let actor = Arc::new(luukku_testkit::actor());
    // About the size of a sealed ChangeMunicipality message's event data.
    let event = RawEvent { event_type: "BenchNoted".into(), schema_version: 1, data: vec![7; 200] };
    println!(
        "luukku-bench families: {} callers x {} calls per trial, {} trials, service {}, nats-server {}",
        args.writers,
        args.rounds,
        args.trials,
        served.url(),
        nats.url()
    );

    raw_trial(&store, args.writers, 2, &event).await?;
    grpc_trial(&channels, &actor, args.writers, 2).await?;
    let (mut raw_rates, mut call_rates) = (Vec::new(), Vec::new());
    for trial in 1..=args.trials {
        let (raw, calls) = if trial % 2 == 1 {
            let raw = raw_trial(&store, args.writers, args.rounds, &event).await?;
            (raw, grpc_trial(&channels, &actor, args.writers, args.rounds).await?)
        } else {
            let calls = grpc_trial(&channels, &actor, args.writers, args.rounds).await?;
            (raw_trial(&store, args.writers, args.rounds, &event).await?, calls)
        };
        println!("trial {trial}: raw {raw:.0} msg/s, families service {calls:.0} commands/s");
        raw_rates.push(raw);
        call_rates.push(calls);
    }
    let ceiling = median(raw_rates);
    let rate = median(call_rates);

    let mut client = FamilyServiceClient::new(channels[0].clone());
    let family_id =
        client.register_family(with_identity(register_request(), &actor)).await?.into_inner().family_id;
    let mut latency = latency_histogram()?;
    for round in 0..args.latency_samples {
        let started = Instant::now();
        client.change_municipality(with_identity(change_request(&family_id, round), &actor)).await?;
        record(&mut latency, started.elapsed());
    }
    println!("ceiling (raw JetStream publish, {} subjects): {ceiling:.0} msg/s", args.writers);
    println!("families service ({} callers): {rate:.0} commands/s", args.writers);
    println!(
        "single command latency (ChangeMunicipality on a family of {} versions): p50 {:.3} ms, p99 {:.3} ms",
        args.latency_samples,
        millis(latency.value_at_quantile(0.50)),
        millis(latency.value_at_quantile(0.99)),
    );
    println!("ratio={:.3}", rate / ceiling);
    Ok(())
}

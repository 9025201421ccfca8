//! `families`: whole commands through the families gRPC service (load, decide, seal, append)
//! against the raw JetStream publish ceiling, measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use luukku_app::Caller;
use luukku_auth::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, Verifier};
use luukku_domain::{Actor, RequestId};
use luukku_eventstore::{NatsKeyStore, RawEvent};
use luukku_grpc::serve::ServeOptions;
use luukku_grpc::{Authenticator, with_token};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::{Served, serve_with};
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
    #[arg(long, default_value_t = 8)]
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

/// Each caller's calls, over one of `channels`, with a token minted once as a client would.
async fn grpc_trial(
    channels: &[Channel],
    token: &Arc<str>,
    writers: usize,
    rounds: usize,
) -> anyhow::Result<f64> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    writes_per_second(writers, rounds, || {
        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut client = FamilyServiceClient::new(channels[index % channels.len()].clone());
        let token = Arc::clone(token);
        async move {
            let family_id =
                client.register_family(with_token(register_request(), &token)).await?.into_inner().family_id;
            for round in 1..rounds {
                client.change_municipality(with_token(change_request(&family_id, round), &token)).await?;
            }
            Ok(())
        }
    })
    .await
}

/// What verifying one token takes: on its first call (signature checked), and once cached.
fn verification_cost(actor: &Actor) -> anyhow::Result<(std::time::Duration, std::time::Duration)> {
    const SAMPLES: u32 = 200;
    let keys = luukku_testkit::auth::dev_issuer().key_set()?;
    let verifier = Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), keys);
    let tokens: Vec<String> = (0..SAMPLES)
        .map(|index| {
            let mut grant = luukku_testkit::auth::grant(actor);
            grant.ttl += std::time::Duration::from_secs(u64::from(index));
            luukku_testkit::auth::mint(&grant)
        })
        .collect();
    let started = Instant::now();
    for token in &tokens {
        verifier.verify(token)?;
    }
    let first = started.elapsed() / SAMPLES;
    let started = Instant::now();
    for _ in 0..50 {
        for token in &tokens {
            verifier.verify(token)?;
        }
    }
    Ok((first, started.elapsed() / (50 * SAMPLES)))
}

/// The families service on a port of its own, verifying tokens or, to measure what that costs,
/// taking every call to be `actor`'s.
async fn families_service(
    store: &luukku_eventstore::EventStore,
    keys: &NatsKeyStore,
    actor: &Actor,
    verify: bool,
) -> anyhow::Result<(Served, Vec<Channel>)> {
    let authenticator = if verify {
        luukku_testkit::auth::authenticator()
    } else {
        let keys = luukku_testkit::auth::dev_issuer().key_set()?;
        let verifier = Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), keys);
        Arc::new(Authenticator::unverified(verifier, Caller::new(actor.clone())))
    };
    // The keys as the service keeps them when served.
    let keys = luukku_app::cached_keys(keys.clone());
    let routes = luukku_families::routes(store.clone(), keys, luukku_app::Guard::start(store.clone())).await;
    let served = serve_with(routes, ServeOptions { authenticator, tls: None }).await?;
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(tonic::transport::Endpoint::from_shared(served.url())?.connect().await?);
    }
    Ok((served, channels))
}

pub async fn run(args: FamiliesArgs) -> anyhow::Result<crate::stats::Row> {
    let nats = TestNats::start().await?;
    let (store, keys) = crate::data::bench_store(&nats, crate::data::Streams::Usual).await?;
    crate::append::provision_raw(&store).await?;
    let actor = luukku_testkit::actor();
    let token: Arc<str> = luukku_testkit::auth::token(&actor).into();
    let (served, channels) = families_service(&store, &keys, &actor, true).await?;
    let (_unverified_served, unverified) = families_service(&store, &keys, &actor, false).await?;
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
    grpc_trial(&channels, &token, args.writers, 2).await?;
    grpc_trial(&unverified, &token, args.writers, 2).await?;
    let (mut raw_rates, mut call_rates, mut unverified_rates) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 1..=args.trials {
        // Alternate the order, so that neither side always runs on a warmer or fuller store.
        let (raw, calls, off) = if trial % 2 == 1 {
            let raw = raw_trial(&store, args.writers, args.rounds, &event).await?;
            let calls = grpc_trial(&channels, &token, args.writers, args.rounds).await?;
            (raw, calls, grpc_trial(&unverified, &token, args.writers, args.rounds).await?)
        } else {
            let off = grpc_trial(&unverified, &token, args.writers, args.rounds).await?;
            let calls = grpc_trial(&channels, &token, args.writers, args.rounds).await?;
            (raw_trial(&store, args.writers, args.rounds, &event).await?, calls, off)
        };
        println!(
            "trial {trial}: raw {raw:.0} msg/s, families service {calls:.0} commands/s \
             (without token verification {off:.0})"
        );
        raw_rates.push(raw);
        call_rates.push(calls);
        unverified_rates.push(off);
    }
    let ceiling = median(raw_rates);
    let rate = median(call_rates);
    let unverified_rate = median(unverified_rates);

    let mut client = FamilyServiceClient::new(channels[0].clone());
    let family_id =
        client.register_family(with_token(register_request(), &token)).await?.into_inner().family_id;
    let mut latency = latency_histogram()?;
    for round in 0..args.latency_samples {
        let started = Instant::now();
        client.change_municipality(with_token(change_request(&family_id, round), &token)).await?;
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
    println!(
        "token verification: {unverified_rate:.0} commands/s without it, so it costs {:.1} % of the command rate",
        100.0 * (1.0 - rate / unverified_rate)
    );
    let (first, cached) = verification_cost(&actor)?;
    println!(
        "verifying one token: {:.1} µs on its first call, {:.2} µs cached ({:.2} % of the time between two \
         commands at the service's rate)",
        first.as_secs_f64() * 1e6,
        cached.as_secs_f64() * 1e6,
        100.0 * cached.as_secs_f64() * rate
    );
    println!("ratio={:.3}", rate / ceiling);
    Ok(crate::stats::Row::rate(
        "families",
        "commands",
        rate,
        &format!("{} callers", args.writers),
        &latency,
        "raw JetStream publish",
        ceiling,
    ))
}

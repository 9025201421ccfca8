//! `view`: `GetFamilyView` on realistic families at 64 concurrent callers, against a tonic echo
//! answering a view of the median size, measured in the same run; and write-to-visible latency
//! (a write's acknowledgement until a view asking for its position answers) under concurrent
//! write load.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use luukku_domain::family::FamilyId;
use luukku_domain::{Code, RequestId};
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::serve_routes;
use prost::Message as _;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::processes::processor_time;
use crate::stats::{Spent, best, latency_histogram, millis, record};
use crate::{data, echo};

#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// Realistic families in the projection.
    #[arg(long, default_value_t = 10_000)]
    families: usize,
    /// Concurrent callers of GetFamilyView.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Views each caller asks for, per trial.
    #[arg(long, default_value_t = 150)]
    views: usize,
    /// Concurrent writers while write-to-visible is measured.
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// The writes per second they make together: a steady load, as offices make it, not as
    /// many as the machine can take (which measures queueing instead).
    #[arg(long, default_value_t = 1000)]
    write_rate: u32,
    /// Writes followed by a view asking for their position.
    #[arg(long, default_value_t = 1000)]
    probes: usize,
}

/// Each family with a token of its contact person: who may see it.
struct Callers {
    families: Vec<(String, Arc<str>)>,
}

impl Callers {
    fn new(families: &[(FamilyId, Code)]) -> Self {
        let mut tokens: HashMap<Code, Arc<str>> = HashMap::new();
        let families = families
            .iter()
            .map(|(family, person)| {
                let token = tokens
                    .entry(person.clone())
                    .or_insert_with(|| {
                        luukku_testkit::auth::token(&luukku_testkit::actor_named(person.as_str())).into()
                    })
                    .clone();
                (family.to_string(), token)
            })
            .collect();
        Self { families }
    }

    fn view(&self, pick: usize) -> tonic::Request<coordination::GetFamilyViewRequest> {
        let (family_id, token) = &self.families[pick % self.families.len()];
        let request =
            coordination::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![] };
        luukku_grpc::with_token(request, token)
    }
}

pub async fn run(args: ViewArgs) -> anyhow::Result<crate::stats::Row> {
    let nats = TestNats::start().await?;
    let (store, keys) = data::bench_store(&nats, data::Streams::for_families(args.families)).await?;
    println!(
        "luukku-bench view: {} realistic families, {} callers x {} views, {} writers, {} write-then-view probes, nats-server {}",
        args.families,
        args.callers,
        args.views,
        args.writers,
        args.probes,
        nats.url()
    );
    let filled = data::fill(&store, &keys, args.families, args.families, 17).await?;
    println!("wrote {} events in {:.1} s", filled.events, filled.seconds);
    // Each service on a connection of its own, as when served. The writers' service keeps the
    // family keys as it does when served.
    let (families_store, families_keys) = data::service_store(&nats, &store).await?;
    let families_served = serve_routes(
        luukku_families::routes(
            families_store.clone(),
            luukku_app::cached_keys(families_keys),
            luukku_app::Guard::start(families_store),
        )
        .await,
    )
    .await?;
    let folder = tempfile::tempdir()?;
    let (guarded_store, guarded_keys) = data::service_store(&nats, &store).await?;
    let guarded = luukku_coordination::start(
        folder.path(),
        guarded_store.clone(),
        luukku_coordination::cached_keys(guarded_keys),
        luukku_app::Guard::start(guarded_store),
    )
    .await?;
    let guarded_served = serve_routes(guarded.routes).await?;
    // The same service with no access policy and no access log, for what they cost.
    let open_folder = tempfile::tempdir()?;
    let (open_store, open_keys) = data::service_store(&nats, &store).await?;
    let open = luukku_coordination::start(
        open_folder.path(),
        open_store.clone(),
        luukku_coordination::cached_keys(open_keys),
        luukku_app::Guard::unguarded(open_store),
    )
    .await?;
    let open_served = serve_routes(open.routes).await?;
    let ends = data::ends(&store).await?;
    data::caught_up(&guarded.projection, ends).await?;
    data::caught_up(&open.projection, ends).await?;

    let channel = tonic::transport::Endpoint::from_shared(guarded_served.url())?.connect().await?;
    let open_channel = tonic::transport::Endpoint::from_shared(open_served.url())?.connect().await?;
    // Probes write to families of their own; the writers to the rest.
    let probes_from = args.families.saturating_sub(64).max(args.families / 2);
    let callers = Arc::new(Callers::new(&filled.families[..probes_from]));
    let probe_families = Callers::new(&filled.families[probes_from..]);

    // What the echo answers: a view of the median size, among a sample of families.
    let mut client = CoordinationServiceClient::new(channel.clone());
    let mut sample = Vec::new();
    for pick in (0..callers.families.len()).step_by((callers.families.len() / 200).max(1)) {
        sample.push(client.get_family_view(callers.view(pick)).await?.into_inner());
    }
    sample.sort_by_key(|view| view.encoded_len());
    let reply = sample.get(sample.len() / 2).cloned().ok_or_else(|| anyhow::anyhow!("no view"))?;
    let view_bytes = reply.encoded_len();
    let request_bytes = callers.view(0).get_ref().encoded_len();
    let echo = echo::serve(reply.clone()).await?;
    // The floor: the same echo storing a view's access record in JetStream before it answers,
    // one message per call, as a lone view's record is stored.
    crate::append::provision_raw(&store).await?;
    let stored = echo::Stored::new(
        store.jetstream().clone(),
        vec![echo::access_record("/luukku.coordination.v1.CoordinationService/GetFamilyView", "read")?],
    );
    let floor = echo::serve_storing(reply, stored).await?;
    println!(
        "a view is {view_bytes} bytes (the median of {} families, {} to {}); a request {request_bytes} bytes",
        sample.len(),
        sample.first().map_or(0, |view| view.encoded_len()),
        sample.last().map_or(0, |view| view.encoded_len())
    );

    // One caller asking one view after another, for a view's own latency.
    let alone = ViewArgs { callers: 1, views: 2000, ..args.clone() };
    // The service without policy and log first, then stopped: left running, it would copy the
    // access records of the measured service into a projection of its own meanwhile, as no
    // deployment does. Then two trials each of the echo, the floor and the measured service,
    // the second in the reverse order, so that none gains from going first; the best of each.
    // The processor time of each side, over its trials: without policy and log, echo, floor,
    // with policy and log.
    let nats_pid = nats.server.pid().ok_or_else(|| anyhow::anyhow!("nats-server is not running"))?;
    let mut spent = [Spent::default(); 4];
    let calls = args.callers * args.views;
    let mut views_open = Vec::new();
    for trial in 0..2 {
        let (run, used) =
            processor_time(nats_pid, views(open_channel.clone(), &args, Arc::clone(&callers), trial)).await?;
        views_open.push(run);
        spent[0].add(used, calls);
    }
    let (_, alone_open) = views(open_channel.clone(), &alone, Arc::clone(&callers), 2).await?;
    let open_projection = Arc::downgrade(&open.projection);
    drop((open_served, open_channel, open.admin, open.open_watches, open.projection));
    let stopping = Instant::now();
    while open_projection.strong_count() > 0 {
        anyhow::ensure!(
            stopping.elapsed().as_secs() < 10,
            "the service without policy still follows the streams"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (mut echoes, mut floors, mut views_guarded) = (Vec::new(), Vec::new(), Vec::new());
    let [open_spent, echo_spent, floor_spent, guarded_spent] = &mut spent;
    for trial in 0..2 {
        let guarded_trial = async |spent: &mut Spent| {
            let viewed = views(channel.clone(), &args, Arc::clone(&callers), trial);
            let (run, used) = processor_time(nats_pid, viewed).await?;
            spent.add(used, calls);
            anyhow::Ok(run)
        };
        if trial == 1 {
            views_guarded.push(guarded_trial(guarded_spent).await?);
        }
        let mut ceilings = [(&echo, &mut echoes, &mut *echo_spent), (&floor, &mut floors, &mut *floor_spent)];
        if trial == 1 {
            ceilings.reverse();
        }
        for (server, runs, spent) in ceilings {
            let measured =
                echo::measure::<coordination::FamilyView>(server, args.callers, args.views, request_bytes);
            let (run, used) = processor_time(nats_pid, measured).await?;
            runs.push(run);
            spent.add(used, calls);
        }
        if trial == 0 {
            views_guarded.push(guarded_trial(guarded_spent).await?);
        }
    }
    let (_, alone_guarded) = views(channel.clone(), &alone, Arc::clone(&callers), 2).await?;
    let (_, echo_alone) =
        echo::measure::<coordination::FamilyView>(&echo, 1, alone.views, request_bytes).await?;
    let (_, floor_alone) =
        echo::measure::<coordination::FamilyView>(&floor, 1, alone.views, request_bytes).await?;
    let (echo_rate, echoed) = best(echoes)?;
    let (floor_rate, floored) = best(floors)?;
    let (open_rate, _) = best(views_open)?;
    let (view_rate, viewed) = best(views_guarded)?;

    let visible = write_to_visible(
        &families_served.url(),
        channel,
        &guarded.projection,
        &args,
        &callers,
        &probe_families,
    )
    .await?;

    println!(
        "ceiling (tonic unary echo answering that view, {view_bytes} bytes, {} callers): {echo_rate:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms",
        args.callers,
        millis(echoed.value_at_quantile(0.50)),
        millis(echoed.value_at_quantile(0.99))
    );
    println!(
        "floor (the echo storing an access record in JetStream before it answers, one message per call: what a lone view stores): {floor_rate:.0} calls/s, {:.3} of the echo, p50 {:.3} ms, p99 {:.3} ms; one at a time p50 {:.3} ms (the echo alone {:.3} ms)",
        floor_rate / echo_rate,
        millis(floored.value_at_quantile(0.50)),
        millis(floored.value_at_quantile(0.99)),
        millis(floor_alone.value_at_quantile(0.50)),
        millis(echo_alone.value_at_quantile(0.50))
    );
    println!(
        "GetFamilyView ({} callers, policy and access log): {view_rate:.0} views/s, {:.3} of the floor, p50 {:.3} ms, p99 {:.3} ms",
        args.callers,
        view_rate / floor_rate,
        millis(viewed.value_at_quantile(0.50)),
        millis(viewed.value_at_quantile(0.99))
    );
    println!(
        "one view at a time: p50 {:.3} ms, p99 {:.3} ms (without policy and access log: p50 {:.3} ms, p99 {:.3} ms)",
        millis(alone_guarded.value_at_quantile(0.50)),
        millis(alone_guarded.value_at_quantile(0.99)),
        millis(alone_open.value_at_quantile(0.50)),
        millis(alone_open.value_at_quantile(0.99))
    );
    println!(
        "policy and access log cost: {:.1} % of the rate ({open_rate:.0} views/s without them; target: at most 15 %)",
        100.0 * (1.0 - view_rate / open_rate)
    );
    println!(
        "write to visible (ChangeMunicipality acknowledged, until GetFamilyView with its position answers), under {} writers making {:.0} writes/s: p50 {:.3} ms, p99 {:.3} ms (target: p99 at most 5 ms)",
        args.writers,
        visible.load_rate,
        millis(visible.latencies.value_at_quantile(0.50)),
        millis(visible.latencies.value_at_quantile(0.99))
    );
    println!(
        "  of which the projection applying the write: p50 {:.3} ms, p99 {:.3} ms",
        millis(visible.lags.value_at_quantile(0.50)),
        millis(visible.lags.value_at_quantile(0.99))
    );
    println!(
        "processor time per call, the mean over both trials, from the first call until both processes are idle again (this process: the callers and what serves them; and nats-server), and the processors busy while the calls ran: echo {echo_spent}, floor {floor_spent}, views {guarded_spent} (without policy and access log {open_spent})"
    );
    println!("ratio={:.3}", view_rate / echo_rate);
    Ok(crate::stats::Row {
        name: "view",
        figure: format!(
            "{view_rate:.0} views/s at {} callers, p50 {:.2} ms, p99 {:.2} ms; one at a time p50 {:.2} ms; write to visible p99 {:.2} ms (the projection applying it p99 {:.2} ms) at {:.0} writes/s; policy and access log {:.0} % of the rate; floor (the echo storing an access record) {floor_rate:.0} calls/s ({:.2} of the echo), one at a time p50 {:.2} ms; processor time per view {:.0} µs (the floor's {:.0})",
            args.callers,
            millis(viewed.value_at_quantile(0.50)),
            millis(viewed.value_at_quantile(0.99)),
            millis(alone_guarded.value_at_quantile(0.50)),
            millis(visible.latencies.value_at_quantile(0.99)),
            millis(visible.lags.value_at_quantile(0.99)),
            visible.load_rate,
            100.0 * (1.0 - view_rate / open_rate),
            floor_rate / echo_rate,
            millis(floor_alone.value_at_quantile(0.50)),
            guarded_spent.per_call().iter().sum::<f64>(),
            floor_spent.per_call().iter().sum::<f64>(),
        ),
        ceiling: format!("tonic echo of a {view_bytes}-byte view, {echo_rate:.0} calls/s"),
        ratio: view_rate / echo_rate,
    })
}

/// One trial of `args.callers` callers asking `args.views` views each: the rate and latencies.
async fn views(
    channel: Channel,
    args: &ViewArgs,
    callers: Arc<Callers>,
    trial: usize,
) -> anyhow::Result<(f64, hdrhistogram::Histogram<u64>)> {
    let latencies = Arc::new(Mutex::new(latency_histogram()?));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for caller in 0..args.callers {
        let mut client = CoordinationServiceClient::new(channel.clone());
        let latencies = Arc::clone(&latencies);
        let callers = Arc::clone(&callers);
        let count = args.views;
        tasks.push(tokio::spawn(async move {
            for view in 0..count {
                let request = callers.view(caller * 7919 + view * 104_729 + trial * 31);
                let began = Instant::now();
                client.get_family_view(request).await?;
                record(&mut *latencies.lock().await, began.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = (args.callers * args.views) as f64 / started.elapsed().as_secs_f64();
    let histogram =
        Arc::try_unwrap(latencies).map_err(|_| anyhow::anyhow!("a caller still runs"))?.into_inner();
    Ok((rate, histogram))
}

struct Visible {
    latencies: hdrhistogram::Histogram<u64>,
    /// Until the projection had applied the write.
    lags: hdrhistogram::Histogram<u64>,
    load_rate: f64,
}

fn change(family_id: &str, municipality: &str) -> families::ChangeMunicipalityRequest {
    families::ChangeMunicipalityRequest {
        request_id: RequestId::generate().to_string(),
        family_id: family_id.to_owned(),
        expected_version: None,
        municipality: municipality.to_owned(),
    }
}

/// While `args.writers` writers change municipalities, each probe changes one of its own
/// families and then asks for the view at the write's position.
async fn write_to_visible(
    families_url: &str,
    channel: Channel,
    projection: &luukku_coordination::Projection,
    args: &ViewArgs,
    callers: &Arc<Callers>,
    probes: &Callers,
) -> anyhow::Result<Visible> {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let families_channel =
        tonic::transport::Endpoint::from_shared(families_url.to_owned())?.connect().await?;
    let mut writers = Vec::new();
    let (writers_count, write_rate) = (args.writers, args.write_rate);
    for writer in 0..args.writers {
        let mut client = FamilyServiceClient::new(families_channel.clone());
        let (stop, written, callers) = (Arc::clone(&stop), Arc::clone(&written), Arc::clone(callers));
        writers.push(tokio::spawn(async move {
            let mut round = 0usize;
            let period =
                std::time::Duration::from_secs_f64(writers_count as f64 / f64::from(write_rate.max(1)));
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                ticks.tick().await;
                let (family_id, token) =
                    &callers.families[(writer * 7919 + round * 104_729) % callers.families.len()];
                let municipality = if round.is_multiple_of(2) { "837" } else { "049" };
                client
                    .change_municipality(luukku_grpc::with_token(change(family_id, municipality), token))
                    .await?;
                written.fetch_add(1, Ordering::Relaxed);
                round += 1;
            }
            anyhow::Ok(())
        }));
    }
    let mut writer = FamilyServiceClient::new(families_channel);
    let mut reader = CoordinationServiceClient::new(channel);
    let (mut latencies, mut lags) = (latency_histogram()?, latency_histogram()?);
    let started = Instant::now();
    for probe in 0..args.probes {
        let (family_id, token) = &probes.families[probe % probes.families.len()];
        // Each probe family alternates between two codes no family starts with, so every
        // probe writes.
        let municipality = if (probe / probes.families.len()).is_multiple_of(2) { "100" } else { "101" };
        let answer = writer
            .change_municipality(luukku_grpc::with_token(change(family_id, municipality), token))
            .await?;
        let acknowledged = Instant::now();
        let position: Vec<_> =
            answer.into_inner().result.and_then(|result| result.position).into_iter().collect();
        anyhow::ensure!(!position.is_empty(), "a probe's write appended nothing");
        // How much of it is the projection reaching the write (the rest is the view call).
        let mut targets = luukku_eventstore::Checkpoints::default();
        for at in &position {
            let stream: luukku_eventstore::Stream =
                at.stream.parse().map_err(|_| anyhow::anyhow!("a position names no stream"))?;
            targets.raise(stream, at.sequence);
        }
        projection
            .wait_for(targets, std::time::Duration::from_secs(5))
            .await
            .map_err(|at| anyhow::anyhow!("the projection did not reach the write: it is at {at}"))?;
        record(&mut lags, acknowledged.elapsed());
        let request =
            coordination::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: position };
        let view = reader.get_family_view(luukku_grpc::with_token(request, token)).await?.into_inner();
        record(&mut latencies, acknowledged.elapsed());
        anyhow::ensure!(
            view.municipality == municipality,
            "the view at the write's position does not show the write"
        );
    }
    let load_rate = written.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await??;
    }
    Ok(Visible { latencies, lags, load_rate })
}

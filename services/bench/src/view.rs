//! `view`: `GetFamilyView` latency under 64 concurrent callers, and write-to-visible latency
//! (a write, then a view asking for its position), with a raw nats-server request round trip
//! measured in the same run as the reference.

use std::sync::Arc;
use std::time::Instant;

use luukku_domain::{Actor, RequestId};
use luukku_eventstore::NatsKeyStore;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::with_identity;
use luukku_testkit::grpc::serve_routes;
use tokio::sync::Mutex;

use crate::stats::{latency_histogram, millis, record};

#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// Families in the projection.
    #[arg(long, default_value_t = 2000)]
    families: usize,
    /// Concurrent callers of GetFamilyView.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Views each caller asks for.
    #[arg(long, default_value_t = 100)]
    views: usize,
    /// Writes followed by a view asking for their position.
    #[arg(long, default_value_t = 500)]
    writes: usize,
}

fn register_request() -> families::RegisterFamilyRequest {
    let member = |role: families::MemberRole, name: &str, born: &str| families::NewMember {
        member_id: String::new(),
        details: Some(families::MemberInput {
            role: role as i32,
            given_names: name.to_owned(),
            family_name: "Virtanen".to_owned(),
            birth_date: born.to_owned(),
            identity_code: String::new(),
            languages: vec!["fi".to_owned()],
        }),
    };
    families::RegisterFamilyRequest {
        request_id: RequestId::generate().to_string(),
        family_id: String::new(),
        municipality: "091".to_owned(),
        members: vec![
            member(families::MemberRole::Guardian, "Maria", "1985-03-02"),
            member(families::MemberRole::Child, "Eero", "2015-05-01"),
        ],
    }
}

pub async fn run(args: ViewArgs) -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let folder = tempfile::tempdir()?;
    let families_served = serve_routes(
        luukku_families::routes(store.clone(), keys.clone(), luukku_app::Guard::start(store.clone())).await,
    )
    .await?;
    let luukku_coordination::Started { routes, projection, .. } = luukku_coordination::start(
        folder.path(),
        store.clone(),
        keys.clone(),
        luukku_app::Guard::start(store.clone()),
    )
    .await?;
    let coordination_served = serve_routes(routes).await?;
    // The same service with no access policy and no access log, for what they cost.
    let open_folder = tempfile::tempdir()?;
    let open = luukku_coordination::start(
        open_folder.path(),
        store.clone(),
        keys,
        luukku_app::Guard::unguarded(store.clone()),
    )
    .await?;
    let open_served = serve_routes(open.routes).await?;
    let open_channel = tonic::transport::Endpoint::from_shared(open_served.url())?.connect().await?;
    let actor: Arc<Actor> = Arc::new(luukku_testkit::actor());
    let mut writer = FamilyServiceClient::connect(families_served.url()).await?;
    let channel = tonic::transport::Endpoint::from_shared(coordination_served.url())?.connect().await?;
    println!(
        "luukku-bench view: {} families, {} callers x {} views, {} write-then-view, nats-server {}",
        args.families,
        args.callers,
        args.views,
        args.writes,
        nats.url()
    );
    let mut family_ids = Vec::with_capacity(args.families);
    for _ in 0..args.families {
        family_ids.push(
            writer.register_family(with_identity(register_request(), &actor)).await?.into_inner().family_id,
        );
    }
    let mut targets = luukku_eventstore::Checkpoints::default();
    targets.set(
        luukku_eventstore::Stream::Families,
        store.last_sequence(luukku_eventstore::Stream::Families).await?,
    );
    for projection in [&projection, &open.projection] {
        projection
            .wait_for(targets, std::time::Duration::from_secs(60))
            .await
            .map_err(|at| anyhow::anyhow!("projection at {at}"))?;
    }

    // The reference: one nats-server request round trip (a direct get), same concurrency.
    let client = nats.client().await?;
    let raw = Arc::new(Mutex::new(latency_histogram()?));
    let mut tasks = Vec::new();
    for caller in 0..args.callers {
        let client = client.clone();
        let raw = Arc::clone(&raw);
        let subjects: Vec<String> = family_ids.iter().map(|id| format!("families.family.{id}")).collect();
        tasks.push(tokio::spawn(async move {
            for view in 0..args.views {
                let subject = &subjects[(caller * 7919 + view * 104_729) % subjects.len()];
                let started = Instant::now();
                client.request(format!("$JS.API.DIRECT.GET.FAMILIES.{subject}"), "".into()).await?;
                record(&mut *raw.lock().await, started.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let family_ids = Arc::new(family_ids);
    // Unguarded, guarded, and each once more, so that neither gains from going first.
    let mut guarded = Vec::new();
    let mut unguarded = Vec::new();
    for (round, with_policy) in [false, true, false, true].into_iter().enumerate() {
        let channel = if with_policy { channel.clone() } else { open_channel.clone() };
        let run = views(channel, &args, Arc::clone(&family_ids), Arc::clone(&actor), round).await?;
        if with_policy { guarded.push(run) } else { unguarded.push(run) }
    }
    let best = |runs: &Vec<(f64, hdrhistogram::Histogram<u64>)>| {
        runs.iter().max_by(|a, b| a.0.total_cmp(&b.0)).cloned().expect("two runs")
    };
    let (view_rate, views) = best(&guarded);
    let (open_rate, open_views) = best(&unguarded);

    let mut visible = latency_histogram()?;
    let mut reader = CoordinationServiceClient::new(channel.clone());
    for round in 0..args.writes {
        let family_id = family_ids[round % family_ids.len()].clone();
        let change = families::ChangeMunicipalityRequest {
            request_id: RequestId::generate().to_string(),
            family_id: family_id.clone(),
            expected_version: None,
            municipality: if round % 2 == 0 { "837".to_owned() } else { "049".to_owned() },
        };
        let started = Instant::now();
        let written = writer.change_municipality(with_identity(change, &actor)).await?.into_inner();
        let position = written.result.and_then(|result| result.position).into_iter().collect();
        let request = coordination::GetFamilyViewRequest { family_id, min_positions: position };
        reader.get_family_view(with_identity(request, &actor)).await?;
        record(&mut visible, started.elapsed());
    }

    let raw = raw.lock().await;
    println!(
        "reference (raw direct get round trip, {} callers): p50 {:.3} ms, p99 {:.3} ms",
        args.callers,
        millis(raw.value_at_quantile(0.50)),
        millis(raw.value_at_quantile(0.99))
    );
    println!(
        "GetFamilyView without policy and access log ({} callers): p50 {:.3} ms, p99 {:.3} ms, {open_rate:.0} views/s",
        args.callers,
        millis(open_views.value_at_quantile(0.50)),
        millis(open_views.value_at_quantile(0.99))
    );
    println!(
        "GetFamilyView with policy and access log ({} callers): p50 {:.3} ms, p99 {:.3} ms, {view_rate:.0} views/s",
        args.callers,
        millis(views.value_at_quantile(0.50)),
        millis(views.value_at_quantile(0.99))
    );
    println!(
        "policy and access log cost: {:.1} % of the rate (target: at most 15 %)",
        100.0 * (1.0 - view_rate / open_rate)
    );
    println!(
        "write to visible (ChangeMunicipality, then GetFamilyView with its position): p50 {:.3} ms, p99 {:.3} ms",
        millis(visible.value_at_quantile(0.50)),
        millis(visible.value_at_quantile(0.99))
    );
    println!("ratio={:.3}", raw.value_at_quantile(0.50) as f64 / views.value_at_quantile(0.50).max(1) as f64);
    Ok(())
}

/// One run of `args.callers` callers asking `args.views` views each: the rate and latencies.
async fn views(
    channel: tonic::transport::Channel,
    args: &ViewArgs,
    family_ids: Arc<Vec<String>>,
    actor: Arc<Actor>,
    round: usize,
) -> anyhow::Result<(f64, hdrhistogram::Histogram<u64>)> {
    let views = Arc::new(Mutex::new(latency_histogram()?));
    let mut tasks = Vec::new();
    let started_all = Instant::now();
    for caller in 0..args.callers {
        let mut client = CoordinationServiceClient::new(channel.clone());
        let views = Arc::clone(&views);
        let family_ids = Arc::clone(&family_ids);
        let actor = Arc::clone(&actor);
        let count = args.views;
        tasks.push(tokio::spawn(async move {
            for view in 0..count {
                let pick = (caller * 7919 + view * 104_729 + round * 31) % family_ids.len();
                let request = coordination::GetFamilyViewRequest {
                    family_id: family_ids[pick].clone(),
                    min_positions: vec![],
                };
                let started = Instant::now();
                client.get_family_view(with_identity(request, &actor)).await?;
                record(&mut *views.lock().await, started.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = (args.callers * args.views) as f64 / started_all.elapsed().as_secs_f64();
    let histogram = Arc::try_unwrap(views).map_err(|_| anyhow::anyhow!("a caller still runs"))?.into_inner();
    Ok((rate, histogram))
}

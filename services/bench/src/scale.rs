//! `scale`: the coordination service as the families grow, from 10,000 to 1,000,000. Families
//! are written straight into the streams in bulk (realistic ones up to `--realistic`, light
//! ones of 10 events after), the service follows them live, and at each step it measures
//! `GetFamilyView` and `SearchFamilies` (by identity code, everywhere; by name, in the caller's
//! caseload) at fewer, the projection's size on disk and the process's memory. At the end, a
//! rebuild of everything into a fresh folder, and each service started as a process of its
//! own on the streams as they are.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use luukku_domain::Code;
use luukku_domain::family::FamilyId;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::serve_routes;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::data::{self, Probe};
use crate::stats::{latency_histogram, millis, record};

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Families at the end; measured at 10,000, 100,000 and 1,000,000 on the way.
    #[arg(long, default_value_t = 100_000)]
    families: usize,
    /// Families up to this many are realistic (about 45 events each); the rest are light (10).
    #[arg(long, default_value_t = 100_000)]
    realistic: usize,
    /// Concurrent callers.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Calls each caller makes, per measurement.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Concurrent callers of SearchFamilies: searches are far rarer than views.
    #[arg(long, default_value_t = 4)]
    search_callers: usize,
    /// Family keys the measured coordination service keeps in memory.
    #[arg(long, default_value_t = luukku_coordination::CACHED_KEYS)]
    cached_keys: std::num::NonZeroUsize,
    /// Leaves out starting each service as a process (which needs the `luukku` binary built
    /// beside this one).
    #[arg(long)]
    no_processes: bool,
}

/// What one step measured.
struct Step {
    families: usize,
    views: Histogram<u64>,
    by_code: Histogram<u64>,
    by_name: Histogram<u64>,
    sled_bytes: u64,
    rss_bytes: u64,
    /// The callers whose tokens the timed calls sent.
    callers: usize,
}

/// Who calls: each family's contact person's token, and the probes' tokens.
struct Tokens {
    families: Vec<(String, Arc<str>)>,
    probes: Vec<(String, Arc<str>, Probe)>,
}

impl Tokens {
    fn new(families: &[(FamilyId, Code)], probes: &[(FamilyId, Code, Probe)]) -> Self {
        let mut tokens: std::collections::HashMap<Code, Arc<str>> = std::collections::HashMap::new();
        let mut token = |person: &Code| {
            tokens
                .entry(person.clone())
                .or_insert_with(|| {
                    luukku_testkit::auth::token(&luukku_testkit::actor_named(person.as_str())).into()
                })
                .clone()
        };
        let families = families.iter().map(|(family, person)| (family.to_string(), token(person))).collect();
        let probes = probes
            .iter()
            .map(|(family, person, probe)| (family.to_string(), token(person), probe.clone()))
            .collect();
        Self { families, probes }
    }

    /// Where `caller`'s call number `call` goes, spread over the families.
    fn pick(caller: usize, call: usize, of: usize) -> usize {
        (caller * 7919 + call * 104_729) % of
    }

    /// The family `caller`'s call number `call` views, and the token it sends.
    fn viewed(&self, caller: usize, call: usize) -> &(String, Arc<str>) {
        &self.families[Self::pick(caller, call, self.families.len())]
    }

    /// The probe `caller`'s search number `call` looks for, and the token it sends.
    fn searched(&self, caller: usize, call: usize) -> &(String, Arc<str>, Probe) {
        &self.probes[Self::pick(caller, call, self.probes.len())]
    }
}

pub async fn run(args: ScaleArgs) -> anyhow::Result<crate::stats::Row> {
    let nats = TestNats::start().await?;
    let (store, keys) = data::bench_store(&nats, data::Streams::Large).await?;
    println!(
        "luukku-bench scale: up to {} families ({} realistic, the rest light); views at {} callers, searches at {}, {} calls each; nats-server {}",
        args.families,
        args.realistic.min(args.families),
        args.callers,
        args.search_callers,
        args.calls,
        nats.url()
    );
    let folder = tempfile::tempdir()?;
    let guard = luukku_app::Guard::start(store.clone());
    let relations = guard.relations().clone();
    let started = luukku_coordination::start(
        folder.path(),
        store.clone(),
        luukku_eventstore::CachedKeys::new(keys.clone(), args.cached_keys),
        guard,
    )
    .await?;
    let served = serve_routes(started.routes).await?;
    let channel = tonic::transport::Endpoint::from_shared(served.url())?.connect().await?;
    let projection = started.projection;

    let mut sizes: Vec<usize> =
        [10_000, 100_000, 1_000_000].into_iter().filter(|size| *size < args.families).collect();
    sizes.push(args.families);
    let (mut families, mut probes, mut events) = (Vec::new(), Vec::new(), 0u64);
    let mut steps = Vec::new();
    for (index, size) in sizes.into_iter().enumerate() {
        let add = size - families.len();
        let realistic = args.realistic.saturating_sub(families.len()).min(add);
        let filled = data::fill(&store, &keys, add, realistic, 100 + index as u64).await?;
        let writing = filled.seconds;
        events += filled.events;
        families.extend(filled.families);
        probes.extend(filled.probes);
        let waited = Instant::now();
        data::caught_up(&projection, data::ends(&store).await?).await?;
        let projected = waited.elapsed().as_secs_f64();
        data::relations_caught_up(&relations, &store).await?;
        println!(
            "{size} families, {events} events: wrote {} events in {writing:.0} s ({:.0}/s); the live projection caught up {projected:.1} s after, the access relations {:.1} s after",
            filled.events,
            filled.events as f64 / writing,
            waited.elapsed().as_secs_f64()
        );
        let tokens = Arc::new(Tokens::new(&families, &probes));
        let step = measure_step(&channel, &args, &tokens, size, folder.path()).await?;
        println!(
            "  GetFamilyView p50 {:.2} ms p99 {:.2} ms; SearchFamilies by identity code p99 {:.2} ms, by name in the caseload p99 {:.2} ms; sled {:.0} MB; process RSS {:.0} MB; {} callers, each token verified before the timed calls",
            millis(step.views.value_at_quantile(0.5)),
            millis(step.views.value_at_quantile(0.99)),
            millis(step.by_code.value_at_quantile(0.99)),
            millis(step.by_name.value_at_quantile(0.99)),
            step.sled_bytes as f64 / 1e6,
            step.rss_bytes as f64 / 1e6,
            step.callers
        );
        steps.push(step);
    }
    drop(channel);
    drop(served);
    projection.flush().await?;
    drop(projection);

    let ends = data::ends(&store).await?;
    // A rebuild of everything into a fresh folder.
    let fresh = tempfile::tempdir()?;
    let indexing = luukku_coordination::Indexing::from_keys(luukku_coordination::cached_keys(keys.clone()));
    let rebuild = Instant::now();
    let rebuilt = luukku_coordination::Projection::open(fresh.path(), store.clone(), indexing)?;
    data::caught_up(&rebuilt, ends).await?;
    let rebuild_seconds = rebuild.elapsed().as_secs_f64();
    let applier = data::applier_account(&rebuilt.applied(), rebuild_seconds);
    rebuilt.flush().await?;
    let rebuilt_bytes = folder_bytes(fresh.path())?;
    drop(rebuilt);
    // Its tasks end as they are aborted; then the folder is free for a process.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let processes = if args.no_processes {
        Vec::new()
    } else {
        println!(
            "each service as a process of its own on the streams as they are, on a new data folder, then twice on the folder it left (coordination on the rebuilt projection):"
        );
        crate::processes::measure(&nats.url(), fresh.path()).await?
    };

    let first = steps.first().ok_or_else(|| anyhow::anyhow!("no step"))?;
    let last = steps.last().ok_or_else(|| anyhow::anyhow!("no step"))?;
    let p99 = |step: &Step| millis(step.views.value_at_quantile(0.99));
    let flat = p99(last) / p99(first);
    println!(
        "rebuild of {events} events into a fresh folder: {:.0} events/s ({rebuild_seconds:.0} s; 10 M events would take {:.0} s, target at most 150 s); sled {:.0} MB; {applier}",
        events as f64 / rebuild_seconds,
        1e7 / (events as f64 / rebuild_seconds),
        rebuilt_bytes as f64 / 1e6
    );
    println!(
        "GetFamilyView p99 from {} to {} families: {:.2} ms to {:.2} ms (target: within 1.5x)",
        first.families,
        last.families,
        p99(first),
        p99(last)
    );
    let slowest = |starts_before: u8| {
        processes
            .iter()
            .filter(|started| started.starts_before == starts_before)
            .max_by_key(|started| started.serving)
    };
    let largest = processes.iter().max_by_key(|started| started.rss_caught_up);
    if let (Some(first), Some(second), Some(largest)) = (slowest(1), slowest(2), largest) {
        println!(
            "services restarted on their folders: the slowest to answer {} in {:.1} s the first time, {} in {:.1} s the second (target: answering within 5 s); the largest {} at {:.0} MB (target: at most 300 MB)",
            first.service,
            first.serving.as_secs_f64(),
            second.service,
            second.serving.as_secs_f64(),
            largest.service,
            largest.rss_caught_up as f64 / 1e6
        );
    }
    println!("ratio={flat:.3}");
    let figures: Vec<String> = steps
        .iter()
        .map(|step| {
            format!(
                "{}: view p99 {:.2} ms, search by code p99 {:.2} ms, by name {:.2} ms, sled {:.0} MB, RSS {:.0} MB",
                step.families,
                p99(step),
                millis(step.by_code.value_at_quantile(0.99)),
                millis(step.by_name.value_at_quantile(0.99)),
                step.sled_bytes as f64 / 1e6,
                step.rss_bytes as f64 / 1e6
            )
        })
        .collect();
    Ok(crate::stats::Row {
        name: "scale",
        figure: format!(
            "{}; rebuild {:.0} events/s of {events}; services started as processes (answering health, read models caught up, with RSS; idle processor use; the folder on disk): {}",
            figures.join("; "),
            events as f64 / rebuild_seconds,
            processes
                .iter()
                .map(|started| format!(
                    "{}{} {:.1} s ({:.0} MB), {:.1} s ({:.0} MB), idle {:.0} %, folder {:.0} MB",
                    started.service,
                    match started.starts_before {
                        0 => "",
                        1 => " again",
                        _ => " a third time",
                    },
                    started.serving.as_secs_f64(),
                    started.rss_serving as f64 / 1e6,
                    started.caught_up.as_secs_f64(),
                    started.rss_caught_up as f64 / 1e6,
                    started.idle_cpu * 100.0,
                    started.folder_bytes as f64 / 1e6
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ceiling: format!(
            "GetFamilyView p99 at {} families, {:.2} ms (ratio: p99 at {} over it)",
            first.families,
            p99(first),
            last.families
        ),
        ratio: flat,
    })
}

async fn measure_step(
    channel: &Channel,
    args: &ScaleArgs,
    tokens: &Arc<Tokens>,
    families: usize,
    folder: &Path,
) -> anyhow::Result<Step> {
    let client = CoordinationServiceClient::new(channel.clone());
    // Every token the timed calls send is verified once first, as a caller's first call
    // verifies it and later calls find it verified. Each family here has its own contact
    // person's token, new at each step, so without this the share of calls that pay for a
    // signature check grows with the families (250 callers at 10,000, 25,000 at 1,000,000),
    // and would be counted as the views' growth.
    let mut sent = std::collections::HashSet::new();
    for caller in 0..args.callers {
        for call in 0..args.calls {
            sent.insert(Arc::clone(&tokens.viewed(caller, call).1));
        }
    }
    for caller in 0..args.search_callers {
        for call in 0..args.calls {
            sent.insert(Arc::clone(&tokens.searched(caller, call).1));
        }
    }
    // The verifier forgets the least recently used first (earlier steps' tokens), so these stay
    // while they fit.
    anyhow::ensure!(
        sent.len() <= luukku_auth::CACHED_TOKENS.get(),
        "{} callers' tokens would not stay verified in a cache of {}: fewer callers or calls",
        sent.len(),
        luukku_auth::CACHED_TOKENS
    );
    let authenticator = luukku_testkit::auth::authenticator();
    for token in &sent {
        authenticator.authenticate(&luukku_grpc::with_token((), token)).await?;
    }
    let views = {
        let tokens = Arc::clone(tokens);
        measure(args.callers, args.calls, client.clone(), move |mut client, caller, call| {
            let (family_id, token) = tokens.viewed(caller, call).clone();
            async move {
                let request = coordination::GetFamilyViewRequest { family_id, min_positions: vec![] };
                client.get_family_view(luukku_grpc::with_token(request, &token)).await?;
                Ok(())
            }
        })
        .await?
    };
    let search = |by_code: bool| {
        let tokens = Arc::clone(tokens);
        measure(args.search_callers, args.calls, client.clone(), move |mut client, caller, call| {
            let (family_id, token, probe) = tokens.searched(caller, call).clone();
            async move {
                let mut request =
                    coordination::SearchFamiliesRequest { page_size: 500, ..Default::default() };
                if by_code {
                    let code =
                        probe.identity_code.ok_or_else(|| anyhow::anyhow!("a probe without a code"))?;
                    request.identity_code = code.as_str().to_owned();
                    request.purpose = "a child protection notification about this family".to_owned();
                } else {
                    request.name = probe.family_name.chars().take(4).collect();
                }
                let found =
                    client.search_families(luukku_grpc::with_token(request, &token)).await?.into_inner();
                anyhow::ensure!(
                    found.families.iter().any(|entry| entry.family_id == family_id),
                    "the search did not find the family"
                );
                Ok(())
            }
        })
    };
    let by_code = search(true).await?;
    let by_name = search(false).await?;
    Ok(Step {
        families,
        views,
        by_code,
        by_name,
        sled_bytes: folder_bytes(folder)?,
        rss_bytes: rss()?,
        callers: sent.len(),
    })
}

/// `callers` callers making `calls` calls each: their latencies.
async fn measure<F, Fut>(
    callers: usize,
    calls: usize,
    client: CoordinationServiceClient<Channel>,
    call: F,
) -> anyhow::Result<Histogram<u64>>
where
    F: Fn(CoordinationServiceClient<Channel>, usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let latencies = Arc::new(Mutex::new(latency_histogram()?));
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (call, client, latencies) = (call.clone(), client.clone(), Arc::clone(&latencies));
        tasks.push(tokio::spawn(async move {
            for number in 0..calls {
                let began = Instant::now();
                call(client.clone(), caller, number).await?;
                record(&mut *latencies.lock().await, began.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Arc::try_unwrap(latencies).map_err(|_| anyhow::anyhow!("a caller still runs"))?.into_inner())
}

/// The bytes of the files under `folder`.
pub(crate) fn folder_bytes(folder: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        total += if kind.is_dir() { folder_bytes(&entry.path())? } else { entry.metadata()?.len() };
    }
    Ok(total)
}

/// This process's resident memory.
pub(crate) fn rss() -> anyhow::Result<u64> {
    crate::processes::rss(std::process::id())
}

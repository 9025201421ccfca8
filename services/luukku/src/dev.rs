//! `luukku dev`: the embedded default.

mod examples;

use luukku_app::{Folder, Guard, Relations};
use luukku_eventstore::audit::AccessLog;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use luukku_auth::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, DevIssuer, Verifier};
use luukku_eventstore::access::{NatsUser, UserKeys};
use luukku_eventstore::{EventStore, MemberLinks, NatsKeyStore, StoreSettings, Stream};
use luukku_grpc::Authenticator;
use luukku_grpc::serve::{ServeOptions, bind, serve, with_reflection};
use luukku_runtime::{NatsServer, NatsServerOptions};
use tokio::sync::watch;

/// The data folder of `luukku dev` when none is given; the client and `luukku ops` look there
/// for the development issuer, the NATS users' keys and the key-encryption key.
pub const DEFAULT_DATA_DIR: &str = ".luukku";

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Folder for all data (the nats-server store under `nats/`). A second start reuses it.
    #[arg(long, env = "LUUKKU_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Client port of the embedded nats-server (not 4222, so a server already there is left alone).
    #[arg(long, env = "LUUKKU_NATS_PORT", default_value_t = 14222)]
    pub nats_port: u16,
    /// The nats-server binary; by default $LUUKKU_NATS_SERVER or .tools/nats-server/bin/nats-server.
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// How many nats-server nodes to run: 1, or 3 for a JetStream cluster on loopback (client
    /// ports from --nats-port up, routes from --nats-port + 1000 up, streams at 3 replicas) in
    /// which an operator can kill, pause and restart nodes. Each mode keeps its own store.
    #[arg(long, env = "LUUKKU_DEV_CLUSTER", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=3))]
    pub cluster: u16,
    /// Address the gRPC services listen on: a loopback address, as they serve plaintext.
    #[arg(long, env = "LUUKKU_GRPC_HOST", default_value = "127.0.0.1")]
    pub grpc_host: IpAddr,
    /// Port of luukku.families.v1.FamilyService (0 picks a free one).
    #[arg(long, env = "LUUKKU_FAMILIES_PORT", default_value_t = 50051)]
    pub families_port: u16,
    /// Port of luukku.contacts.v1.ContactService (0 picks a free one).
    #[arg(long, env = "LUUKKU_CONTACTS_PORT", default_value_t = 50052)]
    pub contacts_port: u16,
    /// Port of luukku.referrals.v1.ReferralService (0 picks a free one).
    #[arg(long, env = "LUUKKU_REFERRALS_PORT", default_value_t = 50053)]
    pub referrals_port: u16,
    /// Port of luukku.coordination.v1.CoordinationService (0 picks a free one).
    #[arg(long, env = "LUUKKU_COORDINATION_PORT", default_value_t = 50055)]
    pub coordination_port: u16,
    /// Port of luukku.meetings.v1.MeetingService (0 picks a free one).
    #[arg(long, env = "LUUKKU_MEETINGS_PORT", default_value_t = 50054)]
    pub meetings_port: u16,
    /// Port of luukku.coordination.v1.CoordinationAdmin, for operators (0 picks a free one).
    #[arg(long, env = "LUUKKU_ADMIN_PORT", default_value_t = 50056)]
    pub admin_port: u16,
    /// Port of every service's metrics, for Prometheus (`GET /metrics`).
    #[arg(long, env = "LUUKKU_METRICS_PORT", default_value_t = 9464)]
    pub metrics_port: u16,
    /// Port of the web client for contact persons (0 picks a free one).
    #[arg(long, env = "LUUKKU_WEB_PORT", default_value_t = 8080)]
    pub web_port: u16,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    // Listened for before anything starts. Ctrl-C while starting ends the start: the
    // nats-servers it started are killed as they are dropped. Once running, the system stops
    // cleanly, also when its terminal closes (a hang-up).
    let mut signal =
        luukku_runtime::telemetry::ShutdownSignal::listen_in_terminal().context("listening for Ctrl-C")?;
    let running = Arc::new(AtomicBool::new(false));
    let (stop, stopping) = tokio::sync::oneshot::channel();
    let system = run_until(args, Arc::clone(&running), stopping);
    tokio::pin!(system);
    tokio::select! {
        result = &mut system => return result,
        () = signal.received() => {}
    }
    if !running.load(Ordering::SeqCst) {
        say("stopped while starting");
        return Ok(());
    }
    let _ = stop.send(());
    system.await
}

/// Starts the whole system, says so, and runs it until `stopping` resolves.
async fn run_until(
    args: DevArgs,
    running: Arc<AtomicBool>,
    stopping: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.cluster != 2,
        "--cluster is 1 or 3: a cluster of two has no majority when one node is gone"
    );
    if !args.grpc_host.is_loopback() {
        anyhow::bail!(
            "luukku dev serves plaintext, so only on a loopback address such as 127.0.0.1, not {}; \
             use `luukku serve` with TLS to serve other hosts",
            args.grpc_host
        );
    }
    let metrics = SocketAddr::new(args.grpc_host, args.metrics_port);
    luukku_runtime::telemetry::serve_metrics(metrics)?;
    // The development issuer: its key is made on the first start, and every service verifies
    // tokens against it.
    let issuer = DevIssuer::create_or_open(&args.data_dir)
        .with_context(|| format!("setting up the development issuer in {}", args.data_dir.display()))?;
    let verifier = Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), issuer.key_set()?);
    // NATS admits only luukku's users: one per service, a read-only one for `luukku ops`, and
    // an admin that provisions; their keys are made on the first start.
    let users = UserKeys::create_or_open(&args.data_dir.join("nats-users"))
        .with_context(|| format!("making the NATS users' keys in {}", args.data_dir.display()))?;
    let nats_dir = args.data_dir.join("nats");
    std::fs::create_dir_all(&nats_dir).with_context(|| format!("creating {}", nats_dir.display()))?;
    // Written whole, then renamed: a server already running on the folder (which a start
    // then refuses to run beside) may read it again at any time.
    let config = nats_dir.join("auth.conf");
    let written = nats_dir.join(format!("auth.conf.{}.new", std::process::id()));
    std::fs::write(&written, users.server_authorization()?)
        .and_then(|()| std::fs::rename(&written, &config))
        .with_context(|| format!("writing {}", config.display()))?;
    let mut servers = start_nats(&args, &nats_dir, &config).await?;
    let url = servers.iter().map(NatsServer::client_url).collect::<Vec<_>>().join(",");
    let settings = StoreSettings { replicas: usize::from(args.cluster), ..StoreSettings::default() };
    let admin = EventStore::connect_as(&url, settings, &users.auth(NatsUser::Admin)?).await?;
    // A cluster answers JetStream requests once its nodes have elected a meta leader.
    let began = std::time::Instant::now();
    while let Err(error) = admin.jetstream().query_account().await {
        anyhow::ensure!(
            began.elapsed() < std::time::Duration::from_secs(60),
            "JetStream did not answer: {error}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    luukku_eventstore::provision(&admin).await.context("provisioning the streams and buckets")?;
    drop(admin);
    let kek = crate::keys::dev_kek(&args.data_dir)?;
    let mut stores = std::collections::HashMap::new();
    for user in NatsUser::SERVICES {
        let store = EventStore::connect_as(&url, StoreSettings::default(), &users.auth(user)?).await?;
        let keys =
            NatsKeyStore::open(&store, Arc::clone(&kek)).await.context("opening the family key bucket")?;
        // Kept in memory until their erasure, as `luukku serve` keeps them.
        let keys = match user {
            NatsUser::Coordination => luukku_coordination::cached_keys(keys),
            _ => luukku_app::cached_keys(keys),
        };
        stores.insert(user, (store, keys));
    }
    let of = |user: NatsUser| stores.get(&user).cloned().context("a service's store");
    let store = of(NatsUser::Families)?.0;
    // Family members' tokens resolve to their member through the links the families service keeps.
    let links = MemberLinks::open(&store).await.context("opening the member link bucket")?;
    let authenticator = Authenticator::new(verifier).with_member_links(links);
    let serving = ServeOptions { authenticator: Arc::new(authenticator), tls: None };

    let (stop, stopped) = watch::channel(false);
    let shutdown = |mut stopped: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // One model of the families' relationships serves every service's access policy; each
    // service writes its own access records.
    let models = Folder::open(&args.data_dir.join("models"))?;
    let relations = Relations::spawn(&models, of(NatsUser::Coordination)?.0);
    let guard = |store: &EventStore| {
        Guard::new(store.clone(), models.clone(), Arc::clone(&relations), AccessLog::start(store.clone()))
    };
    // The referral process (deadlines, consent lapses) runs until `_process` is dropped.
    let (referrals_store, referrals_keys) = of(NatsUser::Referrals)?;
    let referrals_guard = guard(&referrals_store);
    let (referrals, _process) = luukku_referrals::start(
        referrals_store,
        referrals_keys,
        luukku_referrals::Config::default(),
        referrals_guard,
    )
    .await;
    let projection_dir = args.data_dir.join("coordination");
    let (coordination_store, coordination_keys) = of(NatsUser::Coordination)?;
    let coordination_guard = guard(&coordination_store);
    let coordination = luukku_coordination::start(
        &projection_dir,
        coordination_store,
        coordination_keys,
        coordination_guard,
    )
    .await?;
    let (families_store, families_keys) = of(NatsUser::Families)?;
    let (contacts_store, contacts_keys) = of(NatsUser::Contacts)?;
    let (meetings_store, meetings_keys) = of(NatsUser::Meetings)?;
    let (families_guard, contacts_guard, meetings_guard) =
        (guard(&families_store), guard(&contacts_store), guard(&meetings_store));
    // The caseload process runs until `_caseloads` is dropped.
    let (contacts, _caseloads) = luukku_contacts::start(
        contacts_store,
        contacts_keys,
        luukku_contacts::Config::default(),
        contacts_guard,
    )
    .await;
    let mut services = Vec::new();
    for (name, port, routes) in [
        (
            "families",
            args.families_port,
            luukku_families::routes(families_store, families_keys, families_guard).await,
        ),
        ("contacts", args.contacts_port, contacts),
        ("referrals", args.referrals_port, referrals),
        ("coordination", args.coordination_port, coordination.routes),
        (
            "meetings",
            args.meetings_port,
            luukku_meetings::routes(meetings_store, meetings_keys, meetings_guard).await,
        ),
        ("admin", args.admin_port, coordination.admin),
    ] {
        let address = SocketAddr::new(args.grpc_host, port);
        let (listener, bound) =
            bind(address).await.with_context(|| format!("binding the {name} service to {address}"))?;
        let routes = with_reflection(routes)?;
        let served = serve(routes, listener, serving.clone(), shutdown(stopped.clone()));
        services.push((name, bound, tokio::spawn(served)));
    }
    // The web client, a client of the services above like any other (ADR 14).
    let web_address = SocketAddr::new(args.grpc_host, args.web_port);
    let web_listener = tokio::net::TcpListener::bind(web_address)
        .await
        .with_context(|| format!("binding the web client to {web_address}"))?;
    let web_bound = web_listener.local_addr()?;
    let service_url = |name: &str| {
        services
            .iter()
            .find(|(service, ..)| *service == name)
            .map(|(_, address, _)| format!("http://{address}"))
            .context("a service's address")
    };
    let dev_issuer = Arc::new(DevIssuer::open(&args.data_dir)?);
    examples::record(&dev_issuer, &service_url("contacts")?, &service_url("referrals")?)
        .await
        .context("recording the development contact persons and service catalogue")?;
    let web = luukku_web::router(luukku_web::WebConfig {
        families_url: service_url("families")?,
        contacts_url: service_url("contacts")?,
        referrals_url: service_url("referrals")?,
        meetings_url: service_url("meetings")?,
        coordination_url: service_url("coordination")?,
        dev_issuer: Some(dev_issuer),
        oidc: None,
        services_ca: None,
        services_identity: None,
    })?;
    let web_task = tokio::spawn(luukku_web::serve(web_listener, web, shutdown(stopped.clone())));

    luukku_app::gauges::spawn_stream_gauges(store.clone());
    luukku_grpc::observe::spawn_failure_reports(store.clone());
    running.store(true, Ordering::SeqCst);
    println!("luukku dev is running; Ctrl-C stops it");
    for server in &servers {
        println!(
            "  nats-server  {}  {}  (data in {})",
            server.name(),
            server.client_url(),
            server.data_dir().display()
        );
    }
    for (name, address, _) in &services {
        let api = if *name == "admin" {
            "luukku.coordination.v1.CoordinationAdmin".to_owned()
        } else {
            format!("luukku.{name}.v1")
        };
        println!("  {name:<12} {address}  {api}");
    }
    println!("  web          http://{web_bound}  (the web client for contact persons)");
    println!("  metrics      http://{metrics}/metrics  (Prometheus)");
    println!("  tokens       luukku token --as NAME --role ROLE --data-dir {}", args.data_dir.display());
    for stream in Stream::ALL {
        let last = store.last_sequence(stream).await?;
        println!("  stream {:<10} subjects {}.>  last sequence {last}", stream.name(), stream.subject_root());
    }

    // A sender dropped means stop too.
    let _ = stopping.await;
    say("stopping");
    stop.send_replace(true);
    for (name, _, task) in services {
        task.await
            .with_context(|| format!("the {name} service panicked"))?
            .with_context(|| format!("serving {name}"))?;
    }
    web_task.await.context("the web client panicked")?.context("serving the web client")?;
    coordination.projection.flush().await.context("writing the projection to disk")?;
    drop(store);
    for server in &mut servers {
        server.stop().await?;
    }
    Ok(())
}

/// Writes a line on standard output, if it is still there: after a hang-up the terminal is
/// gone, and stopping goes on without it.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Starts the nats-server node, or the three nodes of a cluster, that admit the users of
/// `config`.
async fn start_nats(
    args: &DevArgs,
    nats_dir: &std::path::Path,
    config: &std::path::Path,
) -> anyhow::Result<Vec<NatsServer>> {
    let single = || {
        let mut options = NatsServerOptions::new(nats_dir);
        options.port = Some(args.nats_port);
        options
    };
    let nodes: Vec<NatsServerOptions> = if args.cluster == 1 {
        vec![single()]
    } else {
        let route_port = |node: u16| args.nats_port.saturating_add(1000).saturating_add(node);
        let routes: Vec<String> =
            (0..args.cluster).map(|node| format!("nats://127.0.0.1:{}", route_port(node))).collect();
        (0..args.cluster)
            .map(|node| {
                let mut options = NatsServerOptions::new(nats_dir.join(format!("node-{}", node + 1)));
                options.port = Some(args.nats_port.saturating_add(node));
                options.server_name = format!("luukku-{}", node + 1);
                options.cluster = Some(luukku_runtime::ClusterOptions {
                    name: "luukku-dev".to_owned(),
                    port: route_port(node),
                    routes: routes.clone(),
                });
                options
            })
            .collect()
    };
    let starts = nodes.into_iter().map(|mut options| {
        options.binary = args.nats_server.clone();
        options.config = Some(config.to_owned());
        async move {
            let (port, folder) = (options.port.unwrap_or_default(), options.data_dir.clone());
            NatsServer::start(options).await.with_context(|| {
                format!("starting nats-server on port {port} with data in {}", folder.display())
            })
        }
    });
    futures::future::try_join_all(starts).await
}

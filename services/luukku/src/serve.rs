//! `luukku serve <service>`: one service alone, for real deployments.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use luukku_eventstore::{EventStore, NatsKeyStore, StoreSettings, Stream};
use luukku_grpc::serve::{bind, serve};
use serde::Deserialize;

/// The services `serve` runs, with their default ports.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Service {
    Families,
    Contacts,
    Referrals,
    Meetings,
    Coordination,
}

impl Service {
    fn default_port(self) -> u16 {
        match self {
            Service::Families => 50051,
            Service::Contacts => 50052,
            Service::Referrals => 50053,
            Service::Meetings => 50054,
            Service::Coordination => 50055,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    pub service: Service,
    /// A TOML file with any of: nats_url, listen, data_dir, replicas. Flags and environment
    /// variables override it.
    #[arg(long, env = "LUUKKU_CONFIG")]
    pub config: Option<PathBuf>,
    /// The NATS server (or cluster) to use, such as nats://nats-1:4222.
    #[arg(long, env = "LUUKKU_NATS_URL")]
    pub nats_url: Option<String>,
    /// Address to listen on; the service's default port on all interfaces when not given.
    #[arg(long, env = "LUUKKU_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder for the coordination service's projection.
    #[arg(long, env = "LUUKKU_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Stream replicas when provisioning (3 in a cluster).
    #[arg(long, env = "LUUKKU_REPLICAS")]
    pub replicas: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    nats_url: Option<String>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    replicas: Option<usize>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a valid luukku configuration", path.display()))?
        }
        None => FileConfig::default(),
    };
    let nats_url = args.nats_url.or(file.nats_url).context(
        "no NATS server given: pass --nats-url, set LUUKKU_NATS_URL, or put nats_url in the --config file",
    )?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], args.service.default_port())));
    let settings =
        StoreSettings { replicas: args.replicas.or(file.replicas).unwrap_or(1), ..Default::default() };
    let store = EventStore::connect(&nats_url, settings)
        .await
        .with_context(|| format!("connecting to {nats_url}"))?;
    store.provision(&Stream::ALL).await.context("provisioning the streams")?;
    let keys = NatsKeyStore::open(&store).await.context("opening the family key bucket")?;

    let mut _process = None;
    let mut _projection = None;
    let routes = match args.service {
        Service::Families => luukku_families::routes(store.clone(), keys).await?,
        Service::Contacts => luukku_contacts::routes(store.clone(), keys).await?,
        Service::Meetings => luukku_meetings::routes(store.clone(), keys).await?,
        Service::Referrals => {
            let (routes, process) =
                luukku_referrals::start(store.clone(), keys, luukku_referrals::Config::default()).await?;
            _process = Some(process);
            routes
        }
        Service::Coordination => {
            let folder = args.data_dir.or(file.data_dir).context(
                "the coordination service needs a folder for its projection: --data-dir or LUUKKU_DATA_DIR",
            )?;
            let (routes, projection) = luukku_coordination::start(&folder, store.clone(), keys).await?;
            _projection = Some(projection);
            routes
        }
    };
    let (listener, address) = bind(listen).await.with_context(|| format!("binding {listen}"))?;
    println!("luukku {:?} listening on {address}, NATS {nats_url}", args.service);
    serve(routes, listener, async {
        let _ = luukku_runtime::telemetry::shutdown_signal().await;
    })
    .await?;
    if let Some(projection) = _projection {
        projection.flush().await?;
    }
    Ok(())
}

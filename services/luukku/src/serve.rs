//! `luukku serve <service>`: one service alone, for real deployments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use luukku_auth::{AuthConfig, ClaimNames, KeySet, KeySource, Verifier};
use luukku_eventstore::access::NatsUser;
use luukku_eventstore::{EventStore, MemberLinks, NatsKeyStore, StoreSettings, Stream};
use luukku_grpc::Authenticator;
use luukku_grpc::serve::{ServeOptions, Tls};
use luukku_grpc::serve::{bind, serve};
use serde::Deserialize;
use tonic::service::Routes;

/// The services `serve` runs, with their default ports.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Service {
    Families,
    Contacts,
    Referrals,
    Meetings,
    Coordination,
    /// The web client for contact persons (ADR 14): it calls the services above.
    Web,
}

impl Service {
    /// The NATS user the service runs as; the web client uses none.
    fn user(self) -> Option<NatsUser> {
        match self {
            Service::Families => Some(NatsUser::Families),
            Service::Contacts => Some(NatsUser::Contacts),
            Service::Referrals => Some(NatsUser::Referrals),
            Service::Meetings => Some(NatsUser::Meetings),
            Service::Coordination => Some(NatsUser::Coordination),
            Service::Web => None,
        }
    }

    /// The service's name in commands and telemetry.
    pub fn name(self) -> &'static str {
        match self {
            Service::Families => "families",
            Service::Contacts => "contacts",
            Service::Referrals => "referrals",
            Service::Meetings => "meetings",
            Service::Coordination => "coordination",
            Service::Web => "web",
        }
    }

    /// Where the service serves its metrics when not told: one port each, so that services
    /// sharing a host do not collide.
    pub fn default_metrics_port(self) -> u16 {
        match self {
            Service::Families => 9465,
            Service::Contacts => 9466,
            Service::Referrals => 9467,
            Service::Meetings => 9468,
            Service::Coordination => 9469,
            Service::Web => 9470,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Service::Families => 50051,
            Service::Contacts => 50052,
            Service::Referrals => 50053,
            Service::Meetings => 50054,
            Service::Coordination => 50055,
            Service::Web => 8443,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    pub service: Service,
    /// A TOML file with the keys of the flags below (nats_url, listen, ...). Flags and
    /// environment variables override it.
    #[arg(long, env = "LUUKKU_CONFIG")]
    pub config: Option<PathBuf>,
    /// The NATS server (or cluster) to use, such as nats://nats-1:4222.
    #[arg(long, env = "LUUKKU_NATS_URL")]
    pub nats_url: Option<String>,
    /// Address to listen on; the service's default port on all interfaces when not given.
    #[arg(long, env = "LUUKKU_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder for the service's checkpointed read models (in `models/`) and the coordination
    /// service's projection. Without it, a write service keeps its models in a temporary
    /// folder and reads every stream from its start at each start.
    #[arg(long, env = "LUUKKU_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    /// Address of the coordination service's admin listener (rebuild), for operators only;
    /// 127.0.0.1:50056 when not given.
    #[arg(long, env = "LUUKKU_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// How many families' keys the service keeps in memory (about 180 bytes each), each until
    /// the family is erased; a call on a family whose key is not kept reads it from NATS first.
    /// Default 1,000,000 for the coordination service (set it to the number of families, or
    /// above), 100,000 for the others.
    #[arg(long, env = "LUUKKU_CACHED_KEYS")]
    pub cached_keys: Option<std::num::NonZeroUsize>,
    /// Address of the service's metrics listener (Prometheus, `GET /metrics`; no personal
    /// data); the service's own port (9465 families, 9466 contacts, 9467 referrals, 9468
    /// meetings, 9469 coordination, 9470 web) on all interfaces when not given.
    #[arg(long, env = "LUUKKU_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The token issuer's keys: a JWKS file.
    #[arg(long, env = "LUUKKU_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<PathBuf>,
    /// The token issuer's keys: a JWKS URL (an OpenID Connect provider's `jwks_uri`),
    /// refreshed in the background.
    #[arg(long, env = "LUUKKU_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Seconds between refreshes of the JWKS URL (default 300).
    #[arg(long, env = "LUUKKU_JWKS_REFRESH_SECS")]
    pub jwks_refresh_secs: Option<u64>,
    /// The `iss` every token must carry.
    #[arg(long, env = "LUUKKU_TOKEN_ISSUER")]
    pub token_issuer: Option<String>,
    /// The `aud` every token must include.
    #[arg(long, env = "LUUKKU_TOKEN_AUDIENCE")]
    pub token_audience: Option<String>,
    /// How many verified tokens to remember (default 16384, at most 1000000); a caller's later
    /// calls with a remembered token skip its signature check. Size it for the callers active
    /// within a token's lifetime: `luukku_auth_full_verifications_total{result="verified"}`
    /// growing about as fast as the calls says it is too small.
    #[arg(long, env = "LUUKKU_CACHED_TOKENS")]
    pub cached_tokens: Option<std::num::NonZeroUsize>,
    /// The server's TLS certificate chain (PEM).
    #[arg(long, env = "LUUKKU_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long, env = "LUUKKU_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS. The certificate's SAN
    /// URI or DNS name becomes the caller's system.
    #[arg(long, env = "LUUKKU_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Serve without TLS. Only behind something that adds it; a warning is logged at start.
    #[arg(long, env = "LUUKKU_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,
    /// Serve gRPC reflection (for grpcurl and similar tools).
    #[arg(long, env = "LUUKKU_REFLECTION")]
    pub reflection: bool,
    #[command(flatten)]
    pub kek: crate::keys::KekArgs,
    #[command(flatten)]
    pub web: crate::serve_web::WebArgs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    nats_url: Option<String>,
    pub listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    cached_keys: Option<std::num::NonZeroUsize>,
    pub metrics_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    nats_nkey_file: Option<PathBuf>,
    nats_creds: Option<PathBuf>,
    nats_ca: Option<PathBuf>,
    nats_cert: Option<PathBuf>,
    nats_key: Option<PathBuf>,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    jwks_refresh_secs: Option<u64>,
    token_issuer: Option<String>,
    token_audience: Option<String>,
    cached_tokens: Option<std::num::NonZeroUsize>,
    /// Which claims carry the identity; see `ClaimNames` for the defaults.
    claims: Option<ClaimNames>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    #[serde(default)]
    insecure_plaintext: bool,
    #[serde(default)]
    reflection: bool,
    kek_file: Option<PathBuf>,
    #[serde(default)]
    previous_kek_files: Vec<PathBuf>,
    /// `luukku serve web` only: a `[web]` table.
    #[serde(default)]
    pub web: crate::serve_web::WebFile,
}

/// The most verified tokens a service may be told to remember.
const MAX_CACHED_TOKENS: usize = 1_000_000;

/// How callers are verified: the issuer's keys, `iss`, `aud` and claim names.
async fn authenticator(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Authenticator> {
    Ok(Authenticator::new(verifier(args, file).await?))
}

/// The verifier of callers' tokens: the issuer's keys, `iss`, `aud` and claim names.
pub async fn verifier(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Verifier> {
    let source = match (
        args.jwks_file.clone().or(file.jwks_file.clone()),
        args.jwks_url.clone().or(file.jwks_url.clone()),
    ) {
        (Some(path), None) => KeySource::File(path),
        (None, Some(url)) => KeySource::Url {
            url,
            refresh: Duration::from_secs(args.jwks_refresh_secs.or(file.jwks_refresh_secs).unwrap_or(300)),
        },
        (Some(_), Some(_)) => {
            anyhow::bail!("give the token issuer's keys once: --jwks-file or --jwks-url, not both")
        }
        (None, None) => anyhow::bail!(
            "no keys to verify callers' tokens with: pass --jwks-file or --jwks-url (or LUUKKU_JWKS_FILE, \
             LUUKKU_JWKS_URL, or jwks_file / jwks_url in the --config file)"
        ),
    };
    let issuer = args
        .token_issuer
        .clone()
        .or(file.token_issuer.clone())
        .context("no token issuer: pass --token-issuer (the `iss` of your identity provider's tokens)")?;
    let audience = args.token_audience.clone().or(file.token_audience.clone()).context(
        "no token audience: pass --token-audience (the `aud` your identity provider gives luukku's tokens)",
    )?;
    let keys = KeySet::load(&source).await.context("loading the token issuer's keys")?;
    let defaults = AuthConfig::new(issuer, audience);
    let cached_tokens = args.cached_tokens.or(file.cached_tokens).unwrap_or(defaults.cached_tokens);
    // The cache's table is made at its full size at the start.
    anyhow::ensure!(
        cached_tokens.get() <= MAX_CACHED_TOKENS,
        "--cached-tokens is at most {MAX_CACHED_TOKENS}, not {cached_tokens}"
    );
    let config = AuthConfig { claims: file.claims.clone().unwrap_or_default(), cached_tokens, ..defaults };
    Ok(Verifier::new(config, keys))
}

/// The server's TLS, or none when `--insecure-plaintext` says so.
pub fn tls(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<Tls>> {
    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let cert = args.tls_cert.clone().or(file.tls_cert.clone());
    let key = args.tls_key.clone().or(file.tls_key.clone());
    let client_ca = args.client_ca.clone().or(file.client_ca.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(Tls {
            certificate: read(&cert)?,
            key: read(&key)?,
            client_ca: client_ca.as_ref().map(read).transpose()?,
        })),
        (None, None) if args.insecure_plaintext || file.insecure_plaintext => {
            if client_ca.is_some() {
                anyhow::bail!("--client-ca needs TLS: give --tls-cert and --tls-key");
            }
            tracing::warn!(
                "serving WITHOUT TLS (--insecure-plaintext): tokens and family data cross the network in the clear"
            );
            Ok(None)
        }
        (None, None) => anyhow::bail!(
            "no TLS certificate: pass --tls-cert and --tls-key (and --client-ca for mutual TLS), \
             or --insecure-plaintext to serve without TLS behind something that adds it"
        ),
        _ => anyhow::bail!("TLS needs both --tls-cert and --tls-key"),
    }
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
    let Some(user) = args.service.user() else {
        return crate::serve_web::run(&args, &file).await;
    };
    let authenticator = authenticator(&args, &file).await?;
    let tls = tls(&args, &file)?;
    let nats_url = args.nats_url.clone().or(file.nats_url.clone()).context(
        "no NATS server given: pass --nats-url, set LUUKKU_NATS_URL, or put nats_url in the --config file",
    )?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], args.service.default_port())));
    let metrics_listen = args
        .metrics_listen
        .or(file.metrics_listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], args.service.default_metrics_port())));
    luukku_runtime::telemetry::serve_metrics(metrics_listen)?;
    println!("luukku {} metrics on http://{metrics_listen}/metrics", args.service.name());
    let reflection = args.reflection || file.reflection;
    let with_reflection = |routes| -> anyhow::Result<Routes> {
        Ok(if reflection { luukku_grpc::serve::with_reflection(routes)? } else { routes })
    };
    let nats = crate::nats::NatsArgs {
        nats_nkey_file: args.nats.nats_nkey_file.clone().or(file.nats_nkey_file.clone()),
        nats_creds: args.nats.nats_creds.clone().or(file.nats_creds.clone()),
        nats_ca: args.nats.nats_ca.clone().or(file.nats_ca.clone()),
        nats_cert: args.nats.nats_cert.clone().or(file.nats_cert.clone()),
        nats_key: args.nats.nats_key.clone().or(file.nats_key.clone()),
    };
    let store = EventStore::connect_as(&nats_url, StoreSettings::default(), &nats.auth(user, None)?)
        .await
        .with_context(|| format!("connecting to {}", redact(&nats_url)))?;
    store
        .check_provisioned(&Stream::ALL)
        .await
        .context("the streams are not there: provision them with `luukku ops provision` as the admin user")?;
    // Family members' tokens resolve to their member through the links the families service keeps.
    let links = MemberLinks::open(&store).await.context("opening the member link bucket")?;
    let serving = ServeOptions { authenticator: Arc::new(authenticator.with_member_links(links)), tls };
    let kek = crate::keys::KekArgs {
        kek_file: args.kek.kek_file.clone().or(file.kek_file.clone()),
        previous_kek_file: if args.kek.previous_kek_file.is_empty() {
            file.previous_kek_files.clone()
        } else {
            args.kek.previous_kek_file.clone()
        },
    };
    let keys = NatsKeyStore::open(&store, kek.ring(None)?).await.context("opening the family key bucket")?;
    // Keys kept in memory until the bucket reports their erasure: the coordination service
    // opens every family it is asked for, a write service the families being worked on.
    let cached = args.cached_keys.or(file.cached_keys).unwrap_or(match args.service {
        Service::Coordination => luukku_coordination::CACHED_KEYS,
        _ => luukku_app::CACHED_KEYS,
    });
    let keys = luukku_eventstore::CachedKeys::new(keys, cached);

    luukku_app::gauges::spawn_stream_gauges(store.clone());
    luukku_grpc::observe::spawn_failure_reports(store.clone());
    // Every call is decided by the access policy and recorded in the access log. The policy's
    // relations and the service's read models are checkpointed in the data folder.
    let data_dir = args.data_dir.or(file.data_dir);
    let models = match &data_dir {
        Some(folder) => luukku_app::Folder::open(&folder.join("models"))?,
        None => {
            tracing::warn!(
                "no --data-dir: the read models are kept in a temporary folder and read every stream from its start"
            );
            luukku_app::Folder::temporary()
        }
    };
    let guard = luukku_app::Guard::start_in(&models, store.clone());
    // A service's process (deadlines; caseloads) runs until this is dropped.
    let mut _process: Option<Box<dyn std::any::Any + Send>> = None;
    let mut _projection = None;
    let mut admin = None;
    let routes = match args.service {
        Service::Families => luukku_families::routes(store.clone(), keys, guard).await,
        Service::Contacts => {
            let (routes, process) =
                luukku_contacts::start(store.clone(), keys, luukku_contacts::Config::default(), guard).await;
            _process = Some(Box::new(process));
            routes
        }
        Service::Meetings => luukku_meetings::routes(store.clone(), keys, guard).await,
        Service::Referrals => {
            let (routes, process) =
                luukku_referrals::start(store.clone(), keys, luukku_referrals::Config::default(), guard)
                    .await;
            _process = Some(Box::new(process));
            routes
        }
        Service::Coordination => {
            let folder = data_dir.context(
                "the coordination service needs a folder for its projection: --data-dir or LUUKKU_DATA_DIR",
            )?;
            let started = luukku_coordination::start(&folder, store.clone(), keys, guard).await?;
            _projection = Some(started.projection);
            admin = Some(started.admin);
            started.routes
        }
        Service::Web => anyhow::bail!("the web client runs no event store service"),
    };
    let (listener, address) = bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut serving_tasks = vec![tokio::spawn(serve(
        with_reflection(routes)?,
        listener,
        serving.clone(),
        shutdown(stopped.clone()),
    ))];
    let tls_note = match &serving.tls {
        Some(tls) if tls.client_ca.is_some() => "mutual TLS",
        Some(_) => "TLS",
        None => "PLAINTEXT",
    };
    println!("luukku {:?} listening on {address} ({tls_note}), NATS {}", args.service, redact(&nats_url));
    if let Some(admin) = admin {
        let admin_listen = args
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 50056)));
        let (listener, address) =
            bind(admin_listen).await.with_context(|| format!("binding {admin_listen}"))?;
        println!("luukku coordination admin listening on {address} ({tls_note}), for operators");
        serving_tasks.push(tokio::spawn(serve(
            with_reflection(admin)?,
            listener,
            serving.clone(),
            shutdown(stopped.clone()),
        )));
    }
    luukku_runtime::telemetry::shutdown_signal().await.context("waiting for a stop signal")?;
    stop.send_replace(true);
    for task in serving_tasks {
        task.await.context("a server task failed")??;
    }
    if let Some(projection) = _projection {
        projection.flush().await?;
    }
    // What the read models applied is on disk, so a restart starts where they stopped.
    tokio::task::spawn_blocking(move || models.flush()).await??;
    Ok(())
}

/// `url` with any user name, password or token replaced by `***`, fit to print.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &one[..scheme + 3], &one[at..]),
            (None, Some(at)) => format!("***{}", &one[at..]),
            _ => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::{FileConfig, redact};

    #[test]
    fn a_config_file_sets_the_keys_kept_and_never_none() {
        let file: FileConfig = toml::from_str("cached_keys = 2000000").expect("read");
        assert_eq!(file.cached_keys.map(std::num::NonZeroUsize::get), Some(2_000_000));
        assert!(toml::from_str::<FileConfig>("cached_keys = 0").is_err(), "zero keys is refused");
    }

    #[test]
    fn credentials_in_a_url_are_never_printed() {
        assert_eq!(redact("nats://luukku:s3cret@nats-1:4222"), "nats://***@nats-1:4222");
        assert_eq!(
            redact("nats://token@nats-1:4222,nats://nats-2:4222"),
            "nats://***@nats-1:4222,nats://nats-2:4222"
        );
        assert_eq!(redact("nats://nats-1:4222"), "nats://nats-1:4222");
        assert_eq!(redact("user:pw@host:4222"), "***@host:4222");
    }
}

//! `luukku ops`: tools for operators, straight on the event store.

mod access_log;
mod erasures;
mod export;
mod quarantine;
mod rebuild;
mod reconcile;
mod status;
mod tail;
mod verify;

use std::path::Path;

use anyhow::Context as _;
use luukku_eventstore::access::NatsUser;
use luukku_eventstore::{EventStore, NatsKeyStore, StoreSettings, Stream};

pub use tail::TailArgs;

#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// The NATS server; by default the one `luukku dev` starts.
    #[arg(long, env = "LUUKKU_NATS_URL", default_value = "nats://127.0.0.1:14222", global = true)]
    pub nats_url: String,
    /// The key-encryption key, for `export` and `rewrap-keys`; by default `luukku dev`'s.
    #[command(flatten)]
    pub kek: crate::keys::KekArgs,
    /// The NATS user: by default `luukku dev`'s read-only `ops` user (`admin` for `provision`
    /// and `rewrap-keys`) from `.luukku/nats-users/`.
    #[command(flatten)]
    pub nats: crate::nats::NatsArgs,
    #[command(subcommand)]
    pub command: OpsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Each stream's messages, bytes and limit, first and last sequence; where each running
    /// read model stands, and why it stopped.
    Streams,
    /// One service's gRPC health, for probes: exit code 0 when it answers SERVING. Needs no
    /// NATS.
    Health(status::HealthArgs),
    /// One screen: every service's health, every read model's position, lag and stop, the
    /// quarantine, the streams against their limits, and the last server-side failures. Exits
    /// 1 when anything needs an operator.
    Status(status::StatusArgs),
    /// The messages read models stopped at because they cannot read them; skip one.
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    /// Differences between caseloads and assignments; repairing them.
    #[command(subcommand)]
    Reconcile(reconcile::ReconcileCommand),
    /// The erasure journal, and erasing again after a restore what the backup predates.
    #[command(subcommand)]
    Erasures(erasures::ErasuresCommand),
    /// Prints events, from a sequence or live.
    Tail(TailArgs),
    /// Decodes every event of every stream and checks each aggregate starts with its creation
    /// event; reports each problem and exits non-zero on any.
    Verify,
    /// JSON lines of a stream, or of one family across the streams; personal data is shown
    /// only where the family's key exists.
    Export {
        /// One stream (FAMILIES, CONTACTS, REFERRALS, MEETINGS).
        #[arg(long, conflicts_with = "family")]
        stream: Option<Stream>,
        /// One family, with its contacts, referrals and meetings.
        #[arg(long)]
        family: Option<String>,
    },
    /// The family's log report for the registrar (Act 703/2023): every access to its data,
    /// allowed or denied, oldest first.
    AccessLog(access_log::AccessLogArgs),
    /// Rebuilds the coordination projection in the running service, from the start of the
    /// streams, while it keeps answering; shows progress, rate and time left.
    Rebuild(Box<rebuild::RebuildArgs>),
    /// Makes an NKEY for each NATS user (the services, ops, admin) in a folder, once, and
    /// prints the nats-server `authorization` block that gives each its permissions.
    NatsUsers {
        /// The folder for the seed files (`<user>.nk`, mode 0600); hand each to its process.
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Creates the streams and the family key bucket, or brings them to their settings; as
    /// the admin user.
    Provision {
        /// Stream replicas: 1 on a single node, 3 in a cluster.
        #[arg(long, env = "LUUKKU_REPLICAS", default_value_t = 1)]
        replicas: usize,
        /// The most bytes each of the four streams may hold (JetStream reserves it); a full
        /// stream refuses writes. Size it for the county: see `docs/operations.md`.
        #[arg(long, env = "LUUKKU_MAX_STREAM_BYTES", default_value_t = StoreSettings::default().max_stream_bytes)]
        max_stream_bytes: i64,
        /// The most bytes the access log may hold; when it is full every call is refused.
        #[arg(long, env = "LUUKKU_MAX_AUDIT_BYTES", default_value_t = StoreSettings::default().max_audit_bytes)]
        max_audit_bytes: i64,
    },
    /// Wraps every family key under the current key-encryption key: after a rotation (give
    /// the old key with --previous-kek-file), or for keys stored before wrapping.
    RewrapKeys {
        /// Also wrap keys stored unwrapped, by a release before key wrapping.
        #[arg(long)]
        unwrapped: bool,
    },
}

pub async fn run(args: OpsArgs) -> anyhow::Result<std::process::ExitCode> {
    if let OpsCommand::NatsUsers { dir } = &args.command {
        let users = luukku_eventstore::access::UserKeys::create_or_open(dir)
            .with_context(|| format!("making the NATS users' keys in {}", dir.display()))?;
        print!("{}", users.server_authorization()?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let OpsCommand::Health(health_args) = &args.command {
        return Ok(status::probe(health_args).await);
    }
    if let OpsCommand::Rebuild(rebuild_args) = &args.command {
        return rebuild::rebuild(rebuild_args).await.map(|()| std::process::ExitCode::SUCCESS);
    }
    let (user, settings) = match &args.command {
        OpsCommand::Provision { replicas, max_stream_bytes, max_audit_bytes } => (
            NatsUser::Admin,
            StoreSettings {
                replicas: *replicas,
                max_stream_bytes: *max_stream_bytes,
                max_audit_bytes: *max_audit_bytes,
                ..Default::default()
            },
        ),
        OpsCommand::RewrapKeys { .. } => (NatsUser::Admin, StoreSettings::default()),
        // Reconciling reads and repairs as the contacts service does.
        OpsCommand::Reconcile(_) => (NatsUser::Contacts, StoreSettings::default()),
        // Erasing again writes as the families service does.
        OpsCommand::Erasures(erasures::ErasuresCommand::Restore { .. }) => {
            (NatsUser::Families, StoreSettings::default())
        }
        _ => (NatsUser::Ops, StoreSettings::default()),
    };
    let auth = args.nats.auth(user, Some(Path::new(crate::dev::DEFAULT_DATA_DIR)))?;
    let store = EventStore::connect_once(&args.nats_url, settings, &auth)
        .await
        .with_context(|| format!("connecting to {}", crate::serve::redact(&args.nats_url)))?;
    match args.command {
        OpsCommand::Streams => streams(&store).await.map(|_| std::process::ExitCode::SUCCESS),
        OpsCommand::Status(status_args) => status::status(&store, &status_args).await,
        OpsCommand::Tail(tail_args) => {
            tail::tail(&store, tail_args).await.map(|()| std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Verify => verify::verify(&store).await,
        OpsCommand::Quarantine(command) => quarantine::run(&store, command).await,
        OpsCommand::Reconcile(command) => reconcile::run(&store, command).await,
        OpsCommand::Erasures(command) => erasures::run(&store, &args.kek, command).await,
        OpsCommand::AccessLog(log_args) => {
            access_log::access_log(&store, &log_args).await.map(|()| std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Export { stream, family } => {
            let keys = NatsKeyStore::open(&store, kek_ring(&args.kek)?).await?;
            export::export(&store, &keys, stream, family).await.map(|()| std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Provision { .. } => {
            luukku_eventstore::provision(&store).await?;
            println!(
                "provisioned the streams, the access log, the family key bucket and the member link bucket"
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        OpsCommand::RewrapKeys { unwrapped } => {
            let keys = NatsKeyStore::open(&store, kek_ring(&args.kek)?).await?;
            let done = keys.rewrap(unwrapped).await?;
            println!(
                "rewrapped {} family keys; {} were already under the current key",
                done.rewrapped, done.current
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Rebuild(_) | OpsCommand::NatsUsers { .. } | OpsCommand::Health(_) => {
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// The key ring of `--kek-file`, or of the `luukku dev` data folder in the working directory.
fn kek_ring(kek: &crate::keys::KekArgs) -> anyhow::Result<std::sync::Arc<dyn luukku_eventstore::KeyWrapper>> {
    kek.ring(Some(&crate::keys::dev_kek_path(Path::new(crate::dev::DEFAULT_DATA_DIR))))
}

/// Whether any running read model reports a stop.
async fn any_stopped(store: &EventStore) -> anyhow::Result<bool> {
    let readers = luukku_eventstore::quarantine::Readers::open(store).await?;
    Ok(readers.list().await?.iter().any(|report| report.stopped.is_some()))
}

/// A stream is this full when an operator should act.
const NEARLY_FULL: f64 = 0.8;

/// Prints the streams and the read models; gives the streams that are nearly full.
async fn streams(store: &EventStore) -> anyhow::Result<Vec<String>> {
    println!(
        "{:<10} {:>10} {:>14} {:>14} {:>8} {:>10}",
        "stream", "messages", "bytes", "limit", "first", "last"
    );
    let audit = luukku_eventstore::audit::AUDIT_STREAM;
    let mut last = std::collections::BTreeMap::new();
    let mut full = Vec::new();
    for name in Stream::ALL.iter().map(|stream| stream.name()).chain([audit]) {
        let mut stream =
            store.jetstream().get_stream(name).await.with_context(|| format!("the stream {name}"))?;
        let info = stream.info().await?;
        let (state, limit) = (&info.state, info.config.max_bytes);
        if limit > 0 && state.bytes as f64 >= NEARLY_FULL * limit as f64 {
            full.push(name.to_owned());
        }
        let limit = if limit < 0 { "none".to_owned() } else { limit.to_string() };
        println!(
            "{:<10} {:>10} {:>14} {:>14} {:>8} {:>10}",
            name, state.messages, state.bytes, limit, state.first_sequence, state.last_sequence
        );
        last.insert(name.to_owned(), state.last_sequence);
    }
    println!();
    let reports = match luukku_eventstore::quarantine::Readers::open(store).await {
        Ok(readers) => readers.list().await?,
        Err(error) => {
            println!("read models: not known ({error})");
            return Ok(full);
        }
    };
    if reports.is_empty() {
        println!("read models: none reported in the last few minutes");
    }
    let now = luukku_domain::Timestamp::now().as_millis();
    for report in reports {
        let age = (now - report.reported_at_ms).max(0) / 1000;
        let behind: Vec<String> = report
            .positions
            .iter()
            .map(|(stream, at)| {
                let lag = last.get(stream.name()).map_or(0, |last| last.saturating_sub(*at));
                format!("{stream} {at} (behind {lag})")
            })
            .collect();
        let state = match &report.stopped {
            Some(stopped) => format!(
                "STOPPED at {} {}: {}{}",
                stopped.stream,
                stopped.sequence,
                stopped.reason,
                if stopped.newer { "" } else { "; see `luukku ops quarantine list`" }
            ),
            None => "following".to_owned(),
        };
        println!("{} [{}] reported {age} s ago: {state}", report.name, report.process);
        println!("  {}", behind.join(", "));
    }
    Ok(full)
}

//! `luukku ops status`: one screen of how the system stands. Every service's health, every
//! read model's position, lag and stop, the quarantine, the streams against their limits, and
//! the last calls that failed on the servers' side.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use luukku_eventstore::EventStore;
use luukku_eventstore::quarantine::{Quarantine, Readers};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, env = "LUUKKU_FAMILIES_URL", default_value = "http://127.0.0.1:50051")]
    families_url: String,
    #[arg(long, env = "LUUKKU_CONTACTS_URL", default_value = "http://127.0.0.1:50052")]
    contacts_url: String,
    #[arg(long, env = "LUUKKU_REFERRALS_URL", default_value = "http://127.0.0.1:50053")]
    referrals_url: String,
    #[arg(long, env = "LUUKKU_MEETINGS_URL", default_value = "http://127.0.0.1:50054")]
    meetings_url: String,
    #[arg(long, env = "LUUKKU_COORDINATION_URL", default_value = "http://127.0.0.1:50055")]
    coordination_url: String,
    #[command(flatten)]
    tls: ServiceTls,
}

/// How a service's TLS is checked, for https URLs.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceTls {
    /// The CA certificate (PEM) of the services' TLS certificates.
    #[arg(long, env = "LUUKKU_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// A client certificate and key (PEM), for services that require mutual TLS.
    #[arg(long, env = "LUUKKU_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<PathBuf>,
    #[arg(long, env = "LUUKKU_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// The name the service's certificate is for, when the URL's host is another (a probe
    /// asking 127.0.0.1, say).
    #[arg(long, env = "LUUKKU_TLS_NAME")]
    tls_name: Option<String>,
}

/// `luukku ops health URL`: one service's gRPC health, for probes (containers, Kubernetes,
/// systemd). Needs no NATS.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The service, such as https://127.0.0.1:50051 (http:// for one serving plaintext).
    url: String,
    #[command(flatten)]
    tls: ServiceTls,
}

/// Exit code 0 when the service answers `SERVING`, 1 otherwise; prints what it answered.
pub async fn probe(args: &HealthArgs) -> std::process::ExitCode {
    let answer = health(&args.url, &args.tls).await;
    println!("{} {answer}", args.url);
    if answer == "SERVING" { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}

/// How long one health check may take.
const CHECK: Duration = Duration::from_secs(3);

async fn health(url: &str, args: &ServiceTls) -> String {
    let check = async {
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?.connect_timeout(CHECK);
        if url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &args.ca_cert {
                let pem = std::fs::read(ca).with_context(|| format!("reading --ca-cert {}", ca.display()))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
                let cert = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
                let key = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            if let Some(name) = &args.tls_name {
                tls = tls.domain_name(name);
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint.connect().await?;
        let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
        let status =
            tonic_health::pb::health_check_response::ServingStatus::try_from(answer.into_inner().status)
                .map(|status| status.as_str_name().to_owned())
                .unwrap_or_else(|_| "UNKNOWN".to_owned());
        anyhow::Ok(status)
    };
    match tokio::time::timeout(CHECK, check).await {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => format!("DOWN ({error:#})"),
        Err(_) => "DOWN (no answer in 3 s)".to_owned(),
    }
}

/// Milliseconds since the epoch as a UTC time.
fn time(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms).map(|at| at.to_string()).unwrap_or_else(|_| at_ms.to_string())
}

/// The quarantined messages not skipped.
async fn quarantined(store: &EventStore) -> anyhow::Result<Vec<luukku_eventstore::quarantine::Quarantined>> {
    let all = Quarantine::open(store).await?.list().await?;
    Ok(all.into_iter().filter(|quarantined| quarantined.skip.is_none()).collect())
}

/// Every process's reported failures, newest first.
async fn failures(
    store: &EventStore,
) -> anyhow::Result<Vec<(String, luukku_eventstore::quarantine::Failure)>> {
    let reports = Readers::open(store).await?.failures().await?;
    let mut failures: Vec<_> = reports
        .into_iter()
        .flat_map(|report| report.failures.into_iter().map(move |failure| (report.process.clone(), failure)))
        .collect();
    failures.sort_by_key(|(_, failure)| std::cmp::Reverse(failure.at_ms));
    Ok(failures)
}

/// Prints the status; exits 1 when a service is not serving, a read model is stopped, a
/// message waits in the quarantine, or a stream is 80 % full.
pub async fn status(store: &EventStore, args: &StatusArgs) -> anyhow::Result<std::process::ExitCode> {
    let mut healthy = true;
    println!("services");
    let services = [
        ("families", &args.families_url),
        ("contacts", &args.contacts_url),
        ("referrals", &args.referrals_url),
        ("meetings", &args.meetings_url),
        ("coordination", &args.coordination_url),
    ];
    for (name, url) in services {
        let status = health(url, &args.tls).await;
        healthy &= status == "SERVING";
        println!("  {name:<13} {url:<28} {status}");
    }
    println!();
    // Each part stands alone: one that cannot be read says why, and the rest still show.
    match super::streams(store).await {
        Ok(full) => {
            for stream in &full {
                healthy = false;
                println!(
                    "{stream} is 80 % full or more: raise its limit (`luukku ops provision --max-stream-bytes`)"
                );
            }
        }
        Err(error) => {
            healthy = false;
            println!("streams: not known ({error:#})");
        }
    }
    match super::any_stopped(store).await {
        Ok(stopped) => healthy &= !stopped,
        Err(error) => {
            healthy = false;
            println!("read models: not known ({error:#})");
        }
    }
    println!();
    match quarantined(store).await {
        Ok(waiting) => {
            println!(
                "quarantine: {}",
                if waiting.is_empty() { "empty" } else { "messages wait for a decision" }
            );
            for quarantined in &waiting {
                healthy = false;
                println!("  {}", super::quarantine::line(quarantined));
            }
        }
        Err(error) => {
            healthy = false;
            println!("quarantine: not known ({error:#})");
        }
    }
    println!();
    match failures(store).await {
        Ok(failures) => {
            println!(
                "last failures on the servers' side: {}",
                if failures.is_empty() { "none" } else { "newest first" }
            );
            for (process, failure) in failures.iter().take(10) {
                println!(
                    "  {} {process} {} {}: {}",
                    time(failure.at_ms),
                    failure.rpc,
                    failure.code,
                    failure.message
                );
            }
        }
        Err(error) => println!("last failures: not known ({error:#})"),
    }
    Ok(if healthy { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

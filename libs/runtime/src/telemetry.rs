//! Telemetry for binaries: logs on stderr (lines for people, or JSON with each call's request id
//! and trace id), spans joined to W3C trace contexts and exported over OTLP when an endpoint is
//! configured, and Prometheus metrics on a listener.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the call it belongs to (its request id
    /// and trace id).
    Json,
}

/// What telemetry a binary sets up.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `RUST_LOG` style, unless `RUST_LOG` is set.
    pub default_filter: String,
    pub format: LogFormat,
    /// The OTLP (gRPC) endpoint spans are exported to; none exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` spans are exported under.
    pub service_name: String,
}

/// Keeps the span exporter running; dropping it sends what is left.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry: spans not all exported: {error}");
        }
    }
}

/// Installs the global subscriber (once; a later call keeps the first). Spans get trace ids
/// whether or not they are exported, so each call's trace id is in its log lines and in the
/// `traceparent` of what it appends. Needs a Tokio runtime when exporting.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.default_filter));
    let exporting = settings.otlp_endpoint.is_some();
    let mut provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder_empty().with_service_name(settings.service_name.clone()).build());
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|error| anyhow::anyhow!("the OTLP exporter for {endpoint}: {error}"))?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    luukku_eventstore::trace_context::set_exporting(exporting);
    // Spans go to the exporter only when there is one: otherwise each call makes a trace
    // context of its own, without a tracer, for its log lines and messages. Only spans: a log
    // event inside one (which may name a person or a family) is not exported. Spans are made
    // whatever the log filter says.
    let spans = exporting.then(|| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("luukku"))
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_threads(false)
            .with_filter(filter_fn(|metadata| metadata.is_span() && *metadata.level() <= Level::INFO))
    });
    let registry = tracing_subscriber::registry().with(spans);
    let installed = match settings.format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
    };
    // Already installed (a second call in one process): the first stays.
    drop(installed);
    Ok(Telemetry { provider })
}

/// Histogram buckets of durations in seconds: 0.5 ms to 30 s.
const SECONDS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];

/// Serves the process's metrics for Prometheus at `http://<listen>/metrics` (any path
/// answers). Needs a Tokio runtime; fails when the address cannot be bound or a recorder is
/// installed already.
pub fn serve_metrics(listen: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS)
        .map_err(|error| anyhow::anyhow!("metric buckets: {error}"))?
        .install()
        .map_err(|error| anyhow::anyhow!("serving metrics on {listen}: {error}"))
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the moment this is made. A process that
/// starts child processes makes it before it starts anything: a signal that comes while it is
/// still starting is then its to handle (`luukku dev` ends its start and kills the nats-servers
/// it started), instead of ending it at once and leaving its children behind.
pub struct ShutdownSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Listens from now on. Needs a Tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: None,
        })
    }

    /// [`listen`](Self::listen), and a hang-up (SIGHUP) too: what a process run in a terminal
    /// gets when the terminal closes, which would otherwise end it at once. A process started
    /// to outlive its terminal (`nohup`, which ignores SIGHUP) keeps ignoring it.
    pub fn listen_in_terminal() -> std::io::Result<Self> {
        let mut listening = Self::listen()?;
        if !hangup_ignored() {
            listening.hangup = Some(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?);
        }
        Ok(listening)
    }

    /// Waits for a signal listened for, or returns at once if one came already.
    pub async fn received(&mut self) {
        let hangup = async {
            match &mut self.hangup {
                Some(hangup) => hangup.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = hangup => {}
        }
    }
}

/// Whether this process ignores SIGHUP, as `nohup` leaves it: bit 0 (signal 1) of the
/// ignored signals' mask in `/proc/self/status`. Elsewhere than Linux, taken as not ignored.
fn hangup_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|line| line.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & 1 != 0)
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, whichever comes first, listening from this call on.
pub async fn shutdown_signal() -> std::io::Result<()> {
    ShutdownSignal::listen()?.received().await;
    Ok(())
}

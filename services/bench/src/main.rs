//! Benchmarks of luukku, each measured against the raw nats-server ceiling in the same run, on a
//! nats-server of its own (pinned binary, temporary folder).

mod append;
mod chaos;
mod commands;
mod data;
mod echo;
mod engines;
mod families;
mod processes;
mod replay;
mod scale;
mod stats;
mod view;

use clap::{Parser, Subcommand};

/// The allocator the `luukku` binary uses, so that the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "luukku-bench")]
struct Cli {
    /// Runs with the telemetry a served process has: spans with trace contexts (not exported),
    /// per-call log lines (filtered out at `warn`), and metrics recorded for Prometheus, to
    /// measure what observing costs.
    #[arg(long, global = true)]
    telemetry: bool,
    /// Writes the benchmark's figures into the table of this Markdown file (between its
    /// `<!-- figures:start -->` and `<!-- figures:end -->` markers), e.g. docs/performance.md.
    #[arg(long, global = true)]
    record: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Event store append rate against raw pipelined JetStream publishes with expected
    /// subject sequences, and single-append latency.
    Append(append::AppendArgs),
    /// Commands through the families gRPC service against the raw publish ceiling, and
    /// single-command latency.
    Families(families::FamiliesArgs),
    /// A contact person's mix of commands across the four write services, against raw
    /// publishes and a tonic echo at the same concurrency.
    Commands(commands::CommandsArgs),
    /// Rebuilding the coordination projection against the raw ordered-consumer read rate.
    Replay(replay::ReplayArgs),
    /// GetFamilyView latency at 64 concurrent callers, and write-to-visible latency.
    View(view::ViewArgs),
    /// The coordination service as the families grow to 1,000,000: views, searches, size,
    /// memory, a rebuild and a restart.
    Scale(scale::ScaleArgs),
    /// A steady mixed load on a 3-node cluster with every service as a process, while a random
    /// NATS node or service is killed and restarted every 20 s: acknowledged commands against
    /// the streams (0 lost, 0 duplicated), the projection against a clean rebuild, errors by code.
    Chaos(chaos::ChaosArgs),
    /// The read models' storage engine, sled against redb, on records shaped like the
    /// projection's at 1,000,000 families: writing, opening, views and memory.
    Engines(engines::EnginesArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // As `luukku` runs its services, since this process runs them too.
    if let Err(error) = luukku_runtime::memory::without_huge_pages() {
        eprintln!("warning: transparent huge pages could not be turned off for this process: {error}");
    }
    let _telemetry = if cli.telemetry {
        let settings = luukku_runtime::telemetry::Settings {
            default_filter: "warn".to_owned(),
            service_name: "luukku-bench".to_owned(),
            ..Default::default()
        };
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        luukku_runtime::telemetry::serve_metrics(metrics)?;
        println!("telemetry on: spans with trace contexts, metrics at http://{metrics}/metrics");
        Some(luukku_runtime::telemetry::init(&settings)?)
    } else {
        None
    };
    let row = match cli.command {
        Command::Append(args) => append::run(args).await?,
        Command::Commands(args) => commands::run(args).await?,
        Command::Families(args) => families::run(args).await?,
        Command::Replay(args) => replay::run(args).await?,
        Command::View(args) => view::run(args).await?,
        Command::Scale(args) => scale::run(args).await?,
        Command::Chaos(args) => chaos::run(args).await?,
        Command::Engines(args) => {
            anyhow::ensure!(
                cli.record.is_none(),
                "engines compares two storage engines, not luukku with a ceiling: it has no row in the table"
            );
            return engines::run(args);
        }
    };
    if let Some(path) = &cli.record {
        let mut words = vec!["luukku-bench".to_owned()];
        let mut arguments = std::env::args().skip(1);
        while let Some(word) = arguments.next() {
            if word == "--record" {
                arguments.next();
            } else if !word.starts_with("--record=") {
                words.push(word);
            }
        }
        stats::record_row(path, &row, &words.join(" "))?;
        println!("recorded in {}", path.display());
    }
    Ok(())
}

//! Benchmarks of luukku, each measured against the raw nats-server ceiling in the same run, on a
//! nats-server of its own (pinned binary, temporary folder).

mod append;
mod families;
mod replay;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "luukku-bench")]
struct Cli {
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
    /// Rebuilding the coordination projection against the raw ordered-consumer read rate.
    Replay(replay::ReplayArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Append(args) => append::run(args).await,
        Command::Families(args) => families::run(args).await,
        Command::Replay(args) => replay::run(args).await,
    }
}

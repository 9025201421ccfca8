//! The `luukku` command.

mod cli;
mod client;
mod dev;
mod ops;
mod serve;
mod work;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    luukku_runtime::telemetry::init("info,async_nats=warn");
    match cli::Cli::parse().run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

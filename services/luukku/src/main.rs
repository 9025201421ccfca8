//! The `luukku` command.

mod cli;
mod client;
mod dev;
mod ops;
mod serve;

use clap::Parser;

/// A command line tool prints what went wrong, never a backtrace; output cut short by a
/// closed pipe (`luukku ops tail | head`) ends the command quietly, as for any Unix tool.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!("error: {message}\nthis is a bug in luukku; please report it with the command you ran");
    }));
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_panics();
    luukku_runtime::telemetry::init("info,async_nats=warn");
    match cli::Cli::parse().run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

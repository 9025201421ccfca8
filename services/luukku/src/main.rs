//! The `luukku` command.

mod cli;
mod client;
mod dev;
mod keys;
mod nats;
mod ops;
mod serve;
mod serve_web;

use clap::Parser;

/// The projection and the services allocate many small, short-lived values; mimalloc serves
/// them with far less contention than the system allocator (the rebuild: about 1.5 times as
/// fast, see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code of a server that panicked (EX_SOFTWARE).
const SERVER_PANICKED: i32 = 70;

/// A command line tool prints what went wrong, never a backtrace; output cut short by a
/// closed pipe (`luukku ops tail | head`) ends the command quietly, as for any Unix tool. A
/// server (`dev`, `serve`) that panics anywhere, a closed pipe included, exits non-zero at
/// once, for its supervisor to restart it in a known state.
fn quiet_panics(server: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        if server {
            let location = info.location().map(|at| format!(" at {at}")).unwrap_or_default();
            tracing::error!(%message, "the server panicked{location}; exiting");
            eprintln!("error: the server panicked{location}: {message}");
            std::process::exit(SERVER_PANICKED);
        }
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!("error: {message}\nthis is a bug in luukku; please report it with the command you ran");
    }));
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    quiet_panics(cli.is_server());
    let settings = luukku_runtime::telemetry::Settings {
        default_filter: "info,async_nats=warn".to_owned(),
        format: cli.log_format,
        otlp_endpoint: cli.otlp_endpoint.clone(),
        service_name: cli.service_name(),
    };
    // Spans still to be exported are sent when this is dropped, at the end of main.
    let _telemetry = match luukku_runtime::telemetry::init(&settings) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if cli.is_server()
        && let Err(error) = luukku_runtime::memory::without_huge_pages()
    {
        tracing::warn!(%error, "transparent huge pages could not be turned off for this process");
    }
    match cli.run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

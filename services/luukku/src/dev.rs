//! `luukku dev`: the embedded default.

use anyhow::Context as _;
use luukku_eventstore::{EventStore, StoreSettings, streams};
use luukku_runtime::{NatsServer, NatsServerOptions};

use crate::cli::DevArgs;

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let nats_dir = args.data_dir.join("nats");
    let mut options = NatsServerOptions::new(&nats_dir);
    options.port = Some(args.nats_port);
    options.binary = args.nats_server;
    let mut server = NatsServer::start(options).await.with_context(|| {
        format!("starting nats-server on port {} with data in {}", args.nats_port, nats_dir.display())
    })?;
    let store = EventStore::connect(&server.client_url(), StoreSettings::default()).await?;
    store.provision(&streams::ALL).await.context("provisioning the streams")?;

    println!("luukku dev is running; Ctrl-C stops it");
    println!("  nats-server  {}  (data in {})", server.client_url(), nats_dir.display());
    for spec in streams::ALL {
        let last = store.last_sequence(spec.name).await?;
        println!("  stream {:<10} subjects {}.>  last sequence {last}", spec.name, spec.subject_root);
    }

    luukku_runtime::telemetry::shutdown_signal().await.context("waiting for Ctrl-C")?;
    println!("stopping");
    drop(store);
    server.stop().await?;
    Ok(())
}

//! `luukku dev`: the embedded default.

use std::net::SocketAddr;

use anyhow::Context as _;
use luukku_eventstore::{EventStore, NatsKeyStore, StoreSettings, streams};
use luukku_runtime::{NatsServer, NatsServerOptions};
use luukku_service::serve::{bind, serve};
use tokio::sync::watch;

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
    let keys = NatsKeyStore::open(&store).await.context("opening the family key bucket")?;

    let (stop, stopped) = watch::channel(false);
    let shutdown = |mut stopped: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // The referral process (deadlines, consent lapses) runs until `_process` is dropped.
    let (referrals, _process) =
        luukku_referrals::start(store.clone(), keys.clone(), luukku_referrals::Config::default()).await?;
    let projection_dir = args.data_dir.join("coordination");
    let (coordination_routes, coordination) =
        luukku_coordination::start(&projection_dir, store.clone(), keys.clone()).await?;
    let mut services = Vec::new();
    for (name, port, routes) in [
        ("families", args.families_port, luukku_families::routes(store.clone(), keys.clone()).await?),
        ("contacts", args.contacts_port, luukku_contacts::routes(store.clone(), keys.clone()).await?),
        ("referrals", args.referrals_port, referrals),
        ("coordination", args.coordination_port, coordination_routes),
        ("meetings", args.meetings_port, luukku_meetings::routes(store.clone(), keys.clone()).await?),
    ] {
        let address = SocketAddr::new(args.grpc_host, port);
        let (listener, bound) =
            bind(address).await.with_context(|| format!("binding the {name} service to {address}"))?;
        services.push((name, bound, tokio::spawn(serve(routes, listener, shutdown(stopped.clone())))));
    }

    println!("luukku dev is running; Ctrl-C stops it");
    println!("  nats-server  {}  (data in {})", server.client_url(), nats_dir.display());
    for (name, address, _) in &services {
        println!("  {name:<12} {address}  luukku.{name}.v1");
    }
    for spec in streams::ALL {
        let last = store.last_sequence(spec.name).await?;
        println!("  stream {:<10} subjects {}.>  last sequence {last}", spec.name, spec.subject_root);
    }

    luukku_runtime::telemetry::shutdown_signal().await.context("waiting for Ctrl-C")?;
    println!("stopping");
    stop.send_replace(true);
    for (name, _, task) in services {
        task.await
            .with_context(|| format!("the {name} service panicked"))?
            .with_context(|| format!("serving {name}"))?;
    }
    coordination.flush().await.context("writing the projection to disk")?;
    drop(store);
    server.stop().await?;
    Ok(())
}

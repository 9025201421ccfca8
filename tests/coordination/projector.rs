//! A projection process for the crash and restart tests: follows the streams into sled under a
//! folder and prints its positions, and on a line of its own how far its copy of the access log
//! reaches, every 20 ms until killed (or, on SIGTERM, flushes and exits). The
//! key-encryption key of the family keys comes in `LUUKKU_KEK`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: projector <nats url> <folder>"))?;
    let folder =
        PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: projector <nats url> <folder>"))?);
    let store =
        luukku_eventstore::EventStore::connect(&url, luukku_eventstore::StoreSettings::default()).await?;
    let kek = luukku_eventstore::Kek::from_base64(&std::env::var("LUUKKU_KEK")?)?;
    let ring = std::sync::Arc::new(luukku_eventstore::KeyRing::new(kek, vec![]));
    let keys = luukku_eventstore::NatsKeyStore::open(&store, ring).await?;
    let indexing = luukku_coordination::Indexing::from_keys(keys);
    let coordination = luukku_coordination::Projection::open(&folder, store, indexing)?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                let positions: Vec<String> =
                    coordination.positions().iter().map(|(_, sequence)| sequence.to_string()).collect();
                println!("positions {}", positions.join(" "));
                println!("access-log {}", coordination.access_log().reached());
            }
            _ = terminate.recv() => {
                coordination.flush().await?;
                return Ok(());
            }
        }
    }
}

//! The families service: owns the family aggregate (stream `FAMILIES`) and serves
//! `luukku.families.v1.FamilyService`.

pub mod app;
pub mod erasure;
mod grpc;
pub mod journal;

use std::sync::Arc;

use luukku_app::Guard;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_grpc::health::{follow_read_models, upgraded};
use luukku_proto::families::v1::family_service_server::FamilyServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::Families;
pub use grpc::FamilyGrpc;

/// Makes the deployment's search index key if there is none, which coordination services wait
/// for (they may not write the key bucket); tried again until it is made.
fn spawn_search_key<K: KeyStore>(keys: K) {
    tokio::spawn(async move {
        let mut backoff = std::time::Duration::from_millis(100);
        while let Err(error) = keys.get_or_create(luukku_eventstore::SEARCH_INDEX_KEY).await {
            tracing::warn!(%error, "the search index key is not made yet; trying again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
        }
    });
}

/// The families service with gRPC health (reporting it serving), every call decided by
/// `guard`; and the process that completes erasures, checkpointed in `guard`'s folder.
pub async fn routes<K: KeyStore + Clone>(store: EventStore, keys: K, guard: Guard) -> Routes {
    let erasures = erasure::spawn(guard.folder(), store.clone(), keys.clone());
    spawn_search_key(keys.clone());
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<FamilyServiceServer<FamilyGrpc<K>>>().await;
    let relations = [Arc::downgrade(guard.relations().standing())];
    // No call reads the erasures to complete, so the service's health does not wait for them
    // (their stop is reported and alerted on like any model's).
    follow_read_models(reporter, vec![FamilyServiceServer::<FamilyGrpc<K>>::NAME], move || {
        upgraded(&relations)
    })
    .await;
    let service = FamilyServiceServer::new(FamilyGrpc::new(
        Families::new(store, keys).with_relations(guard.relations().clone()).with_erasures(erasures),
        guard,
    ));
    Routes::new(health).add_service(service)
}

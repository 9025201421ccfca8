//! The families service: owns the family aggregate (stream `FAMILIES`) and serves
//! `luukku.families.v1.FamilyService`.

mod convert;
mod errors;
mod service;

use luukku_eventstore::{EventStore, KeyStore};
use luukku_proto::families::v1::family_service_server::FamilyServiceServer;
use luukku_service::serve::ReflectionError;
use tonic::service::Routes;

pub use service::FamiliesService;

/// The families service with gRPC health (reporting it serving) and reflection.
pub async fn routes<K: KeyStore>(store: EventStore, keys: K) -> Result<Routes, ReflectionError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<FamilyServiceServer<FamiliesService<K>>>().await;
    let service = FamilyServiceServer::new(FamiliesService::new(store, keys));
    luukku_service::serve::with_reflection(Routes::new(health).add_service(service))
}

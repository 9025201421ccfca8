//! The meetings service: owns each family's network meetings and agreed actions (stream
//! `MEETINGS`, one aggregate per family) and serves `luukku.meetings.v1.MeetingService`.

mod convert;
mod errors;
mod index;
mod service;

use luukku_eventstore::{EventStore, KeyStore};
use luukku_proto::meetings::v1::meeting_service_server::MeetingServiceServer;
use luukku_service::serve::ReflectionError;
use tonic::service::Routes;

pub use index::MeetingIndex;
pub use service::MeetingsService;

/// The meetings service with gRPC health (reporting it serving) and reflection. Starts the
/// meeting index, which follows the `MEETINGS` stream in the background.
pub async fn routes<K: KeyStore + Clone>(store: EventStore, keys: K) -> Result<Routes, ReflectionError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<MeetingServiceServer<MeetingsService<K>>>().await;
    let index = MeetingIndex::spawn(store.clone());
    let service = MeetingServiceServer::new(MeetingsService::new(store, keys, index));
    luukku_service::serve::with_reflection(Routes::new(health).add_service(service))
}

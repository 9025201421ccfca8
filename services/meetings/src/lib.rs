//! The meetings service: owns each family's network meetings and agreed actions (stream
//! `MEETINGS`, one aggregate per family) and serves `luukku.meetings.v1.MeetingService`.

pub mod app;
mod grpc;

use std::sync::Arc;

use luukku_app::Guard;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_grpc::health::{follow_read_models, upgraded};
use luukku_proto::meetings::v1::meeting_service_server::MeetingServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::Meetings;
pub use grpc::MeetingGrpc;

/// The meetings service with gRPC health (reporting it serving) and reflection. Starts the
/// meeting index, which follows the `MEETINGS` stream in the background.
pub async fn routes<K: KeyStore + Clone>(store: EventStore, keys: K, guard: Guard) -> Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<MeetingServiceServer<MeetingGrpc<K>>>().await;
    let meetings = Meetings::new(guard.folder(), store, keys);
    let standings = [Arc::downgrade(guard.relations().standing()), Arc::downgrade(meetings.index_standing())];
    follow_read_models(reporter, vec![MeetingServiceServer::<MeetingGrpc<K>>::NAME], move || {
        upgraded(&standings)
    })
    .await;
    let service = MeetingServiceServer::new(MeetingGrpc::new(meetings, guard));
    Routes::new(health).add_service(service)
}

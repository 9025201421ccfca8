//! The contacts service: owns contact persons, each family's contact person assignment and
//! contact log, and consultations (stream `CONTACTS`); serves `luukku.contacts.v1.ContactService`.

pub mod app;
mod grpc;

use luukku_app::Guard;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_grpc::health::follow_read_models;
use luukku_proto::contacts::v1::contact_service_server::ContactServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::Contacts;
pub use grpc::ContactGrpc;

/// The contacts service with gRPC health (reporting it serving), every call decided by `guard`.
pub async fn routes<K: KeyStore + Clone>(store: EventStore, keys: K, guard: Guard) -> Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ContactServiceServer<ContactGrpc<K>>>().await;
    let relations = guard.relations().standing().clone();
    follow_read_models(reporter, vec![ContactServiceServer::<ContactGrpc<K>>::NAME], move || {
        vec![relations.clone()]
    });
    let service = ContactServiceServer::new(ContactGrpc::new(Contacts::new(store, keys), guard));
    Routes::new(health).add_service(service)
}

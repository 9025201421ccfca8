//! The contacts service: owns contact persons, each family's contact person assignment and
//! contact log, and consultations (stream `CONTACTS`); serves `luukku.contacts.v1.ContactService`.

mod convert;
mod errors;
mod service;

use luukku_eventstore::{EventStore, KeyStore};
use luukku_proto::contacts::v1::contact_service_server::ContactServiceServer;
use luukku_service::serve::ReflectionError;
use tonic::service::Routes;

pub use service::ContactsService;

/// The contacts service with gRPC health (reporting it serving) and reflection.
pub async fn routes<K: KeyStore + Clone>(store: EventStore, keys: K) -> Result<Routes, ReflectionError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ContactServiceServer<ContactsService<K>>>().await;
    let service = ContactServiceServer::new(ContactsService::new(store, keys));
    luukku_service::serve::with_reflection(Routes::new(health).add_service(service))
}

//! The contacts service: owns contact persons, each family's contact person assignment and
//! contact log, and consultations (stream `CONTACTS`); serves `luukku.contacts.v1.ContactService`,
//! and runs the caseload process.

pub mod app;
mod grpc;
mod process;

use std::sync::Arc;
use std::time::Duration;

use luukku_app::Guard;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_grpc::health::{follow_read_models, upgraded};
use luukku_proto::contacts::v1::contact_service_server::ContactServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::Contacts;
pub use grpc::ContactGrpc;
pub use process::Process;

/// How the service runs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How long a place in a caseload stays held for an assignment being recorded.
    pub reservation_time: Duration,
    /// How often the caseload process looks for differences between caseloads and
    /// assignments.
    pub tick: Duration,
    /// How long a difference must stand before the process repairs it (a request in flight
    /// finishes its own).
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reservation_time: app::RESERVATION_TIME,
            tick: Duration::from_secs(30),
            grace: Duration::from_secs(120),
        }
    }
}

/// The contacts service with gRPC health, every call decided by `guard`, and its caseload
/// process, which runs until the returned [`Process`] is dropped.
pub async fn start<K: KeyStore + Clone>(
    store: EventStore,
    keys: K,
    config: Config,
    guard: Guard,
) -> (Routes, Process) {
    let app = Arc::new(Contacts::with_reservation_time(guard.folder(), store, keys, config.reservation_time));
    let process = Process::spawn(Arc::clone(&app), config.tick, config.grace);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ContactServiceServer<ContactGrpc<K>>>().await;
    let mut standings = vec![Arc::downgrade(guard.relations().standing())];
    standings.extend(app.standings().iter().map(Arc::downgrade));
    follow_read_models(reporter, vec![ContactServiceServer::<ContactGrpc<K>>::NAME], move || {
        upgraded(&standings)
    })
    .await;
    let service = ContactServiceServer::new(ContactGrpc::new(app, guard));
    (Routes::new(health).add_service(service), process)
}

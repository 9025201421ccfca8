//! The referrals service: owns the service catalogue and referrals (stream `REFERRALS`), serves
//! `luukku.referrals.v1.ReferralService`, and runs the deadline and consent process.

pub mod app;
mod grpc;
mod process;

use luukku_app::Guard;
use std::sync::Arc;
use std::time::Duration;

use luukku_domain::referrals::DeadlinePolicy;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_grpc::health::{follow_read_models, upgraded};
use luukku_proto::referrals::v1::referral_service_server::ReferralServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::Referrals;
pub use grpc::ReferralGrpc;
pub use process::Process;

/// How the service runs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub policy: DeadlinePolicy,
    /// How often the process looks for due escalations.
    pub tick: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { policy: DeadlinePolicy::default(), tick: Duration::from_secs(5) }
    }
}

/// The referrals service with gRPC health, and its process, which runs until
/// the returned [`Process`] is dropped.
pub async fn start<K: KeyStore + Clone>(
    store: EventStore,
    keys: K,
    config: Config,
    guard: Guard,
) -> (Routes, Process) {
    let app = Arc::new(Referrals::new(guard.folder(), store, keys, config.policy));
    let process = Process::spawn(Arc::clone(&app), config.tick);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ReferralServiceServer<ReferralGrpc<K>>>().await;
    let mut standings = vec![Arc::downgrade(guard.relations().standing())];
    standings.extend(app.standings().iter().map(Arc::downgrade));
    follow_read_models(reporter, vec![ReferralServiceServer::<ReferralGrpc<K>>::NAME], move || {
        upgraded(&standings)
    })
    .await;
    let service = ReferralServiceServer::new(ReferralGrpc::new(app, guard));
    let routes = Routes::new(health).add_service(service);
    (routes, process)
}

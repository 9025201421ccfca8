//! The referrals service: owns the service catalogue and referrals (stream `REFERRALS`), serves
//! `luukku.referrals.v1.ReferralService`, and runs the deadline and consent process.

mod convert;
mod errors;
mod model;
mod process;
mod service;

use std::time::Duration;

use luukku_domain::referrals::DeadlinePolicy;
use luukku_eventstore::{EventStore, KeyStore};
use luukku_proto::referrals::v1::referral_service_server::ReferralServiceServer;
use luukku_service::serve::ReflectionError;
use tonic::service::Routes;

pub use process::Process;
pub use service::{Parts, ReferralsService};

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

/// The referrals service with gRPC health and reflection, and its process, which runs until
/// the returned [`Process`] is dropped.
pub async fn start<K: KeyStore + Clone>(
    store: EventStore,
    keys: K,
    config: Config,
) -> Result<(Routes, Process), ReflectionError> {
    let parts = Parts::new(store, keys, config.policy);
    let process = Process::spawn(parts.clone(), config.tick);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<ReferralServiceServer<ReferralsService<K>>>().await;
    let service = ReferralServiceServer::new(ReferralsService::new(parts));
    let routes = luukku_service::serve::with_reflection(Routes::new(health).add_service(service))?;
    Ok((routes, process))
}

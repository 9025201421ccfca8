//! The coordination service: projects `FAMILIES`, `CONTACTS`, `REFERRALS` and `MEETINGS` into
//! sled and serves `luukku.coordination.v1.CoordinationService`, the contact person's one view of
//! each family, and `CoordinationAdmin` for operators.

pub mod app;
mod grpc;
pub mod projection;

use luukku_app::Guard;
use std::path::Path;
use std::sync::Arc;

use luukku_eventstore::{CachedKeys, EventStore, KeyStore, NatsKeyStore};
use luukku_grpc::health::follow_read_models;
use luukku_proto::coordination::v1::coordination_admin_server::CoordinationAdminServer;
use luukku_proto::coordination::v1::coordination_service_server::CoordinationServiceServer;
use tonic::server::NamedService as _;
use tonic::service::Routes;

pub use app::{Coordination, WatchLimits};
pub use grpc::CoordinationGrpc;
pub use grpc::admin::AdminGrpc;
pub use projection::{Applied, Indexing, Projection};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Projection(#[from] projection::ProjectionError),
}

/// The coordination service, started.
pub struct Started {
    /// `CoordinationService` with health, for every caller.
    pub routes: Routes,
    /// `CoordinationAdmin` with health, for operators: served on a listener of its own.
    pub admin: Routes,
    /// The projection (for operators: rebuild, flush).
    pub projection: Arc<Projection>,
    /// How many watches are open now, for every caller together.
    pub open_watches: Arc<dyn Fn() -> usize + Send + Sync>,
}

/// How many families' keys the service keeps in memory by default, each until its erasure:
/// every family of a deployment up to this size, so that a view never waits for its key. A
/// key held costs about 180 bytes.
pub const CACHED_KEYS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(1_000_000).unwrap();

/// The key store the service opens personal data with: `keys`, up to [`CACHED_KEYS`] of them
/// kept in memory, each until its family is erased anywhere (see [`CachedKeys`]).
pub fn cached_keys(keys: NatsKeyStore) -> CachedKeys {
    CachedKeys::new(keys, CACHED_KEYS)
}

/// Opens the projection under `folder`, starts following the streams, and gives the routes of
/// the service and of its admin service, and the projection.
pub async fn start<K: KeyStore + Clone>(
    folder: &Path,
    store: EventStore,
    keys: K,
    guard: Guard,
) -> Result<Started, StartError> {
    start_with(folder, store, keys, guard, WatchLimits::default()).await
}

/// [`start`], with the watches each caller may hold and how long each lasts.
pub async fn start_with<K: KeyStore + Clone>(
    folder: &Path,
    store: EventStore,
    keys: K,
    guard: Guard,
    watches: WatchLimits,
) -> Result<Started, StartError> {
    let indexing = projection::Indexing::from_keys(keys.clone());
    let projection = Projection::open(folder, store, indexing)?;
    app::statistics::spawn_daily(&projection);
    let app = Arc::new(Coordination::with_watch_limits(Arc::clone(&projection), keys, watches));
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<CoordinationServiceServer<CoordinationGrpc<K>>>().await;
    reporter.set_serving::<CoordinationAdminServer<AdminGrpc<K>>>().await;
    // Weak: a service dropped in a process that goes on (tests, benchmarks) stops following.
    let relations = Arc::downgrade(guard.relations().standing());
    let followed = Arc::downgrade(&projection);
    follow_read_models(reporter, vec![CoordinationServiceServer::<CoordinationGrpc<K>>::NAME], move || {
        Some(vec![relations.upgrade()?, followed.upgrade()?.standing()])
    })
    .await;
    let watched = Arc::clone(&app);
    let open_watches: Arc<dyn Fn() -> usize + Send + Sync> = Arc::new(move || watched.watches_open());
    let service = CoordinationServiceServer::new(CoordinationGrpc::new(Arc::clone(&app), guard.clone()));
    let admin = CoordinationAdminServer::new(AdminGrpc { app, guard });
    Ok(Started {
        routes: Routes::new(health.clone()).add_service(service),
        admin: Routes::new(health).add_service(admin),
        projection,
        open_watches,
    })
}

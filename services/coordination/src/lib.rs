//! The coordination service: projects `FAMILIES`, `CONTACTS`, `REFERRALS` and `MEETINGS` into
//! sled and serves `luukku.coordination.v1.CoordinationService`, the contact person's one view of
//! each family.

mod admin;
mod coordination;
mod doc;
mod history;
mod project;
mod projector;
mod service;
mod statistics;
pub mod store;
mod view;

use std::path::Path;
use std::sync::Arc;

use luukku_eventstore::{EventStore, KeyStore};
use luukku_proto::coordination::v1::coordination_admin_server::CoordinationAdminServer;
use luukku_proto::coordination::v1::coordination_service_server::CoordinationServiceServer;
use tonic::service::Routes;

pub use coordination::Coordination;
pub use service::CoordinationServiceImpl;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Projection(#[from] store::ProjectionError),
    #[error(transparent)]
    Reflection(#[from] luukku_service::serve::ReflectionError),
}

/// Opens the projection under `folder`, starts following the streams, and gives the service's
/// routes (with health and reflection) and the projection (for operators: rebuild, flush).
pub async fn start<K: KeyStore + Clone>(
    folder: &Path,
    store: EventStore,
    keys: K,
) -> Result<(Routes, Arc<Coordination>), StartError> {
    let coordination = Coordination::open(folder, store)?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<CoordinationServiceServer<CoordinationServiceImpl<K>>>().await;
    let service =
        CoordinationServiceServer::new(CoordinationServiceImpl::new(Arc::clone(&coordination), keys));
    reporter.set_serving::<CoordinationAdminServer<admin::Admin>>().await;
    let admin = CoordinationAdminServer::new(admin::Admin { coordination: Arc::clone(&coordination) });
    let routes =
        luukku_service::serve::with_reflection(Routes::new(health).add_service(service).add_service(admin))?;
    Ok((routes, coordination))
}

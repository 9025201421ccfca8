//! A gRPC server on a free port for the duration of a test.

use std::net::SocketAddr;

use luukku_grpc::serve::{ServeOptions, bind, serve};
use tokio::sync::oneshot;
use tonic::service::Routes;

/// Serving until dropped.
pub struct Served {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Served {
    /// The URL a tonic client connects to.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `routes` on 127.0.0.1 on a port the system picks, in plaintext, verifying callers'
/// tokens against the test issuer ([`crate::auth`]).
pub async fn serve_routes(routes: Routes) -> anyhow::Result<Served> {
    serve_with(routes, ServeOptions { authenticator: crate::auth::authenticator(), tls: None }).await
}

/// Serves `routes` as `options` say, on 127.0.0.1 on a port the system picks.
pub async fn serve_with(routes: Routes, options: ServeOptions) -> anyhow::Result<Served> {
    let (listener, address) = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        if let Err(error) = serve(routes, listener, options, async {
            let _ = stopped.await;
        })
        .await
        {
            eprintln!("test gRPC server failed: {error}");
        }
    });
    Ok(Served { address, stop: Some(stop) })
}

/// The data-protection officer of the tests, who approves erasures.
pub fn data_protection_officer() -> luukku_domain::Actor {
    crate::actor_as("test.tietosuoja", luukku_domain::Role::DataProtection, None)
}

/// Erases a family registered in error, as the workflow asks: `requester` asks on the ground
/// `unlawful`, the data-protection officer approves, `requester` carries it out with
/// `erase` (whose request id a retry repeats).
pub async fn erase_family(
    client: &mut luukku_proto::families::v1::family_service_client::FamilyServiceClient<
        tonic::transport::Channel,
    >,
    requester: &luukku_domain::Actor,
    erase: luukku_proto::families::v1::EraseFamilyRequest,
) -> Result<tonic::Response<luukku_proto::families::v1::EraseFamilyResponse>, tonic::Status> {
    use luukku_proto::families::v1 as pb;
    let request = pb::RequestErasureRequest {
        request_id: luukku_domain::RequestId::generate().to_string(),
        family_id: erase.family_id.clone(),
        ground: "unlawful".to_owned(),
        ..Default::default()
    };
    let requested =
        client.request_erasure(crate::auth::with_identity(request, requester)).await?.into_inner();
    let approve = pb::ApproveErasureRequest {
        request_id: luukku_domain::RequestId::generate().to_string(),
        family_id: erase.family_id.clone(),
        expected_version: None,
        erasure_id: requested.erasure_id,
    };
    client.approve_erasure(crate::auth::with_identity(approve, &data_protection_officer())).await?;
    client.erase_family(crate::auth::with_identity(erase, requester)).await
}

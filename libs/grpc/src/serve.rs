//! Serving gRPC services with health and reflection, over TLS (optionally requiring client
//! certificates) or plaintext, with every call's caller verified by one [`Authenticator`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::identity::Authenticator;

/// The most header bytes a call may carry.
const MAX_HEADER_LIST_BYTES: u32 = 256 * 1024;

/// Adds gRPC reflection (luukku's protos and health's) to `routes`.
pub type ReflectionError = tonic_reflection::server::Error;

pub fn with_reflection(routes: Routes) -> Result<Routes, ReflectionError> {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(luukku_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    Ok(routes.add_service(reflection))
}

/// The server's TLS: its certificate and key, and the CA client certificates must come from
/// (mutual TLS), all PEM.
#[derive(Clone)]
pub struct Tls {
    pub certificate: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("mutual", &self.client_ca.is_some()).finish_non_exhaustive()
    }
}

/// The longest any call may take, whatever its `grpc-timeout` asks.
pub const MAX_CALL: std::time::Duration = std::time::Duration::from_secs(30);

/// How a server serves.
#[derive(Clone)]
pub struct ServeOptions {
    pub authenticator: Arc<Authenticator>,
    /// `None` serves plaintext.
    pub tls: Option<Tls>,
}

/// Serves `routes` on `listener` until `shutdown` completes, then drains calls in flight.
pub async fn serve(
    routes: Routes,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    // Answers go out at once instead of waiting (up to 40 ms) for the peer's delayed ACK.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    // Headers up to 256 KiB reach the authenticator, so that an oversized token is refused
    // with a reason (UNAUTHENTICATED, too large) rather than a protocol error.
    // A call's `grpc-timeout` is capped at MAX_CALL: no caller holds a handler longer (a watch's
    // stream is not a handler: it runs until the caller or the watch's lifetime ends it).
    let mut builder = tonic::transport::Server::builder()
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .timeout(MAX_CALL);
    if let Some(tls) = &options.tls {
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(&tls.certificate, &tls.key));
        if let Some(ca) = &tls.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(config)?;
    }
    let authenticator = options.authenticator;
    builder
        .layer(crate::observe::ObserveLayer)
        .layer(tonic::service::InterceptorLayer::new(move |mut request: tonic::Request<()>| {
            request.extensions_mut().insert(Arc::clone(&authenticator));
            Ok(request)
        }))
        .layer(crate::deadline::DeadlineLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Binds `address` (port 0 picks a free port) and says where it listens.
pub async fn bind(address: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

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

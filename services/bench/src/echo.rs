//! The ceiling of a gRPC call: a tonic unary echo on port 0, with no work behind it, answering
//! the same reply to every call: a message of the very type and size the measured call
//! answers, so that encoding and decoding cost the same. Measured in the same run as what it
//! is the ceiling of.
//!
//! Also a floor: the same echo storing messages in JetStream before it answers, one after
//! another, each waited for, as a call that must store its access record (and, for a
//! command, its event) before it answers stores them when it is alone: one message each, with
//! the headers luukku sends. Under load luukku stores the records of calls waiting together
//! in one message, so there the floor is a reference of one message per call, not a bound.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Mutex;
use tonic::codegen::{BoxFuture, http};
use tonic::server::NamedService;

use crate::stats::{latency_histogram, record};

const PATH: &str = "/luukku.bench.Echo/Echo";

/// A request or a reply: opaque bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(bytes = "bytes", tag = "1")]
    pub bytes: Bytes,
}

/// Answers every call with `reply`, once `stored` is stored.
#[derive(Clone)]
struct EchoServer<R> {
    reply: R,
    stored: Option<Arc<Stored>>,
}

/// What the floor stores before each answer: each message in turn, each on a subject of its
/// own in the raw stream ([`crate::append::provision_raw`]) with a message id of its own, as
/// luukku stores an access record or an event.
pub struct Stored {
    jetstream: async_nats::jetstream::Context,
    messages: Vec<Floored>,
}

/// One message the floor stores per call.
pub struct Floored {
    pub payload: Bytes,
    /// Sent with the message, besides its id.
    pub headers: async_nats::HeaderMap,
    /// Whether it is appended as a new aggregate's first event is: expecting no message on its
    /// subject yet.
    pub expect_new: bool,
}

impl Stored {
    pub fn new(jetstream: async_nats::jetstream::Context, messages: Vec<Floored>) -> Self {
        Self { jetstream, messages }
    }

    async fn store(&self) -> Result<(), tonic::Status> {
        let unavailable = |error: &dyn std::fmt::Display| tonic::Status::unavailable(error.to_string());
        for message in &self.messages {
            let mut headers = message.headers.clone();
            headers.insert("Nats-Msg-Id", luukku_domain::RequestId::generate().as_str());
            if message.expect_new {
                headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
            }
            let subject = format!("{}.floor.{}", crate::append::RAW, luukku_domain::AggregateId::generate());
            let ack = self
                .jetstream
                .publish_with_headers(subject, headers, message.payload.clone())
                .await
                .map_err(|error| unavailable(&error))?;
            ack.await.map_err(|error| unavailable(&error))?;
        }
        Ok(())
    }
}

impl<R> NamedService for EchoServer<R> {
    const NAME: &'static str = "luukku.bench.Echo";
}

struct Answer<R>(R, Option<Arc<Stored>>);

impl<R: prost::Message + Clone + Default + Send + 'static> tonic::server::UnaryService<Payload>
    for Answer<R>
{
    type Response = R;
    type Future = BoxFuture<tonic::Response<R>, tonic::Status>;

    fn call(&mut self, _request: tonic::Request<Payload>) -> Self::Future {
        let (reply, stored) = (self.0.clone(), self.1.clone());
        Box::pin(async move {
            if let Some(stored) = stored {
                stored.store().await?;
            }
            Ok(tonic::Response::new(reply))
        })
    }
}

impl<R: prost::Message + Clone + Default + Send + Sync + 'static>
    tower::Service<http::Request<tonic::body::Body>> for EchoServer<R>
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let (reply, stored) = (self.reply.clone(), self.stored.clone());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Answer(reply, stored), request).await)
        })
    }
}

/// A running echo server.
pub struct Echo {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves an echo answering `reply`, on 127.0.0.1 on a free port.
pub async fn serve<R: prost::Message + Clone + Default + Send + Sync + 'static>(
    reply: R,
) -> anyhow::Result<Echo> {
    serve_with(reply, None).await
}

/// Serves an echo answering `reply` once it has stored `stored` (the floor), on 127.0.0.1 on
/// a free port.
pub async fn serve_storing<R: prost::Message + Clone + Default + Send + Sync + 'static>(
    reply: R,
    stored: Stored,
) -> anyhow::Result<Echo> {
    serve_with(reply, Some(stored)).await
}

async fn serve_with<R: prost::Message + Clone + Default + Send + Sync + 'static>(
    reply: R,
    stored: Option<Stored>,
) -> anyhow::Result<Echo> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = EchoServer { reply, stored: stored.map(Arc::new) };
    tokio::spawn(async move {
        // As the services serve: with Nagle's algorithm a small write (an answer's trailers)
        // waits for the caller to acknowledge the data before it, which the caller may delay
        // by up to 40 ms; a view-sized answer one call at a time took about that long.
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let _ = tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Echo { url, stop: Some(stop) })
}

/// `callers` callers each making `calls` echo calls of `request_bytes` bytes over one channel,
/// decoding each reply as an `R`: calls per second, and the latencies.
pub async fn measure<R: prost::Message + Default + 'static>(
    echo: &Echo,
    callers: usize,
    calls: usize,
    request_bytes: usize,
) -> anyhow::Result<(f64, hdrhistogram::Histogram<u64>)> {
    let channel = tonic::transport::Endpoint::from_shared(echo.url.clone())?.connect().await?;
    let latencies = Arc::new(Mutex::new(latency_histogram()?));
    let request = Bytes::from(vec![b'x'; request_bytes]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let mut client = tonic::client::Grpc::new(channel.clone());
        let latencies = Arc::clone(&latencies);
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls {
                let began = Instant::now();
                call::<R>(&mut client, request.clone()).await?;
                record(&mut *latencies.lock().await, began.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = (callers * calls) as f64 / started.elapsed().as_secs_f64();
    let histogram =
        Arc::try_unwrap(latencies).map_err(|_| anyhow::anyhow!("a caller still runs"))?.into_inner();
    Ok((rate, histogram))
}

/// One echo call, its answer decoded as an `R`.
async fn call<R: prost::Message + Default + 'static>(
    client: &mut tonic::client::Grpc<tonic::transport::Channel>,
    request: Bytes,
) -> anyhow::Result<()> {
    client.ready().await.map_err(|error| anyhow::anyhow!("echo not ready: {error}"))?;
    client
        .unary::<Payload, R, _>(
            tonic::Request::new(Payload { bytes: request }),
            http::uri::PathAndQuery::from_static(PATH),
            tonic_prost::ProstCodec::default(),
        )
        .await?;
    Ok(())
}

/// One caller making `calls` calls over one channel, each after `quiet` without any: the
/// latencies of a call that comes after a pause in which the benchmark sends nothing. The
/// caller shares the echo's process, so its own wake-up is timed too.
pub async fn measure_after_quiet<R: prost::Message + Default + 'static>(
    echo: &Echo,
    calls: usize,
    quiet: std::time::Duration,
    request_bytes: usize,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let channel = tonic::transport::Endpoint::from_shared(echo.url.clone())?.connect().await?;
    let mut client = tonic::client::Grpc::new(channel);
    let request = Bytes::from(vec![b'x'; request_bytes]);
    let mut latencies = latency_histogram()?;
    for _ in 0..calls {
        tokio::time::sleep(quiet).await;
        let began = Instant::now();
        call::<R>(&mut client, request.clone()).await?;
        record(&mut latencies, began.elapsed());
    }
    Ok(latencies)
}

/// The access record a call's writer stores alone: `rpc`, of `kind` (`read`, `write`), by a
/// contact person on a family, for the floor.
pub fn access_record(rpc: &str, kind: &str) -> anyhow::Result<Floored> {
    use luukku_eventstore::audit::{Access, AccessRecord};
    let family = luukku_domain::family::FamilyId::from_ulid(luukku_domain::AggregateId::generate().as_ulid());
    let record = AccessRecord {
        version: 1,
        chain: luukku_domain::AggregateId::generate().to_string(),
        seq: 1,
        prev: [7; 32],
        access: Access {
            at: luukku_domain::Timestamp::now(),
            actor: luukku_testkit::actor(),
            rpc: rpc.to_owned(),
            kind: kind.to_owned(),
            family: Some(family),
            member: None,
            parts: vec!["whole".to_owned()],
            basis: "contact_person".to_owned(),
            reason: None,
            allowed: true,
            rule: None,
        },
    };
    Ok(Floored {
        payload: Bytes::from(record.encode()?),
        headers: async_nats::HeaderMap::new(),
        expect_new: false,
    })
}

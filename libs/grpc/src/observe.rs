//! Every call observed: a span that continues the caller's W3C trace context (and carries the
//! call's request id and trace id into every log line), and the call's count and duration by
//! RPC and status code. Labels are the RPC and the code only, never a family or a person.
//! Server-side failures are also kept, the last few, for `luukku ops status`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use luukku_domain::access::Action;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pin_project_lite::pin_project;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The gRPC status codes by number, as metric labels.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Services that are not luukku's own API but answer on its listeners.
const OTHER_SERVICES: [&str; 4] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "luukku.coordination.v1.CoordinationAdmin",
];

/// The service and method a path names, as bounded labels: an unknown path is "unknown".
fn labels(path: &str) -> (&'static str, &'static str) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if let Some(action) =
        Action::ALL.iter().find(|action| action.service() == service && action.method() == method)
    {
        return (action.service(), action.method());
    }
    match OTHER_SERVICES.iter().find(|known| **known == service) {
        Some(known) => (known, "other"),
        None => ("unknown", "unknown"),
    }
}

/// A server-side failure a call ended with (never a caller's mistake, whose message may
/// repeat what the caller sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at_ms: i64,
    pub service: &'static str,
    pub method: &'static str,
    pub code: &'static str,
    pub message: String,
}

/// How many failures are kept.
const FAILURES_KEPT: usize = 20;

static FAILURES: LazyLock<Mutex<VecDeque<Failure>>> = LazyLock::new(Mutex::default);

/// How long a failure is kept.
const FAILURE_KEPT_MS: i64 = 5 * 60 * 1000;

/// The failures of this process in the last five minutes, newest last.
pub fn recent_failures() -> Vec<Failure> {
    let since = luukku_domain::Timestamp::now().as_millis() - FAILURE_KEPT_MS;
    let mut failures = FAILURES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    failures.retain(|failure| failure.at_ms > since);
    failures.iter().cloned().collect()
}

/// How often a process reports its last failures, for `luukku ops status`.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Reports this process's last failures to the readers' bucket every few seconds, while any
/// are kept, until the runtime stops.
pub fn spawn_failure_reports(store: luukku_eventstore::EventStore) {
    use luukku_eventstore::quarantine::{Failure as Reported, ProcessFailures, Readers};
    tokio::spawn(async move {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        let process = format!("{}@{host}", std::process::id());
        let mut readers = None;
        let mut reported = 0;
        loop {
            tokio::time::sleep(REPORT_EVERY).await;
            let failures = recent_failures();
            if failures.is_empty() && reported == 0 {
                continue;
            }
            if readers.is_none() {
                readers = Readers::open(&store).await.ok();
            }
            let Some(bucket) = &readers else { continue };
            reported = failures.len();
            let report = ProcessFailures {
                process: process.clone(),
                failures: failures
                    .into_iter()
                    .map(|failure| Reported {
                        at_ms: failure.at_ms,
                        rpc: format!("{}/{}", failure.service, failure.method),
                        code: failure.code.to_owned(),
                        message: failure.message,
                    })
                    .collect(),
                reported_at_ms: luukku_domain::Timestamp::now().as_millis(),
            };
            if let Err(error) = bucket.report_failures(&report).await {
                tracing::debug!(%error, "failures not reported");
            }
        }
    });
}

fn server_side(code: &str) -> bool {
    matches!(
        code,
        "UNKNOWN" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED" | "INTERNAL" | "UNAVAILABLE" | "DATA_LOSS"
    )
}

/// One call being observed.
struct Call {
    service: &'static str,
    method: &'static str,
    started: Instant,
    span: tracing::Span,
}

impl Call {
    fn finish(self, code: &'static str, message: Option<&str>) {
        let elapsed = self.started.elapsed();
        let labels = [("service", self.service), ("method", self.method), ("code", code)];
        metrics::counter!("luukku_rpc_requests_total", &labels).increment(1);
        metrics::histogram!("luukku_rpc_duration_seconds", &labels).record(elapsed.as_secs_f64());
        // One line per call, with the call's request id and trace id (its span's fields); the
        // status message is not logged, as a caller's mistake may repeat what it sent.
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.span.in_scope(|| {
            if server_side(code) {
                tracing::warn!(code, micros, "call failed");
            } else if self.service == OTHER_SERVICES[0] {
                // Health checks come every few seconds from every probe.
                tracing::debug!(code, micros, "call finished");
            } else {
                tracing::info!(code, micros, "call finished");
            }
        });
        if server_side(code) {
            let message: String = message.map(decode_message).unwrap_or_default().chars().take(200).collect();
            let failure = Failure {
                at_ms: luukku_domain::Timestamp::now().as_millis(),
                service: self.service,
                method: self.method,
                code,
                message,
            };
            let mut failures = FAILURES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if failures.len() == FAILURES_KEPT {
                failures.pop_front();
            }
            failures.push_back(failure);
        }
    }
}

/// A `grpc-message` as text: it is percent-encoded on the wire.
fn decode_message(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
        match (bytes[index], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The status a response's headers or trailers carry.
fn status_of(headers: &http::HeaderMap) -> Option<(&'static str, Option<&str>)> {
    let number: usize = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers.get("grpc-message").and_then(|value| value.to_str().ok());
    Some((CODES.get(number).copied().unwrap_or("UNKNOWN"), message))
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Observes every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observed(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Observed<S>(S);

impl<S, B, R> Service<http::Request<B>> for Observed<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ObservedBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = labels(request.uri().path());
        // Named from the bounded labels, never from the path as the caller sent it.
        let span = tracing::info_span!(
            "rpc",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
        // Exported, the call's span is the trace's; otherwise the call gets a context of its own,
        // made without a tracer (cheaper), which its appends write into their messages.
        let own = if luukku_eventstore::trace_context::exporting() {
            let _ = span.set_parent(parent);
            None
        } else {
            Some(luukku_eventstore::trace_context::call_context(&parent))
        };
        let trace_id = match &own {
            Some(context) => context.trace_id(),
            None => span.context().span().span_context().trace_id(),
        };
        if trace_id != opentelemetry::trace::TraceId::INVALID {
            span.record("trace_id", tracing::field::display(trace_id));
        }
        let call = Call { service, method, started: Instant::now(), span: span.clone() };
        let future = luukku_eventstore::trace_context::within(own, self.0.call(request).instrument(span));
        Box::pin(async move {
            // Counted as cancelled if the call ends before its answer (the caller went away, or
            // its time ran out).
            let mut pending = Pending(Some(call));
            let response = future.await;
            let call = pending.0.take();
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    if let Some(call) = call {
                        call.finish("UNKNOWN", None);
                    }
                    return Err(error);
                }
            };
            let (parts, body) = response.into_parts();
            // An error answer carries its status in the headers; a success in the trailers.
            let call = match (status_of(&parts.headers), call) {
                (Some((code, message)), Some(call)) => {
                    call.finish(code, message);
                    None
                }
                (_, call) => call,
            };
            Ok(http::Response::from_parts(parts, ObservedBody { inner: body, call }))
        })
    }
}

/// A call whose answer has not come yet.
struct Pending(Option<Call>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.finish("CANCELLED", None);
        }
    }
}

pin_project! {
    /// A response body that records its call when the trailers pass, or when it is dropped
    /// before (the caller went away).
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.finish("CANCELLED", None);
            }
        }
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().map(|trailers| status_of(trailers)),
            Poll::Ready(Some(Err(_))) => Some(Some(("UNKNOWN", None))),
            Poll::Ready(None) => Some(None),
            Poll::Pending => None,
        };
        if let Some(status) = ended
            && let Some(call) = this.call.take()
        {
            let (code, message) = status.unwrap_or(("UNKNOWN", None));
            call.finish(code, message);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_known_rpcs_and_nothing_a_caller_makes_up() {
        assert_eq!(
            labels("/luukku.families.v1.FamilyService/RegisterFamily"),
            ("luukku.families.v1.FamilyService", "RegisterFamily")
        );
        assert_eq!(labels("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "other"));
        assert_eq!(
            labels("/luukku.families.v1.FamilyService/01KAQ8S0V3M7Y9ZQ0W2X4B6C8D"),
            ("unknown", "unknown")
        );
        assert_eq!(labels("/anything"), ("unknown", "unknown"));
    }

    #[test]
    fn a_status_is_read_from_headers_with_its_message() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_of(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("14"));
        headers.insert("grpc-message", http::HeaderValue::from_static("nats-server%20unavailable"));
        assert_eq!(status_of(&headers), Some(("UNAVAILABLE", Some("nats-server%20unavailable"))));
        assert_eq!(decode_message("nats-server%20unavailable%zz"), "nats-server unavailable%zz");
        headers.insert("grpc-status", http::HeaderValue::from_static("99"));
        assert_eq!(status_of(&headers).map(|(code, _)| code), Some("UNKNOWN"));
    }
}

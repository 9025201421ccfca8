//! Each call's deadline, from its `grpc-timeout` (capped at [`MAX_CALL`]), for the store
//! operations the call makes: a passing JetStream condition is retried for as long as the
//! deadline allows, and the answer leaves before the caller gives up. The layer also keeps the
//! call's method, for its request fingerprint.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::codegen::http;
use tower::{Layer, Service};

use crate::serve::MAX_CALL;

tokio::task_local! {
    static METHOD: String;
}

/// The method of the call being served (`PauseService`), when served through [`DeadlineLayer`].
pub fn current_method() -> Option<String> {
    METHOD.try_with(Clone::clone).ok()
}

/// The part of a call's time its work may use; the rest is for the answer to travel.
const WORK_SHARE: f64 = 0.9;
/// After the work's deadline, how much more (as a part of its budget) a call may take before
/// it is answered `UNAVAILABLE` whatever it waits on.
const CUTOFF_SHARE: f64 = 0.05;

/// The duration a `grpc-timeout` header value names: up to eight digits and a unit.
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3_600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// How long a call's work may take: its `grpc-timeout`, capped, less the answer's share.
pub fn budget(headers: &http::HeaderMap) -> Duration {
    let asked = headers
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_timeout)
        .unwrap_or(MAX_CALL);
    asked.min(MAX_CALL).mul_f64(WORK_SHARE)
}

/// Runs every call with its deadline set for the event store.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadlines<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Deadlines(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Deadlines<S>(S);

impl<S, B> Service<http::Request<B>> for Deadlines<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let budget = budget(request.headers());
        let deadline = tokio::time::Instant::now() + budget;
        // A net under the work's own answers at its deadline, in the answer's share of the time.
        let cutoff = deadline + budget.mul_f64(CUTOFF_SHARE);
        let method = request.uri().path().rsplit('/').next().unwrap_or_default().to_owned();
        let call = self.0.call(request);
        let work = METHOD.scope(method, luukku_eventstore::deadline::within(deadline, call));
        Box::pin(async move {
            // Whatever part of the work waits (a node that stopped answering, say), the caller
            // has its answer before it gives up. A write cut short may still land: a retry with
            // the same request id lands once.
            match tokio::time::timeout_at(cutoff, work).await {
                Ok(answered) => answered,
                Err(_) => Ok(tonic::Status::unavailable(
                    "the call could not be completed within its deadline; retry with the same request id",
                )
                .into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grpc_timeout_is_read_in_every_unit_and_capped() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_timeout("123456789S"), None, "at most eight digits");
        assert_eq!(parse_timeout("5x"), None);
        assert_eq!(parse_timeout("S"), None);
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", http::HeaderValue::from_static("1H"));
        assert_eq!(budget(&headers), MAX_CALL.mul_f64(WORK_SHARE), "capped");
        headers.insert("grpc-timeout", http::HeaderValue::from_static("1000m"));
        assert_eq!(budget(&headers), Duration::from_millis(900));
        assert_eq!(budget(&http::HeaderMap::new()), MAX_CALL.mul_f64(WORK_SHARE), "none asked");
    }
}

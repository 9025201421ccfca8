//! W3C trace context in message headers. An append carries the `traceparent` of the call that
//! made it, so that a command's trace runs on from its gRPC handler, through the append, to the
//! read model that applies the message.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

tokio::task_local! {
    /// The trace context of the call being served, while spans are not exported.
    static CALL: SpanContext;
}

/// The header that carries the trace and the span a message was written in.
pub const TRACEPARENT: &str = "traceparent";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Says that spans are exported: readers then make a span for each message they apply.
pub fn set_exporting(exporting: bool) {
    EXPORTING.store(exporting, Ordering::Relaxed);
}

/// Whether spans are exported anywhere.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// A call's own trace context, made without a tracer (spans are not exported): the caller's
/// trace from `parent` when it names one, with a span id of the call's own; otherwise a new
/// trace.
pub fn call_context(parent: &opentelemetry::Context) -> SpanContext {
    let ids = RandomIdGenerator::default();
    let caller = parent.span().span_context().clone();
    let trace_id = if caller.is_valid() { caller.trace_id() } else { ids.new_trace_id() };
    SpanContext::new(trace_id, ids.new_span_id(), TraceFlags::default(), false, TraceState::NONE)
}

/// Runs `work` as a call with the trace context `context`, when it has one of its own (spans
/// not exported); otherwise the call's span carries it.
pub async fn within<F: Future>(context: Option<SpanContext>, work: F) -> F::Output {
    match context {
        Some(context) => CALL.scope(context, work).await,
        None => work.await,
    }
}

/// The trace context of the current call or span as header fields: its `traceparent` only (a
/// caller's `tracestate` is not written into the log, which keeps messages for good); none
/// outside a trace.
pub fn current() -> Vec<(String, String)> {
    if let Ok(call) = CALL.try_with(SpanContext::clone) {
        let flags = call.trace_flags().to_u8();
        let traceparent = format!("00-{}-{}-{flags:02x}", call.trace_id(), call.span_id());
        return vec![(TRACEPARENT.to_owned(), traceparent)];
    }
    let context = tracing::Span::current().context();
    let mut fields = Fields::default();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    fields.0.retain(|(key, _)| key == TRACEPARENT);
    fields.0
}

/// Adds the current span's trace context to `headers`.
pub fn inject(headers: &mut HeaderMap, fields: &[(String, String)]) {
    for (key, value) in fields {
        headers.insert(key.as_str(), value.as_str());
    }
}

struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

/// The trace context a `traceparent` value names, to make a span its child.
pub fn parent(traceparent: &str) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Traceparent(traceparent))
}

/// The `traceparent` of a message's headers, if it has one.
pub fn traceparent_of(headers: Option<&HeaderMap>) -> Option<String> {
    headers?.get(TRACEPARENT).map(|value| value.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_outside_a_trace_is_none_and_a_header_value_is_read_back() {
        assert!(current().is_empty(), "no span, no trace context");
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = parent(value);
        use opentelemetry::trace::TraceContextExt as _;
        let span = context.span();
        let span_context = span.span_context();
        assert_eq!(span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(span_context.is_remote() && span_context.is_sampled());
    }
}

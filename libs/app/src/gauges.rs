//! The streams' sizes against their limits, as gauges: every process that serves sets them,
//! so that an alert sees a stream filling up before writes are refused.

use std::time::Duration;

use luukku_eventstore::audit::AUDIT_STREAM;
use luukku_eventstore::{EventStore, Stream};

/// How often the streams are measured.
const EVERY: Duration = Duration::from_secs(15);

/// Measures the four streams and the access log every few seconds, until the runtime stops.
pub fn spawn_stream_gauges(store: EventStore) {
    tokio::spawn(async move {
        let names = Stream::ALL.iter().map(|stream| stream.name()).chain([AUDIT_STREAM]);
        let names: Vec<&'static str> = names.collect();
        loop {
            for name in &names {
                let Ok(mut stream) = store.jetstream().get_stream(*name).await else { continue };
                let Ok(info) = stream.info().await else { continue };
                metrics::gauge!("luukku_stream_messages", "stream" => *name).set(info.state.messages as f64);
                metrics::gauge!("luukku_stream_bytes", "stream" => *name).set(info.state.bytes as f64);
                metrics::gauge!("luukku_stream_max_bytes", "stream" => *name)
                    .set(info.config.max_bytes as f64);
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

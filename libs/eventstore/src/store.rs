use std::time::Duration;

use async_nats::jetstream;

use crate::streams::Stream;
use crate::{Error, Result};

/// Settings of the streams and of appends.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Stream replicas: 1 on a single node, 3 in a cluster.
    pub replicas: usize,
    /// The largest message (one command's events) a stream accepts.
    pub max_message_bytes: usize,
    /// How long a request id is remembered; longer than any client's retry horizon.
    pub duplicate_window: Duration,
    /// How long to wait for one publish acknowledgement.
    pub publish_timeout: Duration,
    /// How many times a timed-out publish is sent again with the same message id.
    pub publish_retries: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            max_message_bytes: 1024 * 1024,
            duplicate_window: Duration::from_secs(24 * 60 * 60),
            publish_timeout: Duration::from_secs(5),
            publish_retries: 3,
        }
    }
}

/// A handle to the event store; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventStore {
    pub(crate) client: async_nats::Client,
    pub(crate) jetstream: jetstream::Context,
    pub(crate) settings: StoreSettings,
}

impl EventStore {
    pub fn new(client: async_nats::Client, settings: StoreSettings) -> Self {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .ack_timeout(settings.publish_timeout)
            .max_ack_inflight(16_384)
            .backpressure_on_inflight(true)
            .build(client.clone());
        Self { client, jetstream, settings }
    }

    /// Connects to `url` with settings suited to a long-running service.
    pub async fn connect(url: &str, settings: StoreSettings) -> Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("luukku")
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|error| Error::Unavailable(error.to_string()))?;
        Ok(Self::new(client, settings))
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Creates each stream, or brings an existing one to the configured settings. Safe to run
    /// at every start.
    pub async fn provision(&self, streams: &[Stream]) -> Result<()> {
        for stream in streams {
            let config = stream.config(&self.settings);
            self.jetstream
                .create_or_update_stream(config)
                .await
                .map_err(|error| Error::Nats(format!("cannot provision stream {stream}: {error}")))?;
            tracing::debug!(%stream, "stream provisioned");
        }
        Ok(())
    }

    /// The last sequence of `stream` (0 when empty).
    pub async fn last_sequence(&self, stream: Stream) -> Result<u64> {
        let handle = self.stream(stream).await?;
        Ok(handle.cached_info().state.last_sequence)
    }

    /// A handle to `stream`, with its current info.
    pub async fn stream(&self, stream: Stream) -> Result<jetstream::stream::Stream> {
        self.jetstream.get_stream(stream.name()).await.map_err(|error| match error.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Error::StreamNotFound(stream)
            }
            _ => Error::nats(error),
        })
    }
}

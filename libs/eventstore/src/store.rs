use std::time::Duration;

use async_nats::jetstream;

use crate::streams::Stream;
use crate::{Error, Result};

/// What a call answers when JetStream had no responder for `subject` through every wait.
pub(crate) fn no_responder(subject: &str) -> Error {
    Error::Unavailable(format!(
        "JetStream has no responder for {subject} (restarting, electing a leader, or the stream is not \
         provisioned); retry shortly"
    ))
}

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
    /// The most bytes each of the four streams may hold; a full stream refuses writes (it
    /// never discards).
    pub max_stream_bytes: i64,
    /// The most bytes the access log may hold; when it is full every call is refused.
    pub max_audit_bytes: i64,
}

/// How often the client pings its server.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long the client waits for a server it connects to to greet it.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A mebibyte.
const MIB: i64 = 1024 * 1024;

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            max_message_bytes: 1024 * 1024,
            duplicate_window: Duration::from_secs(24 * 60 * 60),
            publish_timeout: Duration::from_secs(5),
            publish_retries: 3,
            max_stream_bytes: 256 * MIB,
            max_audit_bytes: 512 * MIB,
        }
    }
}

/// How a process signs in to NATS: an NKEY seed or a credentials file, its own reply prefix,
/// and TLS.
#[derive(Clone, Default)]
pub struct NatsAuth {
    pub nkey_seed: Option<zeroize::Zeroizing<String>>,
    pub creds_file: Option<std::path::PathBuf>,
    /// Replies to this user's requests come on `<prefix>.>`; see `access::NatsUser`.
    pub inbox_prefix: Option<String>,
    /// The CA the server's certificate is issued by; requires TLS.
    pub ca: Option<std::path::PathBuf>,
    /// A client certificate and key, when the server requires one.
    pub client_certificate: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth")
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "[redacted]"))
            .field("creds_file", &self.creds_file)
            .field("inbox_prefix", &self.inbox_prefix)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// A handle to the event store; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventStore {
    pub(crate) client: async_nats::Client,
    pub(crate) jetstream: jetstream::Context,
    pub(crate) settings: StoreSettings,
    /// Each stream's replica count, by stream name, and when the server told it.
    replicas:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, usize)>>>,
}

/// How long a stream's replica count, once told, is taken as known.
const REPLICAS_KNOWN_FOR: Duration = Duration::from_secs(30);

impl EventStore {
    pub fn new(client: async_nats::Client, settings: StoreSettings) -> Self {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .ack_timeout(settings.publish_timeout)
            .max_ack_inflight(16_384)
            .backpressure_on_inflight(true)
            .build(client.clone());
        Self { client, jetstream, settings, replicas: Default::default() }
    }

    /// Connects to `url` with settings suited to a long-running service, without credentials.
    pub async fn connect(url: &str, settings: StoreSettings) -> Result<Self> {
        Self::connect_as(url, settings, &NatsAuth::default()).await
    }

    /// Connects to `url` as the user `auth` names, waiting for the server to come up: for
    /// services.
    pub async fn connect_as(url: &str, settings: StoreSettings, auth: &NatsAuth) -> Result<Self> {
        Self::connect_with(url, settings, auth, true).await
    }

    /// Connects to `url` as the user `auth` names, or fails at once: for tools, which should
    /// say what is wrong (no server, refused credentials) rather than wait.
    pub async fn connect_once(url: &str, settings: StoreSettings, auth: &NatsAuth) -> Result<Self> {
        Self::connect_with(url, settings, auth, false).await
    }

    async fn connect_with(url: &str, settings: StoreSettings, auth: &NatsAuth, wait: bool) -> Result<Self> {
        let mut options = match &auth.creds_file {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path).await.map_err(|error| {
                Error::Unavailable(format!("the NATS credentials {}: {error}", path.display()))
            })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(seed) = &auth.nkey_seed {
            options = options.nkey(seed.to_string());
        }
        if let Some(prefix) = &auth.inbox_prefix {
            options = options.custom_inbox_prefix(prefix.clone());
        }
        if let Some(ca) = &auth.ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((certificate, key)) = &auth.client_certificate {
            options = options.add_client_certificate(certificate.clone(), key.clone());
        }
        if wait {
            options = options.retry_on_initial_connect();
        }
        // A cluster is given as its nodes' URLs, comma-separated; the client fails over between them.
        let servers: Vec<&str> = url.split(',').map(str::trim).filter(|server| !server.is_empty()).collect();
        let client = options
            .name("luukku")
            // A server that stops answering (paused, or cut off) is left for another of the
            // cluster within a few seconds: two pings unanswered.
            .ping_interval(PING_INTERVAL)
            // A hung server accepts the connection and never greets it: give up on it after 2 s
            // (5 s by default), so that a reconnect that picks it moves on to another sooner.
            .connection_timeout(CONNECTION_TIMEOUT)
            .connect(servers)
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

    /// Checks that each stream exists, for users that may not create them.
    pub async fn check_provisioned(&self, streams: &[Stream]) -> Result<()> {
        for stream in streams {
            self.stream(*stream).await?;
        }
        Ok(())
    }

    /// Creates each stream, or brings an existing one to the configured settings (admin
    /// only). Safe to run at every start.
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

    /// Creates the key-value bucket `config` names, or brings it to its settings (admin only).
    pub(crate) async fn provision_bucket(&self, config: async_nats::jetstream::kv::Config) -> Result<()> {
        self.jetstream.create_or_update_key_value(config).await.map(|_| ()).map_err(Error::nats)
    }

    /// Opens a provisioned key-value bucket; `what` names it in the error.
    pub(crate) async fn open_bucket(
        &self,
        bucket: &str,
        what: &str,
    ) -> Result<async_nats::jetstream::kv::Store> {
        self.jetstream.get_key_value(bucket).await.map_err(|error| {
            Error::Nats(format!(
                "{what} {bucket} cannot be opened ({error}); provision it first (`luukku ops provision`)"
            ))
        })
    }

    /// The last sequence of `stream` (0 when empty).
    pub async fn last_sequence(&self, stream: Stream) -> Result<u64> {
        let handle = self.stream(stream).await?;
        Ok(handle.cached_info().state.last_sequence)
    }

    /// Whether `stream` has more than one replica, so that a direct get may be answered by a
    /// replica behind the stream's leader. Asked of the server at most every 30 s; taken as
    /// replicated while it cannot be asked.
    pub async fn replicated(&self, stream: Stream) -> bool {
        self.replicated_named(stream.name()).await
    }

    /// [`EventStore::replicated`] for a stream named `name`, such as a key bucket's `KV_` stream.
    pub async fn replicated_named(&self, name: &str) -> bool {
        let known = {
            let known = self.replicas.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            known.get(name).filter(|(at, _)| at.elapsed() < REPLICAS_KNOWN_FOR).map(|(_, count)| *count)
        };
        if let Some(count) = known {
            return count > 1;
        }
        match self.jetstream.get_stream(name).await {
            Ok(handle) => {
                let count = handle.cached_info().config.num_replicas;
                self.replicas
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(name.to_owned(), (std::time::Instant::now(), count));
                count > 1
            }
            Err(_) => true,
        }
    }

    /// The sequence of the aggregate's last message as the stream's leader knows it (0 when it
    /// has none). Direct gets may be answered by a replica that lags; a write decided on a load
    /// is checked against this before it is answered without an append.
    pub async fn leader_version(&self, aggregate: &crate::AggregateRef) -> Result<u64> {
        self.leader_last(aggregate.stream.name(), &aggregate.subject())
            .await
            .map(|last| last.map_or(0, |(sequence, _)| sequence))
    }

    /// The last message on `subject` of stream `stream` as the stream's leader has it (its
    /// sequence and payload), `None` when there is none. Not answering (an election, say) is
    /// `UNAVAILABLE`.
    pub async fn leader_last(&self, stream: &str, subject: &str) -> Result<Option<(u64, bytes::Bytes)>> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let unavailable = |error: &dyn std::fmt::Display| {
            Error::Unavailable(format!("the leader of {stream} did not answer for {subject}: {error}"))
        };
        let handle = self.jetstream.get_stream_no_info(stream).await.map_err(|error| unavailable(&error))?;
        let asked = handle.get_last_raw_message_by_subject(subject);
        let Ok(answer) = tokio::time::timeout_at(crate::deadline::answer_by(), asked).await else {
            return Err(unavailable(&"no answer within the call's deadline"));
        };
        match answer {
            Ok(message) => Ok(Some((message.sequence, message.payload))),
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(unavailable(&error)),
        }
    }

    /// The message at `sequence` of the stream named `name`, from a replica, or from the
    /// stream's leader when no replica begins to answer in time: `None` when the stream does not
    /// hold it. Not answering by the call's deadline is `UNAVAILABLE`.
    pub(crate) async fn message_at(
        &self,
        name: &str,
        sequence: u64,
    ) -> Result<Option<jetstream::message::StreamMessage>> {
        use jetstream::stream::{DirectGetErrorKind, RawMessageErrorKind};
        let unavailable = |error: &dyn std::fmt::Display| {
            Error::Unavailable(format!("message {sequence} of {name}: {error}"))
        };
        let handle = self.jetstream.get_stream_no_info(name).await.map_err(|error| unavailable(&error))?;
        let asked = handle.direct_get(sequence);
        match crate::deadline::first_answer(name, &format!("message {sequence}"), asked).await? {
            Some(Ok(message)) => return Ok(Some(message)),
            Some(Err(error)) if error.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Some(Err(error)) => return Err(unavailable(&error)),
            None => {}
        }
        match tokio::time::timeout_at(crate::deadline::answer_by(), handle.get_raw_message(sequence)).await {
            Ok(Ok(message)) => Ok(Some(message)),
            Ok(Err(error)) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Ok(Err(error)) => Err(unavailable(&error)),
            Err(_) => Err(unavailable(&"the stream's leader did not answer within the call's deadline")),
        }
    }

    /// When the message at `sequence` of `stream` was recorded: `None` when there is none, or
    /// it is not a luukku envelope.
    pub async fn recorded_at(
        &self,
        stream: Stream,
        sequence: u64,
    ) -> Result<Option<luukku_domain::Timestamp>> {
        let message = self.message_at(stream.name(), sequence).await?;
        Ok(message
            .and_then(|message| crate::Envelope::decode(&message.payload).ok())
            .map(|envelope| envelope.recorded_at))
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

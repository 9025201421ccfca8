use luukku_domain::{CodecError, RequestId};

use crate::{Position, Stream};

/// Everything the event store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone else appended to the aggregate first; reload and decide again.
    #[error("{subject} is at version {current}, not the expected {expected}")]
    Conflict { subject: String, expected: u64, current: u64 },
    /// The request id was already used, within the duplicate window, for another aggregate.
    #[error(
        "request id {request_id} was already used for another request on {original_subject} (at {original})"
    )]
    RequestIdReused {
        request_id: RequestId,
        original_subject: String,
        original: Position,
        /// The method of the request that used the id first, when it was recorded.
        method: Option<String>,
    },
    #[error("the events of one command encode to {bytes} bytes, more than the {max} a message may hold")]
    TooLarge { bytes: usize, max: usize },
    /// The stream is at its byte or message limit: it refuses writes rather than discard.
    #[error("{subject} was not written: the stream is full ({reason})")]
    Full { subject: String, reason: String },
    #[error("stream {0} does not exist; provision the streams first")]
    StreamNotFound(Stream),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("message {sequence} of {stream} ({subject}) is not a luukku envelope: {reason}")]
    Corrupt { stream: Stream, sequence: u64, subject: String, reason: String },
    /// A message of a stream written by a newer release than this one: not corrupt, but not
    /// readable until this reader is upgraded.
    #[error("message {sequence} of {stream} ({subject}) was written by a newer release: {reason}")]
    Newer { stream: Stream, sequence: u64, subject: String, reason: String },
    /// The server did not answer in time, even after retrying with the same message id.
    #[error("nats-server unavailable: {0}")]
    Unavailable(String),
    /// The family's key was erased: an erased family is never given a key again.
    #[error("the key of family {family} was erased; it is not made again")]
    KeyErased { family: String },
    #[error("nats: {0}")]
    Nats(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn nats(error: impl std::fmt::Display) -> Self {
        Error::Nats(error.to_string())
    }
}

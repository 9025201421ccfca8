//! The application error: every refusal and failure a use case ends in. It names the rule
//! broken (with its stable code and class) or the failure, and nothing of gRPC; the edge maps it
//! to a status in one place.

use std::fmt;

use luukku_domain::refusal::{Refusal, RefusalKind, Rule, rules};
use luukku_domain::violation::{Field, Violation, describe};
use luukku_domain::{Aggregate, AggregateId, RequestId};
use luukku_eventstore::{Error as StoreError, Position};

/// Why a use case did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// A rule refused the command. `subject` names what it is about (`family/<id>`).
    #[error("{message}")]
    Refused { rule: Rule, subject: String, message: String, violations: Vec<Violation> },
    /// The aggregate moved on from the version the caller expected.
    #[error("{subject} is at version {current}, not the expected {expected}")]
    Conflict { subject: String, expected: u64, current: u64 },
    /// The aggregate kept changing while the command was decided again and again; retry.
    #[error("{0}")]
    Contended(String),
    /// A dependency (the event store, a read model) cannot answer now; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// A store is full (a stream at its byte limit): nothing is written until an operator
    /// raises the limit.
    #[error("{0}")]
    Exhausted(String),
    /// Stored personal data does not open: tampered, or sealed with another family's key.
    #[error("{0}")]
    DataLoss(String),
    /// A failure of luukku itself, never the caller's mistake.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// A refusal about `noun` `id` (`family`, `01J…`).
    pub fn refused<E: Refusal>(noun: &str, id: impl fmt::Display, error: E) -> Self {
        let violations = error.violations().to_vec();
        let message = match error.rule().kind {
            RefusalKind::Invalid => describe(&violations),
            _ => format!("{noun} {id}: {error}"),
        };
        AppError::Refused { rule: error.rule(), subject: format!("{noun}/{id}"), message, violations }
    }

    /// Bad input, named field by field.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        AppError::Refused {
            rule: rules::INVALID_ARGUMENT,
            subject: String::new(),
            message: describe(&violations),
            violations,
        }
    }

    /// A refusal by `rule` with a message of its own.
    pub fn rule(rule: Rule, subject: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Refused { rule, subject: subject.into(), message: message.into(), violations: Vec::new() }
    }

    /// The rule code of a refusal.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            AppError::Refused { rule, .. } => Some(rule.code),
            _ => None,
        }
    }
}

/// A refusal of aggregate `A` with id `id`, for `map_err`.
pub fn refused<A: Aggregate>(id: impl fmt::Display) -> impl FnOnce(A::Error) -> AppError {
    move |error| AppError::refused(A::NOUN, id, error)
}

/// Why the repository did not carry out a command.
#[derive(Debug)]
pub enum RepositoryError<E> {
    /// The aggregate refused the command.
    Refused { noun: &'static str, id: AggregateId, error: E },
    /// The aggregate is not at the version the caller expected.
    Conflict { subject: String, expected: u64, current: u64 },
    /// The family's key is gone: nothing personal can be recorded about it.
    FamilyErased { family: AggregateId },
    /// The caller used the request id before for another request (of `method`, when known).
    RequestIdReused { request_id: RequestId, original_subject: String, method: Option<String> },
    /// The store cannot answer now.
    Unavailable(String),
    /// The aggregate kept changing while the command was decided `attempts` times.
    Contended { subject: String, attempts: usize },
    /// Personal data of the aggregate does not open.
    Unreadable { id: AggregateId, reason: String },
    /// Personal data could not be sealed.
    Sealing(String),
    /// Any other failure of the store.
    Store(StoreError),
}

impl<E> From<StoreError> for RepositoryError<E> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { subject, expected, current } => {
                RepositoryError::Conflict { subject, expected, current }
            }
            StoreError::RequestIdReused { request_id, original_subject, method, .. } => {
                RepositoryError::RequestIdReused { request_id, original_subject, method }
            }
            StoreError::Unavailable(reason) => RepositoryError::Unavailable(reason),
            other => RepositoryError::Store(other),
        }
    }
}

impl<E: Refusal> From<RepositoryError<E>> for AppError {
    fn from(error: RepositoryError<E>) -> Self {
        match error {
            RepositoryError::Refused { noun, id, error } => AppError::refused(noun, id, error),
            RepositoryError::Conflict { subject, expected, current } => {
                AppError::Conflict { subject, expected, current }
            }
            RepositoryError::FamilyErased { family } => family_erased(&family.to_string()),
            RepositoryError::RequestIdReused { request_id, original_subject, method } => {
                request_id_reused(&request_id, &original_subject, method.as_deref())
            }
            RepositoryError::Unavailable(reason) => AppError::Unavailable(reason),
            RepositoryError::Contended { subject, attempts } => AppError::Contended(format!(
                "{subject} kept changing while the command was decided {attempts} times; retry"
            )),
            RepositoryError::Sealing(reason) => {
                tracing::error!(%reason, "sealing failed");
                AppError::Internal(reason)
            }
            RepositoryError::Unreadable { id, reason } => {
                AppError::DataLoss(format!("personal data of {id} does not open: {reason}"))
            }
            RepositoryError::Store(error) => AppError::from(error),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { subject, expected, current } => {
                AppError::Conflict { subject, expected, current }
            }
            StoreError::RequestIdReused { request_id, original_subject, method, .. } => {
                request_id_reused(&request_id, &original_subject, method.as_deref())
            }
            StoreError::TooLarge { bytes, max } => AppError::invalid(vec![Violation::new(
                Field::named(""),
                format!("the request's data takes {bytes} bytes, more than the {max} allowed"),
            )]),
            StoreError::Unavailable(reason) => AppError::Unavailable(reason),
            StoreError::KeyErased { family } => family_erased(&family),
            StoreError::Full { subject, reason } => {
                tracing::error!(%subject, %reason, "a stream is full");
                AppError::Exhausted(format!("the store is full ({reason}); nothing was written"))
            }
            // No responder for the stream: JetStream restarting, or not provisioned.
            StoreError::StreamNotFound(stream) => AppError::Unavailable(format!(
                "the stream {stream} does not answer (restarting, or not provisioned); retry shortly"
            )),
            error @ (StoreError::Codec(_)
            | StoreError::Corrupt { .. }
            | StoreError::Newer { .. }
            | StoreError::Nats(_)) => {
                tracing::error!(%error, "event store failure");
                AppError::Internal(error.to_string())
            }
        }
    }
}

/// The refusal of a write about a family that has no key.
fn family_erased(family: &str) -> AppError {
    AppError::rule(
        rules::FAMILY_ERASED,
        format!("family/{family}"),
        format!(
            "family {family} has no key (it was erased, or never registered): nothing personal can be recorded"
        ),
    )
}

/// A request id used before for another request.
fn request_id_reused(request_id: &RequestId, original_subject: &str, method: Option<&str>) -> AppError {
    let first = match method {
        Some(method) => format!("a {method} request on {original_subject}"),
        None => format!("another request on {original_subject}"),
    };
    AppError::rule(
        rules::REQUEST_ID_REUSED,
        format!("request/{request_id}"),
        format!(
            "request id {request_id} was already used for {first}; use a new request id for a new request"
        ),
    )
}

/// Where a message that does not decode sits, for an internal error.
pub fn undecodable(position: &Position, error: impl fmt::Display) -> AppError {
    tracing::error!(%position, %error, "undecodable event");
    AppError::Internal(format!("message {position} does not decode: {error}"))
}

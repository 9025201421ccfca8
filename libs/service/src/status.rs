//! Refusals as gRPC statuses with machine-readable details (google.rpc error details):
//! `INVALID_ARGUMENT` carries one field violation per bad field, `FAILED_PRECONDITION` the rule
//! broken, `ABORTED` the current version.

use std::collections::HashMap;

use luukku_eventstore::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The error domain of luukku's `ErrorInfo` details.
pub const DOMAIN: &str = "luukku.fi";

/// Bad fields of one request, gathered so the caller learns of all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// The value of `parse`, or `None` after recording why it is bad.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// `Ok` when nothing was bad, else `INVALID_ARGUMENT` listing every violation.
    pub fn into_result(self) -> Result<(), Status> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message =
            self.0.iter().map(|(field, why)| format!("{field}: {why}")).collect::<Vec<_>>().join("; ");
        let mut details = ErrorDetails::new();
        for (field, description) in self.0 {
            details.add_bad_request_violation(field, description);
        }
        Err(Status::with_error_details(Code::InvalidArgument, message, details))
    }
}

/// `FAILED_PRECONDITION` naming the rule (`kind`, such as `FAMILY_CLOSED`) and its subject.
pub fn failed_precondition(kind: &str, subject: &str, description: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation(kind, subject, description.clone());
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// `ABORTED`: the aggregate moved on; the details carry `current_version`.
pub fn version_conflict(subject: &str, expected: u64, current: u64) -> Status {
    let message = format!(
        "{subject} is at version {current}, not the expected {expected}; read it again and retry with \
         expected_version {current}"
    );
    let details = ErrorDetails::with_error_info(
        "VERSION_CONFLICT",
        DOMAIN,
        HashMap::from([
            ("current_version".to_owned(), current.to_string()),
            ("expected_version".to_owned(), expected.to_string()),
        ]),
    );
    Status::with_error_details(Code::Aborted, message, details)
}

/// The event store's refusals and failures; the caller's mistakes are never `INTERNAL`.
pub fn store_status(error: Error) -> Status {
    match error {
        Error::Conflict { subject, expected, current } => version_conflict(&subject, expected, current),
        Error::RequestIdReused { request_id, original_subject, .. } => Status::already_exists(format!(
            "request id {request_id} was already used for another request ({original_subject}); \
             use a new request id for a new request"
        )),
        Error::TooLarge { bytes, max } => {
            let mut violations = Violations::new();
            violations
                .add("", format!("the request's data takes {bytes} bytes, more than the {max} allowed"));
            violations.into_result().err().unwrap_or_else(|| Status::invalid_argument("too large"))
        }
        Error::Unavailable(reason) => Status::unavailable(reason),
        error @ (Error::StreamNotFound(_) | Error::Codec(_) | Error::Corrupt { .. } | Error::Nats(_)) => {
            tracing::error!(%error, "event store failure");
            Status::internal(error.to_string())
        }
    }
}

/// `INVALID_ARGUMENT` with one field violation per domain violation.
pub fn invalid(bad: Vec<luukku_domain::Violation>) -> Status {
    let mut violations = Violations::new();
    for violation in bad {
        violations.add(violation.field, violation.description);
    }
    violations.into_result().err().unwrap_or_else(|| Status::invalid_argument("invalid request"))
}

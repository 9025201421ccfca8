//! Application errors as gRPC statuses with machine-readable details (google.rpc error
//! details), in this one place: every refusal carries `ErrorInfo` with its rule code;
//! `INVALID_ARGUMENT` adds one field violation per bad field, `FAILED_PRECONDITION` the rule
//! broken and its subject, `ABORTED` the current version.

use std::collections::HashMap;

use luukku_app::AppError;
use luukku_domain::{Field, RefusalKind};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The error domain of luukku's `ErrorInfo` details.
pub const DOMAIN: &str = "luukku.fi";

/// Turns a field named by the domain into its path in the request.
pub type Paths = fn(&Field) -> String;

/// The request's field paths are the domain's names.
pub fn same(field: &Field) -> String {
    field.to_string()
}

/// The status of `error`, with fields named as the domain names them.
pub fn status(error: AppError) -> Status {
    status_with(same)(error)
}

/// The status of `error`, with fields named by `paths`, for `map_err`.
pub fn status_with(paths: Paths) -> impl Fn(AppError) -> Status {
    move |error| match error {
        AppError::Refused { rule, subject, message, violations } => {
            let mut details = ErrorDetails::new();
            details.set_error_info(rule.code, DOMAIN, HashMap::new());
            let (code, message) = match rule.kind {
                RefusalKind::Invalid => {
                    let mut described = Vec::new();
                    for violation in &violations {
                        let path = paths(&violation.field);
                        described.push(format!("{path}: {}", violation.description));
                        details.add_bad_request_violation(path, violation.description.clone());
                    }
                    let message = if described.is_empty() { message } else { described.join("; ") };
                    (Code::InvalidArgument, message)
                }
                RefusalKind::NotFound => (Code::NotFound, message),
                RefusalKind::AlreadyExists => (Code::AlreadyExists, message),
                RefusalKind::RuleBroken => {
                    details.add_precondition_failure_violation(rule.code, subject, message.clone());
                    (Code::FailedPrecondition, message)
                }
                RefusalKind::NotPermitted => (Code::PermissionDenied, message),
                RefusalKind::Contended => (Code::Aborted, message),
            };
            Status::with_error_details(code, message, details)
        }
        AppError::Conflict { subject, expected, current } => {
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
        AppError::Contended(message) => Status::aborted(message),
        AppError::Unavailable(message) => Status::unavailable(message),
        AppError::Exhausted(message) => Status::resource_exhausted(message),
        AppError::DataLoss(message) => Status::data_loss(message),
        AppError::Internal(message) => Status::internal(message),
    }
}

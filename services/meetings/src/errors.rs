//! The meetings' refusals as gRPC statuses.

use luukku_domain::AggregateId;
use luukku_domain::meetings::MeetingError;
use luukku_service::status::{failed_precondition, invalid};
use tonic::Status;

pub fn meeting_status(id: AggregateId, error: MeetingError) -> Status {
    let subject = format!("family/{id}");
    let message = error.to_string();
    match error {
        MeetingError::Invalid(bad) => invalid(bad),
        MeetingError::Exists(_) | MeetingError::AlreadyInvited(_) => Status::already_exists(message),
        MeetingError::NotFound(_) | MeetingError::ActionNotFound(_) => Status::not_found(message),
        MeetingError::AlreadyOpen { .. } => failed_precondition("MEETING_ALREADY_OPEN", &subject, message),
        MeetingError::WrongStatus { .. } => failed_precondition("MEETING_STATUS", &subject, message),
        MeetingError::NotInvited(_) => failed_precondition("NOT_INVITED", &subject, message),
        MeetingError::ActionDone(_) => failed_precondition("ACTION_DONE", &subject, message),
    }
}

//! The contacts aggregates' refusals as gRPC statuses.

use luukku_domain::AggregateId;
use luukku_domain::contacts::assignment::AssignmentError;
use luukku_domain::contacts::consultation::ConsultationError;
use luukku_domain::contacts::log::ContactLogError;
use luukku_domain::contacts::person::ContactPersonError;
use luukku_service::status::{failed_precondition, invalid};
use tonic::Status;

pub fn person_status(id: AggregateId, error: ContactPersonError) -> Status {
    let subject = format!("contact_person/{id}");
    let message = error.to_string();
    match error {
        ContactPersonError::Invalid(bad) => invalid(bad),
        ContactPersonError::NotFound => Status::not_found(format!("contact person {id} not found")),
        ContactPersonError::AlreadyRegistered => {
            Status::already_exists(format!("contact person {id} is already registered"))
        }
        ContactPersonError::Inactive => failed_precondition("CONTACT_PERSON_INACTIVE", &subject, message),
        ContactPersonError::CaseloadFull { .. } => failed_precondition("CASELOAD_FULL", &subject, message),
        ContactPersonError::HasCaseload(_) => failed_precondition("HAS_CASELOAD", &subject, message),
    }
}

pub fn assignment_status(id: AggregateId, error: AssignmentError) -> Status {
    let subject = format!("family/{id}");
    let message = error.to_string();
    match error {
        AssignmentError::AlreadyAssigned(_) => failed_precondition("ALREADY_ASSIGNED", &subject, message),
        AssignmentError::ReasonRequired { .. } => {
            failed_precondition("HANDOVER_NEEDS_REASON", &subject, message)
        }
        AssignmentError::HandoverPending { .. } => failed_precondition("HANDOVER_PENDING", &subject, message),
        AssignmentError::NoSuchHandover(_) => failed_precondition("NO_SUCH_HANDOVER", &subject, message),
    }
}

pub fn log_status(id: AggregateId, error: ContactLogError) -> Status {
    let subject = format!("family/{id}");
    let message = error.to_string();
    match error {
        ContactLogError::Invalid(bad) => invalid(bad),
        ContactLogError::Exists(_) => Status::already_exists(message),
        ContactLogError::NotFound(_) => Status::not_found(message),
        ContactLogError::NoFollowUp(_) => failed_precondition("NO_FOLLOW_UP", &subject, message),
        ContactLogError::FollowUpDone(_) => failed_precondition("FOLLOW_UP_DONE", &subject, message),
    }
}

pub fn consultation_status(_: AggregateId, error: ConsultationError) -> Status {
    match error {
        ConsultationError::Invalid(bad) => invalid(bad),
        ConsultationError::Exists => Status::already_exists(error.to_string()),
    }
}

//! The family's refusals as gRPC statuses.

use luukku_domain::family::{FamilyError, FamilyId};
use luukku_service::status::{failed_precondition, invalid};
use tonic::Status;

pub fn family_status(id: luukku_domain::AggregateId, error: FamilyError) -> Status {
    let family_id = FamilyId::from_ulid(id.as_ulid());
    let subject = format!("family/{family_id}");
    let message = error.to_string();
    match error {
        FamilyError::Invalid(bad) => invalid(bad),
        FamilyError::NotFound => Status::not_found(format!("family {family_id} not found")),
        FamilyError::MemberNotFound(_) | FamilyError::ConsentNotFound(_) => Status::not_found(message),
        FamilyError::AlreadyRegistered => {
            Status::already_exists(format!("family {family_id} is already registered"))
        }
        FamilyError::MemberExists(_) | FamilyError::ConsentExists(_) => Status::already_exists(message),
        FamilyError::Closed => failed_precondition("FAMILY_CLOSED", &subject, message),
        FamilyError::Erased => failed_precondition("FAMILY_ERASED", &subject, message),
        FamilyError::NotClosed => failed_precondition("FAMILY_NOT_CLOSED", &subject, message),
        FamilyError::LastMember => failed_precondition("LAST_MEMBER", &subject, message),
        FamilyError::NotEntitledToConsent(_) => {
            failed_precondition("NOT_ENTITLED_TO_CONSENT", &subject, message)
        }
        FamilyError::ConsentAlreadyRevoked(_) => failed_precondition("CONSENT_REVOKED", &subject, message),
        FamilyError::NotEntitledToRevoke(_) => {
            failed_precondition("NOT_ENTITLED_TO_REVOKE", &subject, message)
        }
    }
}

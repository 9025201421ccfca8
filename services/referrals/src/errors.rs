//! Refusals as gRPC statuses.

use luukku_domain::AggregateId;
use luukku_domain::referrals::{ReferralError, ServiceError};
use luukku_service::status::{failed_precondition, invalid};
use tonic::Status;

pub fn referral_status(id: AggregateId, error: ReferralError) -> Status {
    let message = error.to_string();
    match error {
        ReferralError::Invalid(bad) => invalid(bad),
        ReferralError::NotFound => Status::not_found(format!("referral {id} not found")),
        ReferralError::Exists => Status::already_exists(format!("referral {id} already exists")),
        ReferralError::IllegalTransition { .. } => {
            failed_precondition("ILLEGAL_TRANSITION", &format!("referral/{id}"), message)
        }
    }
}

pub fn service_status(id: AggregateId, error: ServiceError) -> Status {
    let message = error.to_string();
    match error {
        ServiceError::Invalid(bad) => invalid(bad),
        ServiceError::NotFound => Status::not_found(format!("service {id} not found")),
        ServiceError::Exists => Status::already_exists(format!("service {id} already exists")),
        ServiceError::Retired => failed_precondition("SERVICE_RETIRED", &format!("service/{id}"), message),
    }
}

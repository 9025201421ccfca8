//! The service catalogue and referrals across sectors, with response deadlines and consent.

mod catalogue;
mod deadline;
mod referral;
#[cfg(test)]
mod tests;

pub use catalogue::*;
pub use deadline::*;
pub use referral::*;

crate::ulid_id!(
    /// A service in the catalogue.
    ServiceId
);
crate::ulid_id!(
    /// One referral of a family (or a child of it) to a service.
    ReferralId
);

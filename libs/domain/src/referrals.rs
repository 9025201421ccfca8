//! The service catalogue, and referrals of a family (or a child of it) to a service of another
//! sector, with response deadlines and the basis that allows sharing the family's information.
//!
//! Two aggregates share the `REFERRALS` stream: a catalogue service and a referral. A
//! referral's lifecycle follows HL7 FHIR Task states: requested → received → accepted or
//! rejected → in progress → completed or failed; on hold and back; cancelled by the sender
//! before completion; redirected to another service as one step.

mod deadline;
mod decide;
mod events;
mod narrate;
mod rules;
mod state;

pub use deadline::*;
pub use decide::*;
pub use events::*;
pub use rules::*;
pub use state::*;

crate::ulid_id!(
    /// A service in the catalogue.
    ServiceId
);
crate::ulid_id!(
    /// One referral of a family (or a child of it) to a service.
    ReferralId
);

//! Contact persons, the one contact person of each family with its handovers, the contact log
//! (*yhteydenotto*) of each family, and consultations about clients who are not registered.
//!
//! Four aggregates share the `CONTACTS` stream: a contact person (their profile and caseload),
//! the assignment of each family (its id is the family id), the contact log of each family
//! (its id is the family id), and a consultation.

mod decide;
mod events;
mod narrate;
pub mod reconcile;
mod rules;
mod state;

pub use decide::*;
pub use events::*;
pub use rules::*;
pub use state::*;

crate::ulid_id!(
    /// A professional acting as contact person.
    ContactPersonId
);
crate::ulid_id!(
    /// One proposed handover of a family between contact persons.
    HandoverId
);
crate::ulid_id!(
    /// One place held in a caseload while an assignment is recorded; made from the request.
    ReservationId
);
crate::ulid_id!(
    /// One recorded contact with a family.
    ContactId
);
crate::ulid_id!(
    /// One consultation about a client who is not registered.
    ConsultationId
);

//! Contact persons, the one contact person of each family, handovers, and the contact log.

pub mod assignment;
pub mod consultation;
pub mod log;
pub mod person;
#[cfg(test)]
mod tests;
pub mod transfer;

crate::ulid_id!(
    /// A professional acting as contact person.
    ContactPersonId
);
crate::ulid_id!(
    /// One proposed handover of a family between contact persons.
    HandoverId
);
crate::ulid_id!(
    /// One recorded contact with a family.
    ContactId
);
crate::ulid_id!(
    /// One consultation about a client who is not registered.
    ConsultationId
);

use crate::Violation;

pub(crate) fn invalid_if_any<E>(violations: Vec<Violation>, wrap: fn(Vec<Violation>) -> E) -> Result<(), E> {
    if violations.is_empty() { Ok(()) } else { Err(wrap(violations)) }
}

//! Who did something: recorded on every event.

use serde::{Deserialize, Serialize};

use crate::{Code, Sector};

crate::wire_codes!(
    /// The role in which an actor acts.
    pub enum Role, "role" {
        /// The family's coordinating professional.
        ContactPerson = "contact_person",
        /// A professional of a sector (a nurse, a teacher, a social worker).
        SectorProfessional = "sector_professional",
        /// A guardian or a family member acting for themself.
        FamilyMember = "family_member",
        /// An operator running tools against the store.
        Operator = "operator",
        /// A sector system acting on its own (integration, timers).
        System = "system",
        /// A contact persons' supervisor: assigns families and transfers caseloads.
        Supervisor = "supervisor",
        /// The registrar's data-protection role: reads access logs, approves erasures.
        DataProtection = "data_protection",
    }
);

/// The actor of a command: person, role, sector, organisation and the system they used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub person_id: Code,
    pub role: Role,
    pub sector: Option<Sector>,
    pub organisation: Code,
    pub system: Code,
}

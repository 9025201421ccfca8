//! Who did something: recorded on every event.

use serde::{Deserialize, Serialize};

use crate::{Code, Sector};

/// The role in which an actor acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The family's coordinating professional.
    ContactPerson,
    /// A professional of a sector (a nurse, a teacher, a social worker).
    SectorProfessional,
    /// A guardian or a family member acting for themself.
    FamilyMember,
    /// An operator running tools against the store.
    Operator,
    /// A sector system acting on its own (integration, timers).
    System,
}

impl Role {
    pub const ALL: [Role; 5] =
        [Role::ContactPerson, Role::SectorProfessional, Role::FamilyMember, Role::Operator, Role::System];

    pub fn as_code(self) -> &'static str {
        match self {
            Role::ContactPerson => "contact_person",
            Role::SectorProfessional => "sector_professional",
            Role::FamilyMember => "family_member",
            Role::Operator => "operator",
            Role::System => "system",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|role| role.as_code() == code)
    }
}

/// The actor of a command: person, role, sector, organisation and the system they used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub person_id: Code,
    pub role: Role,
    pub sector: Option<Sector>,
    pub organisation: Code,
    pub system: Code,
}

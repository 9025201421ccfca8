//! The contact person aggregate: a professional's profile, whether they take families, and
//! their caseload (which the assignment flow reserves and releases).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::invalid_if_any;
use crate::family::{FamilyId, Municipality};
use crate::{Aggregate, Code, Context, Sector, Violation};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The person's id in the identity provider: the `x-luukku-person` they call with.
    pub person_id: Code,
    pub name: String,
    pub organisation: Code,
    pub sector: Sector,
    /// Municipalities (or the area) they serve.
    pub municipalities: Vec<Municipality>,
    pub languages: Vec<String>,
    /// How many families they coordinate at most.
    pub caseload_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivated {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseloadChange {
    pub family_id: FamilyId,
}

crate::v1_events!(
    pub enum ContactPersonEvent {
        Registered(Profile) = "ContactPersonRegistered",
        Updated(Profile) = "ContactPersonUpdated",
        Deactivated(Deactivated) = "ContactPersonDeactivated",
        CaseloadJoined(CaseloadChange) = "CaseloadJoined",
        CaseloadLeft(CaseloadChange) = "CaseloadLeft",
    }
);

impl crate::sealing::HasPersonal for ContactPersonEvent {
    /// A professional's work profile is not the family's personal data.
    fn personal_fields(&mut self) -> Vec<&mut dyn crate::sealing::PersonalField> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactPerson {
    pub profile: Option<Profile>,
    pub active: bool,
    pub caseload: BTreeSet<FamilyId>,
}

impl ContactPerson {
    pub fn has_room(&self) -> bool {
        self.profile.as_ref().is_some_and(|profile| self.caseload.len() < profile.caseload_limit as usize)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactPersonCommand {
    Register(Profile),
    Update(Profile),
    Deactivate {
        reason: String,
    },
    /// Takes a family into the caseload (reserved before the assignment is recorded).
    Join {
        family_id: FamilyId,
    },
    /// Releases a family from the caseload.
    Leave {
        family_id: FamilyId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactPersonError {
    #[error("invalid command: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    #[error("contact person not found")]
    NotFound,
    #[error("the contact person is already registered")]
    AlreadyRegistered,
    #[error("the contact person is deactivated and takes no families")]
    Inactive,
    #[error("the caseload is full ({limit} families)")]
    CaseloadFull { limit: u32 },
    #[error("the contact person still coordinates {0} families; transfer the caseload first")]
    HasCaseload(usize),
}

fn check_profile(profile: &Profile) -> Vec<Violation> {
    let mut violations = Vec::new();
    if profile.name.trim().is_empty() {
        violations.push(Violation::new("name", "must not be empty"));
    }
    if profile.caseload_limit == 0 {
        violations.push(Violation::new("caseload_limit", "must be at least 1"));
    }
    violations
}

impl Aggregate for ContactPerson {
    type Event = ContactPersonEvent;
    type Command = ContactPersonCommand;
    type Error = ContactPersonError;

    const TYPE: &'static str = "person";

    fn apply(&mut self, event: &ContactPersonEvent) {
        match event {
            ContactPersonEvent::Registered(profile) => {
                self.profile = Some(profile.clone());
                self.active = true;
            }
            ContactPersonEvent::Updated(profile) => self.profile = Some(profile.clone()),
            ContactPersonEvent::Deactivated(_) => self.active = false,
            ContactPersonEvent::CaseloadJoined(change) => {
                self.caseload.insert(change.family_id);
            }
            ContactPersonEvent::CaseloadLeft(change) => {
                self.caseload.remove(&change.family_id);
            }
        }
    }

    fn decide(
        &self,
        command: &ContactPersonCommand,
        _: &Context,
    ) -> Result<Vec<ContactPersonEvent>, ContactPersonError> {
        use ContactPersonCommand as C;
        use ContactPersonEvent as E;
        if let C::Register(profile) = command {
            if self.profile.is_some() {
                return Err(ContactPersonError::AlreadyRegistered);
            }
            invalid_if_any(check_profile(profile), ContactPersonError::Invalid)?;
            return Ok(vec![E::Registered(profile.clone())]);
        }
        let Some(current) = &self.profile else {
            return Err(ContactPersonError::NotFound);
        };
        match command {
            C::Register(_) => Err(ContactPersonError::AlreadyRegistered),
            C::Update(profile) => {
                invalid_if_any(check_profile(profile), ContactPersonError::Invalid)?;
                // The identity is fixed at registration.
                let profile = Profile { person_id: current.person_id.clone(), ..profile.clone() };
                Ok(if &profile == current { Vec::new() } else { vec![E::Updated(profile)] })
            }
            C::Deactivate { reason } => {
                if !self.active {
                    return Ok(Vec::new());
                }
                if !self.caseload.is_empty() {
                    return Err(ContactPersonError::HasCaseload(self.caseload.len()));
                }
                Ok(vec![E::Deactivated(Deactivated { reason: reason.trim().to_owned() })])
            }
            C::Join { family_id } => {
                if self.caseload.contains(family_id) {
                    return Ok(Vec::new());
                }
                if !self.active {
                    return Err(ContactPersonError::Inactive);
                }
                if !self.has_room() {
                    return Err(ContactPersonError::CaseloadFull { limit: current.caseload_limit });
                }
                Ok(vec![E::CaseloadJoined(CaseloadChange { family_id: *family_id })])
            }
            C::Leave { family_id } => Ok(if self.caseload.contains(family_id) {
                vec![E::CaseloadLeft(CaseloadChange { family_id: *family_id })]
            } else {
                Vec::new()
            }),
        }
    }
}

//! What other contexts check about a family before they record something about it.

use super::MemberId;
use super::decide::FamilyError;
use super::state::{Family, FamilyStatus, Member};
use crate::{Actor, Role};

/// Erasure is carried out by a contact person or an operator.
pub fn check_erasure_by(actor: &Actor) -> Result<(), FamilyError> {
    match actor.role {
        Role::ContactPerson | Role::Operator => Ok(()),
        other => Err(FamilyError::ErasureNotPermitted(other)),
    }
}

/// Who signs in as a family's member is decided by a contact person or an operator: a member
/// linking themself would let anyone with a token claim any member.
pub fn check_linking_by(actor: &Actor) -> Result<(), FamilyError> {
    match actor.role {
        Role::ContactPerson | Role::Operator => Ok(()),
        other => Err(FamilyError::LinkingNotPermitted(other)),
    }
}

impl Family {
    /// The family exists (it may be closed or erased).
    pub fn check_exists(&self) -> Result<(), FamilyError> {
        match self.status {
            FamilyStatus::Absent => Err(FamilyError::NotFound),
            _ => Ok(()),
        }
    }

    /// The family exists and is neither closed nor erased, so it may be changed or have
    /// something recorded about it.
    pub fn check_open(&self) -> Result<(), FamilyError> {
        match self.status {
            FamilyStatus::Active => Ok(()),
            FamilyStatus::Absent => Err(FamilyError::NotFound),
            FamilyStatus::Closed(_) => Err(FamilyError::Closed),
            FamilyStatus::Erased => Err(FamilyError::Erased),
        }
    }

    /// A member of the family.
    pub fn check_member(&self, member_id: MemberId) -> Result<&Member, FamilyError> {
        self.members.get(&member_id).ok_or(FamilyError::MemberNotFound(member_id))
    }
}

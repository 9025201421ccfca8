//! What other contexts check about a family before they record something about it.

use jiff::civil::Date;

use super::MemberId;
use super::decide::{FamilyError, Retention};
use super::events::ErasureGround;
use super::state::{Family, FamilyStatus, Member};

/// Years social welfare client records are kept after the client relationship ends (Act on
/// the Processing of Client Data in Healthcare and Social Welfare 703/2023, appendix).
pub const SOCIAL_WELFARE_RETENTION_YEARS: i16 = 12;

/// Whether statutory retention lets the family's records be erased on `ground` on `today`.
/// Data recorded without a basis is erased whatever the period; otherwise child welfare
/// records are kept (for the child's lifetime), and social welfare records 12 years after
/// coordination closed.
pub fn check_retention(ground: ErasureGround, retention: Retention, today: Date) -> Result<(), FamilyError> {
    if ground == ErasureGround::Unlawful {
        return Ok(());
    }
    if retention.child_protection {
        return Err(FamilyError::InRetention(
            "a referral to child protection was made: child welfare records are kept for the child's lifetime \
             (703/2023); only data recorded without a basis may be erased"
                .to_owned(),
        ));
    }
    let ends = retention
        .closed_on
        .and_then(|closed| closed.checked_add(jiff::Span::new().years(SOCIAL_WELFARE_RETENTION_YEARS)).ok());
    match ends {
        Some(ends) if ends <= today => Ok(()),
        Some(ends) => Err(FamilyError::InRetention(format!(
            "social welfare records are kept {SOCIAL_WELFARE_RETENTION_YEARS} years after coordination closed: until {ends}"
        ))),
        None => Err(FamilyError::InRetention(format!(
            "coordination is open: social welfare records are kept {SOCIAL_WELFARE_RETENTION_YEARS} years after it closes"
        ))),
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

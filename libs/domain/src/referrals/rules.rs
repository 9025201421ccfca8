//! Rules across a referral and the family: which child a referral may concern, and what
//! allows sharing the family's information with the receiving sector, when a referral is sent
//! and when it is redirected.

use jiff::civil::Date;

use super::decide::ReferralError;
use super::events::{Basis, StatutoryBasis};
use super::state::Referral;
use crate::Sector;
use crate::family::{Family, MemberId, MemberRole};
use crate::sealing::Personal;
use crate::violation::Violation;

/// A referral of one child names a child of the family.
pub fn check_child(family: &Family, child: Option<MemberId>) -> Result<(), ReferralError> {
    let Some(child) = child else {
        return Ok(());
    };
    if family.members.get(&child).is_some_and(|member| member.role == MemberRole::Child) {
        return Ok(());
    }
    Err(ReferralError::Invalid(vec![Violation::named(
        "child",
        format!("{child} is not a child of the family"),
    )]))
}

/// What allows referring the family (or `child`) to `sector`: the statutory basis the sender
/// names, or else a consent of the family in force on `today` that covers the sector and the
/// child.
pub fn referral_basis(
    family: &Family,
    child: Option<MemberId>,
    sector: Sector,
    statutory: Option<(StatutoryBasis, &str)>,
    today: Date,
) -> Result<Basis, ReferralError> {
    check_child(family, child)?;
    if let Some((basis, note)) = statutory {
        if !crate::access::statutory_basis_allows(basis, sector) {
            return Err(ReferralError::StatutoryBasisNotInLaw { basis, sector });
        }
        if note.trim().is_empty() {
            return Err(ReferralError::Invalid(vec![Violation::named(
                "statutory_basis.note",
                "a referral without consent needs its written justification",
            )]));
        }
        return Ok(Basis::Statutory { basis, note: Personal::text(note) });
    }
    family
        .consent_covering(sector, child, today)
        .map(Basis::Consent)
        .ok_or(ReferralError::NoConsent { sector })
}

/// What allows redirecting `referral` to `sector`: the statutory basis it was sent on, or else
/// a consent in force on `today` covering the new sector, as when a referral is sent.
pub fn redirect_basis(
    referral: &Referral,
    family: &Family,
    sector: Sector,
    today: Date,
) -> Result<Basis, ReferralError> {
    let created = referral.created.as_ref().ok_or(ReferralError::NotFound)?;
    if let Basis::Statutory { basis, .. } = created.basis
        && crate::access::statutory_basis_allows(basis, sector)
    {
        return Ok(created.basis.clone());
    }
    family
        .consent_covering(sector, created.child, today)
        .map(Basis::Consent)
        .ok_or(ReferralError::NoConsent { sector })
}

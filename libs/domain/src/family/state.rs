//! The family's current state, evolved from its events.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::events::{CloseReason, ErasureGround, FamilyEvent, MemberDetails, MemberRole};
use super::{ConsentId, ErasureId, MemberId, Municipality};
use crate::sealing::Personal;
use crate::{Code, Sector};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FamilyStatus {
    /// No such family (yet).
    #[default]
    Absent,
    Active,
    Closed(CloseReason),
    /// The key is deleted; the facts remain, the personal data cannot be read.
    Erased,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub role: MemberRole,
    pub details: Personal<MemberDetails>,
}

impl Member {
    pub fn birth_date(&self) -> Option<Date> {
        self.details.plain().and_then(|details| details.birth_date)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub given_by: MemberId,
    pub concerns: Option<MemberId>,
    pub sectors: Vec<Sector>,
    pub purpose: Personal<String>,
    pub valid_from: Date,
    pub valid_until: Date,
    pub revoked_by: Option<MemberId>,
}

impl Consent {
    /// Counts on `today`: not revoked, and `today` within its validity. A consent past its end
    /// date stops counting with no event.
    pub fn in_force(&self, today: Date) -> bool {
        self.revoked_by.is_none() && self.valid_from <= today && today <= self.valid_until
    }
}

/// A request to erase the family, and its approval once given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingErasure {
    pub erasure_id: ErasureId,
    pub ground: ErasureGround,
    pub requested_by: Code,
    pub approved_by: Option<Code>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Family {
    pub status: FamilyStatus,
    pub municipality: Option<Municipality>,
    pub members: BTreeMap<MemberId, Member>,
    pub consents: BTreeMap<ConsentId, Consent>,
    /// The members who can sign in: the key of each one's link in the member link bucket.
    pub links: BTreeMap<MemberId, String>,
    pub erasure: Option<PendingErasure>,
}

impl Family {
    pub fn apply(&mut self, event: &FamilyEvent) {
        match event {
            FamilyEvent::Registered(registered) => {
                self.status = FamilyStatus::Active;
                self.municipality = Some(registered.municipality.clone());
                for joined in &registered.members {
                    self.members.insert(
                        joined.member_id,
                        Member { role: joined.role, details: joined.details.clone() },
                    );
                }
            }
            FamilyEvent::MemberAdded(joined) => {
                self.members
                    .insert(joined.member_id, Member { role: joined.role, details: joined.details.clone() });
            }
            FamilyEvent::MemberUpdated(updated) => {
                if let Some(member) = self.members.get_mut(&updated.member_id) {
                    member.role = updated.role;
                    member.details = updated.details.clone();
                }
            }
            FamilyEvent::MemberRemoved(removed) => {
                self.members.remove(&removed.member_id);
            }
            FamilyEvent::MemberLinked(linked) => {
                self.links.insert(linked.member_id, linked.subject_key.clone());
            }
            FamilyEvent::MemberUnlinked(unlinked) => {
                self.links.remove(&unlinked.member_id);
            }
            FamilyEvent::MunicipalityChanged(changed) => {
                self.municipality = Some(changed.municipality.clone());
            }
            FamilyEvent::ConsentGranted(granted) => {
                self.consents.insert(
                    granted.consent_id,
                    Consent {
                        given_by: granted.given_by,
                        concerns: granted.concerns,
                        sectors: granted.sectors.clone(),
                        purpose: granted.purpose.clone(),
                        valid_from: granted.valid_from,
                        valid_until: granted.valid_until,
                        revoked_by: None,
                    },
                );
            }
            FamilyEvent::ConsentRevoked(revoked) => {
                if let Some(consent) = self.consents.get_mut(&revoked.consent_id) {
                    consent.revoked_by = Some(revoked.revoked_by);
                }
            }
            FamilyEvent::ErasureRequested(requested) => {
                self.erasure = Some(PendingErasure {
                    erasure_id: requested.erasure_id,
                    ground: requested.ground,
                    requested_by: requested.requested_by.clone(),
                    approved_by: None,
                });
            }
            FamilyEvent::ErasureApproved(approved) => {
                if let Some(erasure) = self.erasure.as_mut().filter(|e| e.erasure_id == approved.erasure_id) {
                    erasure.approved_by = Some(approved.approved_by.clone());
                }
            }
            FamilyEvent::Closed(closed) => self.status = FamilyStatus::Closed(closed.reason),
            FamilyEvent::Reopened(_) => self.status = FamilyStatus::Active,
            FamilyEvent::Erased => {
                self.status = FamilyStatus::Erased;
                for member in self.members.values_mut() {
                    member.details = Personal::Erased;
                }
                for consent in self.consents.values_mut() {
                    consent.purpose = Personal::Erased;
                }
            }
        }
    }

    /// A consent in force on `today` that lets `sector` share and see the information of the
    /// family, or of `child` (a consent for the whole family covers each child).
    pub fn consent_covering(
        &self,
        sector: Sector,
        child: Option<MemberId>,
        today: Date,
    ) -> Option<ConsentId> {
        self.consents
            .iter()
            .find(|(_, consent)| {
                consent.in_force(today)
                    && consent.sectors.contains(&sector)
                    && (consent.concerns.is_none() || consent.concerns == child)
            })
            .map(|(id, _)| *id)
    }

    /// Whether the consent `consent_id` is still in force on `today`: a referral made under it
    /// lapses when it was revoked, or has ended, or is not the family's at all.
    pub fn consent_in_force(&self, consent_id: ConsentId, today: Date) -> bool {
        self.consents.get(&consent_id).is_some_and(|consent| consent.in_force(today))
    }

    /// The sectors that a consent in force on `today` covers.
    pub fn consented_sectors(&self, today: Date) -> Vec<Sector> {
        let mut sectors: Vec<Sector> = self
            .consents
            .values()
            .filter(|consent| consent.in_force(today))
            .flat_map(|consent| consent.sectors.iter().copied())
            .collect();
        sectors.sort();
        sectors.dedup();
        sectors
    }
}

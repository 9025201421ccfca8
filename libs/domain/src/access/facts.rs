//! The facts the policy decides on: each caller's relationships to a family, evolved from the
//! four contexts' events with no personal data, and what a call names.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use crate::contacts::{AssignmentEvent, ContactPersonId};
use crate::family::{ConsentId, FamilyEvent, FamilyId, MemberId, MemberRef, MemberRole};
use crate::meetings::{ActionId, MeetingEvent, MeetingId, Participant};
use crate::referrals::{ReferralEvent, ReferralId, StatutoryBasis};
use crate::{Actor, Code, Sector};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsentFact {
    pub given_by: MemberId,
    pub concerns: Option<MemberId>,
    pub sectors: Vec<Sector>,
    pub valid_from: Date,
    pub valid_until: Date,
    pub revoked: bool,
}

impl ConsentFact {
    pub fn in_force(&self, today: Date) -> bool {
        !self.revoked && self.valid_from <= today && today <= self.valid_until
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferralFact {
    /// The receiving sector (after any redirect).
    pub to_sector: Sector,
    /// The sending sector and person.
    pub from_sector: Option<Sector>,
    pub sent_by: Code,
    pub child: Option<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MeetingFact {
    pub participants: BTreeSet<Participant>,
    pub owners: BTreeMap<ActionId, Participant>,
}

/// What luukku knows of one family's relationships: no names, no texts.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FamilyFacts {
    pub registered: bool,
    pub erased: bool,
    /// Who registered the family: they act as its contact person until one is assigned.
    pub registered_by: Option<Code>,
    pub contact_person: Option<ContactPersonId>,
    /// The contact person whose assignment ended last, while the family has none.
    pub former_contact_person: Option<ContactPersonId>,
    pub pending_receiver: Option<ContactPersonId>,
    pub members: BTreeMap<MemberId, MemberRole>,
    pub consents: BTreeMap<ConsentId, ConsentFact>,
    pub referrals: BTreeMap<ReferralId, ReferralFact>,
    pub meetings: BTreeMap<MeetingId, MeetingFact>,
    /// A referral was ever addressed to child protection (redirected away or not).
    pub child_protection_referred: bool,
}

impl FamilyFacts {
    /// Evolves the facts by a family event that `actor` recorded.
    pub fn apply_family(&mut self, actor: &Actor, event: &FamilyEvent) {
        match event {
            FamilyEvent::Registered(registered) => {
                self.registered = true;
                self.registered_by = Some(actor.person_id.clone());
                for member in &registered.members {
                    self.members.insert(member.member_id, member.role);
                }
            }
            FamilyEvent::MemberAdded(joined) => {
                self.members.insert(joined.member_id, joined.role);
            }
            FamilyEvent::MemberUpdated(updated) => {
                self.members.insert(updated.member_id, updated.role);
            }
            FamilyEvent::MemberRemoved(removed) => {
                self.members.remove(&removed.member_id);
            }
            FamilyEvent::ConsentGranted(granted) => {
                self.consents.insert(
                    granted.consent_id,
                    ConsentFact {
                        given_by: granted.given_by,
                        concerns: granted.concerns,
                        sectors: granted.sectors.clone(),
                        valid_from: granted.valid_from,
                        valid_until: granted.valid_until,
                        revoked: false,
                    },
                );
            }
            FamilyEvent::ConsentRevoked(revoked) => {
                if let Some(consent) = self.consents.get_mut(&revoked.consent_id) {
                    consent.revoked = true;
                }
            }
            FamilyEvent::Erased => self.erased = true,
            FamilyEvent::MemberLinked(_)
            | FamilyEvent::MemberUnlinked(_)
            | FamilyEvent::MunicipalityChanged(_)
            | FamilyEvent::Closed(_)
            | FamilyEvent::Reopened(_)
            | FamilyEvent::ErasureRequested(_)
            | FamilyEvent::ErasureApproved(_) => {}
        }
    }

    pub fn apply_assignment(&mut self, event: &AssignmentEvent) {
        match event {
            AssignmentEvent::Assigned(assigned) => {
                self.contact_person = Some(assigned.contact_person);
                self.former_contact_person = None;
                self.pending_receiver = None;
            }
            AssignmentEvent::HandoverProposed(proposed) => self.pending_receiver = Some(proposed.to),
            AssignmentEvent::HandoverAccepted(_) => {
                self.contact_person = self.pending_receiver.take().or(self.contact_person);
            }
            AssignmentEvent::HandoverDeclined(_) | AssignmentEvent::HandoverWithdrawn(_) => {
                self.pending_receiver = None;
            }
            AssignmentEvent::Ended(ended) => {
                self.contact_person = None;
                self.former_contact_person = Some(ended.contact_person);
                self.pending_receiver = None;
            }
        }
    }

    pub fn apply_referral(&mut self, actor: &Actor, referral_id: ReferralId, event: &ReferralEvent) {
        match event {
            ReferralEvent::Created(created) => {
                self.child_protection_referred |= created.sector == Sector::ChildProtection;
                self.referrals.insert(
                    referral_id,
                    ReferralFact {
                        to_sector: created.sector,
                        from_sector: actor.sector,
                        sent_by: actor.person_id.clone(),
                        child: created.child,
                    },
                );
            }
            ReferralEvent::Redirected(redirected) => {
                self.child_protection_referred |= redirected.sector == Sector::ChildProtection;
                if let Some(referral) = self.referrals.get_mut(&referral_id) {
                    referral.to_sector = redirected.sector;
                }
            }
            _ => {}
        }
    }

    pub fn apply_meeting(&mut self, event: &MeetingEvent) {
        let meeting = self.meetings.entry(event.meeting_id()).or_default();
        match event {
            MeetingEvent::Proposed(proposed) => {
                meeting.participants.extend(proposed.participants.iter().cloned());
            }
            MeetingEvent::ParticipantAdded(added) => {
                meeting.participants.insert(added.participant.clone());
            }
            MeetingEvent::ParticipantRemoved(removed) => {
                meeting.participants.remove(&removed.participant);
            }
            MeetingEvent::Held(held) => {
                for action in &held.actions {
                    meeting.owners.insert(action.action_id, action.owner.clone());
                }
            }
            MeetingEvent::ActionReassigned(reassigned) => {
                meeting.owners.insert(reassigned.action_id, reassigned.owner.clone());
            }
            _ => {}
        }
    }

    /// The consents in force on `today` that cover `sector`.
    pub fn consents_covering(&self, sector: Sector, today: Date) -> impl Iterator<Item = ConsentId> + '_ {
        self.consents
            .iter()
            .filter(move |(_, consent)| consent.in_force(today) && consent.sectors.contains(&sector))
            .map(|(id, _)| *id)
    }

    /// The children of the family.
    pub fn children(&self) -> Vec<MemberId> {
        self.members.iter().filter(|(_, role)| **role == MemberRole::Child).map(|(id, _)| *id).collect()
    }
}

/// A step of a referral, as the policy tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferralStep {
    /// Receive, accept, reject, start, complete, fail, hold, resume or redirect: the receiving
    /// sector's.
    Receiving,
    /// Cancel: the sender's or the contact person's.
    Cancel,
}

/// What a call names, as far as the policy cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub family: Option<FamilyId>,
    /// The member a consent is given by, or whose data is asked for.
    pub member: Option<MemberId>,
    pub referral: Option<ReferralId>,
    pub step: Option<ReferralStep>,
    /// A new referral's receiving sector, and its statutory basis when it rests on no consent.
    pub to_sector: Option<Sector>,
    pub statutory: Option<StatutoryBasis>,
    pub meeting: Option<MeetingId>,
    pub action: Option<ActionId>,
    /// Whom an invitation is answered for.
    pub participant: Option<Participant>,
    /// The contact person whose work list is asked for, or who is to receive a family.
    pub contact_person: Option<ContactPersonId>,
    /// The person or sector whose work list is asked for.
    pub person: Option<Code>,
    pub sector: Option<Sector>,
    /// The signed form (its document id) a consent recorded by a professional rests on.
    pub signed_form: Option<String>,
    /// A search by an exact identity code, with the purpose stated.
    pub identity_code_search: bool,
    pub purpose: Option<String>,
}

impl Target {
    pub fn family(family_id: FamilyId) -> Self {
        Self { family: Some(family_id), ..Self::default() }
    }
}

/// An operator's time-limited access to one family's personal data, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    pub family_id: FamilyId,
    pub reason: String,
    /// Until when, in milliseconds since the epoch.
    pub until_ms: i64,
}

/// Everything the policy decides a call on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub today: Date,
    pub now_ms: i64,
    /// The family the call concerns, if it names one and luukku knows it.
    pub family: Option<&'a FamilyFacts>,
    /// The contact person the caller is, if they are one.
    pub caller_contact_person: Option<ContactPersonId>,
    /// The family member the caller signs in as.
    pub caller_member: Option<MemberRef>,
    pub break_glass: Option<&'a BreakGlass>,
    pub target: Target,
}

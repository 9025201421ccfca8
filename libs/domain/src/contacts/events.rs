//! The contacts aggregates' events. Each payload struct is schema version 1 of its event type.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{ContactId, ContactPersonId, HandoverId, ReservationId};
use crate::family::{FamilyId, MemberId, Municipality};
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Channel, Code, Need, Sector, Timestamp};

/// A contact person's work profile. A professional's profile is not the family's personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The person's id in the identity provider: the person they call as.
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

/// A place in the caseload held for a family while its assignment (or the acceptance of a
/// handover) is recorded. Only the request that made it releases it; a process releases it
/// after `until` when the assignment never came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceReserved {
    pub family_id: FamilyId,
    pub reservation_id: ReservationId,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationReleased {
    pub family_id: FamilyId,
    pub reservation_id: ReservationId,
    /// Released by the process after its time ran out, not by its own request.
    pub expired: bool,
}

crate::v1_events!(
    pub enum ContactPersonEvent {
        Registered(Profile) = "ContactPersonRegistered",
        Updated(Profile) = "ContactPersonUpdated",
        Deactivated(Deactivated) = "ContactPersonDeactivated",
        // The family is in the caseload: its assignment names this person.
        CaseloadJoined(CaseloadChange) = "CaseloadJoined",
        CaseloadLeft(CaseloadChange) = "CaseloadLeft",
        PlaceReserved(PlaceReserved) = "CaseloadPlaceReserved",
        ReservationReleased(ReservationReleased) = "CaseloadReservationReleased",
    }
);

impl HasPersonal for ContactPersonEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    pub contact_person: ContactPersonId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverProposed {
    pub handover_id: HandoverId,
    pub from: ContactPersonId,
    pub to: ContactPersonId,
    /// Free text about the family: sealed with its key.
    pub reason: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverAccepted {
    pub handover_id: HandoverId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverDeclined {
    pub handover_id: HandoverId,
    pub reason: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverWithdrawn {
    pub handover_id: HandoverId,
}

crate::wire_codes!(
    /// Why a family's contact person stopped coordinating it.
    pub enum EndReason, "end reason" {
        /// The family's needs are met.
        NeedsMet = "needs_met",
        /// The family no longer wants coordination.
        FamilyDeclined = "family_declined",
        /// Another service now holds the responsibility, such as child protection.
        ResponsibilityMoved = "responsibility_moved",
        MovedAway = "moved_away",
        /// The family was closed.
        FamilyClosed = "family_closed",
        /// The family was erased.
        FamilyErased = "family_erased",
        Other = "other",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentEnded {
    pub contact_person: ContactPersonId,
    pub reason: EndReason,
    /// Free text about the family, sealed with its key; none when a process ended it.
    pub note: Option<Personal<String>>,
}

crate::v1_events!(
    pub enum AssignmentEvent {
        Assigned(Assigned) = "ContactPersonAssigned",
        HandoverProposed(HandoverProposed) = "HandoverProposed",
        HandoverAccepted(HandoverAccepted) = "HandoverAccepted",
        HandoverDeclined(HandoverDeclined) = "HandoverDeclined",
        HandoverWithdrawn(HandoverWithdrawn) = "HandoverWithdrawn",
        Ended(AssignmentEnded) = "AssignmentEnded",
    }
);

impl HasPersonal for AssignmentEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            AssignmentEvent::HandoverProposed(proposed) => vec![&mut proposed.reason],
            AssignmentEvent::HandoverDeclined(declined) => vec![&mut declined.reason],
            AssignmentEvent::Ended(ended) => {
                ended.note.iter_mut().map(|note| note as &mut dyn PersonalField).collect()
            }
            AssignmentEvent::Assigned(_)
            | AssignmentEvent::HandoverAccepted(_)
            | AssignmentEvent::HandoverWithdrawn(_) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// The family or a professional got in touch.
    Inbound,
    /// The contact person got in touch.
    Outbound,
}

/// Who the contact was with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Party {
    FamilyMember(MemberId),
    Professional(Sector),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecorded {
    pub contact_id: ContactId,
    /// When the contact happened.
    pub occurred_at: Timestamp,
    pub direction: Direction,
    pub party: Party,
    pub channel: Channel,
    pub needs: Vec<Need>,
    /// Sealed with the family's key.
    pub summary: Personal<String>,
    /// Services or sectors suggested to the family.
    pub guidance: Vec<Sector>,
    pub follow_up: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpCompleted {
    pub contact_id: ContactId,
    pub note: Personal<String>,
}

crate::v1_events!(
    pub enum ContactLogEvent {
        Recorded(ContactRecorded) = "ContactRecorded",
        FollowUpCompleted(FollowUpCompleted) = "FollowUpCompleted",
    }
);

impl HasPersonal for ContactLogEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            ContactLogEvent::Recorded(recorded) => vec![&mut recorded.summary],
            ContactLogEvent::FollowUpCompleted(completed) => vec![&mut completed.note],
        }
    }
}

/// A consultation: a professional asks about a client who is not registered. No personal data
/// is recorded; it counts in statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultationRecorded {
    pub occurred_at: Timestamp,
    /// The consulting professional's sector.
    pub sector: Sector,
    pub channel: Channel,
    pub needs: Vec<Need>,
    pub guidance: Vec<Sector>,
    pub municipality: Option<Municipality>,
}

crate::v1_events!(
    pub enum ConsultationEvent {
        Recorded(ConsultationRecorded) = "ConsultationRecorded",
    }
);

impl HasPersonal for ConsultationEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        Vec::new()
    }
}

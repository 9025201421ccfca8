//! The meetings' events and the values they hold.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{ActionId, MeetingId};
use crate::family::MemberId;
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Code, Sector, Timestamp};

crate::wire_codes!(
    /// What a meeting is for; a family has at most one open meeting per purpose.
    pub enum Purpose, "meeting purpose" {
        SupportPlanning = "support_planning",
        SchoolSupport = "school_support",
        EarlyEducationSupport = "early_education_support",
        Transition = "transition",
        Crisis = "crisis",
        FollowUp = "follow_up",
        Other = "other",
    }
);

/// A time a meeting may be held, or is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slot {
    pub starts_at: Timestamp,
    pub minutes: u16,
}

/// Who takes part: a member of the family, a professional by person, or a sector (any of its
/// professionals).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Participant {
    FamilyMember(MemberId),
    Person(Code),
    Sector(Sector),
}

/// Who owns an agreed action.
pub type Owner = Participant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    Accept,
    Decline,
    Tentative,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingProposed {
    pub meeting_id: MeetingId,
    pub purpose: Purpose,
    pub description: Personal<String>,
    pub slots: Vec<Slot>,
    /// A place or a remote link; sealed (a home visit's address is personal).
    pub place: Personal<String>,
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationAnswered {
    pub meeting_id: MeetingId,
    pub participant: Participant,
    /// One answer per proposed slot, by index.
    pub answers: Vec<(u8, Answer)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingScheduled {
    pub meeting_id: MeetingId,
    pub slot: Slot,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRescheduled {
    pub meeting_id: MeetingId,
    pub slot: Slot,
    pub reason: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingCancelled {
    pub meeting_id: MeetingId,
    pub reason: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantChanged {
    pub meeting_id: MeetingId,
    pub participant: Participant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildView {
    pub member_id: MemberId,
    /// The child's own words.
    pub view: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreedAction {
    pub action_id: ActionId,
    pub what: Personal<String>,
    pub owner: Owner,
    pub due: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingHeld {
    pub meeting_id: MeetingId,
    pub held_at: Timestamp,
    pub attended: Vec<Participant>,
    pub summary: Personal<String>,
    pub child_views: Vec<ChildView>,
    pub actions: Vec<AgreedAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDone {
    pub meeting_id: MeetingId,
    pub action_id: ActionId,
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReassigned {
    pub meeting_id: MeetingId,
    pub action_id: ActionId,
    pub owner: Owner,
}

crate::v1_events!(
    pub enum MeetingEvent {
        Proposed(MeetingProposed) = "MeetingProposed",
        Answered(InvitationAnswered) = "InvitationAnswered",
        Scheduled(MeetingScheduled) = "MeetingScheduled",
        Rescheduled(MeetingRescheduled) = "MeetingRescheduled",
        Cancelled(MeetingCancelled) = "MeetingCancelled",
        ParticipantAdded(ParticipantChanged) = "ParticipantAdded",
        ParticipantRemoved(ParticipantChanged) = "ParticipantRemoved",
        Held(MeetingHeld) = "MeetingHeld",
        ActionDone(ActionDone) = "ActionDone",
        ActionReassigned(ActionReassigned) = "ActionReassigned",
    }
);

impl MeetingEvent {
    pub fn meeting_id(&self) -> MeetingId {
        match self {
            MeetingEvent::Proposed(e) => e.meeting_id,
            MeetingEvent::Answered(e) => e.meeting_id,
            MeetingEvent::Scheduled(e) => e.meeting_id,
            MeetingEvent::Rescheduled(e) => e.meeting_id,
            MeetingEvent::Cancelled(e) => e.meeting_id,
            MeetingEvent::ParticipantAdded(e) | MeetingEvent::ParticipantRemoved(e) => e.meeting_id,
            MeetingEvent::Held(e) => e.meeting_id,
            MeetingEvent::ActionDone(e) => e.meeting_id,
            MeetingEvent::ActionReassigned(e) => e.meeting_id,
        }
    }
}

impl HasPersonal for MeetingEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            MeetingEvent::Proposed(e) => vec![&mut e.description, &mut e.place],
            MeetingEvent::Rescheduled(e) => vec![&mut e.reason],
            MeetingEvent::Cancelled(e) => vec![&mut e.reason],
            MeetingEvent::Held(e) => {
                let mut fields: Vec<&mut dyn PersonalField> = vec![&mut e.summary];
                fields.extend(e.child_views.iter_mut().map(|v| &mut v.view as &mut dyn PersonalField));
                fields.extend(e.actions.iter_mut().map(|a| &mut a.what as &mut dyn PersonalField));
                fields
            }
            MeetingEvent::ActionDone(e) => vec![&mut e.note],
            MeetingEvent::Answered(_)
            | MeetingEvent::Scheduled(_)
            | MeetingEvent::ParticipantAdded(_)
            | MeetingEvent::ParticipantRemoved(_)
            | MeetingEvent::ActionReassigned(_) => Vec::new(),
        }
    }
}

//! A family's meetings as evolved from their events.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use super::events::*;
use super::{ActionId, MeetingId};
use crate::sealing::Personal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MeetingStatus {
    Proposed,
    Scheduled(Slot),
    Held,
    Cancelled,
}

impl MeetingStatus {
    pub fn is_open(self) -> bool {
        matches!(self, MeetingStatus::Proposed | MeetingStatus::Scheduled(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    pub what: Personal<String>,
    pub owner: Owner,
    pub due: Date,
    pub done: Option<Personal<String>>,
}

impl Action {
    pub fn overdue(&self, today: Date) -> bool {
        self.done.is_none() && self.due < today
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meeting {
    pub purpose: Purpose,
    pub description: Personal<String>,
    pub slots: Vec<Slot>,
    pub place: Personal<String>,
    pub participants: BTreeSet<Participant>,
    pub answers: BTreeMap<Participant, Vec<(u8, Answer)>>,
    pub status: MeetingStatus,
    pub held: Option<MeetingHeld>,
    pub actions: BTreeMap<ActionId, Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FamilyMeetings {
    pub meetings: BTreeMap<MeetingId, Meeting>,
}

impl FamilyMeetings {
    pub fn open_for(&self, purpose: Purpose) -> Option<MeetingId> {
        self.meetings.iter().find(|(_, m)| m.purpose == purpose && m.status.is_open()).map(|(id, _)| *id)
    }

    pub(super) fn evolve(&mut self, event: &MeetingEvent) {
        if let MeetingEvent::Proposed(proposed) = event {
            self.meetings.insert(
                proposed.meeting_id,
                Meeting {
                    purpose: proposed.purpose,
                    description: proposed.description.clone(),
                    slots: proposed.slots.clone(),
                    place: proposed.place.clone(),
                    participants: proposed.participants.iter().cloned().collect(),
                    answers: BTreeMap::new(),
                    status: MeetingStatus::Proposed,
                    held: None,
                    actions: BTreeMap::new(),
                },
            );
            return;
        }
        let Some(meeting) = self.meetings.get_mut(&event.meeting_id()) else {
            return;
        };
        match event {
            MeetingEvent::Proposed(_) => {}
            MeetingEvent::Answered(answered) => {
                meeting.answers.insert(answered.participant.clone(), answered.answers.clone());
            }
            MeetingEvent::Scheduled(MeetingScheduled { slot, .. })
            | MeetingEvent::Rescheduled(MeetingRescheduled { slot, .. }) => {
                meeting.status = MeetingStatus::Scheduled(*slot);
            }
            MeetingEvent::Cancelled(_) => meeting.status = MeetingStatus::Cancelled,
            MeetingEvent::ParticipantAdded(changed) => {
                meeting.participants.insert(changed.participant.clone());
            }
            MeetingEvent::ParticipantRemoved(changed) => {
                meeting.participants.remove(&changed.participant);
                meeting.answers.remove(&changed.participant);
            }
            MeetingEvent::Held(held) => {
                meeting.status = MeetingStatus::Held;
                for action in &held.actions {
                    meeting.actions.insert(
                        action.action_id,
                        Action {
                            what: action.what.clone(),
                            owner: action.owner.clone(),
                            due: action.due,
                            done: None,
                        },
                    );
                }
                meeting.held = Some(held.clone());
            }
            MeetingEvent::ActionDone(done) => {
                if let Some(action) = meeting.actions.get_mut(&done.action_id) {
                    action.done = Some(done.note.clone());
                }
            }
            MeetingEvent::ActionReassigned(reassigned) => {
                if let Some(action) = meeting.actions.get_mut(&reassigned.action_id) {
                    action.owner = reassigned.owner.clone();
                }
            }
        }
    }
}

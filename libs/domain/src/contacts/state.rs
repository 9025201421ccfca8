//! The contacts aggregates' states, evolved from their events.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;

use super::events::*;
use super::{ContactId, ContactPersonId, HandoverId, ReservationId};
use crate::Timestamp;
use crate::family::FamilyId;
use crate::sealing::Personal;

/// A place held in a caseload while an assignment is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    pub reservation_id: ReservationId,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactPerson {
    pub profile: Option<Profile>,
    pub active: bool,
    /// The families they coordinate.
    pub caseload: BTreeSet<FamilyId>,
    /// Places held for families whose assignment is being recorded; they count against the
    /// limit.
    pub reserved: BTreeMap<FamilyId, Reservation>,
}

impl ContactPerson {
    /// Families coordinated and places held.
    pub fn places_taken(&self) -> usize {
        self.caseload.len() + self.reserved.len()
    }

    pub fn has_room(&self) -> bool {
        self.profile.as_ref().is_some_and(|profile| self.places_taken() < profile.caseload_limit as usize)
    }

    pub fn limit(&self) -> u32 {
        self.profile.as_ref().map_or(0, |profile| profile.caseload_limit)
    }

    pub(super) fn evolve(&mut self, event: &ContactPersonEvent) {
        match event {
            ContactPersonEvent::Registered(profile) => {
                self.profile = Some(profile.clone());
                self.active = true;
            }
            ContactPersonEvent::Updated(profile) => self.profile = Some(profile.clone()),
            ContactPersonEvent::Deactivated(_) => self.active = false,
            ContactPersonEvent::CaseloadJoined(change) => {
                self.reserved.remove(&change.family_id);
                self.caseload.insert(change.family_id);
            }
            ContactPersonEvent::CaseloadLeft(change) => {
                self.caseload.remove(&change.family_id);
            }
            ContactPersonEvent::PlaceReserved(reserved) => {
                let reservation =
                    Reservation { reservation_id: reserved.reservation_id, until: reserved.until };
                self.reserved.insert(reserved.family_id, reservation);
            }
            ContactPersonEvent::ReservationReleased(released) => {
                let held = self.reserved.get(&released.family_id);
                if held.is_some_and(|held| held.reservation_id == released.reservation_id) {
                    self.reserved.remove(&released.family_id);
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingHandover {
    pub handover_id: HandoverId,
    pub from: ContactPersonId,
    pub to: ContactPersonId,
    pub reason: Personal<String>,
}

/// A family's one contact person. One subject per family, written with an expected version,
/// so two simultaneous assignments have exactly one winner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The family's contact person; responsible until a handover is accepted.
    pub current: Option<ContactPersonId>,
    pub pending: Option<PendingHandover>,
}

impl Assignment {
    pub(super) fn evolve(&mut self, event: &AssignmentEvent) {
        match event {
            AssignmentEvent::Assigned(assigned) => self.current = Some(assigned.contact_person),
            AssignmentEvent::HandoverProposed(proposed) => {
                self.pending = Some(PendingHandover {
                    handover_id: proposed.handover_id,
                    from: proposed.from,
                    to: proposed.to,
                    reason: proposed.reason.clone(),
                });
            }
            AssignmentEvent::HandoverAccepted(_) => {
                if let Some(pending) = self.pending.take() {
                    self.current = Some(pending.to);
                }
            }
            AssignmentEvent::HandoverDeclined(_) | AssignmentEvent::HandoverWithdrawn(_) => {
                self.pending = None
            }
            AssignmentEvent::Ended(_) => {
                self.current = None;
                self.pending = None;
            }
        }
    }

    /// The pending handover with this id.
    pub fn pending_handover(&self, handover_id: HandoverId) -> Option<&PendingHandover> {
        self.pending.as_ref().filter(|pending| pending.handover_id == handover_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedContact {
    pub contact: ContactRecorded,
    pub follow_up_done: Option<Personal<String>>,
}

impl LoggedContact {
    /// A follow-up not yet done, due on or before `date`.
    pub fn follow_up_due(&self, date: Date) -> bool {
        self.follow_up_done.is_none() && self.contact.follow_up.is_some_and(|due| due <= date)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactLog {
    pub contacts: BTreeMap<ContactId, LoggedContact>,
}

impl ContactLog {
    pub(super) fn evolve(&mut self, event: &ContactLogEvent) {
        match event {
            ContactLogEvent::Recorded(recorded) => {
                self.contacts.insert(
                    recorded.contact_id,
                    LoggedContact { contact: recorded.clone(), follow_up_done: None },
                );
            }
            ContactLogEvent::FollowUpCompleted(completed) => {
                if let Some(logged) = self.contacts.get_mut(&completed.contact_id) {
                    logged.follow_up_done = Some(completed.note.clone());
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consultation {
    pub recorded: Option<ConsultationRecorded>,
}

impl Consultation {
    pub(super) fn evolve(&mut self, event: &ConsultationEvent) {
        let ConsultationEvent::Recorded(recorded) = event;
        self.recorded = Some(recorded.clone());
    }
}

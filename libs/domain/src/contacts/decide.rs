//! The contacts aggregates' commands, refusals and decisions.

use super::events::*;
use super::state::*;
use super::{ContactId, ContactPersonId, HandoverId, ReservationId};
use crate::Timestamp;
use crate::family::FamilyId;
use crate::refusal::{Refusal, Rule, rules};
use crate::sealing::Personal;
use crate::violation::{Violation, describe, invalid_if_any};
use crate::{Aggregate, Context};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactPersonCommand {
    Register(Profile),
    Update(Profile),
    Deactivate {
        reason: String,
    },
    /// Holds a place for a family until `until`, while its assignment is recorded.
    Reserve {
        family_id: FamilyId,
        reservation_id: ReservationId,
        until: Timestamp,
    },
    /// Gives up a place held by `reservation_id`; nothing when another holds it, or none.
    Release {
        family_id: FamilyId,
        reservation_id: ReservationId,
        expired: bool,
    },
    /// The family's assignment names this person: it is in the caseload (a place held for it
    /// is taken).
    Join {
        family_id: FamilyId,
    },
    /// The family's assignment no longer names this person.
    Leave {
        family_id: FamilyId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactPersonError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("the contact person does not exist")]
    NotFound,
    #[error("the contact person is already registered")]
    AlreadyRegistered,
    #[error("the contact person is deactivated and takes no families")]
    Inactive,
    #[error("the caseload is full ({limit} families)")]
    CaseloadFull { limit: u32 },
    #[error(
        "the contact person still coordinates {families} families and holds {reserved} places; end or \
         transfer them first"
    )]
    HasCaseload { families: usize, reserved: usize },
    #[error("another request is assigning family {0} to this contact person now; retry when it has ended")]
    PlaceHeld(FamilyId),
}

impl Refusal for ContactPersonError {
    fn rule(&self) -> Rule {
        match self {
            ContactPersonError::Invalid(_) => rules::INVALID_ARGUMENT,
            ContactPersonError::NotFound => rules::CONTACT_PERSON_NOT_FOUND,
            ContactPersonError::AlreadyRegistered => rules::CONTACT_PERSON_EXISTS,
            ContactPersonError::Inactive => rules::CONTACT_PERSON_INACTIVE,
            ContactPersonError::CaseloadFull { .. } => rules::CASELOAD_FULL,
            ContactPersonError::HasCaseload { .. } => rules::HAS_CASELOAD,
            ContactPersonError::PlaceHeld(_) => rules::ASSIGNMENT_IN_PROGRESS,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            ContactPersonError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

fn check_profile(profile: &Profile) -> Vec<Violation> {
    let mut violations = Vec::new();
    if profile.name.trim().is_empty() {
        violations.push(Violation::named("name", "must not be empty"));
    }
    if profile.caseload_limit == 0 {
        violations.push(Violation::named("caseload_limit", "must be at least 1"));
    }
    violations
}

impl ContactPerson {
    /// The contact person exists.
    pub fn check_exists(&self) -> Result<&Profile, ContactPersonError> {
        self.profile.as_ref().ok_or(ContactPersonError::NotFound)
    }

    /// The contact person exists and takes families.
    pub fn check_active(&self) -> Result<&Profile, ContactPersonError> {
        let profile = self.check_exists()?;
        if !self.active {
            return Err(ContactPersonError::Inactive);
        }
        Ok(profile)
    }
}

impl Aggregate for ContactPerson {
    type Event = ContactPersonEvent;
    type Command = ContactPersonCommand;
    type Error = ContactPersonError;

    const TYPE: &'static str = "person";
    const NOUN: &'static str = "contact_person";

    fn apply(&mut self, event: &ContactPersonEvent) {
        self.evolve(event);
    }

    fn decide(
        &self,
        command: &ContactPersonCommand,
        context: &Context,
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
        let current = self.check_exists()?;
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
                if self.places_taken() > 0 {
                    return Err(ContactPersonError::HasCaseload {
                        families: self.caseload.len(),
                        reserved: self.reserved.len(),
                    });
                }
                Ok(vec![E::Deactivated(Deactivated { reason: reason.trim().to_owned() })])
            }
            C::Reserve { family_id, reservation_id, until } => {
                if self.caseload.contains(family_id) {
                    return Ok(Vec::new());
                }
                let reserved = E::PlaceReserved(PlaceReserved {
                    family_id: *family_id,
                    reservation_id: *reservation_id,
                    until: *until,
                });
                let mut events = Vec::new();
                match self.reserved.get(family_id) {
                    // A retry of the request holding it: its time starts again.
                    Some(held) if held.reservation_id == *reservation_id => {
                        return Ok(if held.until < *until { vec![reserved] } else { Vec::new() });
                    }
                    // Another request's place whose time ran out: it is released and taken.
                    Some(held) if held.until <= context.now => {
                        events.push(E::ReservationReleased(ReservationReleased {
                            family_id: *family_id,
                            reservation_id: held.reservation_id,
                            expired: true,
                        }));
                    }
                    Some(_) => return Err(ContactPersonError::PlaceHeld(*family_id)),
                    None => {
                        if !self.active {
                            return Err(ContactPersonError::Inactive);
                        }
                        if !self.has_room() {
                            return Err(ContactPersonError::CaseloadFull { limit: current.caseload_limit });
                        }
                    }
                }
                if !self.active {
                    return Err(ContactPersonError::Inactive);
                }
                events.push(reserved);
                Ok(events)
            }
            C::Release { family_id, reservation_id, expired } => {
                let held = self.reserved.get(family_id);
                Ok(if held.is_some_and(|held| held.reservation_id == *reservation_id) {
                    vec![E::ReservationReleased(ReservationReleased {
                        family_id: *family_id,
                        reservation_id: *reservation_id,
                        expired: *expired,
                    })]
                } else {
                    Vec::new()
                })
            }
            C::Join { family_id } => Ok(if self.caseload.contains(family_id) {
                Vec::new()
            } else {
                vec![E::CaseloadJoined(CaseloadChange { family_id: *family_id })]
            }),
            C::Leave { family_id } => Ok(if self.caseload.contains(family_id) {
                vec![E::CaseloadLeft(CaseloadChange { family_id: *family_id })]
            } else {
                Vec::new()
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentCommand {
    /// Assigns `to`; when the family already has a contact person this proposes a handover,
    /// which needs a reason.
    Assign {
        to: ContactPersonId,
        handover_id: HandoverId,
        reason: String,
    },
    Accept {
        handover_id: HandoverId,
    },
    Decline {
        handover_id: HandoverId,
        reason: String,
    },
    Withdraw {
        handover_id: HandoverId,
    },
    /// The contact person stops coordinating the family; a pending handover is withdrawn.
    End {
        reason: EndReason,
        /// Empty for none.
        note: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("{0} is already the family's contact person")]
    AlreadyAssigned(ContactPersonId),
    #[error("the family's contact person is {current}; a handover to another needs a reason")]
    ReasonRequired { current: ContactPersonId },
    #[error("handover {handover_id} to {to} is pending; it must be accepted, declined or withdrawn first")]
    HandoverPending { handover_id: HandoverId, to: ContactPersonId },
    #[error("handover {0} is not pending for this family")]
    NoSuchHandover(HandoverId),
    #[error("only the receiving contact person {0} (or an operator) decides on this handover")]
    NotTheReceiver(ContactPersonId),
    #[error("the family has no contact person")]
    NotAssigned,
}

impl Refusal for AssignmentError {
    fn rule(&self) -> Rule {
        match self {
            AssignmentError::AlreadyAssigned(_) => rules::ALREADY_ASSIGNED,
            AssignmentError::ReasonRequired { .. } => rules::HANDOVER_NEEDS_REASON,
            AssignmentError::HandoverPending { .. } => rules::HANDOVER_PENDING,
            AssignmentError::NoSuchHandover(_) => rules::NO_SUCH_HANDOVER,
            AssignmentError::NotTheReceiver(_) => rules::NOT_THE_RECEIVER,
            AssignmentError::NotAssigned => rules::NOT_ASSIGNED,
        }
    }
}

impl Assignment {
    fn pending(&self, handover_id: HandoverId) -> Result<&PendingHandover, AssignmentError> {
        self.pending_handover(handover_id).ok_or(AssignmentError::NoSuchHandover(handover_id))
    }
}

impl Aggregate for Assignment {
    type Event = AssignmentEvent;
    type Command = AssignmentCommand;
    type Error = AssignmentError;

    const TYPE: &'static str = "assignment";
    const NOUN: &'static str = "family";

    fn apply(&mut self, event: &AssignmentEvent) {
        self.evolve(event);
    }

    fn decide(
        &self,
        command: &AssignmentCommand,
        _: &Context,
    ) -> Result<Vec<AssignmentEvent>, AssignmentError> {
        match command {
            AssignmentCommand::Assign { to, handover_id, reason } => match self.current {
                None => Ok(vec![AssignmentEvent::Assigned(Assigned { contact_person: *to })]),
                Some(current) if current == *to => Err(AssignmentError::AlreadyAssigned(current)),
                Some(current) => {
                    if let Some(pending) = &self.pending {
                        return Err(AssignmentError::HandoverPending {
                            handover_id: pending.handover_id,
                            to: pending.to,
                        });
                    }
                    if reason.trim().is_empty() {
                        return Err(AssignmentError::ReasonRequired { current });
                    }
                    Ok(vec![AssignmentEvent::HandoverProposed(HandoverProposed {
                        handover_id: *handover_id,
                        from: current,
                        to: *to,
                        reason: Personal::text(reason),
                    })])
                }
            },
            AssignmentCommand::Accept { handover_id } => {
                self.pending(*handover_id)?;
                Ok(vec![AssignmentEvent::HandoverAccepted(HandoverAccepted { handover_id: *handover_id })])
            }
            AssignmentCommand::Decline { handover_id, reason } => {
                self.pending(*handover_id)?;
                Ok(vec![AssignmentEvent::HandoverDeclined(HandoverDeclined {
                    handover_id: *handover_id,
                    reason: Personal::text(reason),
                })])
            }
            AssignmentCommand::Withdraw { handover_id } => {
                self.pending(*handover_id)?;
                Ok(vec![AssignmentEvent::HandoverWithdrawn(HandoverWithdrawn { handover_id: *handover_id })])
            }
            AssignmentCommand::End { reason, note } => {
                let contact_person = self.current.ok_or(AssignmentError::NotAssigned)?;
                let mut events = Vec::new();
                if let Some(pending) = &self.pending {
                    let handover_id = pending.handover_id;
                    events.push(AssignmentEvent::HandoverWithdrawn(HandoverWithdrawn { handover_id }));
                }
                let note = note.trim();
                events.push(AssignmentEvent::Ended(AssignmentEnded {
                    contact_person,
                    reason: *reason,
                    note: (!note.is_empty()).then(|| Personal::text(note)),
                }));
                Ok(events)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactLogCommand {
    Record(ContactRecorded),
    CompleteFollowUp { contact_id: ContactId, note: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactLogError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("contact {0} is already recorded")]
    Exists(ContactId),
    #[error("contact {0} is not in the family's log")]
    NotFound(ContactId),
    #[error("contact {0} has no follow-up")]
    NoFollowUp(ContactId),
    #[error("the follow-up of contact {0} is already done")]
    FollowUpDone(ContactId),
}

impl Refusal for ContactLogError {
    fn rule(&self) -> Rule {
        match self {
            ContactLogError::Invalid(_) => rules::INVALID_ARGUMENT,
            ContactLogError::Exists(_) => rules::CONTACT_EXISTS,
            ContactLogError::NotFound(_) => rules::CONTACT_NOT_FOUND,
            ContactLogError::NoFollowUp(_) => rules::NO_FOLLOW_UP,
            ContactLogError::FollowUpDone(_) => rules::FOLLOW_UP_DONE,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            ContactLogError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

impl Aggregate for ContactLog {
    type Event = ContactLogEvent;
    type Command = ContactLogCommand;
    type Error = ContactLogError;

    const TYPE: &'static str = "log";
    const NOUN: &'static str = "family";

    fn apply(&mut self, event: &ContactLogEvent) {
        self.evolve(event);
    }

    fn decide(
        &self,
        command: &ContactLogCommand,
        context: &Context,
    ) -> Result<Vec<ContactLogEvent>, ContactLogError> {
        match command {
            ContactLogCommand::Record(recorded) => {
                let mut violations = Vec::new();
                if recorded.needs.is_empty() {
                    violations.push(Violation::named("needs", "name at least one need category"));
                }
                if recorded.summary.plain().is_none_or(|summary| summary.trim().is_empty()) {
                    violations.push(Violation::named("summary", "must not be empty"));
                }
                if recorded.occurred_at > context.now {
                    violations.push(Violation::named("occurred_at", "must not be in the future"));
                }
                if recorded.follow_up.is_some_and(|date| date < context.today) {
                    violations.push(Violation::named("follow_up", "must not be in the past"));
                }
                invalid_if_any(violations, ContactLogError::Invalid)?;
                if self.contacts.contains_key(&recorded.contact_id) {
                    return Err(ContactLogError::Exists(recorded.contact_id));
                }
                Ok(vec![ContactLogEvent::Recorded(recorded.clone())])
            }
            ContactLogCommand::CompleteFollowUp { contact_id, note } => {
                let logged = self.contacts.get(contact_id).ok_or(ContactLogError::NotFound(*contact_id))?;
                if logged.contact.follow_up.is_none() {
                    return Err(ContactLogError::NoFollowUp(*contact_id));
                }
                if logged.follow_up_done.is_some() {
                    return Err(ContactLogError::FollowUpDone(*contact_id));
                }
                Ok(vec![ContactLogEvent::FollowUpCompleted(FollowUpCompleted {
                    contact_id: *contact_id,
                    note: Personal::text(note),
                })])
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsultationError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("the consultation is already recorded")]
    Exists,
}

impl Refusal for ConsultationError {
    fn rule(&self) -> Rule {
        match self {
            ConsultationError::Invalid(_) => rules::INVALID_ARGUMENT,
            ConsultationError::Exists => rules::CONSULTATION_EXISTS,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            ConsultationError::Invalid(violations) => violations,
            ConsultationError::Exists => &[],
        }
    }
}

impl Aggregate for Consultation {
    type Event = ConsultationEvent;
    type Command = ConsultationRecorded;
    type Error = ConsultationError;

    const TYPE: &'static str = "consultation";
    const NOUN: &'static str = "consultation";

    fn apply(&mut self, event: &ConsultationEvent) {
        self.evolve(event);
    }

    fn decide(
        &self,
        command: &ConsultationRecorded,
        context: &Context,
    ) -> Result<Vec<ConsultationEvent>, ConsultationError> {
        if self.recorded.is_some() {
            return Err(ConsultationError::Exists);
        }
        let mut violations = Vec::new();
        if command.needs.is_empty() {
            violations.push(Violation::named("needs", "name at least one need category"));
        }
        if command.occurred_at > context.now {
            violations.push(Violation::named("occurred_at", "must not be in the future"));
        }
        invalid_if_any(violations, ConsultationError::Invalid)?;
        Ok(vec![ConsultationEvent::Recorded(command.clone())])
    }
}

//! A family's meetings: commands, refusals and decisions.

use jiff::civil::Date;

use super::events::*;
use super::state::*;
use super::{ActionId, MeetingId};
use crate::family::MemberId;
use crate::refusal::{Refusal, Rule, rules};
use crate::sealing::Personal;
use crate::violation::{Field, Violation, describe, invalid_if_any, require_text};
use crate::{Aggregate, Context, Timestamp};

/// An agreed action as a caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    pub action_id: ActionId,
    pub what: String,
    pub owner: Owner,
    pub due: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingCommand {
    Propose {
        meeting_id: MeetingId,
        purpose: Purpose,
        description: String,
        slots: Vec<Slot>,
        place: String,
        participants: Vec<Participant>,
    },
    Answer {
        meeting_id: MeetingId,
        participant: Participant,
        answers: Vec<(u8, Answer)>,
    },
    Schedule {
        meeting_id: MeetingId,
        slot_index: u8,
    },
    Reschedule {
        meeting_id: MeetingId,
        slot: Slot,
        reason: String,
    },
    Cancel {
        meeting_id: MeetingId,
        reason: String,
    },
    AddParticipant {
        meeting_id: MeetingId,
        participant: Participant,
    },
    RemoveParticipant {
        meeting_id: MeetingId,
        participant: Participant,
    },
    Hold {
        meeting_id: MeetingId,
        held_at: Timestamp,
        attended: Vec<Participant>,
        summary: String,
        child_views: Vec<(MemberId, String)>,
        actions: Vec<NewAction>,
    },
    CompleteAction {
        meeting_id: MeetingId,
        action_id: ActionId,
        note: String,
    },
    ReassignAction {
        meeting_id: MeetingId,
        action_id: ActionId,
        owner: Owner,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeetingError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("meeting {0} already exists")]
    Exists(MeetingId),
    #[error("meeting {0} not found")]
    NotFound(MeetingId),
    #[error("the family already has an open meeting for {purpose}: {open}")]
    AlreadyOpen { purpose: &'static str, open: MeetingId },
    #[error("meeting {meeting} is {status}; {rule}")]
    WrongStatus { meeting: MeetingId, status: &'static str, rule: &'static str },
    #[error("{0:?} is not invited to the meeting")]
    NotInvited(Participant),
    #[error("{0:?} is already invited")]
    AlreadyInvited(Participant),
    #[error("action {0} not found")]
    ActionNotFound(ActionId),
    #[error("action {0} is already done")]
    ActionDone(ActionId),
}

impl Refusal for MeetingError {
    fn rule(&self) -> Rule {
        match self {
            MeetingError::Invalid(_) => rules::INVALID_ARGUMENT,
            MeetingError::Exists(_) => rules::MEETING_EXISTS,
            MeetingError::NotFound(_) => rules::MEETING_NOT_FOUND,
            MeetingError::AlreadyOpen { .. } => rules::MEETING_ALREADY_OPEN,
            MeetingError::WrongStatus { .. } => rules::MEETING_STATUS,
            MeetingError::NotInvited(_) => rules::NOT_INVITED,
            MeetingError::AlreadyInvited(_) => rules::ALREADY_INVITED,
            MeetingError::ActionNotFound(_) => rules::ACTION_NOT_FOUND,
            MeetingError::ActionDone(_) => rules::ACTION_DONE,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            MeetingError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

fn status_name(status: MeetingStatus) -> &'static str {
    match status {
        MeetingStatus::Proposed => "proposed",
        MeetingStatus::Scheduled(_) => "scheduled",
        MeetingStatus::Held => "held",
        MeetingStatus::Cancelled => "cancelled",
    }
}

/// A proposed slot (`Some(index)`) or the one slot of a command.
fn check_slot(violations: &mut Vec<Violation>, item: Option<usize>, slot: &Slot, now: Timestamp) {
    let field = |name| match item {
        Some(index) => Field::of_item("slots", index, name),
        None => Field::named(name),
    };
    if slot.starts_at <= now {
        violations.push(Violation::new(field("starts_at"), "must be in the future"));
    }
    if slot.minutes == 0 || slot.minutes > 8 * 60 {
        violations.push(Violation::new(field("minutes"), "must be 1 to 480"));
    }
}

impl FamilyMeetings {
    fn meeting(&self, id: MeetingId) -> Result<&Meeting, MeetingError> {
        self.meetings.get(&id).ok_or(MeetingError::NotFound(id))
    }

    fn open(&self, id: MeetingId, rule: &'static str) -> Result<&Meeting, MeetingError> {
        let meeting = self.meeting(id)?;
        if !meeting.status.is_open() {
            return Err(MeetingError::WrongStatus { meeting: id, status: status_name(meeting.status), rule });
        }
        Ok(meeting)
    }

    /// The meeting, which must be scheduled; `rule` says why.
    fn scheduled(&self, id: MeetingId, rule: &'static str) -> Result<&Meeting, MeetingError> {
        let meeting = self.meeting(id)?;
        if !matches!(meeting.status, MeetingStatus::Scheduled(_)) {
            return Err(MeetingError::WrongStatus { meeting: id, status: status_name(meeting.status), rule });
        }
        Ok(meeting)
    }

    fn action(&self, meeting_id: MeetingId, action_id: ActionId) -> Result<&Action, MeetingError> {
        let action = self
            .meeting(meeting_id)?
            .actions
            .get(&action_id)
            .ok_or(MeetingError::ActionNotFound(action_id))?;
        if action.done.is_some() {
            return Err(MeetingError::ActionDone(action_id));
        }
        Ok(action)
    }
}

impl Aggregate for FamilyMeetings {
    type Event = MeetingEvent;
    type Command = MeetingCommand;
    type Error = MeetingError;

    const TYPE: &'static str = "family";
    const NOUN: &'static str = "family";

    fn apply(&mut self, event: &MeetingEvent) {
        self.evolve(event);
    }

    fn decide(&self, command: &MeetingCommand, context: &Context) -> Result<Vec<MeetingEvent>, MeetingError> {
        use MeetingCommand as C;
        use MeetingEvent as E;
        let invalid = |violations| invalid_if_any(violations, MeetingError::Invalid);
        match command {
            C::Propose { meeting_id, purpose, description, slots, place, participants } => {
                let mut violations = Vec::new();
                if slots.is_empty() {
                    violations.push(Violation::named("slots", "propose at least one time"));
                }
                for (index, slot) in slots.iter().enumerate() {
                    check_slot(&mut violations, Some(index), slot, context.now);
                }
                if participants.is_empty() {
                    violations.push(Violation::named("participants", "invite at least one participant"));
                }
                require_text(&mut violations, Field::named("place"), place);
                invalid(violations)?;
                if self.meetings.contains_key(meeting_id) {
                    return Err(MeetingError::Exists(*meeting_id));
                }
                if let Some(open) = self.open_for(*purpose) {
                    return Err(MeetingError::AlreadyOpen { purpose: purpose.as_code(), open });
                }
                let mut participants = participants.clone();
                participants.sort();
                participants.dedup();
                Ok(vec![E::Proposed(MeetingProposed {
                    meeting_id: *meeting_id,
                    purpose: *purpose,
                    description: Personal::text(description),
                    slots: slots.clone(),
                    place: Personal::text(place),
                    participants,
                })])
            }
            C::Answer { meeting_id, participant, answers } => {
                let meeting = self.open(*meeting_id, "only an open meeting is answered")?;
                if !meeting.participants.contains(participant) {
                    return Err(MeetingError::NotInvited(participant.clone()));
                }
                let bad: Vec<Violation> = answers
                    .iter()
                    .enumerate()
                    .filter(|(_, (slot, _))| usize::from(*slot) >= meeting.slots.len())
                    .map(|(index, _)| {
                        Violation::new(Field::of_item("answers", index, "slot"), "no such proposed slot")
                    })
                    .collect();
                invalid(bad)?;
                Ok(vec![E::Answered(InvitationAnswered {
                    meeting_id: *meeting_id,
                    participant: participant.clone(),
                    answers: answers.clone(),
                })])
            }
            C::Schedule { meeting_id, slot_index } => {
                let meeting = self.meeting(*meeting_id)?;
                if meeting.status != MeetingStatus::Proposed {
                    return Err(MeetingError::WrongStatus {
                        meeting: *meeting_id,
                        status: status_name(meeting.status),
                        rule: "only a proposed meeting is scheduled; reschedule a scheduled one",
                    });
                }
                let slot = meeting.slots.get(usize::from(*slot_index)).ok_or_else(|| {
                    MeetingError::Invalid(vec![Violation::named("slot_index", "no such proposed slot")])
                })?;
                Ok(vec![E::Scheduled(MeetingScheduled { meeting_id: *meeting_id, slot: *slot })])
            }
            C::Reschedule { meeting_id, slot, reason } => {
                let mut violations = Vec::new();
                check_slot(&mut violations, None, slot, context.now);
                require_text(&mut violations, Field::named("reason"), reason);
                invalid(violations)?;
                self.scheduled(*meeting_id, "only a scheduled meeting is rescheduled")?;
                Ok(vec![E::Rescheduled(MeetingRescheduled {
                    meeting_id: *meeting_id,
                    slot: *slot,
                    reason: Personal::text(reason),
                })])
            }
            C::Cancel { meeting_id, reason } => {
                let mut violations = Vec::new();
                require_text(&mut violations, Field::named("reason"), reason);
                invalid(violations)?;
                self.open(*meeting_id, "only an open meeting is cancelled")?;
                Ok(vec![E::Cancelled(MeetingCancelled {
                    meeting_id: *meeting_id,
                    reason: Personal::text(reason),
                })])
            }
            C::AddParticipant { meeting_id, participant } => {
                let meeting = self.open(*meeting_id, "participants change only until the meeting is held")?;
                if meeting.participants.contains(participant) {
                    return Err(MeetingError::AlreadyInvited(participant.clone()));
                }
                Ok(vec![E::ParticipantAdded(ParticipantChanged {
                    meeting_id: *meeting_id,
                    participant: participant.clone(),
                })])
            }
            C::RemoveParticipant { meeting_id, participant } => {
                let meeting = self.open(*meeting_id, "participants change only until the meeting is held")?;
                if !meeting.participants.contains(participant) {
                    return Err(MeetingError::NotInvited(participant.clone()));
                }
                Ok(vec![E::ParticipantRemoved(ParticipantChanged {
                    meeting_id: *meeting_id,
                    participant: participant.clone(),
                })])
            }
            C::Hold { meeting_id, held_at, attended, summary, child_views, actions } => {
                let mut violations = Vec::new();
                require_text(&mut violations, Field::named("summary"), summary);
                if *held_at > context.now {
                    violations.push(Violation::named("held_at", "must not be in the future"));
                }
                for (index, (_, view)) in child_views.iter().enumerate() {
                    require_text(&mut violations, Field::of_item("child_views", index, "view"), view);
                }
                for (index, action) in actions.iter().enumerate() {
                    require_text(&mut violations, Field::of_item("actions", index, "what"), &action.what);
                    if action.due < context.today {
                        violations.push(Violation::new(
                            Field::of_item("actions", index, "due"),
                            "must not be in the past",
                        ));
                    }
                }
                invalid(violations)?;
                self.scheduled(*meeting_id, "only a scheduled meeting is held")?;
                Ok(vec![E::Held(MeetingHeld {
                    meeting_id: *meeting_id,
                    held_at: *held_at,
                    attended: attended.clone(),
                    summary: Personal::text(summary),
                    child_views: child_views
                        .iter()
                        .map(|(member_id, view)| ChildView {
                            member_id: *member_id,
                            view: Personal::text(view),
                        })
                        .collect(),
                    actions: actions
                        .iter()
                        .map(|action| AgreedAction {
                            action_id: action.action_id,
                            what: Personal::text(&action.what),
                            owner: action.owner.clone(),
                            due: action.due,
                        })
                        .collect(),
                })])
            }
            C::CompleteAction { meeting_id, action_id, note } => {
                self.action(*meeting_id, *action_id)?;
                Ok(vec![E::ActionDone(ActionDone {
                    meeting_id: *meeting_id,
                    action_id: *action_id,
                    note: Personal::text(note),
                })])
            }
            C::ReassignAction { meeting_id, action_id, owner } => {
                let action = self.action(*meeting_id, *action_id)?;
                if &action.owner == owner {
                    return Ok(Vec::new());
                }
                Ok(vec![E::ActionReassigned(ActionReassigned {
                    meeting_id: *meeting_id,
                    action_id: *action_id,
                    owner: owner.clone(),
                })])
            }
        }
    }
}

//! The assignment aggregate, one per family (its id is the family id): who the family's one
//! contact person is, and the handover under way. One subject per family, written with an
//! expected version, so two simultaneous assignments have exactly one winner.

use serde::{Deserialize, Serialize};

use super::{ContactPersonId, HandoverId};
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Aggregate, Context};

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

crate::v1_events!(
    pub enum AssignmentEvent {
        Assigned(Assigned) = "ContactPersonAssigned",
        HandoverProposed(HandoverProposed) = "HandoverProposed",
        HandoverAccepted(HandoverAccepted) = "HandoverAccepted",
        HandoverDeclined(HandoverDeclined) = "HandoverDeclined",
        HandoverWithdrawn(HandoverWithdrawn) = "HandoverWithdrawn",
    }
);

impl HasPersonal for AssignmentEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            AssignmentEvent::HandoverProposed(proposed) => vec![&mut proposed.reason],
            AssignmentEvent::HandoverDeclined(declined) => vec![&mut declined.reason],
            _ => Vec::new(),
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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The family's contact person; responsible until a handover is accepted.
    pub current: Option<ContactPersonId>,
    pub pending: Option<PendingHandover>,
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
}

impl Assignment {
    fn pending(&self, handover_id: HandoverId) -> Result<&PendingHandover, AssignmentError> {
        self.pending
            .as_ref()
            .filter(|pending| pending.handover_id == handover_id)
            .ok_or(AssignmentError::NoSuchHandover(handover_id))
    }
}

impl Aggregate for Assignment {
    type Event = AssignmentEvent;
    type Command = AssignmentCommand;
    type Error = AssignmentError;

    const TYPE: &'static str = "assignment";

    fn apply(&mut self, event: &AssignmentEvent) {
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
        }
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
                        reason: Personal::Plain(reason.trim().to_owned()),
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
                    reason: Personal::Plain(reason.trim().to_owned()),
                })])
            }
            AssignmentCommand::Withdraw { handover_id } => {
                self.pending(*handover_id)?;
                Ok(vec![AssignmentEvent::HandoverWithdrawn(HandoverWithdrawn { handover_id: *handover_id })])
            }
        }
    }
}

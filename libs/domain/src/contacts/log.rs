//! The contact log (*yhteydenotto*) of one family (its id is the family id).

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{ContactId, invalid_if_any};
use crate::family::MemberId;
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Aggregate, Channel, Context, Need, Sector, Timestamp, Violation};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactLogCommand {
    Record(ContactRecorded),
    CompleteFollowUp { contact_id: ContactId, note: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactLogError {
    #[error("invalid command: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
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

impl Aggregate for ContactLog {
    type Event = ContactLogEvent;
    type Command = ContactLogCommand;
    type Error = ContactLogError;

    const TYPE: &'static str = "log";

    fn apply(&mut self, event: &ContactLogEvent) {
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

    fn decide(
        &self,
        command: &ContactLogCommand,
        context: &Context,
    ) -> Result<Vec<ContactLogEvent>, ContactLogError> {
        match command {
            ContactLogCommand::Record(recorded) => {
                let mut violations = Vec::new();
                if recorded.needs.is_empty() {
                    violations.push(Violation::new("needs", "name at least one need category"));
                }
                if recorded.summary.plain().is_none_or(|summary| summary.trim().is_empty()) {
                    violations.push(Violation::new("summary", "must not be empty"));
                }
                if recorded.occurred_at > context.now {
                    violations.push(Violation::new("occurred_at", "must not be in the future"));
                }
                if recorded.follow_up.is_some_and(|date| date < context.today) {
                    violations.push(Violation::new("follow_up", "must not be in the past"));
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
                    note: Personal::Plain(note.trim().to_owned()),
                })])
            }
        }
    }
}

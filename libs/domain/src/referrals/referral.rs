//! A referral's lifecycle, aligned with HL7 FHIR Task states: requested → received → accepted or
//! rejected → in progress → completed or failed; on hold and back; cancelled by the sender
//! before completion; redirected to another service as one step.

use serde::{Deserialize, Serialize};

use super::ServiceId;
use crate::contacts::ContactPersonId;
use crate::family::{ConsentId, FamilyId, MemberId};
use crate::referrals::Urgency;
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Aggregate, Context, Need, Sector, Timestamp, Violation};

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),*
                }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_code() == code)
            }
        }
    };
}

code_enum!(
    /// Where a referral stands.
    ReferralState {
        Requested = "requested",
        Received = "received",
        Accepted = "accepted",
        Rejected = "rejected",
        InProgress = "in_progress",
        OnHold = "on_hold",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

impl ReferralState {
    /// Still waiting for, or getting, the help.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Rejected | Self::Completed | Self::Failed | Self::Cancelled)
    }
}

code_enum!(
    /// Why a receiving sector rejects a referral.
    RejectReason {
        NoCapacity = "no_capacity",
        NotEligible = "not_eligible",
        ReferredElsewhere = "referred_elsewhere",
        FamilyDeclined = "family_declined",
    }
);

code_enum!(
    /// A statute that allows a referral without the family's consent.
    StatutoryBasis {
        ChildProtectionNotification = "child_protection_notification",
        ChildProtectionInvestigation = "child_protection_investigation",
        Emergency = "emergency",
        OtherLaw = "other_law",
    }
);

/// What allows sharing the family's information with the receiving sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    Consent(ConsentId),
    Statutory { basis: StatutoryBasis, note: Personal<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCreated {
    pub family_id: FamilyId,
    /// The child concerned; `None` for the whole family.
    pub child: Option<MemberId>,
    pub service_id: ServiceId,
    pub sector: Sector,
    pub needs: Vec<Need>,
    pub urgency: Urgency,
    pub reason: Personal<String>,
    pub basis: Basis,
    pub sent_at: Timestamp,
    /// By when the receiving sector should acknowledge (`received`).
    pub deadline: Timestamp,
    /// The family's contact person when sent, who sees escalations.
    pub contact_person: Option<ContactPersonId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub reason: RejectReason,
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirected {
    pub service_id: ServiceId,
    pub sector: Sector,
    pub note: Personal<String>,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLapsed {
    pub consent_id: ConsentId,
}

crate::v1_events!(
    pub enum ReferralEvent {
        Created(ReferralCreated) = "ReferralCreated",
        Received(Step) = "ReferralReceived",
        Accepted(Step) = "ReferralAccepted",
        Rejected(Rejected) = "ReferralRejected",
        Started(Step) = "ReferralStarted",
        Completed(Note) = "ReferralCompleted",
        Failed(Note) = "ReferralFailed",
        PutOnHold(Note) = "ReferralPutOnHold",
        Resumed(Step) = "ReferralResumed",
        Cancelled(Note) = "ReferralCancelled",
        Redirected(Redirected) = "ReferralRedirected",
        Overdue(Overdue) = "ReferralOverdue",
        ConsentLapsed(ConsentLapsed) = "ReferralConsentLapsed",
    }
);

impl HasPersonal for ReferralEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            ReferralEvent::Created(created) => {
                let mut fields: Vec<&mut dyn PersonalField> = vec![&mut created.reason];
                if let Basis::Statutory { note, .. } = &mut created.basis {
                    fields.push(note);
                }
                fields
            }
            ReferralEvent::Rejected(rejected) => vec![&mut rejected.note],
            ReferralEvent::Completed(note)
            | ReferralEvent::Failed(note)
            | ReferralEvent::PutOnHold(note)
            | ReferralEvent::Cancelled(note) => vec![&mut note.note],
            ReferralEvent::Redirected(redirected) => vec![&mut redirected.note],
            ReferralEvent::Received(_)
            | ReferralEvent::Accepted(_)
            | ReferralEvent::Started(_)
            | ReferralEvent::Resumed(_)
            | ReferralEvent::Overdue(_)
            | ReferralEvent::ConsentLapsed(_) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Referral {
    pub created: Option<ReferralCreated>,
    pub state: Option<ReferralState>,
    /// The state to return to from `on_hold`.
    pub held_from: Option<ReferralState>,
    pub service_id: Option<ServiceId>,
    pub sector: Option<Sector>,
    pub deadline: Option<Timestamp>,
    pub overdue: bool,
    pub consent_lapsed: bool,
    pub redirects: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralCommand {
    Create(Box<ReferralCreated>),
    Receive,
    Accept,
    Reject {
        reason: RejectReason,
        note: String,
    },
    Start,
    Complete {
        outcome: String,
    },
    Fail {
        note: String,
    },
    Hold {
        note: String,
    },
    Resume,
    Cancel {
        note: String,
    },
    Redirect {
        service_id: ServiceId,
        sector: Sector,
        note: String,
        deadline: Timestamp,
    },
    /// From the deadline process: emits `ReferralOverdue` once, when due.
    MarkOverdue,
    /// From the consent process: flags the referral once when the consent it rests on lapsed.
    FlagConsentLapsed {
        consent_id: ConsentId,
    },
}

impl ReferralCommand {
    fn action(&self) -> &'static str {
        match self {
            ReferralCommand::Create(_) => "create",
            ReferralCommand::Receive => "receive",
            ReferralCommand::Accept => "accept",
            ReferralCommand::Reject { .. } => "reject",
            ReferralCommand::Start => "start",
            ReferralCommand::Complete { .. } => "complete",
            ReferralCommand::Fail { .. } => "fail",
            ReferralCommand::Hold { .. } => "put on hold",
            ReferralCommand::Resume => "resume",
            ReferralCommand::Cancel { .. } => "cancel",
            ReferralCommand::Redirect { .. } => "redirect",
            ReferralCommand::MarkOverdue => "mark overdue",
            ReferralCommand::FlagConsentLapsed { .. } => "flag consent lapsed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferralError {
    #[error("invalid command: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    #[error("referral not found")]
    NotFound,
    #[error("the referral already exists")]
    Exists,
    #[error("cannot {action} a referral that is {state}")]
    IllegalTransition { state: &'static str, action: &'static str },
}

fn note(text: &str) -> Personal<String> {
    Personal::Plain(text.trim().to_owned())
}

impl Aggregate for Referral {
    type Event = ReferralEvent;
    type Command = ReferralCommand;
    type Error = ReferralError;

    const TYPE: &'static str = "referral";

    fn apply(&mut self, event: &ReferralEvent) {
        use ReferralState as S;
        match event {
            ReferralEvent::Created(created) => {
                self.state = Some(S::Requested);
                self.service_id = Some(created.service_id);
                self.sector = Some(created.sector);
                self.deadline = Some(created.deadline);
                self.created = Some(created.clone());
            }
            ReferralEvent::Received(_) => self.state = Some(S::Received),
            ReferralEvent::Accepted(_) => self.state = Some(S::Accepted),
            ReferralEvent::Rejected(_) => self.state = Some(S::Rejected),
            ReferralEvent::Started(_) => self.state = Some(S::InProgress),
            ReferralEvent::Completed(_) => self.state = Some(S::Completed),
            ReferralEvent::Failed(_) => self.state = Some(S::Failed),
            ReferralEvent::PutOnHold(_) => {
                self.held_from = self.state;
                self.state = Some(S::OnHold);
            }
            ReferralEvent::Resumed(_) => self.state = self.held_from.take().or(Some(S::Requested)),
            ReferralEvent::Cancelled(_) => self.state = Some(S::Cancelled),
            ReferralEvent::Redirected(redirected) => {
                self.state = Some(S::Requested);
                self.service_id = Some(redirected.service_id);
                self.sector = Some(redirected.sector);
                self.deadline = Some(redirected.deadline);
                self.overdue = false;
                self.redirects += 1;
            }
            ReferralEvent::Overdue(_) => self.overdue = true,
            ReferralEvent::ConsentLapsed(_) => self.consent_lapsed = true,
        }
    }

    fn decide(
        &self,
        command: &ReferralCommand,
        context: &Context,
    ) -> Result<Vec<ReferralEvent>, ReferralError> {
        use ReferralCommand as C;
        use ReferralEvent as E;
        use ReferralState as S;
        let Some(state) = self.state else {
            let C::Create(created) = command else {
                return Err(ReferralError::NotFound);
            };
            let mut violations = Vec::new();
            if created.needs.is_empty() {
                violations.push(Violation::new("needs", "name at least one need"));
            }
            if created.reason.plain().is_none_or(|reason| reason.trim().is_empty()) {
                violations.push(Violation::new("reason", "state the reason for the referral"));
            }
            if let Basis::Statutory { note, .. } = &created.basis
                && note.plain().is_none_or(|note| note.trim().is_empty())
            {
                violations.push(Violation::new("statutory_note", "a statutory basis needs an explanation"));
            }
            if !violations.is_empty() {
                return Err(ReferralError::Invalid(violations));
            }
            return Ok(vec![E::Created((**created).clone())]);
        };
        let illegal =
            || ReferralError::IllegalTransition { state: state.as_code(), action: command.action() };
        let step = Step {};
        let event = match (command, state) {
            (C::Create(_), _) => return Err(ReferralError::Exists),
            (C::Receive, S::Requested) => E::Received(step),
            (C::Accept, S::Requested | S::Received) => E::Accepted(step),
            (C::Reject { reason, note: text }, S::Requested | S::Received) => {
                E::Rejected(Rejected { reason: *reason, note: note(text) })
            }
            (C::Start, S::Accepted) => E::Started(step),
            (C::Complete { outcome }, S::InProgress) => {
                if outcome.trim().is_empty() {
                    return Err(ReferralError::Invalid(vec![Violation::new("outcome", "state the outcome")]));
                }
                E::Completed(Note { note: note(outcome) })
            }
            (C::Fail { note: text }, S::Accepted | S::InProgress) => E::Failed(Note { note: note(text) }),
            (C::Hold { note: text }, S::Requested | S::Received | S::Accepted | S::InProgress) => {
                E::PutOnHold(Note { note: note(text) })
            }
            (C::Resume, S::OnHold) => E::Resumed(step),
            (C::Cancel { note: text }, state) if state.is_open() => E::Cancelled(Note { note: note(text) }),
            (
                C::Redirect { service_id, sector, note: text, deadline },
                S::Requested | S::Received | S::Rejected,
            ) => {
                if Some(*service_id) == self.service_id {
                    return Err(ReferralError::Invalid(vec![Violation::new(
                        "service_id",
                        "the referral is already with this service",
                    )]));
                }
                E::Redirected(Redirected {
                    service_id: *service_id,
                    sector: *sector,
                    note: note(text),
                    deadline: *deadline,
                })
            }
            (C::MarkOverdue, _) => {
                let due = self.deadline.filter(|deadline| *deadline <= context.now);
                return Ok(match due {
                    Some(deadline) if state == S::Requested && !self.overdue => {
                        vec![E::Overdue(Overdue { deadline })]
                    }
                    _ => Vec::new(),
                });
            }
            (C::FlagConsentLapsed { consent_id }, _) => {
                let rests_on_it = matches!(
                    self.created.as_ref().map(|created| &created.basis),
                    Some(Basis::Consent(basis)) if basis == consent_id
                );
                return Ok(if rests_on_it && state.is_open() && !self.consent_lapsed {
                    vec![E::ConsentLapsed(ConsentLapsed { consent_id: *consent_id })]
                } else {
                    Vec::new()
                });
            }
            _ => return Err(illegal()),
        };
        Ok(vec![event])
    }
}

//! The catalogue's and the referrals' commands, refusals and decisions.

use super::ServiceId;
use super::events::*;
use super::state::*;
use crate::family::ConsentId;
use crate::refusal::{Refusal, Rule, rules};
use crate::sealing::Personal;
use crate::violation::{Violation, describe, invalid_if_any};
use crate::{Aggregate, Context, Sector, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCommand {
    Register(ServiceInfo),
    Update(ServiceInfo),
    Pause { reason: String },
    Resume,
    Retire { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("the service does not exist")]
    NotFound,
    #[error("the service is already registered")]
    Exists,
    #[error("the service is not taking referrals now")]
    Paused,
    #[error("the service is retired")]
    Retired,
}

impl Refusal for ServiceError {
    fn rule(&self) -> Rule {
        match self {
            ServiceError::Invalid(_) => rules::INVALID_ARGUMENT,
            ServiceError::NotFound => rules::SERVICE_NOT_FOUND,
            ServiceError::Exists => rules::SERVICE_EXISTS,
            ServiceError::Paused => rules::SERVICE_PAUSED,
            ServiceError::Retired => rules::SERVICE_RETIRED,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            ServiceError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

fn check(info: &ServiceInfo) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (field, value) in [("provider", &info.provider), ("name", &info.name), ("contact", &info.contact)] {
        if value.trim().is_empty() {
            violations.push(Violation::named(field, "must not be empty"));
        }
    }
    if info.min_age > info.max_age {
        violations.push(Violation::named("max_age", "is below min_age"));
    }
    if info.needs.is_empty() {
        violations.push(Violation::named("needs", "name at least one need the service meets"));
    }
    violations
}

impl CatalogueService {
    /// The service, which takes referrals now.
    pub fn check_taking(&self) -> Result<&ServiceInfo, ServiceError> {
        match (self.status, &self.info) {
            (ServiceStatus::Active, Some(info)) => Ok(info),
            (ServiceStatus::Paused, _) => Err(ServiceError::Paused),
            (ServiceStatus::Retired, _) => Err(ServiceError::Retired),
            _ => Err(ServiceError::NotFound),
        }
    }
}

impl Aggregate for CatalogueService {
    type Event = ServiceEvent;
    type Command = ServiceCommand;
    type Error = ServiceError;

    const TYPE: &'static str = "service";
    const NOUN: &'static str = "service";

    fn apply(&mut self, event: &ServiceEvent) {
        self.evolve(event);
    }

    fn decide(&self, command: &ServiceCommand, _: &Context) -> Result<Vec<ServiceEvent>, ServiceError> {
        let invalid = |violations| invalid_if_any(violations, ServiceError::Invalid);
        match (command, self.status) {
            (ServiceCommand::Register(info), ServiceStatus::Absent) => {
                invalid(check(info))?;
                Ok(vec![ServiceEvent::Registered(info.clone())])
            }
            (ServiceCommand::Register(_), _) => Err(ServiceError::Exists),
            (_, ServiceStatus::Absent) => Err(ServiceError::NotFound),
            (_, ServiceStatus::Retired) => Err(ServiceError::Retired),
            (ServiceCommand::Update(info), _) => {
                invalid(check(info))?;
                Ok(if self.info.as_ref() == Some(info) {
                    Vec::new()
                } else {
                    vec![ServiceEvent::Updated(info.clone())]
                })
            }
            (ServiceCommand::Pause { reason }, ServiceStatus::Active) => {
                Ok(vec![ServiceEvent::Paused(Reason { reason: reason.trim().to_owned() })])
            }
            (ServiceCommand::Resume, ServiceStatus::Paused) => {
                Ok(vec![ServiceEvent::Resumed(Reason { reason: String::new() })])
            }
            (ServiceCommand::Pause { .. } | ServiceCommand::Resume, _) => Ok(Vec::new()),
            (ServiceCommand::Retire { reason }, _) => {
                Ok(vec![ServiceEvent::Retired(Reason { reason: reason.trim().to_owned() })])
            }
        }
    }
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
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("the referral does not exist")]
    NotFound,
    #[error("the referral already exists")]
    Exists,
    #[error("cannot {action} a referral that is {state}")]
    IllegalTransition { state: &'static str, action: &'static str },
    #[error(
        "no consent of the family in force covers sector {sector}; record one, or give the statutory basis"
    )]
    NoConsent { sector: Sector },
    #[error("no law lets a referral to sector {sector} rest on {basis} without consent")]
    StatutoryBasisNotInLaw { basis: StatutoryBasis, sector: Sector },
}

impl Refusal for ReferralError {
    fn rule(&self) -> Rule {
        match self {
            ReferralError::Invalid(_) => rules::INVALID_ARGUMENT,
            ReferralError::NotFound => rules::REFERRAL_NOT_FOUND,
            ReferralError::Exists => rules::REFERRAL_EXISTS,
            ReferralError::IllegalTransition { .. } => rules::ILLEGAL_TRANSITION,
            ReferralError::NoConsent { .. } => rules::NO_CONSENT,
            ReferralError::StatutoryBasisNotInLaw { .. } => rules::STATUTORY_BASIS_NOT_IN_LAW,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            ReferralError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

impl Aggregate for Referral {
    type Event = ReferralEvent;
    type Command = ReferralCommand;
    type Error = ReferralError;

    const TYPE: &'static str = "referral";
    const NOUN: &'static str = "referral";

    fn apply(&mut self, event: &ReferralEvent) {
        self.evolve(event);
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
                violations.push(Violation::named("needs", "name at least one need"));
            }
            if created.reason.plain().is_none_or(|reason| reason.trim().is_empty()) {
                violations.push(Violation::named("reason", "state the reason for the referral"));
            }
            if let Basis::Statutory { note, .. } = &created.basis
                && note.plain().is_none_or(|note| note.trim().is_empty())
            {
                violations.push(Violation::named("statutory_note", "a statutory basis needs an explanation"));
            }
            invalid_if_any(violations, ReferralError::Invalid)?;
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
                E::Rejected(Rejected { reason: *reason, note: Personal::text(text) })
            }
            (C::Start, S::Accepted) => E::Started(step),
            (C::Complete { outcome }, S::InProgress) => {
                if outcome.trim().is_empty() {
                    return Err(ReferralError::Invalid(vec![Violation::named(
                        "outcome",
                        "state the outcome",
                    )]));
                }
                E::Completed(Note { note: Personal::text(outcome) })
            }
            (C::Fail { note: text }, S::Accepted | S::InProgress) => {
                E::Failed(Note { note: Personal::text(text) })
            }
            (C::Hold { note: text }, S::Requested | S::Received | S::Accepted | S::InProgress) => {
                E::PutOnHold(Note { note: Personal::text(text) })
            }
            (C::Resume, S::OnHold) => E::Resumed(step),
            (C::Cancel { note: text }, state) if state.is_open() => {
                E::Cancelled(Note { note: Personal::text(text) })
            }
            (
                C::Redirect { service_id, sector, note: text, deadline },
                S::Requested | S::Received | S::Rejected,
            ) => {
                if Some(*service_id) == self.service_id {
                    return Err(ReferralError::Invalid(vec![Violation::named(
                        "service_id",
                        "the referral is already with this service",
                    )]));
                }
                E::Redirected(Redirected {
                    service_id: *service_id,
                    sector: *sector,
                    note: Personal::text(text),
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

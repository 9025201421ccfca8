//! The family's commands, its refusals, and deciding.

use std::collections::BTreeSet;

use jiff::civil::Date;

use super::events::*;
use super::state::{Family, FamilyStatus};
use super::{ConsentId, ErasureId, MemberId, Municipality, SELF_CONSENT_AGE, age_on};
use crate::aggregate::{Aggregate, Context};
use crate::refusal::{Refusal, Rule, rules};
use crate::sealing::Personal;
use crate::violation::{Field, Violation, describe, invalid_if_any};
use crate::{Code, Sector};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub member_id: MemberId,
    pub role: MemberRole,
    pub details: MemberDetails,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyCommand {
    Register {
        municipality: Municipality,
        members: Vec<NewMember>,
    },
    AddMember(NewMember),
    UpdateMember {
        member_id: MemberId,
        role: Option<MemberRole>,
        details: MemberDetails,
    },
    RemoveMember {
        member_id: MemberId,
        reason: String,
    },
    ChangeMunicipality {
        municipality: Municipality,
    },
    GrantConsent {
        consent_id: ConsentId,
        given_by: MemberId,
        concerns: Option<MemberId>,
        sectors: Vec<Sector>,
        purpose: String,
        valid_from: Date,
        valid_until: Date,
    },
    RevokeConsent {
        consent_id: ConsentId,
        revoked_by: MemberId,
    },
    /// Lets the member sign in as `subject`, an identity provider's opaque id; `subject_key` is
    /// the key of the link in the member link bucket.
    LinkMember {
        member_id: MemberId,
        subject: String,
        subject_key: String,
    },
    UnlinkMember {
        member_id: MemberId,
    },
    Close {
        reason: CloseReason,
        note: String,
    },
    Reopen {
        note: String,
    },
    /// Asks for the family's personal data to be erased, on a legal ground.
    RequestErasure {
        erasure_id: ErasureId,
        ground: ErasureGround,
        on_behalf_of: Option<MemberId>,
        requested_by: Code,
        retention: Retention,
    },
    /// A data-protection officer, not the requester, approves the request.
    ApproveErasure {
        erasure_id: ErasureId,
        approved_by: Code,
        retention: Retention,
    },
    /// Carries out an approved request.
    Erase,
    /// Erases again, after a restore from a backup, a family whose erasure the erasure
    /// journal holds but the restored stream does not: its request and approval happened
    /// before the restore, and are lost with the stream's end.
    ReapplyErasure,
}

/// What statutory retention asks of the family's records, as the application finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// A referral to child protection was sent for the family.
    pub child_protection: bool,
    /// The day coordination was closed, if it is.
    pub closed_on: Option<Date>,
}

/// Why a family command is refused. Each names the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FamilyError {
    #[error("invalid command: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("the family does not exist")]
    NotFound,
    #[error("the family is already registered")]
    AlreadyRegistered,
    #[error("the family is closed; reopen it before changing it")]
    Closed,
    #[error("the family's personal data was erased; it accepts no changes")]
    Erased,
    #[error("the family is not closed, so it cannot be reopened")]
    NotClosed,
    #[error("member {0} is not in the family")]
    MemberNotFound(MemberId),
    #[error("member {0} is already in the family")]
    MemberExists(MemberId),
    #[error("a family keeps at least one member; close the family instead")]
    LastMember,
    #[error("consent can be given by a guardian, or by a child aged 15 or over for themself: {0}")]
    NotEntitledToConsent(String),
    #[error("consent {0} does not exist")]
    ConsentNotFound(ConsentId),
    #[error("consent {0} already exists")]
    ConsentExists(ConsentId),
    #[error("consent {0} is already revoked")]
    ConsentAlreadyRevoked(ConsentId),
    #[error("a consent can be revoked by a guardian or by the member who gave it; {0} is neither")]
    NotEntitledToRevoke(MemberId),
    #[error("{0}")]
    InRetention(String),
    #[error("erasure {0} is already requested; approve it or wait for it")]
    ErasurePending(ErasureId),
    #[error("there is no request {0} to erase the family")]
    NoSuchErasure(ErasureId),
    #[error("the erasure is not approved: request it, and have a data-protection officer approve it")]
    ErasureNotApproved,
    #[error("the person who requested the erasure may not approve it: a second person does")]
    ErasureNeedsSecondPerson,
}

impl Refusal for FamilyError {
    fn rule(&self) -> Rule {
        match self {
            FamilyError::Invalid(_) => rules::INVALID_ARGUMENT,
            FamilyError::NotFound => rules::FAMILY_NOT_FOUND,
            FamilyError::AlreadyRegistered => rules::FAMILY_EXISTS,
            FamilyError::Closed => rules::FAMILY_CLOSED,
            FamilyError::Erased => rules::FAMILY_ERASED,
            FamilyError::NotClosed => rules::FAMILY_NOT_CLOSED,
            FamilyError::MemberNotFound(_) => rules::MEMBER_NOT_FOUND,
            FamilyError::MemberExists(_) => rules::MEMBER_EXISTS,
            FamilyError::LastMember => rules::LAST_MEMBER,
            FamilyError::NotEntitledToConsent(_) => rules::NOT_ENTITLED_TO_CONSENT,
            FamilyError::ConsentNotFound(_) => rules::CONSENT_NOT_FOUND,
            FamilyError::ConsentExists(_) => rules::CONSENT_EXISTS,
            FamilyError::ConsentAlreadyRevoked(_) => rules::CONSENT_REVOKED,
            FamilyError::NotEntitledToRevoke(_) => rules::NOT_ENTITLED_TO_REVOKE,
            FamilyError::InRetention(_) => rules::RETENTION_PERIOD,
            FamilyError::ErasurePending(_) => rules::ERASURE_PENDING,
            FamilyError::NoSuchErasure(_) => rules::ERASURE_NOT_FOUND,
            FamilyError::ErasureNotApproved => rules::ERASURE_NOT_APPROVED,
            FamilyError::ErasureNeedsSecondPerson => rules::ERASURE_NEEDS_SECOND_PERSON,
        }
    }

    fn violations(&self) -> &[Violation] {
        match self {
            FamilyError::Invalid(violations) => violations,
            _ => &[],
        }
    }
}

/// The member's details, whose fields are named within the `members` item `item` (when the
/// command holds a list of members).
fn check_details(
    item: Option<usize>,
    role: MemberRole,
    details: &MemberDetails,
    today: Date,
) -> Vec<Violation> {
    let field = |name| match item {
        Some(index) => Field::of_item("members", index, name),
        None => Field::named(name),
    };
    let mut violations = Vec::new();
    if details.given_names.trim().is_empty() {
        violations.push(Violation::new(field("given_names"), "must not be empty"));
    }
    if details.family_name.trim().is_empty() {
        violations.push(Violation::new(field("family_name"), "must not be empty"));
    }
    match details.birth_date {
        Some(date) if date > today => {
            violations.push(Violation::new(field("birth_date"), "must not be in the future"))
        }
        None if role == MemberRole::Child => {
            violations.push(Violation::new(field("birth_date"), "is required for a child"))
        }
        _ => {}
    }
    if let (Some(code), Some(date)) = (&details.identity_code, details.birth_date)
        && code.birth_date() != date
    {
        violations.push(Violation::new(field("identity_code"), "does not match the birth date"));
    }
    violations
}

impl Family {
    fn decide_consent(&self, command: &FamilyCommand, today: Date) -> Result<Vec<FamilyEvent>, FamilyError> {
        let FamilyCommand::GrantConsent {
            consent_id,
            given_by,
            concerns,
            sectors,
            purpose,
            valid_from,
            valid_until,
        } = command
        else {
            return Ok(Vec::new());
        };
        let mut violations = Vec::new();
        if sectors.is_empty() {
            violations.push(Violation::named("sectors", "name at least one sector"));
        }
        if purpose.trim().is_empty() {
            violations.push(Violation::named("purpose", "state the purpose of the consent"));
        }
        if today.yesterday().is_ok_and(|yesterday| *valid_from < yesterday) {
            violations.push(Violation::named(
                "valid_from",
                "a consent starts at most one day in the past: record it when it is given",
            ));
        }
        if valid_until < valid_from {
            violations.push(Violation::named("valid_until", "the end date is before the start date"));
        } else if *valid_until < today {
            violations.push(Violation::named("valid_until", "the end date has passed"));
        }
        invalid_if_any(violations, FamilyError::Invalid)?;
        if self.consents.contains_key(consent_id) {
            return Err(FamilyError::ConsentExists(*consent_id));
        }
        let giver = self.check_member(*given_by)?;
        if let Some(concerned) = concerns {
            self.check_member(*concerned)?;
        }
        match giver.role {
            MemberRole::Guardian => {}
            MemberRole::Child => {
                let age = giver.birth_date().map(|born| age_on(born, today));
                match age {
                    Some(age) if age >= SELF_CONSENT_AGE => {}
                    Some(age) => {
                        return Err(FamilyError::NotEntitledToConsent(format!(
                            "member {given_by} is a child aged {age}"
                        )));
                    }
                    None => {
                        return Err(FamilyError::NotEntitledToConsent(format!(
                            "the age of member {given_by} is not known"
                        )));
                    }
                }
                if *concerns != Some(*given_by) {
                    return Err(FamilyError::NotEntitledToConsent(format!(
                        "member {given_by} is a child and may consent only for themself \
                         (name themself as the member concerned)"
                    )));
                }
            }
        }
        let mut sectors = sectors.clone();
        sectors.sort();
        sectors.dedup();
        Ok(vec![FamilyEvent::ConsentGranted(ConsentGranted {
            consent_id: *consent_id,
            given_by: *given_by,
            concerns: *concerns,
            sectors,
            purpose: Personal::text(purpose),
            valid_from: *valid_from,
            valid_until: *valid_until,
        })])
    }

    fn decide_registration(
        &self,
        municipality: &Municipality,
        members: &[NewMember],
        today: Date,
    ) -> Result<Vec<FamilyEvent>, FamilyError> {
        if self.status != FamilyStatus::Absent {
            return Err(FamilyError::AlreadyRegistered);
        }
        let mut violations = Vec::new();
        if members.is_empty() {
            violations.push(Violation::named("members", "a family has at least one member"));
        }
        let mut seen = BTreeSet::new();
        for (index, member) in members.iter().enumerate() {
            if !seen.insert(member.member_id) {
                violations.push(Violation::new(
                    Field::of_item("members", index, "member_id"),
                    "appears twice in the request",
                ));
            }
            violations.extend(check_details(Some(index), member.role, &member.details, today));
        }
        invalid_if_any(violations, FamilyError::Invalid)?;
        Ok(vec![FamilyEvent::Registered(Registered {
            municipality: municipality.clone(),
            members: members.iter().map(joined).collect(),
        })])
    }
}

impl Aggregate for Family {
    type Event = FamilyEvent;
    type Command = FamilyCommand;
    type Error = FamilyError;

    const TYPE: &'static str = "family";
    const NOUN: &'static str = "family";

    fn apply(&mut self, event: &FamilyEvent) {
        Family::apply(self, event);
    }

    fn decide(&self, command: &FamilyCommand, context: &Context) -> Result<Vec<FamilyEvent>, FamilyError> {
        let today = context.today;
        match command {
            FamilyCommand::Register { municipality, members } => {
                self.decide_registration(municipality, members, today)
            }
            FamilyCommand::Erase | FamilyCommand::ReapplyErasure => match self.status {
                FamilyStatus::Absent => Err(FamilyError::NotFound),
                FamilyStatus::Erased => Err(FamilyError::Erased),
                // Nobody signs in to an erased family: every link goes with it.
                FamilyStatus::Active | FamilyStatus::Closed(_) => {
                    let approved = self.erasure.as_ref().is_some_and(|erasure| erasure.approved_by.is_some());
                    if !approved && *command == FamilyCommand::Erase {
                        return Err(FamilyError::ErasureNotApproved);
                    }
                    let mut events = self.unlink_all();
                    events.push(FamilyEvent::Erased);
                    Ok(events)
                }
            },
            FamilyCommand::RequestErasure { erasure_id, ground, on_behalf_of, requested_by, retention } => {
                self.check_exists()?;
                if self.status == FamilyStatus::Erased {
                    return Err(FamilyError::Erased);
                }
                match &self.erasure {
                    Some(pending) if pending.erasure_id == *erasure_id => return Ok(Vec::new()),
                    Some(pending) => return Err(FamilyError::ErasurePending(pending.erasure_id)),
                    None => {}
                }
                if let Some(member) = on_behalf_of {
                    self.check_member(*member)?;
                }
                super::rules::check_retention(*ground, *retention, today)?;
                Ok(vec![FamilyEvent::ErasureRequested(ErasureRequested {
                    erasure_id: *erasure_id,
                    ground: *ground,
                    on_behalf_of: *on_behalf_of,
                    requested_by: requested_by.clone(),
                })])
            }
            FamilyCommand::ApproveErasure { erasure_id, approved_by, retention } => {
                self.check_exists()?;
                if self.status == FamilyStatus::Erased {
                    return Err(FamilyError::Erased);
                }
                let pending = self
                    .erasure
                    .as_ref()
                    .filter(|pending| pending.erasure_id == *erasure_id)
                    .ok_or(FamilyError::NoSuchErasure(*erasure_id))?;
                if pending.approved_by.is_some() {
                    return Ok(Vec::new());
                }
                if pending.requested_by == *approved_by {
                    return Err(FamilyError::ErasureNeedsSecondPerson);
                }
                // Checked again: the family may have come under a retention period since.
                super::rules::check_retention(pending.ground, *retention, today)?;
                Ok(vec![FamilyEvent::ErasureApproved(ErasureApproved {
                    erasure_id: *erasure_id,
                    approved_by: approved_by.clone(),
                })])
            }
            FamilyCommand::Reopen { note } => match self.status {
                FamilyStatus::Absent => Err(FamilyError::NotFound),
                FamilyStatus::Erased => Err(FamilyError::Erased),
                FamilyStatus::Active => Err(FamilyError::NotClosed),
                FamilyStatus::Closed(_) => {
                    Ok(vec![FamilyEvent::Reopened(Reopened { note: Personal::text(note) })])
                }
            },
            FamilyCommand::AddMember(_)
            | FamilyCommand::UpdateMember { .. }
            | FamilyCommand::RemoveMember { .. }
            | FamilyCommand::ChangeMunicipality { .. }
            | FamilyCommand::GrantConsent { .. }
            | FamilyCommand::RevokeConsent { .. }
            | FamilyCommand::LinkMember { .. }
            | FamilyCommand::Close { .. } => {
                self.check_open()?;
                self.decide_change(command, today)
            }
            // A closed family's members can still be stopped from signing in.
            FamilyCommand::UnlinkMember { .. } => match self.status {
                FamilyStatus::Absent => Err(FamilyError::NotFound),
                FamilyStatus::Erased => Err(FamilyError::Erased),
                FamilyStatus::Active | FamilyStatus::Closed(_) => self.decide_change(command, today),
            },
        }
    }
}

fn joined(member: &NewMember) -> MemberJoined {
    MemberJoined {
        member_id: member.member_id,
        role: member.role,
        details: Personal::Plain(normalised(&member.details)),
    }
}

fn normalised(details: &MemberDetails) -> MemberDetails {
    let mut details = details.clone();
    details.given_names = details.given_names.trim().to_owned();
    details.family_name = details.family_name.trim().to_owned();
    if details.birth_date.is_none() {
        details.birth_date = details.identity_code.as_ref().map(|code| code.birth_date());
    }
    details.languages.dedup();
    details
}

impl Family {
    /// Commands that need an open family.
    fn decide_change(&self, command: &FamilyCommand, today: Date) -> Result<Vec<FamilyEvent>, FamilyError> {
        match command {
            FamilyCommand::AddMember(member) => {
                invalid_if_any(
                    check_details(None, member.role, &member.details, today),
                    FamilyError::Invalid,
                )?;
                if self.members.contains_key(&member.member_id) {
                    return Err(FamilyError::MemberExists(member.member_id));
                }
                Ok(vec![FamilyEvent::MemberAdded(joined(member))])
            }
            FamilyCommand::UpdateMember { member_id, role, details } => {
                let current = self.check_member(*member_id)?;
                let role = role.unwrap_or(current.role);
                invalid_if_any(check_details(None, role, details, today), FamilyError::Invalid)?;
                Ok(vec![FamilyEvent::MemberUpdated(MemberUpdated {
                    member_id: *member_id,
                    role,
                    details: Personal::Plain(normalised(details)),
                })])
            }
            FamilyCommand::RemoveMember { member_id, reason } => {
                self.check_member(*member_id)?;
                if self.members.len() == 1 {
                    return Err(FamilyError::LastMember);
                }
                let mut events = self.unlink(*member_id);
                events.push(FamilyEvent::MemberRemoved(MemberRemoved {
                    member_id: *member_id,
                    reason: Personal::text(reason),
                }));
                Ok(events)
            }
            FamilyCommand::LinkMember { member_id, subject, subject_key } => {
                self.check_member(*member_id)?;
                invalid_if_any(check_subject(subject), FamilyError::Invalid)?;
                if self.links.get(member_id) == Some(subject_key) {
                    return Ok(Vec::new());
                }
                let mut events = self.unlink(*member_id);
                events.push(FamilyEvent::MemberLinked(MemberLinked {
                    member_id: *member_id,
                    subject: Personal::Plain(subject.trim().to_owned()),
                    subject_key: subject_key.clone(),
                }));
                Ok(events)
            }
            FamilyCommand::UnlinkMember { member_id } => {
                self.check_member(*member_id)?;
                Ok(self.unlink(*member_id))
            }
            FamilyCommand::ChangeMunicipality { municipality } => {
                if self.municipality.as_ref() == Some(municipality) {
                    return Ok(Vec::new());
                }
                Ok(vec![FamilyEvent::MunicipalityChanged(MunicipalityChanged {
                    municipality: municipality.clone(),
                })])
            }
            FamilyCommand::GrantConsent { .. } => self.decide_consent(command, today),
            FamilyCommand::RevokeConsent { consent_id, revoked_by } => {
                let consent =
                    self.consents.get(consent_id).ok_or(FamilyError::ConsentNotFound(*consent_id))?;
                if consent.revoked_by.is_some() {
                    return Err(FamilyError::ConsentAlreadyRevoked(*consent_id));
                }
                let revoker = self.check_member(*revoked_by)?;
                if revoker.role != MemberRole::Guardian && consent.given_by != *revoked_by {
                    return Err(FamilyError::NotEntitledToRevoke(*revoked_by));
                }
                Ok(vec![FamilyEvent::ConsentRevoked(ConsentRevoked {
                    consent_id: *consent_id,
                    revoked_by: *revoked_by,
                })])
            }
            FamilyCommand::Close { reason, note } => {
                Ok(vec![FamilyEvent::Closed(Closed { reason: *reason, note: Personal::text(note) })])
            }
            // Decided in `Aggregate::decide`, whatever the status.
            FamilyCommand::Register { .. }
            | FamilyCommand::Erase
            | FamilyCommand::ReapplyErasure
            | FamilyCommand::Reopen { .. }
            | FamilyCommand::RequestErasure { .. }
            | FamilyCommand::ApproveErasure { .. } => Ok(Vec::new()),
        }
    }

    /// The member's link ends, if there is one.
    fn unlink(&self, member_id: MemberId) -> Vec<FamilyEvent> {
        self.links
            .get(&member_id)
            .map(|subject_key| {
                FamilyEvent::MemberUnlinked(MemberUnlinked { member_id, subject_key: subject_key.clone() })
            })
            .into_iter()
            .collect()
    }

    fn unlink_all(&self) -> Vec<FamilyEvent> {
        self.links.keys().flat_map(|member_id| self.unlink(*member_id)).collect()
    }
}

/// The longest subject an identity provider gives.
const MAX_SUBJECT: usize = 255;

/// A subject is an identity provider's opaque id: never a personal identity code.
fn check_subject(subject: &str) -> Vec<Violation> {
    let subject = subject.trim();
    let wrong = if subject.is_empty() {
        Some("give the identity provider's subject (its `sub` for the member)")
    } else if subject.chars().count() > MAX_SUBJECT || subject.chars().any(char::is_control) {
        Some("a subject is at most 255 characters, without control characters")
    } else if crate::identity_code::IdentityCode::parse(subject).is_ok() {
        Some("this is a personal identity code; link the identity provider's opaque subject instead")
    } else {
        None
    };
    wrong.map(|why| Violation::named("subject", why)).into_iter().collect()
}

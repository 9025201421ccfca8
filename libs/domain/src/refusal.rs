//! Why a command is refused, as typed rules: every refusal names a stable code (part of the
//! public API, sent in error details) and its class, which the gRPC edge maps to a status code.

use crate::Violation;

/// The class of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The command's input is bad; the violations say where (`INVALID_ARGUMENT`).
    Invalid,
    /// Something the command names does not exist (`NOT_FOUND`).
    NotFound,
    /// Something the command creates exists already (`ALREADY_EXISTS`).
    AlreadyExists,
    /// The command breaks a rule in the current state (`FAILED_PRECONDITION`).
    RuleBroken,
    /// The caller may not do this (`PERMISSION_DENIED`).
    NotPermitted,
    /// Another request is changing the same thing now; retrying after it may succeed
    /// (`ABORTED`).
    Contended,
}

/// A rule with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub code: &'static str,
    pub kind: RefusalKind,
}

impl Rule {
    pub const fn new(code: &'static str, kind: RefusalKind) -> Self {
        Self { code, kind }
    }
}

/// A refusal of a command: its rule, and the bad fields when the input is at fault.
pub trait Refusal: std::error::Error {
    fn rule(&self) -> Rule;

    fn violations(&self) -> &[Violation] {
        &[]
    }
}

/// Every rule luukku refuses commands by. The codes are stable: callers match on them.
pub mod rules {
    use super::RefusalKind::{AlreadyExists, Contended, Invalid, NotFound, NotPermitted, RuleBroken};
    use super::Rule;

    pub const INVALID_ARGUMENT: Rule = Rule::new("INVALID_ARGUMENT", Invalid);
    pub const REQUEST_ID_REUSED: Rule = Rule::new("REQUEST_ID_REUSED", AlreadyExists);
    pub const OPERATORS_ONLY: Rule = Rule::new("OPERATORS_ONLY", NotPermitted);

    // The access policy (`access::policy`). A caller with no relationship to a family is
    // told it does not exist: `NO_RELATIONSHIP` goes only to the access log.
    pub const NO_RELATIONSHIP: Rule = Rule::new("NO_RELATIONSHIP", NotPermitted);
    pub const OPERATORS_SEE_NO_PERSONAL_DATA: Rule =
        Rule::new("OPERATORS_SEE_NO_PERSONAL_DATA", NotPermitted);
    pub const NOT_THE_CONTACT_PERSON: Rule = Rule::new("NOT_THE_CONTACT_PERSON", NotPermitted);
    pub const ROLE_NOT_PERMITTED: Rule = Rule::new("ROLE_NOT_PERMITTED", NotPermitted);
    pub const CONSENT_NOT_OWN: Rule = Rule::new("CONSENT_NOT_OWN", NotPermitted);
    pub const CONSENT_NEEDS_SIGNED_FORM: Rule = Rule::new("CONSENT_NEEDS_SIGNED_FORM", NotPermitted);
    pub const INTERNAL_NOTES: Rule = Rule::new("INTERNAL_NOTES", NotPermitted);
    pub const NOT_A_PARTICIPANT: Rule = Rule::new("NOT_A_PARTICIPANT", NotPermitted);
    pub const EXPORT_NOT_PERMITTED: Rule = Rule::new("EXPORT_NOT_PERMITTED", NotPermitted);
    pub const NOT_OWN_WORK_LIST: Rule = Rule::new("NOT_OWN_WORK_LIST", NotPermitted);
    pub const STATUTORY_BASIS_NOT_IN_LAW: Rule = Rule::new("STATUTORY_BASIS_NOT_IN_LAW", NotPermitted);
    pub const NOT_THE_RECEIVING_SECTOR: Rule = Rule::new("NOT_THE_RECEIVING_SECTOR", NotPermitted);
    pub const NOT_THE_SENDER: Rule = Rule::new("NOT_THE_SENDER", NotPermitted);
    pub const SEARCH_NEEDS_PURPOSE: Rule = Rule::new("SEARCH_NEEDS_PURPOSE", NotPermitted);
    /// The access log's record of a call whose facts could not be gathered (answered
    /// `UNAVAILABLE`).
    pub const FACTS_UNAVAILABLE: Rule = Rule::new("FACTS_UNAVAILABLE", NotPermitted);

    pub const FAMILY_NOT_FOUND: Rule = Rule::new("FAMILY_NOT_FOUND", NotFound);
    pub const FAMILY_EXISTS: Rule = Rule::new("FAMILY_EXISTS", AlreadyExists);
    pub const FAMILY_CLOSED: Rule = Rule::new("FAMILY_CLOSED", RuleBroken);
    pub const FAMILY_ERASED: Rule = Rule::new("FAMILY_ERASED", RuleBroken);
    pub const FAMILY_NOT_CLOSED: Rule = Rule::new("FAMILY_NOT_CLOSED", RuleBroken);
    pub const MEMBER_NOT_FOUND: Rule = Rule::new("MEMBER_NOT_FOUND", NotFound);
    pub const MEMBER_EXISTS: Rule = Rule::new("MEMBER_EXISTS", AlreadyExists);
    pub const LAST_MEMBER: Rule = Rule::new("LAST_MEMBER", RuleBroken);
    pub const NOT_ENTITLED_TO_CONSENT: Rule = Rule::new("NOT_ENTITLED_TO_CONSENT", RuleBroken);
    pub const NOT_ENTITLED_TO_REVOKE: Rule = Rule::new("NOT_ENTITLED_TO_REVOKE", RuleBroken);
    pub const CONSENT_NOT_FOUND: Rule = Rule::new("CONSENT_NOT_FOUND", NotFound);
    pub const CONSENT_EXISTS: Rule = Rule::new("CONSENT_EXISTS", AlreadyExists);
    pub const CONSENT_REVOKED: Rule = Rule::new("CONSENT_REVOKED", RuleBroken);
    pub const RETENTION_PERIOD: Rule = Rule::new("RETENTION_PERIOD", RuleBroken);
    pub const ERASURE_PENDING: Rule = Rule::new("ERASURE_PENDING", RuleBroken);
    pub const ERASURE_NOT_FOUND: Rule = Rule::new("ERASURE_NOT_FOUND", NotFound);
    pub const ERASURE_NOT_APPROVED: Rule = Rule::new("ERASURE_NOT_APPROVED", RuleBroken);
    pub const ERASURE_NEEDS_SECOND_PERSON: Rule = Rule::new("ERASURE_NEEDS_SECOND_PERSON", NotPermitted);
    pub const SUBJECT_LINKED: Rule = Rule::new("SUBJECT_LINKED", AlreadyExists);

    pub const CONTACT_PERSON_NOT_FOUND: Rule = Rule::new("CONTACT_PERSON_NOT_FOUND", NotFound);
    pub const CONTACT_PERSON_EXISTS: Rule = Rule::new("CONTACT_PERSON_EXISTS", AlreadyExists);
    pub const CONTACT_PERSON_INACTIVE: Rule = Rule::new("CONTACT_PERSON_INACTIVE", RuleBroken);
    pub const CASELOAD_FULL: Rule = Rule::new("CASELOAD_FULL", RuleBroken);
    pub const HAS_CASELOAD: Rule = Rule::new("HAS_CASELOAD", RuleBroken);
    pub const ALREADY_ASSIGNED: Rule = Rule::new("ALREADY_ASSIGNED", RuleBroken);
    pub const HANDOVER_NEEDS_REASON: Rule = Rule::new("HANDOVER_NEEDS_REASON", RuleBroken);
    pub const HANDOVER_PENDING: Rule = Rule::new("HANDOVER_PENDING", RuleBroken);
    pub const NO_SUCH_HANDOVER: Rule = Rule::new("NO_SUCH_HANDOVER", RuleBroken);
    pub const NOT_THE_RECEIVER: Rule = Rule::new("NOT_THE_RECEIVER", NotPermitted);
    pub const NOT_ASSIGNED: Rule = Rule::new("NOT_ASSIGNED", RuleBroken);
    pub const ASSIGNMENT_IN_PROGRESS: Rule = Rule::new("ASSIGNMENT_IN_PROGRESS", Contended);
    pub const CONTACT_NOT_FOUND: Rule = Rule::new("CONTACT_NOT_FOUND", NotFound);
    pub const CONTACT_EXISTS: Rule = Rule::new("CONTACT_EXISTS", AlreadyExists);
    pub const NO_FOLLOW_UP: Rule = Rule::new("NO_FOLLOW_UP", RuleBroken);
    pub const FOLLOW_UP_DONE: Rule = Rule::new("FOLLOW_UP_DONE", RuleBroken);
    pub const CONSULTATION_EXISTS: Rule = Rule::new("CONSULTATION_EXISTS", AlreadyExists);

    pub const SERVICE_NOT_FOUND: Rule = Rule::new("SERVICE_NOT_FOUND", NotFound);
    pub const SERVICE_EXISTS: Rule = Rule::new("SERVICE_EXISTS", AlreadyExists);
    pub const SERVICE_PAUSED: Rule = Rule::new("SERVICE_PAUSED", RuleBroken);
    pub const SERVICE_RETIRED: Rule = Rule::new("SERVICE_RETIRED", RuleBroken);
    pub const REFERRAL_NOT_FOUND: Rule = Rule::new("REFERRAL_NOT_FOUND", NotFound);
    pub const REFERRAL_EXISTS: Rule = Rule::new("REFERRAL_EXISTS", AlreadyExists);
    pub const ILLEGAL_TRANSITION: Rule = Rule::new("ILLEGAL_TRANSITION", RuleBroken);
    pub const NO_CONSENT: Rule = Rule::new("NO_CONSENT", RuleBroken);

    pub const MEETING_NOT_FOUND: Rule = Rule::new("MEETING_NOT_FOUND", NotFound);
    pub const MEETING_EXISTS: Rule = Rule::new("MEETING_EXISTS", AlreadyExists);
    pub const MEETING_ALREADY_OPEN: Rule = Rule::new("MEETING_ALREADY_OPEN", RuleBroken);
    pub const MEETING_STATUS: Rule = Rule::new("MEETING_STATUS", RuleBroken);
    pub const NOT_INVITED: Rule = Rule::new("NOT_INVITED", RuleBroken);
    pub const ALREADY_INVITED: Rule = Rule::new("ALREADY_INVITED", AlreadyExists);
    pub const ACTION_NOT_FOUND: Rule = Rule::new("ACTION_NOT_FOUND", NotFound);
    pub const ACTION_DONE: Rule = Rule::new("ACTION_DONE", RuleBroken);
}

//! Subcommands for contact persons, through the gRPC APIs only, as any client would: each is
//! one call of a public API.

mod caseload;
mod consent;
mod contact;
mod family;
mod handover;
mod identity;
mod meeting;
mod referral;

pub use caseload::caseload;
pub use consent::{ConsentCommand, consent};
pub use contact::{ContactLogArgs, contact_log};
pub use family::{FamilyCommand, family};
pub use handover::{HandoverCommand, handover};
pub use identity::{Caller, Identity, done, explain, id, list};
pub use meeting::{MeetingCommand, actions, meeting};
pub use referral::{ReferralCommand, referral};

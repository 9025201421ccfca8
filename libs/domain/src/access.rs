//! Need to know: every call names its [`Action`], the facts of the caller's relationships to
//! the family are gathered, and [`decide`] allows it with a scope and a basis, or denies it
//! naming the rule.

pub mod action;
pub mod facts;
pub mod policy;

pub use action::{AccessKind, Action, RuleSet};
pub use facts::{
    BreakGlass, ConsentFact, Facts, FamilyFacts, MeetingFact, ReferralFact, ReferralStep, Target,
};
pub use policy::{Basis, Decision, Scope, decide, explain, statutory_basis_allows};

//! Every command of every aggregate, and every rule across aggregates, decided with no IO:
//! given events, when a command, then events or a refusal.

mod access;
mod contacts;
mod family;
mod meetings;
mod referrals;

pub use luukku_testkit::fixtures::consent;

//! The shape every aggregate shares: commands are decided against the current state into
//! events, and events are applied to evolve the state. Both are pure.

use jiff::civil::Date;

use crate::refusal::Refusal;
use crate::sealing::HasPersonal;
use crate::{DomainEvent, Timestamp};

/// What a decision may depend on besides the state and the command: the clock, read once at
/// the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub now: Timestamp,
    /// Today in Finland, for validity periods and ages.
    pub today: Date,
}

pub trait Aggregate: Default {
    type Event: DomainEvent + HasPersonal + Clone + std::fmt::Debug;
    type Command;
    type Error: Refusal;

    /// The aggregate type token in subjects, such as `family`.
    const TYPE: &'static str;

    /// What the aggregate's id names, in refusals: `family`, `contact_person`, `referral`.
    const NOUN: &'static str;

    fn apply(&mut self, event: &Self::Event);

    fn decide(&self, command: &Self::Command, context: &Context) -> Result<Vec<Self::Event>, Self::Error>;

    /// The state after `events`, from the default.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

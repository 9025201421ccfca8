//! Given events, when a command, then events or a refusal: the one harness for deciding
//! commands, with no IO.
//!
//! ```ignore
//! given::<Family>(registered()).when(close()).then([FamilyEvent::Closed(..)]);
//! given::<Family>([]).when(register()).then_err(FamilyError::AlreadyRegistered);
//! ```

use std::fmt::Debug;

use jiff::civil::{Date, date};
use luukku_domain::{Aggregate, Context, Refusal, Timestamp};

/// The day every decision in a test is taken on, unless a test names another.
pub const TODAY: Date = date(2026, 11, 23);

/// Noon of [`TODAY`] in Finland, as milliseconds since the epoch.
pub const NOW: Timestamp = Timestamp::from_millis(1_795_428_000_000);

/// The clock of a test: [`NOW`] on [`TODAY`].
pub fn context() -> Context {
    Context { now: NOW, today: TODAY }
}

/// An id for tests: `n` in a valid ULID, so the same `n` always gives the same id.
pub fn id<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: Debug,
{
    format!("01J{n:0>23}").parse().expect("test id")
}

/// An aggregate's history, and the clock commands are decided by.
pub struct Given<A: Aggregate> {
    history: Vec<A::Event>,
    context: Context,
}

/// The aggregate after `history`.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> Given<A> {
    Given { history: history.into_iter().collect(), context: context() }
}

impl<A: Aggregate> Given<A> {
    /// Decides at another moment.
    pub fn at(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// The state the history evolves to.
    pub fn state(&self) -> A {
        A::replay(&self.history)
    }

    pub fn history(&self) -> &[A::Event] {
        &self.history
    }

    pub fn when(&self, command: A::Command) -> Then<A> {
        let result = self.state().decide(&command, &self.context);
        Then { history: self.history.clone(), context: self.context, result }
    }
}

/// What deciding a command gave.
pub struct Then<A: Aggregate> {
    history: Vec<A::Event>,
    context: Context,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq,
    A::Error: Debug + PartialEq,
{
    /// The command was accepted with exactly `expected`.
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        assert_eq!(self.result, Ok(expected));
    }

    /// The command was accepted and changed nothing.
    pub fn then_nothing(self) {
        assert_eq!(self.result, Ok(Vec::new()));
    }

    /// The command was refused with `expected`.
    pub fn then_err(self, expected: A::Error) {
        assert_eq!(self.result, Err(expected));
    }

    /// The fields the refusal names, as the domain names them (`members[1].given_names`).
    pub fn then_invalid(self) -> Vec<String> {
        match &self.result {
            Err(error) if !error.violations().is_empty() => {
                error.violations().iter().map(|violation| violation.field.to_string()).collect()
            }
            other => panic!("expected field violations, got {other:?}"),
        }
    }

    /// The events of an accepted command.
    pub fn events(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(error) => panic!("expected the command to be accepted, it was refused: {error:?}"),
        }
    }

    /// The history with the accepted command's events, to decide the next command on.
    pub fn and(self) -> Given<A> {
        let context = self.context;
        let mut history = self.history.clone();
        history.extend(self.events());
        Given { history, context }
    }

    pub fn result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}

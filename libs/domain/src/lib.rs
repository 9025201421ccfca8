//! The pure domain of luukku: identifiers, value types, actors, the event codec contract, and
//! the aggregates with their decide and evolve.
//!
//! Deciding and evolving perform no IO: the clock and the time zone come in from the edge, and
//! services carry out the effects elsewhere. The one exception is sealing (`sealing`), which the
//! edge calls and which draws keys and nonces from the operating system's random generator.

pub mod actor;
pub mod aggregate;
pub mod codec;
pub mod contacts;
pub mod family;
pub mod id;
pub mod identity_code;
pub mod meetings;
pub mod need;
pub mod referrals;
pub mod sealing;
pub mod sector;
pub mod text;
pub mod time;

pub use actor::{Actor, Role};
pub use aggregate::{Aggregate, Context};
pub use codec::{CodecError, DomainEvent, EventSchema};
pub use family::Violation;
pub use id::{AggregateId, IdError, RequestId};
pub use need::{Channel, Need};
pub use sector::Sector;
pub use text::{Code, TextError};
pub use time::Timestamp;

//! The pure domain of luukku: identifiers, value types, actors, the event codec contract, and
//! the four contexts (family; contacts; referrals; meetings), each in the same layout:
//! `events` (what is persisted), `state` (evolved from events), `decide` (commands, refusals,
//! deciding), `rules` (pure rules across aggregates) and `narrate` (events told as text).
//!
//! Deciding and evolving perform no IO: the clock and the time zone come in from the edge, and
//! services carry out the effects elsewhere. The one exception is sealing (`sealing`), which the
//! edge calls and which draws keys and nonces from the operating system's random generator.

pub mod access;
pub mod actor;
pub mod aggregate;
pub mod codec;
pub mod contacts;
pub mod family;
pub mod holidays;
pub mod id;
pub mod identity_code;
pub mod meetings;
pub mod narrate;
pub mod need;
pub mod referrals;
pub mod refusal;
pub mod sealing;
pub mod sector;
pub mod text;
pub mod time;
pub mod violation;
pub mod wire;

pub use actor::{Actor, Role};
pub use aggregate::{Aggregate, Context};
pub use codec::{CodecError, DomainEvent, EventSchema};
pub use id::{AggregateId, IdError, RequestId};
pub use narrate::{Narrate, Telling};
pub use need::{Channel, Need};
pub use refusal::{Refusal, RefusalKind, Rule};
pub use sector::Sector;
pub use text::{Code, TextError};
pub use time::Timestamp;
pub use violation::{Field, Violation};

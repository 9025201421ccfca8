//! The pure domain of luukku: identifiers, value types, actors and the event codec contract.
//!
//! Nothing in this crate performs IO; services decide commands here and carry out the
//! resulting effects elsewhere.

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

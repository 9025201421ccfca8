//! What every luukku gRPC service shares: the caller's identity from request metadata, the
//! mapping of refusals to gRPC status codes with details, the clock, and serving with health
//! and reflection.

pub mod clock;
pub mod family;
pub mod follow;
pub mod identity;
pub mod parse;
pub mod repository;
pub mod serve;
pub mod status;

pub use clock::context_now;
pub use identity::{caller, with_identity};
pub use status::{Violations, store_status};

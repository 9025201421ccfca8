//! What every luukku application layer shares, free of gRPC and protobuf: the verified caller,
//! the aggregate repository (load, decide, seal, append), the application error that every
//! refusal and failure becomes, checkpointed read models in sled that follow the streams, and the clock.
//!
//! A service's application layer has one async function per use case: it takes the caller and
//! a domain command, loads the aggregates, asks the domain's rules, appends the events, and
//! answers with a plain outcome or an [`AppError`]. The gRPC edge maps that error to a status
//! in one place.

pub mod access;
pub mod caller;
pub mod clock;
pub mod erasures;
pub mod error;
pub mod events;
pub mod gauges;
pub mod projected;
pub mod repository;
pub mod standing;
pub mod writes;

pub use access::{Granted, Guard, Relations};
pub use caller::Caller;
pub use clock::{context_now, finnish_zone};
pub use error::{AppError, RepositoryError, refused};
pub use events::{Events, EventsError};
pub use projected::{Folder, Projected};
pub use repository::{
    CACHED_KEYS, Entry, Keys, Loaded, Outcome, Reader, Repository, Write, Written, cached_keys,
};
pub use standing::{Standing, StandingState};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

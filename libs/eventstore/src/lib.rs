//! The luukku event store on NATS JetStream.
//!
//! One stream per bounded context, one subject per aggregate
//! (`<context>.<aggregate_type>.<aggregate_id>`), one message per accepted command holding
//! that command's events. Optimistic concurrency rides on
//! `Nats-Expected-Last-Subject-Sequence`, idempotency on `Nats-Msg-Id` = the caller's request id.

pub mod access;
mod append;
pub mod audit;
pub mod deadline;
pub mod envelope;
mod error;
mod follow;
pub mod glass;
pub mod keys;
pub mod links;
mod load;
pub mod ordered;
pub mod quarantine;
mod read;
mod store;
pub mod streams;
pub mod trace_context;

pub use append::{Appended, Expected};
pub use envelope::{Envelope, Fingerprint, RawEvent, Recorded};
pub use error::{Error, Result};
pub use follow::{Followed, Undecodable};
pub use keys::{CachedKeys, Kek, KeyRing, KeyStore, KeyWrapper, NatsKeyStore, SEARCH_INDEX_KEY};
pub use links::MemberLinks;
pub use load::Loaded;
pub use read::{ReadOptions, RecordedStream};
pub use store::{EventStore, NatsAuth, PING_INTERVAL, StoreSettings};
pub use streams::{AggregateRef, Checkpoints, Position, Stream};

/// Creates, or brings to their settings, everything luukku keeps in NATS: the four streams,
/// the access log, the family key bucket, the member link bucket and the break-glass bucket
/// (admin only; safe to run at every start).
pub async fn provision(store: &EventStore) -> Result<()> {
    store.provision(&Stream::ALL).await?;
    store.provision_audit().await?;
    NatsKeyStore::provision(store).await?;
    links::provision(store).await?;
    glass::provision(store).await?;
    quarantine::provision(store).await?;
    Ok(())
}

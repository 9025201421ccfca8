//! The event store against a real nats-server.

mod access;
mod append;
mod audit;
mod codec;
mod durability;
mod keys;
mod load_read;
mod support;

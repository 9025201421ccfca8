//! The coordination service: projections in sled over a real nats-server.

mod access;
mod matrix;
mod projection;
mod quarantine;
mod support;
mod view;
mod watch;

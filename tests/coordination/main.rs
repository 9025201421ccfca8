//! The coordination service: projections in sled over a real nats-server.

mod projection;
mod support;
mod view;

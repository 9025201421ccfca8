//! The meetings service over gRPC, against a real nats-server.

mod calls;
mod codec;
mod quarantine;
mod rules;
mod support;

//! The meetings service over gRPC, against a real nats-server.

mod calls;
mod rules;
mod support;

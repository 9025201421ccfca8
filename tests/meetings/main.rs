//! The meetings service over gRPC, against a real nats-server.

mod calls;
mod codec;
mod rules;
mod support;

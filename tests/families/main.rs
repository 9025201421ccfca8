//! The families service over gRPC, against a real nats-server.

mod calls;
mod codec;
mod erasure;
mod errors;
mod support;
mod tls;

//! The families service over gRPC, against a real nats-server.

mod access;
mod calls;
mod codec;
mod erasure;
mod errors;
mod links;
mod models;
mod requests;
mod restore;
mod support;
mod telemetry;
mod tls;

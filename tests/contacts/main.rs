//! The contacts service over gRPC, against a real nats-server.

mod assignment;
mod caseloads;
mod codec;
mod log;
mod persons;
mod support;

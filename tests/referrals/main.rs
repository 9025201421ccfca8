//! The referrals service over gRPC, against a real nats-server.

mod catalogue;
mod lifecycle;
mod process;
mod support;

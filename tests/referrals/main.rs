//! The referrals service over gRPC, against a real nats-server.

mod catalogue;
mod codec;
mod lifecycle;
mod process;
mod support;

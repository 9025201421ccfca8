//! Process plumbing shared by luukku binaries and tests: the embedded nats-server, logging and
//! the process's memory pages.

pub mod memory;
pub mod nats_server;
pub mod telemetry;

pub use nats_server::{ClusterOptions, NatsServer, NatsServerError, NatsServerOptions};

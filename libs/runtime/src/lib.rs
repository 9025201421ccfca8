//! Process plumbing shared by luukku binaries and tests: the embedded nats-server and logging.

pub mod nats_server;
pub mod telemetry;

pub use nats_server::{ClusterOptions, NatsServer, NatsServerError, NatsServerOptions};

//! Coordination requests: the positions a query waits for, how long it may wait, and paging.

use std::time::Duration;

use luukku_eventstore::{Checkpoints, Stream};
use luukku_grpc::Decoder;
use luukku_proto::common::v1 as common;
use tonic::Request;

use crate::app::Wait;

/// The longest a query waits for the projection to reach the positions it names.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The call's deadline from `grpc-timeout`, capped, with a little of it left for the answer.
pub fn wait_limit<T>(request: &Request<T>) -> Duration {
    let parsed =
        request.metadata().get("grpc-timeout").and_then(|value| value.to_str().ok()).and_then(|value| {
            let (number, unit) = value.split_at(value.len().checked_sub(1)?);
            let number: u64 = number.parse().ok()?;
            Some(match unit {
                "H" => Duration::from_secs(number.saturating_mul(3600)),
                "M" => Duration::from_secs(number.saturating_mul(60)),
                "S" => Duration::from_secs(number),
                "m" => Duration::from_millis(number),
                "u" => Duration::from_micros(number),
                "n" => Duration::from_nanos(number),
                _ => return None,
            })
        });
    parsed.map_or(MAX_WAIT, |limit| limit.mul_f64(0.9)).min(MAX_WAIT)
}

/// The positions a query waits for: the furthest asked per stream.
pub fn wait<T>(decoder: &mut Decoder, request: &Request<T>, positions: &[common::Position]) -> Wait {
    let mut targets = Checkpoints::default();
    for (index, position) in positions.iter().enumerate() {
        if let Some(stream) =
            decoder.field(&format!("min_positions[{index}].stream"), position.stream.parse::<Stream>())
        {
            targets.raise(stream, position.sequence);
        }
    }
    Wait { targets, limit: wait_limit(request) }
}

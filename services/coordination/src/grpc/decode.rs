//! Coordination requests: the positions a query waits for, how long it may wait, and paging.

use std::time::Duration;

use luukku_eventstore::{Checkpoints, Stream};
use luukku_grpc::Decoder;
use luukku_proto::common::v1 as common;
use tonic::Request;

use crate::app::Wait;

/// The longest a query waits for the projection to reach the positions it names.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The call's deadline from `grpc-timeout`, capped, with a little of it left for the answer:
/// the caller hears where the projection stands, not only that time ran out.
pub fn wait_limit<T>(request: &Request<T>) -> Duration {
    let budget = luukku_grpc::deadline::budget(request.metadata().as_ref());
    budget.saturating_sub(luukku_eventstore::deadline::MARGIN).min(MAX_WAIT)
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

/// The paging key of a caseload entry: what needs attention most first, then the family id.
pub fn attention_first(entry: &crate::app::view::CaseloadEntry) -> String {
    let a = entry.attention;
    let most_first = |count: u32| format!("{:010}", u32::MAX - count);
    format!(
        "{}{}{}{}{}{}.{}",
        most_first(a.overdue_referrals),
        most_first(a.actions_past_due),
        most_first(a.meetings_within_week),
        most_first(a.follow_ups_due),
        most_first(a.consents_ending),
        if a.pending_handover { 0 } else { 1 },
        entry.family_id
    )
}

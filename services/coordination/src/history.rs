//! A family's history, told from its messages in the four streams with the projection's own
//! texts (no personal data), newest first.

use luukku_domain::Aggregate;
use luukku_domain::contacts::assignment::Assignment;
use luukku_domain::contacts::log::ContactLog;
use luukku_domain::family::{Family, FamilyId};
use luukku_domain::meetings::FamilyMeetings;
use luukku_domain::referrals::Referral;
use luukku_eventstore::streams::{CONTACTS, FAMILIES, MEETINGS, REFERRALS};
use luukku_eventstore::{AggregateRef, EventStore, Recorded};
use luukku_proto::coordination::v1 as pb;

use crate::doc::FamilyDoc;
use crate::store::{Result, STREAMS, TimelineItem, Txn};

/// Every timeline entry of the family, newest first.
pub async fn history(store: &EventStore, family: FamilyId, doc: &FamilyDoc) -> Result<Vec<TimelineItem>> {
    let mut aggregates = vec![
        (0, AggregateRef::new(FAMILIES, Family::TYPE, family)),
        (1, AggregateRef::new(CONTACTS, Assignment::TYPE, family)),
        (1, AggregateRef::new(CONTACTS, ContactLog::TYPE, family)),
        (3, AggregateRef::new(MEETINGS, FamilyMeetings::TYPE, family)),
    ];
    for referral in doc.referrals.keys() {
        aggregates.push((2, AggregateRef::new(REFERRALS, Referral::TYPE, *referral)));
    }
    let mut messages: Vec<(usize, Recorded)> = Vec::new();
    for (stream, aggregate) in aggregates {
        let loaded = store.load(&aggregate).await?;
        messages.extend(loaded.messages.into_iter().map(|message| (stream, message)));
    }
    messages.sort_by_key(|(stream, m)| (m.envelope.recorded_at, *stream, m.position.sequence));
    let mut txn = Txn::scratch();
    for (stream, recorded) in &messages {
        if let Err(error) = crate::project::apply(&mut txn, *stream, recorded) {
            tracing::warn!(%error, position = %recorded.position, "history: message not told");
        }
    }
    let mut items = txn.timeline.take().unwrap_or_default();
    items.reverse();
    Ok(items)
}

pub fn entry_pb(item: &TimelineItem) -> pb::TimelineEntry {
    pb::TimelineEntry {
        at_ms: item.at_ms,
        stream: STREAMS.get(item.stream).copied().unwrap_or_default().to_owned(),
        sequence: item.sequence,
        event_type: item.event_type.to_owned(),
        text: item.text.clone(),
        actor: item.actor.clone(),
    }
}

/// A page token: where the previous page ended.
pub fn token(item: &TimelineItem) -> String {
    format!("{}.{}.{}.{}", item.at_ms, item.stream, item.sequence, item.part)
}

/// Whether `item` comes after (is older than) the position `token` names.
pub fn older_than(item: &TimelineItem, token: (i64, usize, u64, usize)) -> bool {
    (item.at_ms, item.stream, item.sequence, item.part) < token
}

pub fn parse_token(token: &str) -> Option<(i64, usize, u64, usize)> {
    let mut parts = token.split('.');
    let parsed = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(parsed)
}

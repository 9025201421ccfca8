//! A family's timeline: every event of its aggregates in the four streams, told by each
//! context's narration without personal data, newest first.

use std::fmt;
use std::str::FromStr;

use luukku_app::{AppError, Events};
use luukku_domain::contacts::{Assignment, ContactLog};
use luukku_domain::family::{Family, FamilyId};
use luukku_domain::meetings::FamilyMeetings;
use luukku_domain::referrals::Referral;
use luukku_domain::{Aggregate, Telling};
use luukku_eventstore::{AggregateRef, EventStore, Recorded, Stream};

use crate::projection::doc::FamilyDoc;

/// One event of the family's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    pub at_ms: i64,
    pub stream: Stream,
    pub sequence: u64,
    /// Which event of its message.
    pub part: usize,
    pub event_type: &'static str,
    pub text: String,
    /// Who recorded it (a person id, never a name).
    pub actor: String,
}

/// Where a page of a timeline ended; the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimelineCursor {
    at_ms: i64,
    stream: Stream,
    sequence: u64,
    part: usize,
}

impl TimelineItem {
    pub fn cursor(&self) -> TimelineCursor {
        TimelineCursor { at_ms: self.at_ms, stream: self.stream, sequence: self.sequence, part: self.part }
    }
}

impl fmt::Display for TimelineCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}.{}", self.at_ms, self.stream, self.sequence, self.part)
    }
}

/// A cursor this service did not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a token this service gave")]
pub struct NotACursor;

impl FromStr for TimelineCursor {
    type Err = NotACursor;
    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let mut parts = token.split('.');
        let mut next = || parts.next().ok_or(NotACursor);
        let cursor = TimelineCursor {
            at_ms: next()?.parse().map_err(|_| NotACursor)?,
            stream: next()?.parse().map_err(|_| NotACursor)?,
            sequence: next()?.parse().map_err(|_| NotACursor)?,
            part: next()?.parse().map_err(|_| NotACursor)?,
        };
        match parts.next() {
            None => Ok(cursor),
            Some(_) => Err(NotACursor),
        }
    }
}

fn told(recorded: &Recorded) -> Vec<TimelineItem> {
    let events = match Events::decode(recorded) {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%error, position = %recorded.position, "timeline: message not told");
            return Vec::new();
        }
    };
    events
        .narrate(Telling::FactsOnly)
        .into_iter()
        .enumerate()
        .map(|(part, (event_type, text))| TimelineItem {
            at_ms: recorded.envelope.recorded_at.as_millis(),
            stream: recorded.position.stream,
            sequence: recorded.position.sequence,
            part,
            event_type,
            text,
            actor: recorded.envelope.actor.person_id.as_str().to_owned(),
        })
        .collect()
}

/// Every timeline entry of the family, newest first.
pub async fn tell(
    store: &EventStore,
    family: FamilyId,
    doc: &FamilyDoc,
) -> Result<Vec<TimelineItem>, AppError> {
    let mut aggregates = vec![
        AggregateRef::new(Stream::Families, Family::TYPE, family),
        AggregateRef::new(Stream::Contacts, Assignment::TYPE, family),
        AggregateRef::new(Stream::Contacts, ContactLog::TYPE, family),
        AggregateRef::new(Stream::Meetings, FamilyMeetings::TYPE, family),
    ];
    aggregates.extend(
        doc.referrals.keys().map(|referral| AggregateRef::new(Stream::Referrals, Referral::TYPE, *referral)),
    );
    let mut items = Vec::new();
    for aggregate in aggregates {
        for recorded in store.load(&aggregate).await?.messages {
            items.extend(told(&recorded));
        }
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.cursor()));
    Ok(items)
}

//! A family's timeline: every event of its aggregates in the four streams, told by each
//! context's narration without personal data, newest first. The projection stores it as it
//! grows; a query reads it from there.

use std::fmt;
use std::str::FromStr;

use luukku_domain::family::FamilyId;
use luukku_eventstore::Stream;

pub use crate::projection::TimelineCursor;
use crate::projection::doc::TimelineDoc;
use crate::projection::{ProjectionTree, Result};

/// One event of the family's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    pub at_ms: i64,
    pub stream: Stream,
    pub sequence: u64,
    /// Which event of its message.
    pub part: u32,
    pub event_type: String,
    pub text: String,
    /// Who recorded it (a person id, never a name).
    pub actor: String,
}

impl TimelineItem {
    pub fn cursor(&self) -> TimelineCursor {
        TimelineCursor { at_ms: self.at_ms, stream: self.stream, sequence: self.sequence, part: self.part }
    }

    fn of((at, doc): (TimelineCursor, TimelineDoc)) -> Self {
        let TimelineDoc { event_type, text, actor } = doc;
        Self {
            at_ms: at.at_ms,
            stream: at.stream,
            sequence: at.sequence,
            part: at.part,
            event_type,
            text,
            actor,
        }
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

/// Up to `limit` of the family's timeline entries before `before` (from the newest, without
/// it), newest first.
pub fn read(
    tree: &ProjectionTree,
    family: FamilyId,
    before: Option<TimelineCursor>,
    limit: usize,
) -> Result<Vec<TimelineItem>> {
    Ok(tree.timeline(family, before, limit)?.into_iter().map(TimelineItem::of).collect())
}

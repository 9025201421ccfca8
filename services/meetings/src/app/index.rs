//! Which meetings exist, whose they are and who takes part: an in-memory model of the
//! `MEETINGS` stream for the queries that span families (a meeting by its id, upcoming meetings
//! and open actions of a person or sector). It never opens personal data; answers are built
//! from the family's meetings loaded through the repository.

use std::collections::HashMap;
use std::sync::Arc;

use luukku_app::{ReadModel, Result};
use luukku_domain::family::FamilyId;
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent, MeetingId};
use luukku_domain::sealing::HasPersonal as _;
use luukku_domain::{Aggregate, CodecError};
use luukku_eventstore::{EventStore, Recorded, Stream};

#[derive(Default)]
pub struct State {
    families: HashMap<FamilyId, FamilyMeetings>,
    meetings: HashMap<MeetingId, FamilyId>,
}

fn apply(state: &mut State, recorded: &Recorded) -> std::result::Result<(), CodecError> {
    let Some(family_id) = recorded.aggregate_id().map(|id| FamilyId::from_ulid(id.as_ulid())) else {
        tracing::error!(subject = recorded.subject, "meeting index: not a family subject");
        return Ok(());
    };
    for mut event in recorded.decode_events::<MeetingEvent>()? {
        // Answers are built from meetings loaded through the repository: the index keeps
        // no sealed value (they were most of its memory).
        event.drop_sealed();
        state.meetings.insert(event.meeting_id(), family_id);
        state.families.entry(family_id).or_default().apply(&event);
    }
    Ok(())
}

pub struct MeetingIndex(Arc<ReadModel<State>>);

impl MeetingIndex {
    pub fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }
}

impl MeetingIndex {
    /// Starts following the stream from its start in the background.
    pub fn spawn(store: EventStore) -> Self {
        Self(ReadModel::spawn(store, Stream::Meetings, "meeting index", apply))
    }

    pub async fn caught_up(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up(store).await
    }

    pub fn family_of(&self, meeting_id: MeetingId) -> Option<FamilyId> {
        self.0.read(|state| state.meetings.get(&meeting_id).copied())
    }

    /// The families for which `select` finds something, with what it found.
    pub fn find<T>(&self, select: impl Fn(&FamilyMeetings) -> Vec<T>) -> Vec<(FamilyId, Vec<T>)> {
        self.0.read(|state| {
            state
                .families
                .iter()
                .map(|(family_id, meetings)| (*family_id, select(meetings)))
                .filter(|(_, found)| !found.is_empty())
                .collect()
        })
    }
}

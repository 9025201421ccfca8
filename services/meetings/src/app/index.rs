//! Who takes part in scheduled meetings and who owns open actions: a checkpointed model of the
//! `MEETINGS` stream in the read-model folder, for the queries that span families (upcoming
//! meetings and open actions of a person or sector). A meeting's family is the access
//! relations' to tell (`luukku_app::access::Relations`). It never opens personal data;
//! answers are built from the family's meetings loaded through the repository.

use std::ops::Bound;
use std::sync::Arc;

use luukku_app::projected::{Folder, Projected, View, key};
use luukku_app::{AppError, Result};
use luukku_domain::family::FamilyId;
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent, MeetingId, MeetingStatus, Participant};
use luukku_domain::sealing::HasPersonal as _;
use luukku_domain::{Aggregate, CodecError, Timestamp};
use luukku_eventstore::{EventStore, Recorded, Stream};

/// The shape of the model's records; a new shape writes the model anew. Version 3 leaves out
/// each meeting's family, which the access relations in the same folder keep: a key costs
/// memory in sled whatever its size (docs/performance.md).
const VERSION: u32 = 3;

/// Kinds of keys.
const FAMILY: u8 = b'f';
const SCHEDULED: u8 = b'u';
const OPEN_ACTION: u8 = b'a';

fn ulid_bytes(family: FamilyId, meeting: MeetingId) -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(&family.as_ulid().to_bytes());
    bytes[16..].copy_from_slice(&meeting.as_ulid().to_bytes());
    bytes
}

/// A time as a key part, in order.
fn time(at: Timestamp) -> [u8; 8] {
    ((at.as_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// A participant as a key part: its postcard encoding, which no other participant's begins with.
fn participant(who: &Participant) -> Vec<u8> {
    postcard::to_allocvec(who).unwrap_or_else(|error| unreachable!("a participant encodes: {error}"))
}

/// The index entries of one family's meetings: each participant of a scheduled meeting, and
/// each owner of an action not done.
fn entries(family: FamilyId, meetings: &FamilyMeetings) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    for (meeting_id, meeting) in &meetings.meetings {
        let ids = ulid_bytes(family, *meeting_id);
        if let MeetingStatus::Scheduled(slot) = meeting.status {
            for who in &meeting.participants {
                entries.push(key(SCHEDULED, &[&participant(who), &time(slot.starts_at), &ids]));
            }
        }
        for action in meeting.actions.values().filter(|action| action.done.is_none()) {
            entries.push(key(OPEN_ACTION, &[&participant(&action.owner), &ids]));
        }
    }
    entries.sort();
    entries.dedup();
    entries
}

fn apply(_: &(), view: &mut View<'_>, recorded: &Recorded) -> std::result::Result<(), CodecError> {
    let Some(family_id) = recorded.aggregate_id().map(|id| FamilyId::from_ulid(id.as_ulid())) else {
        tracing::error!(subject = recorded.subject, "meeting index: not a family subject");
        return Ok(());
    };
    if recorded.aggregate_type() != Some(FamilyMeetings::TYPE) {
        return Ok(());
    }
    let events = recorded.decode_events::<MeetingEvent>()?;
    let family_key = key(FAMILY, &[&family_id.as_ulid().to_bytes()]);
    let mut meetings: FamilyMeetings = view.get(&family_key).unwrap_or_default();
    let before = entries(family_id, &meetings);
    for mut event in events {
        // The index keeps no sealed value.
        event.drop_sealed();
        meetings.apply(&event);
    }
    view.reindex(before, entries(family_id, &meetings));
    view.put(family_key, &meetings);
    Ok(())
}

pub struct MeetingIndex(Arc<Projected<()>>);

impl MeetingIndex {
    /// Opens the index in `folder` and follows the stream from its checkpoint in the background.
    pub fn spawn(folder: &Folder, store: EventStore) -> Self {
        Self(Projected::spawn(folder, store, "meeting index", VERSION, &[Stream::Meetings], (), apply))
    }

    pub fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }

    pub async fn caught_up(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up(store).await
    }

    /// The meetings scheduled to start at `from` or later that `who` takes part in, soonest
    /// first.
    pub fn scheduled_for(&self, who: &Participant, from: Timestamp) -> Result<Vec<(FamilyId, MeetingId)>> {
        let from = time(from);
        let found = self.0.keys_from(&key(SCHEDULED, &[&participant(who)]), Bound::Included(&from));
        found.map(|rest| ids(rest?.get(8..).ok_or_else(bad_entry)?)).collect()
    }

    /// The meetings with an action `who` owns that is not done, by family.
    pub fn with_open_actions_of(&self, who: &Participant) -> Result<Vec<(FamilyId, MeetingId)>> {
        self.0.keys(&key(OPEN_ACTION, &[&participant(who)])).map(|rest| ids(&rest?)).collect()
    }
}

/// A family's and a meeting's ids from the end of an index key.
fn ids(ids: &[u8]) -> Result<(FamilyId, MeetingId)> {
    let (family, meeting) = ids.split_at_checked(16).ok_or_else(bad_entry)?;
    let family = <[u8; 16]>::try_from(family).map_err(|_| bad_entry())?;
    let meeting = <[u8; 16]>::try_from(meeting).map_err(|_| bad_entry())?;
    Ok((
        FamilyId::from_ulid(ulid::Ulid::from_bytes(family)),
        MeetingId::from_ulid(ulid::Ulid::from_bytes(meeting)),
    ))
}

fn bad_entry() -> AppError {
    AppError::Internal("the meeting index holds an entry of another shape".to_owned())
}

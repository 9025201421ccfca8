//! The meetings service's use cases: proposing, answering, scheduling and holding a family's
//! network meetings, the actions agreed there, and the queries across families. Free of gRPC.

mod index;

use std::sync::Arc;

use luukku_app::{
    AppError, Caller, Folder, Keys, Loaded, Reader, Repository, Result, Write, Written, context_now, refused,
};
use luukku_domain::family::{Family, FamilyId};
use luukku_domain::meetings::{
    Action, ActionId, FamilyMeetings, Meeting, MeetingCommand, MeetingError, MeetingEvent, MeetingId,
    MeetingStatus, Participant, check_participants,
};
use luukku_eventstore::{EventStore, KeyStore, Stream};

use index::MeetingIndex;

/// One meeting of one family.
#[derive(Debug, Clone)]
pub struct FamilyMeeting {
    pub family_id: FamilyId,
    pub meeting_id: MeetingId,
    pub meeting: Meeting,
}

/// One agreed action not done yet.
#[derive(Debug, Clone)]
pub struct OpenAction {
    pub family_id: FamilyId,
    pub meeting_id: MeetingId,
    pub action_id: ActionId,
    pub action: Action,
}

pub struct Meetings<K: KeyStore> {
    meetings: Repository<FamilyMeetings, K>,
    families: Reader<Family, K>,
    index: MeetingIndex,
}

impl<K: KeyStore + Clone> Meetings<K> {
    /// Where the meeting index stands, and whether it stopped.
    pub fn index_standing(&self) -> &std::sync::Arc<luukku_app::Standing> {
        self.index.standing()
    }

    /// The use cases on `store`, with the meeting index in `folder`.
    pub fn new(folder: &Folder, store: EventStore, keys: K) -> Self {
        Self {
            meetings: Repository::new(store.clone(), keys.clone(), Stream::Meetings, Keys::FamilyKey),
            families: Reader::new(store.clone(), keys, Stream::Families, Keys::FamilyKey),
            index: MeetingIndex::spawn(folder, store),
        }
    }
}

impl<K: KeyStore> Meetings<K> {
    /// Carries out a change of the family's meetings, after checking that the family is open
    /// and that the members the command names belong to it.
    async fn run(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: &MeetingCommand,
    ) -> Result<(Vec<MeetingEvent>, Written)> {
        // Loaded together: one round trip's wait, not two.
        let (current, family) =
            tokio::join!(self.meetings.load(family_id.into()), self.families.load_latest(family_id.into()));
        if current?.written_by(&caller.actor, &write.request_id).is_none() {
            let family = family?;
            family.state.check_open().map_err(refused::<Family>(family_id))?;
            check_participants(&family.state, command).map_err(refused::<FamilyMeetings>(family_id))?;
        }
        let outcome = self.meetings.execute(family_id.into(), caller, write, command).await?;
        Ok((outcome.events, outcome.written))
    }

    /// Proposes a meeting; answers its id.
    pub async fn propose(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: MeetingCommand,
    ) -> Result<(Written, Option<MeetingId>)> {
        let (events, written) = self.run(caller, write, family_id, &command).await?;
        Ok((written, events.first().map(MeetingEvent::meeting_id)))
    }

    /// Answers an invitation, schedules, reschedules or cancels a meeting, changes its
    /// participants, or completes or reassigns an agreed action.
    pub async fn change(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: MeetingCommand,
    ) -> Result<Written> {
        Ok(self.run(caller, write, family_id, &command).await?.1)
    }

    /// Records a held meeting; answers the ids of the actions agreed.
    pub async fn hold(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        command: MeetingCommand,
    ) -> Result<(Written, Vec<ActionId>)> {
        let (events, written) = self.run(caller, write, family_id, &command).await?;
        let action_ids = events
            .iter()
            .flat_map(|event| match event {
                MeetingEvent::Held(held) => held.actions.iter().map(|action| action.action_id).collect(),
                _ => Vec::new(),
            })
            .collect();
        Ok((written, action_ids))
    }

    /// A meeting by its id, and the version of its family's meetings, looked for in `family`:
    /// the family the access policy resolved from the access relations, which know every
    /// meeting recorded before the call; none when they know no such meeting.
    pub async fn get(
        &self,
        _caller: &Caller,
        meeting_id: MeetingId,
        family: Option<FamilyId>,
    ) -> Result<(FamilyMeeting, u64)> {
        let not_found = || AppError::refused("meeting", meeting_id, MeetingError::NotFound(meeting_id));
        let family_id = family.ok_or_else(not_found)?;
        let loaded = self.meetings.load(family_id.into()).await?;
        let meeting = loaded.state.meetings.get(&meeting_id).ok_or_else(not_found)?;
        Ok((FamilyMeeting { family_id, meeting_id, meeting: meeting.clone() }, loaded.version))
    }

    /// The family's meetings, newest proposal first, and their version.
    pub async fn family_meetings(
        &self,
        _caller: &Caller,
        family_id: FamilyId,
    ) -> Result<(Vec<FamilyMeeting>, u64)> {
        let family = self.families.load(family_id.into()).await?;
        family.state.check_exists().map_err(refused::<Family>(family_id))?;
        let loaded = self.meetings.load(family_id.into()).await?;
        // Ids are ULIDs: the newest proposal has the greatest.
        let meetings = loaded
            .state
            .meetings
            .iter()
            .rev()
            .map(|(meeting_id, meeting)| FamilyMeeting {
                family_id,
                meeting_id: *meeting_id,
                meeting: meeting.clone(),
            })
            .collect();
        Ok((meetings, loaded.version))
    }

    /// The meetings the index found, each with its family's meetings as loaded (and opened)
    /// now.
    async fn across_families(
        &self,
        found: Vec<(FamilyId, MeetingId)>,
    ) -> Result<Vec<(FamilyId, MeetingId, std::sync::Arc<Loaded<FamilyMeetings>>)>> {
        let mut loaded: Option<(FamilyId, std::sync::Arc<Loaded<FamilyMeetings>>)> = None;
        let mut meetings = Vec::with_capacity(found.len());
        for (family_id, meeting_id) in found {
            let family = match &loaded {
                Some((id, family)) if *id == family_id => Arc::clone(family),
                _ => {
                    let family = self.meetings.load(family_id.into()).await?;
                    loaded = Some((family_id, Arc::clone(&family)));
                    family
                }
            };
            meetings.push((family_id, meeting_id, family));
        }
        Ok(meetings)
    }

    /// Scheduled meetings ahead that `who` takes part in, soonest first.
    pub async fn upcoming(&self, _caller: &Caller, who: &Participant) -> Result<Vec<FamilyMeeting>> {
        let now = context_now().now;
        self.index.caught_up(self.meetings.store()).await?;
        let scheduled = self.index.scheduled_for(who, now)?;
        let mut meetings: Vec<FamilyMeeting> = self
            .across_families(scheduled)
            .await?
            .into_iter()
            .filter_map(|(family_id, meeting_id, loaded)| {
                let meeting = loaded.state.meetings.get(&meeting_id)?;
                // The fresh state decides: the index may be a moment ahead or behind.
                let still = matches!(meeting.status, MeetingStatus::Scheduled(slot) if slot.starts_at >= now)
                    && meeting.participants.contains(who);
                still.then(|| FamilyMeeting { family_id, meeting_id, meeting: meeting.clone() })
            })
            .collect();
        meetings.sort_by_key(|found| match found.meeting.status {
            MeetingStatus::Scheduled(slot) => slot.starts_at,
            _ => luukku_domain::Timestamp::default(),
        });
        Ok(meetings)
    }

    /// Agreed actions `who` owns that are not done yet, soonest due first.
    pub async fn open_actions(&self, _caller: &Caller, who: &Participant) -> Result<Vec<OpenAction>> {
        self.index.caught_up(self.meetings.store()).await?;
        let owned = self.index.with_open_actions_of(who)?;
        let mut actions = Vec::new();
        for (family_id, meeting_id, loaded) in self.across_families(owned).await? {
            let Some(meeting) = loaded.state.meetings.get(&meeting_id) else { continue };
            actions.extend(
                meeting
                    .actions
                    .iter()
                    .filter(|(_, action)| action.done.is_none() && action.owner == *who)
                    .map(|(action_id, action)| OpenAction {
                        family_id,
                        meeting_id,
                        action_id: *action_id,
                        action: action.clone(),
                    }),
            );
        }
        actions.sort_by_key(|open| open.action.due);
        Ok(actions)
    }
}

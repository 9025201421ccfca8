//! Which meetings exist, whose they are and who takes part: an in-memory index of the
//! `MEETINGS` stream for the queries that span families (a meeting by its id, upcoming meetings
//! and open actions of a person or sector). It never opens personal data; answers are built
//! from the family's meetings loaded through the repository.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use luukku_domain::Aggregate;
use luukku_domain::family::FamilyId;
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent, MeetingId};
use luukku_eventstore::{EventStore, ReadOptions, streams};
use luukku_service::status::store_status;
use tokio::sync::watch;
use tonic::Status;

/// How long a query waits for the index to reach the stream's end.
const CATCH_UP: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    families: HashMap<FamilyId, FamilyMeetings>,
    meetings: HashMap<MeetingId, FamilyId>,
}

pub struct MeetingIndex {
    state: RwLock<State>,
    applied: watch::Sender<u64>,
}

impl MeetingIndex {
    /// Starts following the stream from its start in the background.
    pub fn spawn(store: EventStore) -> Arc<Self> {
        let index = Arc::new(Self { state: RwLock::default(), applied: watch::Sender::new(0) });
        let follower = Arc::downgrade(&index);
        tokio::spawn(async move { Self::follow(follower, store).await });
        index
    }

    /// Follows the stream while the index is in use, subscribing again after a failure.
    async fn follow(index: Weak<Self>, store: EventStore) {
        loop {
            let Some(this) = index.upgrade() else {
                return;
            };
            this.follow_once(&store).await;
            drop(this);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn follow_once(&self, store: &EventStore) {
        {
            let from = *self.applied.borrow() + 1;
            let options = ReadOptions { from_sequence: from, filter_subject: None };
            match store.subscribe(streams::MEETINGS.name, options).await {
                Ok(mut messages) => {
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(recorded) => self.apply(&recorded),
                            Err(error) => {
                                tracing::warn!(%error, "meeting index: reading the stream failed");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "meeting index: cannot follow the stream"),
            }
        }
    }

    fn apply(&self, recorded: &luukku_eventstore::Recorded) {
        let family_id = recorded.aggregate_id().map(|id| FamilyId::from_ulid(id.as_ulid()));
        match (family_id, recorded.decode_events::<MeetingEvent>()) {
            (Some(family_id), Ok(events)) => {
                let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                for event in &events {
                    state.meetings.insert(event.meeting_id(), family_id);
                    state.families.entry(family_id).or_default().apply(event);
                }
            }
            (_, Err(error)) => {
                tracing::error!(%error, position = %recorded.position, "meeting index: undecodable")
            }
            (None, _) => tracing::error!(subject = recorded.subject, "meeting index: not a family subject"),
        }
        self.applied.send_replace(recorded.position.sequence);
    }

    /// Waits until everything in the stream now is in the index.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), Status> {
        let last = store.last_sequence(streams::MEETINGS.name).await.map_err(store_status)?;
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Status::unavailable(format!(
                "the meeting index has not reached sequence {last} of MEETINGS yet; retry shortly"
            ))),
        }
    }

    pub fn family_of(&self, meeting_id: MeetingId) -> Option<FamilyId> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .meetings
            .get(&meeting_id)
            .copied()
    }

    /// The families for which `select` finds something, with what it found.
    pub fn find<T>(&self, select: impl Fn(&FamilyMeetings) -> Vec<T>) -> Vec<(FamilyId, Vec<T>)> {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .families
            .iter()
            .map(|(family_id, meetings)| (*family_id, select(meetings)))
            .filter(|(_, found)| !found.is_empty())
            .collect()
    }
}

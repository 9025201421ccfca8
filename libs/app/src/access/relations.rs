//! Each family's relationships, kept in memory by following the four streams: who its contact
//! person is, which consents are in force, which referrals and meetings it has. Nothing
//! personal is opened.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use luukku_domain::access::FamilyFacts;
use luukku_domain::contacts::{
    Assignment, AssignmentEvent, ContactPerson, ContactPersonEvent, ContactPersonId,
};
use luukku_domain::family::{Family, FamilyEvent, FamilyId};
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent, MeetingId};
use luukku_domain::referrals::{Referral, ReferralEvent, ReferralId};
use luukku_domain::{Aggregate, Code, CodecError};
use luukku_eventstore::{EventStore, Recorded, Stream};
use tokio::sync::watch;

use crate::AppError;
use crate::standing::Standing;

/// How long a decision waits for the model to reach the streams' ends.
const CATCH_UP: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct State {
    families: HashMap<FamilyId, FamilyFacts>,
    /// Contact persons by the person id they sign in with.
    contact_persons: HashMap<Code, ContactPersonId>,
    referrals: HashMap<ReferralId, FamilyId>,
    meetings: HashMap<MeetingId, FamilyId>,
}

impl State {
    pub fn family(&self, family: FamilyId) -> Option<&FamilyFacts> {
        self.families.get(&family)
    }

    pub fn contact_person_of(&self, person: &Code) -> Option<ContactPersonId> {
        self.contact_persons.get(person).copied()
    }

    pub fn family_of_referral(&self, referral: ReferralId) -> Option<FamilyId> {
        self.referrals.get(&referral).copied()
    }

    pub fn family_of_meeting(&self, meeting: MeetingId) -> Option<FamilyId> {
        self.meetings.get(&meeting).copied()
    }

    /// Applies `recorded`; changes nothing when its events do not decode.
    fn apply(&mut self, recorded: &Recorded) -> Result<(), CodecError> {
        let (Some(kind), Some(id)) = (recorded.aggregate_type(), recorded.aggregate_id()) else {
            return Ok(());
        };
        let actor = &recorded.envelope.actor;
        let family = FamilyId::from_ulid(id.as_ulid());
        match (recorded.position.stream, kind) {
            (Stream::Families, Family::TYPE) => match recorded.decode_events::<FamilyEvent>() {
                Ok(events) => {
                    let facts = self.families.entry(family).or_default();
                    events.iter().for_each(|event| facts.apply_family(actor, event));
                    if events.contains(&FamilyEvent::Erased) {
                        crate::erasures::record(id);
                    }
                }
                Err(error) => return Err(error),
            },
            (Stream::Contacts, Assignment::TYPE) => match recorded.decode_events::<AssignmentEvent>() {
                Ok(events) => {
                    let facts = self.families.entry(family).or_default();
                    events.iter().for_each(|event| facts.apply_assignment(event));
                }
                Err(error) => return Err(error),
            },
            (Stream::Contacts, ContactPerson::TYPE) => match recorded.decode_events::<ContactPersonEvent>() {
                Ok(events) => {
                    let contact_person = ContactPersonId::from_ulid(id.as_ulid());
                    for event in events {
                        if let ContactPersonEvent::Registered(profile)
                        | ContactPersonEvent::Updated(profile) = event
                        {
                            self.contact_persons.retain(|_, known| *known != contact_person);
                            self.contact_persons.insert(profile.person_id, contact_person);
                        }
                    }
                }
                Err(error) => return Err(error),
            },
            (Stream::Referrals, Referral::TYPE) => match recorded.decode_events::<ReferralEvent>() {
                Ok(events) => {
                    let referral = ReferralId::from_ulid(id.as_ulid());
                    for event in &events {
                        if let ReferralEvent::Created(created) = event {
                            self.referrals.insert(referral, created.family_id);
                        }
                        if let Some(family) = self.referrals.get(&referral) {
                            self.families.entry(*family).or_default().apply_referral(actor, referral, event);
                        }
                    }
                }
                Err(error) => return Err(error),
            },
            (Stream::Meetings, FamilyMeetings::TYPE) => match recorded.decode_events::<MeetingEvent>() {
                Ok(events) => {
                    let facts = self.families.entry(family).or_default();
                    for event in &events {
                        facts.apply_meeting(event);
                        self.meetings.insert(event.meeting_id(), family);
                    }
                }
                Err(error) => return Err(error),
            },
            _ => {}
        }
        Ok(())
    }
}

/// The relationships model; one per process, shared by its services.
pub struct Relations {
    state: RwLock<State>,
    applied: [watch::Sender<u64>; 4],
    standing: Arc<Standing>,
}

impl Relations {
    /// Starts following the four streams from their start in the background. Following stops
    /// when the model is dropped.
    pub fn spawn(store: EventStore) -> Arc<Self> {
        let standing = Standing::start(&store, "access relations");
        let model = Arc::new(Self {
            state: RwLock::default(),
            applied: std::array::from_fn(|_| watch::Sender::new(0)),
            standing: standing.clone(),
        });
        for (index, stream) in Stream::ALL.into_iter().enumerate() {
            let weak = Arc::downgrade(&model);
            let store = store.clone();
            let standing = standing.clone();
            tokio::spawn(async move { follow(weak, store, standing, stream, index).await });
        }
        model
    }

    /// Where the model stands, and whether it stopped.
    pub fn standing(&self) -> &Arc<Standing> {
        &self.standing
    }

    /// Reads the model.
    pub fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Waits (at most [`CATCH_UP`]) until the model has applied `stream` up to `sequence`;
    /// whether it has.
    pub async fn reached(&self, stream: Stream, sequence: u64) -> bool {
        let Some(index) = Stream::ALL.iter().position(|known| *known == stream) else {
            return false;
        };
        let mut applied = self.applied[index].subscribe();
        tokio::select! {
            biased;
            reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= sequence)) => {
                matches!(reached, Ok(Ok(_)))
            }
            _ = self.standing.until_stopped() => false,
        }
    }

    /// Waits until everything in the four streams now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), AppError> {
        for (index, stream) in Stream::ALL.into_iter().enumerate() {
            let last = store.last_sequence(stream).await?;
            let mut applied = self.applied[index].subscribe();
            let reached = tokio::select! {
                biased;
                reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|applied| *applied >= last)) => reached,
                stopped = self.standing.until_stopped() => return Err(self.standing.stopped_error(&stopped)),
            };
            match reached {
                Ok(Ok(_)) => {}
                _ => {
                    return Err(AppError::Unavailable(format!(
                        "the relationships model has not reached sequence {last} of {stream} yet; retry shortly"
                    )));
                }
            }
        }
        Ok(())
    }
}

async fn follow(
    model: Weak<Relations>,
    store: EventStore,
    standing: Arc<Standing>,
    stream: Stream,
    index: usize,
) {
    let apply = |this: &Relations, recorded: &Recorded| {
        this.state.write().unwrap_or_else(std::sync::PoisonError::into_inner).apply(recorded)
    };
    crate::read_model::follow_stream(model, store, stream, standing, apply, |this, sequence| {
        this.applied[index].send_replace(sequence);
    })
    .await;
}

//! Each family's relationships, kept in the process's read-model folder by following the four
//! streams: who its contact person is, which consents are in force, which referrals and
//! meetings it has. Nothing personal is opened. The model is checkpointed
//! ([`crate::projected`]): a start follows the streams from where it stopped.

use std::sync::Arc;

use luukku_domain::access::FamilyFacts;
use luukku_domain::contacts::{
    Assignment, AssignmentEvent, ContactPerson, ContactPersonEvent, ContactPersonId,
};
use luukku_domain::family::{Family, FamilyEvent, FamilyId};
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent, MeetingId};
use luukku_domain::referrals::{Referral, ReferralEvent, ReferralId};
use luukku_domain::{Aggregate, AggregateId, Code, CodecError};
use luukku_eventstore::{EventStore, Recorded, Stream};

use crate::AppError;
use crate::projected::{Folder, Projected, View, key};
use crate::standing::Standing;

/// The shape of the model's records; a new shape writes the model anew.
const VERSION: u32 = 2;

mod keys {
    use super::*;

    pub const ERASED: u8 = b'e';

    /// A family's facts.
    pub fn family(family: FamilyId) -> Vec<u8> {
        key(b'f', &[&family.as_ulid().to_bytes()])
    }

    /// That a family is erased.
    pub fn erased(family: FamilyId) -> Vec<u8> {
        key(ERASED, &[&family.as_ulid().to_bytes()])
    }

    /// The contact person who signs in with a person id.
    pub fn person(person: &Code) -> Vec<u8> {
        key(b'p', &[person.as_str().as_bytes()])
    }

    /// The person id a contact person signs in with.
    pub fn person_of(contact_person: ContactPersonId) -> Vec<u8> {
        key(b'q', &[&contact_person.as_ulid().to_bytes()])
    }

    pub fn referral(referral: ReferralId) -> Vec<u8> {
        key(b'r', &[&referral.as_ulid().to_bytes()])
    }

    pub fn meeting(meeting: MeetingId) -> Vec<u8> {
        key(b'm', &[&meeting.as_ulid().to_bytes()])
    }

    /// The families offered to a contact person: those whose handover to them awaits their
    /// answer.
    pub fn offered_to(receiver: ContactPersonId) -> Vec<u8> {
        key(b'o', &[&receiver.as_ulid().to_bytes()])
    }

    /// That `family` is offered to `receiver`.
    pub fn offered(receiver: ContactPersonId, family: FamilyId) -> Vec<u8> {
        key(b'o', &[&receiver.as_ulid().to_bytes(), &family.as_ulid().to_bytes()])
    }
}

/// Applies `recorded`; changes nothing when its events do not decode.
fn apply(_: &(), view: &mut View<'_>, recorded: &Recorded) -> Result<(), CodecError> {
    let (Some(kind), Some(id)) = (recorded.aggregate_type(), recorded.aggregate_id()) else {
        return Ok(());
    };
    let actor = &recorded.envelope.actor;
    let family = FamilyId::from_ulid(id.as_ulid());
    match (recorded.position.stream, kind) {
        (Stream::Families, Family::TYPE) => {
            let events = recorded.decode_events::<FamilyEvent>()?;
            view.update(keys::family(family), |facts: &mut FamilyFacts| {
                events.iter().for_each(|event| facts.apply_family(actor, event));
            });
            if events.contains(&FamilyEvent::Erased) {
                view.put(keys::erased(family), &());
                crate::erasures::record(id);
            }
        }
        (Stream::Contacts, Assignment::TYPE) => {
            let events = recorded.decode_events::<AssignmentEvent>()?;
            let receiver = |view: &mut View<'_>| {
                view.get::<FamilyFacts>(&keys::family(family)).and_then(|facts| facts.pending_receiver)
            };
            let before = receiver(view);
            view.update(keys::family(family), |facts: &mut FamilyFacts| {
                events.iter().for_each(|event| facts.apply_assignment(event));
            });
            let after = receiver(view);
            if before != after {
                if let Some(before) = before {
                    view.remove(keys::offered(before, family));
                }
                if let Some(after) = after {
                    view.put(keys::offered(after, family), &());
                }
            }
        }
        (Stream::Contacts, ContactPerson::TYPE) => {
            let contact_person = ContactPersonId::from_ulid(id.as_ulid());
            for event in recorded.decode_events::<ContactPersonEvent>()? {
                if let ContactPersonEvent::Registered(profile) | ContactPersonEvent::Updated(profile) = event
                {
                    // The person id they signed in with before no longer names them.
                    if let Some(before) = view.get::<Code>(&keys::person_of(contact_person))
                        && view.get::<ContactPersonId>(&keys::person(&before)) == Some(contact_person)
                    {
                        view.remove(keys::person(&before));
                    }
                    view.put(keys::person(&profile.person_id), &contact_person);
                    view.put(keys::person_of(contact_person), &profile.person_id);
                }
            }
        }
        (Stream::Referrals, Referral::TYPE) => {
            let events = recorded.decode_events::<ReferralEvent>()?;
            let referral = ReferralId::from_ulid(id.as_ulid());
            let created = events.iter().find_map(|event| match event {
                ReferralEvent::Created(created) => Some(created.family_id),
                _ => None,
            });
            if let Some(family) = created {
                view.put(keys::referral(referral), &family);
            }
            if let Some(family) = created.or_else(|| view.get::<FamilyId>(&keys::referral(referral))) {
                view.update(keys::family(family), |facts: &mut FamilyFacts| {
                    events.iter().for_each(|event| facts.apply_referral(actor, referral, event));
                });
            }
        }
        (Stream::Meetings, FamilyMeetings::TYPE) => {
            let events = recorded.decode_events::<MeetingEvent>()?;
            view.update(keys::family(family), |facts: &mut FamilyFacts| {
                events.iter().for_each(|event| facts.apply_meeting(event));
            });
            for event in &events {
                view.ensure(keys::meeting(event.meeting_id()), &family);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Records the erasures the model holds as this process's, before the model is read.
fn record_erasures(model: &Projected<()>) {
    for family in model.keys_unchecked(&[keys::ERASED]) {
        match family.map(|bytes| <[u8; 16]>::try_from(bytes.as_slice())) {
            Ok(Ok(bytes)) => crate::erasures::record(AggregateId::from_ulid(ulid::Ulid::from_bytes(bytes))),
            other => tracing::error!(?other, "access relations: an erasure cannot be read"),
        }
    }
}

/// The relationships model; one per process, shared by its services.
pub struct Relations(Arc<Projected<()>>);

impl Relations {
    /// Opens the model in `folder` and follows the four streams from its checkpoints in the
    /// background. Following stops when the model is dropped.
    pub fn spawn(folder: &Folder, store: EventStore) -> Arc<Self> {
        let model = Projected::spawn_then(
            folder,
            store,
            "access relations",
            VERSION,
            &Stream::ALL,
            (),
            apply,
            record_erasures,
        );
        Arc::new(Self(model))
    }

    /// Where the model stands, and whether it stopped.
    pub fn standing(&self) -> &Arc<Standing> {
        self.0.standing()
    }

    /// Messages applied since the process started.
    pub fn applied_since_start(&self) -> u64 {
        self.0.applied_since_start()
    }

    pub fn family(&self, family: FamilyId) -> Result<Option<FamilyFacts>, AppError> {
        self.0.get(&keys::family(family))
    }

    /// The facts of `family` and the contact person `person` is, both as the same commits left
    /// them: a decision on one read before a commit and the other after could grant what
    /// neither state grants.
    pub fn family_and_contact_person(
        &self,
        family: Option<FamilyId>,
        person: &Code,
    ) -> Result<(Option<FamilyFacts>, Option<ContactPersonId>), AppError> {
        self.0.whole(|model| {
            let facts = match family {
                Some(family) => model.get(&keys::family(family))?,
                None => None,
            };
            Ok((facts, model.get(&keys::person(person))?))
        })
    }

    pub fn contact_person_of(&self, person: &Code) -> Result<Option<ContactPersonId>, AppError> {
        self.0.get(&keys::person(person))
    }

    /// The families whose handover to `receiver` awaits their answer, oldest family first.
    pub fn offered_to(&self, receiver: ContactPersonId) -> Result<Vec<FamilyId>, AppError> {
        self.0
            .keys(&keys::offered_to(receiver))
            .filter_map(|rest| match rest {
                Ok(rest) => <[u8; 16]>::try_from(rest.as_slice())
                    .ok()
                    .map(|bytes| Ok(FamilyId::from_ulid(ulid::Ulid::from_bytes(bytes)))),
                Err(error) => Some(Err(error)),
            })
            .collect()
    }

    pub fn family_of_referral(&self, referral: ReferralId) -> Result<Option<FamilyId>, AppError> {
        self.0.get(&keys::referral(referral))
    }

    pub fn family_of_meeting(&self, meeting: MeetingId) -> Result<Option<FamilyId>, AppError> {
        self.0.get(&keys::meeting(meeting))
    }

    /// Tests only: the model's next `chunks` chunks fail, as when its folder cannot be written.
    #[cfg(feature = "faults")]
    pub fn fail_next_chunks(&self, chunks: usize) {
        self.0.fail_next_chunks(chunks);
    }

    /// Waits (at most a few seconds) until the model may be read.
    pub async fn ready(&self) -> Result<(), AppError> {
        self.0.ready().await
    }

    /// Waits (at most a few seconds) until the model has applied `stream` up to `sequence`;
    /// whether it has.
    pub async fn reached(&self, stream: Stream, sequence: u64) -> bool {
        self.0.reached(stream, sequence).await
    }

    /// Waits until everything in the four streams now is in the model.
    pub async fn caught_up(&self, store: &EventStore) -> Result<(), AppError> {
        self.0.caught_up(store).await
    }
}

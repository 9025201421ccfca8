//! Every aggregate type luukku stores: its stream and subject token, the event that opens it,
//! and a message's events decoded whatever the type. Readers that handle every stream (the
//! projection, timelines, the operators' tools) start here.

use luukku_domain::contacts::{
    Assignment, AssignmentEvent, Consultation, ConsultationEvent, ContactLog, ContactLogEvent, ContactPerson,
    ContactPersonEvent,
};
use luukku_domain::family::{Family, FamilyEvent};
use luukku_domain::meetings::{FamilyMeetings, MeetingEvent};
use luukku_domain::referrals::{CatalogueService, Referral, ReferralEvent, ServiceEvent};
use luukku_domain::sealing::{FamilyKey, HasPersonal, SealError};
use luukku_domain::{Aggregate, CodecError, DomainEvent, Narrate, Telling};
use luukku_eventstore::{Recorded, Stream};

/// The events of one message, typed by its aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Events {
    Family(Vec<FamilyEvent>),
    ContactPerson(Vec<ContactPersonEvent>),
    Assignment(Vec<AssignmentEvent>),
    ContactLog(Vec<ContactLogEvent>),
    Consultation(Vec<ConsultationEvent>),
    Service(Vec<ServiceEvent>),
    Referral(Vec<ReferralEvent>),
    Meetings(Vec<MeetingEvent>),
}

/// Why a message's events cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("not an aggregate subject")]
    NotAnAggregate,
    #[error("unknown aggregate type {0:?} in {1}")]
    UnknownType(String, Stream),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Runs `$body` with `$events` bound to the typed events of any variant.
macro_rules! each {
    ($value:expr, $events:ident => $body:expr) => {
        match $value {
            Events::Family($events) => $body,
            Events::ContactPerson($events) => $body,
            Events::Assignment($events) => $body,
            Events::ContactLog($events) => $body,
            Events::Consultation($events) => $body,
            Events::Service($events) => $body,
            Events::Referral($events) => $body,
            Events::Meetings($events) => $body,
        }
    };
}

/// The event type that opens an aggregate of `aggregate_type` in `stream`, if it is one of
/// luukku's.
pub fn creation_event(stream: Stream, aggregate_type: &str) -> Option<&'static str> {
    Some(match (stream, aggregate_type) {
        (Stream::Families, Family::TYPE) => "FamilyRegistered",
        (Stream::Contacts, ContactPerson::TYPE) => "ContactPersonRegistered",
        (Stream::Contacts, Assignment::TYPE) => "ContactPersonAssigned",
        (Stream::Contacts, ContactLog::TYPE) => "ContactRecorded",
        (Stream::Contacts, Consultation::TYPE) => "ConsultationRecorded",
        (Stream::Referrals, CatalogueService::TYPE) => "ServiceRegistered",
        (Stream::Referrals, Referral::TYPE) => "ReferralCreated",
        (Stream::Meetings, FamilyMeetings::TYPE) => "MeetingProposed",
        _ => return None,
    })
}

fn decode<E: DomainEvent>(recorded: &Recorded) -> Result<Vec<E>, EventsError> {
    Ok(recorded.decode_events::<E>()?)
}

impl Events {
    /// The message's events, as its stream and aggregate type say.
    pub fn decode(recorded: &Recorded) -> Result<Self, EventsError> {
        let aggregate_type = recorded.aggregate_type().ok_or(EventsError::NotAnAggregate)?;
        let stream = recorded.position.stream;
        Ok(match (stream, aggregate_type) {
            (Stream::Families, Family::TYPE) => Events::Family(decode(recorded)?),
            (Stream::Contacts, ContactPerson::TYPE) => Events::ContactPerson(decode(recorded)?),
            (Stream::Contacts, Assignment::TYPE) => Events::Assignment(decode(recorded)?),
            (Stream::Contacts, ContactLog::TYPE) => Events::ContactLog(decode(recorded)?),
            (Stream::Contacts, Consultation::TYPE) => Events::Consultation(decode(recorded)?),
            (Stream::Referrals, CatalogueService::TYPE) => Events::Service(decode(recorded)?),
            (Stream::Referrals, Referral::TYPE) => Events::Referral(decode(recorded)?),
            (Stream::Meetings, FamilyMeetings::TYPE) => Events::Meetings(decode(recorded)?),
            (stream, other) => return Err(EventsError::UnknownType(other.to_owned(), stream)),
        })
    }

    pub fn len(&self) -> usize {
        each!(self, events => events.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each event's type and its account, told with or without personal data.
    pub fn narrate(&self, telling: Telling) -> Vec<(&'static str, String)> {
        each!(self, events => events.iter().map(|event| (event.event_type(), event.narrate(telling))).collect())
    }

    /// Opens the personal data with the family's key; without one it becomes erased.
    pub fn open(&mut self, key: Option<&FamilyKey>, family: &[u8]) -> Result<(), SealError> {
        each!(self, events => events.iter_mut().try_for_each(|event| event.open(key, family)))
    }

    /// Each event as its type and a `Debug` rendering (personal fields as they stand: sealed,
    /// opened or erased).
    pub fn debug(&self) -> Vec<(&'static str, String)> {
        each!(self, events => events.iter().map(|event| (event.event_type(), format!("{event:?}"))).collect())
    }
}

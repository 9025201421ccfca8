//! Every referral and catalogue service, kept from the `REFERRALS` stream in the read-model
//! folder (a referral's sealed values dropped, nothing opened), with indexes for inboxes and
//! lists (by family, contact person and sector, in the order sent), repeated referrals, and the
//! deadline and consent process. The consents' terms (their dates and whether they were revoked,
//! nothing personal) come from the `FAMILIES` stream into the same tree, so that the open
//! referrals whose consent lapsed are an index range, like those past their deadline.
//! Checkpointed: a start follows each stream from where it stopped.

use std::ops::Bound;
use std::sync::Arc;

use jiff::civil::Date;
use luukku_app::projected::{Folder, Projected, View, key};
use luukku_app::{AppError, Result};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{ConsentId, Family, FamilyEvent, FamilyId};
use luukku_domain::referrals::{
    Basis, CatalogueService, Referral, ReferralEvent, ReferralId, ReferralState, ServiceEvent, ServiceId,
};
use luukku_domain::sealing::HasPersonal;
use luukku_domain::{Aggregate, CodecError, Sector, Timestamp};
use luukku_eventstore::{EventStore, RawEvent, Recorded, Stream};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The shape of the model's records; a new shape writes the model anew. Version 2 keeps the
/// consents' terms, which version 1 left to a model of their own.
const VERSION: u32 = 2;

/// The model before version 2 kept the consents' terms in this tree; it goes at a start (a
/// later release may stop looking for it).
pub const RETIRED: &str = "consent terms";

const REFERRAL: u8 = b'r';
const SERVICE: u8 = b's';
/// Every referral in the order sent.
const ALL: u8 = b'A';
const BY_FAMILY: u8 = b'F';
const BY_CONTACT_PERSON: u8 = b'C';
const BY_SECTOR: u8 = b'S';
/// Requested referrals not marked overdue, by deadline.
const DUE: u8 = b'd';
/// Open referrals resting on a consent not flagged lapsed, by consent.
const ON_CONSENT: u8 = b'c';
/// The same referrals whose consent's terms are known, by the last day the consent counts (the
/// lowest day when it was revoked).
const LAPSING: u8 = b'l';
/// A consent's terms.
const TERMS: u8 = b't';

/// A consent's terms: nothing personal.
#[derive(Serialize, Deserialize)]
struct Terms {
    valid_from: Date,
    valid_until: Date,
    revoked: bool,
}

impl Terms {
    /// Whether the consent no longer counts on `today`, as the family's own state says
    /// ([`luukku_domain::family::Consent::in_force`]).
    fn lapsed(&self, today: Date) -> bool {
        self.revoked || today < self.valid_from || self.valid_until < today
    }

    /// The last day the consent counts: none when it was revoked.
    fn last_day(&self) -> [u8; 4] {
        if self.revoked { [0; 4] } else { day(self.valid_until) }
    }
}

/// A date as a key part, in order; every date is above `[0; 4]`.
fn day(date: Date) -> [u8; 4] {
    // Years run from -9999 to 9999: offset, they are positive and ordered.
    let [high, low] = ((i32::from(date.year()) + 0x8000) as u16).to_be_bytes();
    [high, low, date.month() as u8, date.day() as u8]
}

fn terms_key(consent: ConsentId) -> Vec<u8> {
    key(TERMS, &[&consent.as_ulid().to_bytes()])
}

fn lapsing_key(id: &[u8; 16], consent: ConsentId, terms: &Terms) -> Vec<u8> {
    key(LAPSING, &[&terms.last_day(), id, &consent.as_ulid().to_bytes()])
}

/// The consent a referral rests on.
fn consent_of(referral: &Referral) -> Option<ConsentId> {
    match referral.created.as_ref()?.basis {
        Basis::Consent(consent) => Some(consent),
        _ => None,
    }
}

/// A time as a key part, in order.
fn time(at: Timestamp) -> [u8; 8] {
    ((at.as_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn sector(sector: Sector) -> Vec<u8> {
    postcard::to_allocvec(&sector).unwrap_or_else(|error| unreachable!("a sector encodes: {error}"))
}

/// Where a list of referrals is kept: the index of the filter's most selective part.
fn list_prefix(
    family: Option<FamilyId>,
    contact_person: Option<ContactPersonId>,
    to: Option<Sector>,
) -> Vec<u8> {
    match (family, contact_person, to) {
        (Some(family), _, _) => key(BY_FAMILY, &[&family.as_ulid().to_bytes()]),
        (None, Some(person), _) => key(BY_CONTACT_PERSON, &[&person.as_ulid().to_bytes()]),
        (None, None, Some(to)) => key(BY_SECTOR, &[&sector(to)]),
        (None, None, None) => vec![ALL],
    }
}

/// A referral's index entries, with the terms of the consent it rests on, if any. The entry by
/// the consent's last day is there exactly when the one by consent is and the terms are known:
/// both streams keep it so, since a referral's basis never changes and a consent's terms are
/// never removed.
fn entries(id: ReferralId, referral: &Referral, terms: Option<&Terms>) -> Vec<Vec<u8>> {
    let Some(created) = &referral.created else {
        return Vec::new();
    };
    let id = id.as_ulid().to_bytes();
    let sent = time(created.sent_at);
    let mut entries = vec![
        key(ALL, &[&sent, &id]),
        [list_prefix(Some(created.family_id), None, None), sent.to_vec(), id.to_vec()].concat(),
    ];
    if let Some(person) = created.contact_person {
        entries.push([list_prefix(None, Some(person), None), sent.to_vec(), id.to_vec()].concat());
    }
    if let Some(to) = referral.sector {
        entries.push([list_prefix(None, None, Some(to)), sent.to_vec(), id.to_vec()].concat());
    }
    if let Some(deadline) = referral.deadline
        && referral.state == Some(ReferralState::Requested)
        && !referral.overdue
    {
        entries.push(key(DUE, &[&time(deadline), &id]));
    }
    if let Basis::Consent(consent) = created.basis
        && referral.state.is_some_and(ReferralState::is_open)
        && !referral.consent_lapsed
    {
        entries.push(key(ON_CONSENT, &[&consent.as_ulid().to_bytes(), &id]));
        entries.extend(terms.map(|terms| lapsing_key(&id, consent, terms)));
    }
    entries
}

fn apply(
    revoked: &Arc<Notify>,
    view: &mut View<'_>,
    recorded: &Recorded,
) -> std::result::Result<(), CodecError> {
    if recorded.position.stream == Stream::Families {
        return apply_consents(revoked, view, recorded);
    }
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    match recorded.aggregate_type() {
        Some(Referral::TYPE) => {
            let mut events = recorded.decode_events::<ReferralEvent>()?;
            // Answers load referrals from the stream: the model keeps no sealed value.
            events.iter_mut().for_each(HasPersonal::drop_sealed);
            let referral_id = ReferralId::from_ulid(id.as_ulid());
            let record = key(REFERRAL, &[&id.as_ulid().to_bytes()]);
            let mut referral: Referral = view.get(&record).unwrap_or_default();
            let mut before = entries(referral_id, &referral, None);
            events.iter().for_each(|event| referral.apply(event));
            // A referral's consent is named when it is made and never changes, and no message
            // of this stream changes its terms: the entry by its last day was there before
            // exactly when the referral rested on it and the terms were known.
            let consent = consent_of(&referral);
            let terms: Option<Terms> = consent.and_then(|consent| view.get(&terms_key(consent)));
            if let (Some(consent), Some(terms)) = (consent, &terms)
                && before
                    .contains(&key(ON_CONSENT, &[&consent.as_ulid().to_bytes(), &id.as_ulid().to_bytes()]))
            {
                before.push(lapsing_key(&id.as_ulid().to_bytes(), consent, terms));
            }
            view.reindex(before, entries(referral_id, &referral, terms.as_ref()));
            view.put(record, &referral);
        }
        Some(CatalogueService::TYPE) => {
            let events = recorded.decode_events::<ServiceEvent>()?;
            view.update(key(SERVICE, &[&id.as_ulid().to_bytes()]), |service: &mut CatalogueService| {
                events.iter().for_each(|event| service.apply(event));
            });
        }
        other => tracing::warn!(?other, subject = recorded.subject, "unknown aggregate in REFERRALS"),
    }
    Ok(())
}

/// Applies a `FAMILIES` message: a consent granted or revoked moves the entries of the open
/// referrals resting on it; `revoked` is told of every revocation.
fn apply_consents(
    revoked: &Arc<Notify>,
    view: &mut View<'_>,
    recorded: &Recorded,
) -> std::result::Result<(), CodecError> {
    // Only a consent's grant and revocation are read: the family's other events are passed by
    // their type, so that one this release cannot read stops nothing here.
    let consents =
        |event: &RawEvent| matches!(event.event_type.as_str(), "ConsentGranted" | "ConsentRevoked");
    if recorded.aggregate_type() != Some(Family::TYPE) || !recorded.envelope.events.iter().any(consents) {
        return Ok(());
    }
    let events = recorded.envelope.events.iter().filter(|event| consents(event));
    for event in events.map(RawEvent::decode::<FamilyEvent>).collect::<std::result::Result<Vec<_>, _>>()? {
        let (consent, terms) = match event {
            FamilyEvent::ConsentGranted(granted) => {
                let terms = Terms {
                    valid_from: granted.valid_from,
                    valid_until: granted.valid_until,
                    revoked: false,
                };
                (granted.consent_id, terms)
            }
            FamilyEvent::ConsentRevoked(revocation) => {
                let Some(terms) = view.get::<Terms>(&terms_key(revocation.consent_id)) else {
                    continue;
                };
                // Whoever wakes waits for the model to catch up before it reads.
                revoked.notify_one();
                (revocation.consent_id, Terms { revoked: true, ..terms })
            }
            _ => continue,
        };
        let before: Option<Terms> = view.get(&terms_key(consent));
        // The referrals on it, made before its terms came or after: the two streams are
        // followed each at its own pace.
        let on_consent = key(ON_CONSENT, &[&consent.as_ulid().to_bytes()]);
        for entry in view.keys(&on_consent) {
            let Some(id) = entry.get(on_consent.len()..).and_then(|id| <[u8; 16]>::try_from(id).ok()) else {
                continue;
            };
            let gone = before.iter().map(|before| lapsing_key(&id, consent, before)).collect();
            view.reindex(gone, vec![lapsing_key(&id, consent, &terms)]);
        }
        view.put(terms_key(consent), &terms);
    }
    Ok(())
}

fn ulid_at(bytes: &[u8], at: usize) -> Result<ulid::Ulid> {
    let part = bytes.get(at..at + 16).and_then(|part| <[u8; 16]>::try_from(part).ok());
    part.map(ulid::Ulid::from_bytes)
        .ok_or_else(|| AppError::Internal("the referral index holds an entry of another shape".to_owned()))
}

/// The referral model.
pub struct Model(Arc<Projected<Arc<Notify>>>);

impl Model {
    /// Opens the model in `folder` and follows its streams from their checkpoints in the
    /// background.
    pub fn spawn(folder: &Folder, store: EventStore) -> Self {
        let revoked = Arc::new(Notify::new());
        let streams = [Stream::Referrals, Stream::Families];
        Self(Projected::spawn(folder, store, "referral index", VERSION, &streams, revoked, apply))
    }

    /// Resolves at the next revocation of a consent.
    pub async fn revoked(&self) {
        self.0.context().notified().await;
    }

    pub fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }

    /// Waits (at most a few seconds) until the model may be read.
    pub async fn ready(&self) -> Result<()> {
        self.0.ready().await
    }

    /// Waits (a few seconds at most) until the referrals reach the end of `REFERRALS` as it is
    /// now; the consents' terms may lag.
    pub async fn caught_up(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up_on(store, &[Stream::Referrals]).await
    }

    /// Waits (a few seconds at most) until the referrals reach `sequence` of `REFERRALS`: a
    /// write this process made, and every referral acknowledged before it.
    pub async fn reached(&self, sequence: u64) -> Result<()> {
        if self.0.reached(Stream::Referrals, sequence).await {
            return Ok(());
        }
        if let Some(stopped) = self.standing().stopped() {
            return Err(self.standing().stopped_error(&stopped));
        }
        Err(luukku_app::AppError::Unavailable(format!(
            "the referral index has not reached sequence {sequence} of {} yet; retry shortly",
            Stream::Referrals
        )))
    }

    /// Waits (a few seconds at most) until the model reaches the ends of `REFERRALS`, then of
    /// `FAMILIES`, as they are now: every referral's consent terms are then in it.
    pub async fn caught_up_with_consents(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up(store).await
    }

    pub fn referral(&self, id: ReferralId) -> Result<Option<Referral>> {
        self.0.get(&key(REFERRAL, &[&id.as_ulid().to_bytes()]))
    }

    pub fn service(&self, id: ServiceId) -> Result<Option<CatalogueService>> {
        self.0.get(&key(SERVICE, &[&id.as_ulid().to_bytes()]))
    }

    pub fn services(&self) -> Result<Vec<(ServiceId, CatalogueService)>> {
        self.0
            .records::<CatalogueService>(&[SERVICE])
            .map(|found| {
                let (id, service) = found?;
                Ok((ServiceId::from_ulid(ulid_at(&id, 0)?), service))
            })
            .collect()
    }

    /// The referrals of the list that the filter's most selective part names, in the order
    /// sent, after `after` (a referral in that list).
    pub fn listed(
        &self,
        family: Option<FamilyId>,
        contact_person: Option<ContactPersonId>,
        to: Option<Sector>,
        after: Option<ReferralId>,
    ) -> Result<impl Iterator<Item = Result<(ReferralId, Referral)>> + '_> {
        let start = match after {
            Some(after) => match self.referral(after)?.and_then(|referral| referral.created) {
                Some(created) => {
                    Some([time(created.sent_at).to_vec(), after.as_ulid().to_bytes().to_vec()].concat())
                }
                // Not a referral of any list: nothing comes after it.
                None => return Ok(None.into_iter().flatten()),
            },
            None => None,
        };
        let prefix = list_prefix(family, contact_person, to);
        let from = start.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let listed = self.0.keys_from(&prefix, from).map(|rest| {
            let id = ReferralId::from_ulid(ulid_at(&rest?, 8)?);
            let referral = self.referral(id)?.unwrap_or_default();
            Ok((id, referral))
        });
        Ok(Some(listed).into_iter().flatten())
    }

    /// The referrals of `family`, in the order sent.
    pub fn of_family(&self, family: FamilyId) -> Result<Vec<(ReferralId, Referral)>> {
        self.listed(Some(family), None, None, None)?.collect()
    }

    /// Requested referrals not marked overdue whose deadline is `now` or before.
    pub fn due(&self, now: Timestamp) -> Result<Vec<ReferralId>> {
        let until = time(now);
        let mut due = Vec::new();
        for rest in self.0.keys(&[DUE]) {
            let rest = rest?;
            if rest.get(..8).is_none_or(|deadline| deadline > until.as_slice()) {
                break;
            }
            due.push(ReferralId::from_ulid(ulid_at(&rest, 8)?));
        }
        Ok(due)
    }

    /// Open referrals not flagged lapsed whose consent was revoked or ended before `today`,
    /// with the consent: only these are read, however many referrals rest on a consent. (A
    /// referral's consent was in force when it was made, so its start cannot lapse it.)
    pub fn lapsing(&self, today: Date) -> Result<Vec<(ReferralId, ConsentId)>> {
        let today = day(today);
        let mut lapsing = Vec::new();
        for rest in self.0.keys(&[LAPSING]) {
            let rest = rest?;
            if rest.get(..4).is_none_or(|last_day| last_day >= today.as_slice()) {
                break;
            }
            lapsing
                .push((ReferralId::from_ulid(ulid_at(&rest, 4)?), ConsentId::from_ulid(ulid_at(&rest, 20)?)));
        }
        Ok(lapsing)
    }

    /// Whether a consent this model knows no longer counts on `today`, as the family's own
    /// state says ([`luukku_domain::family::Consent::in_force`]): revoked, or `today` outside its
    /// validity. A consent it does not know yet (granted after the model last caught up) is not
    /// lapsed: it is checked again.
    pub fn lapsed(&self, consent: ConsentId, today: Date) -> Result<bool> {
        Ok(self.0.get::<Terms>(&terms_key(consent))?.is_some_and(|terms| terms.lapsed(today)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use luukku_app::projected::Scratch;
    use luukku_domain::family::{ConsentGranted, ConsentRevoked, MemberId};
    use luukku_domain::referrals::{
        ConsentLapsed, Note, Redirected, ReferralCreated, RejectReason, Rejected, Step, Urgency,
    };
    use luukku_domain::sealing::{Personal, erased_as_empty};
    use luukku_domain::{DomainEvent, Need, RequestId};
    use luukku_eventstore::{AggregateRef, Envelope, Position, RawEvent};

    /// One message of `stream` about `aggregate`, at `sequence`.
    fn message<E: DomainEvent>(
        stream: Stream,
        aggregate: &'static str,
        id: ulid::Ulid,
        sequence: u64,
        event: E,
    ) -> Recorded {
        let raw = erased_as_empty(|| RawEvent::encode(&event)).expect("an event encodes");
        Recorded {
            position: Position { stream, sequence },
            subject: AggregateRef::new(stream, aggregate, luukku_domain::AggregateId::from_ulid(id))
                .subject(),
            envelope: Envelope {
                recorded_at: Timestamp::from_millis(0),
                request_id: RequestId::generate(),
                actor: super::super::escalate::process_caller().actor,
                events: vec![raw],
                fingerprint: None,
            },
            traceparent: None,
        }
    }

    struct Streams {
        model: Scratch,
        revoked: Arc<Notify>,
        family: FamilyId,
        sequence: u64,
    }

    impl Streams {
        fn new() -> Self {
            Self {
                model: Scratch::new(),
                revoked: Arc::new(Notify::new()),
                family: FamilyId::generate(),
                sequence: 0,
            }
        }

        fn apply<E: DomainEvent>(
            &mut self,
            stream: Stream,
            aggregate: &'static str,
            id: ulid::Ulid,
            event: E,
        ) {
            self.sequence += 1;
            let recorded = message(stream, aggregate, id, self.sequence, event);
            self.model.apply(&self.revoked, apply, &recorded).expect("applied");
        }

        fn grant(&mut self, consent: ConsentId, valid_until: Date) {
            let granted = ConsentGranted {
                consent_id: consent,
                given_by: MemberId::generate(),
                concerns: None,
                sectors: vec![Sector::MentalHealth],
                purpose: Personal::Erased,
                valid_from: date(2026, 1, 1),
                valid_until,
            };
            self.apply(
                Stream::Families,
                "family",
                self.family.as_ulid(),
                FamilyEvent::ConsentGranted(granted),
            );
        }

        fn revoke(&mut self, consent: ConsentId) {
            let revoked = ConsentRevoked { consent_id: consent, revoked_by: MemberId::generate() };
            self.apply(
                Stream::Families,
                "family",
                self.family.as_ulid(),
                FamilyEvent::ConsentRevoked(revoked),
            );
        }

        fn refer(&mut self, referral: ReferralId, consent: ConsentId) {
            let created = ReferralCreated {
                family_id: self.family,
                child: None,
                service_id: ServiceId::generate(),
                sector: Sector::MentalHealth,
                needs: vec![Need::MentalHealth],
                urgency: Urgency::Normal,
                reason: Personal::Erased,
                basis: Basis::Consent(consent),
                sent_at: Timestamp::from_millis(1),
                deadline: Timestamp::from_millis(2),
                contact_person: None,
            };
            self.step(referral, ReferralEvent::Created(created));
        }

        fn step(&mut self, referral: ReferralId, event: ReferralEvent) {
            self.apply(Stream::Referrals, "referral", referral.as_ulid(), event);
        }

        /// The lapsing entries: each referral with the last day its consent counts, if any.
        fn lapsing(&self) -> Vec<(ReferralId, Option<Date>)> {
            self.model
                .keys(&[LAPSING])
                .iter()
                .map(|key| {
                    let id = ReferralId::from_ulid(ulid_at(key, 5).expect("a referral"));
                    let last = (key[1..5] != [0; 4]).then(|| {
                        let year = i16::try_from(i32::from(u16::from_be_bytes([key[1], key[2]])) - 0x8000);
                        date(year.expect("a year"), key[3] as i8, key[4] as i8)
                    });
                    (id, last)
                })
                .collect()
        }

        fn on_consent(&self) -> usize {
            self.model.keys(&[ON_CONSENT]).len()
        }
    }

    #[test]
    fn a_referral_is_indexed_by_its_consents_last_day_whichever_stream_comes_first() {
        let (consent, referral) = (ConsentId::generate(), ReferralId::generate());
        let mut terms_first = Streams::new();
        terms_first.grant(consent, date(2027, 6, 30));
        terms_first.refer(referral, consent);
        let mut referral_first = Streams::new();
        referral_first.refer(referral, consent);
        assert_eq!(referral_first.lapsing(), [], "no terms yet, no day");
        assert_eq!(referral_first.on_consent(), 1);
        referral_first.grant(consent, date(2027, 6, 30));
        for streams in [&terms_first, &referral_first] {
            assert_eq!(streams.lapsing(), [(referral, Some(date(2027, 6, 30)))]);
            assert_eq!(streams.on_consent(), 1);
        }
    }

    #[test]
    fn a_revocation_makes_every_referral_on_the_consent_lapse_now() {
        let (consent, before, after) =
            (ConsentId::generate(), ReferralId::generate(), ReferralId::generate());
        let mut streams = Streams::new();
        streams.grant(consent, date(2027, 6, 30));
        streams.refer(before, consent);
        streams.revoke(consent);
        streams.refer(after, consent);
        let mut lapsing = streams.lapsing();
        lapsing.sort();
        let mut expected = vec![(before, None), (after, None)];
        expected.sort();
        assert_eq!(lapsing, expected);
    }

    #[test]
    fn a_closed_or_flagged_referral_leaves_both_indexes_and_a_redirect_brings_it_back() {
        let (consent, cancelled, flagged, rejected) =
            (ConsentId::generate(), ReferralId::generate(), ReferralId::generate(), ReferralId::generate());
        let mut streams = Streams::new();
        streams.grant(consent, date(2027, 6, 30));
        for referral in [cancelled, flagged, rejected] {
            streams.refer(referral, consent);
        }
        streams.step(cancelled, ReferralEvent::Cancelled(Note { note: Personal::Erased }));
        streams.step(flagged, ReferralEvent::ConsentLapsed(ConsentLapsed { consent_id: consent }));
        streams.step(rejected, ReferralEvent::Received(Step {}));
        let rejection = Rejected { reason: RejectReason::NoCapacity, note: Personal::Erased };
        streams.step(rejected, ReferralEvent::Rejected(rejection));
        assert_eq!(streams.lapsing(), []);
        assert_eq!(streams.on_consent(), 0);
        let redirect = Redirected {
            service_id: ServiceId::generate(),
            sector: Sector::MentalHealth,
            note: Personal::Erased,
            deadline: Timestamp::from_millis(3),
        };
        streams.step(rejected, ReferralEvent::Redirected(redirect));
        assert_eq!(streams.lapsing(), [(rejected, Some(date(2027, 6, 30)))], "open again");
        assert_eq!(streams.on_consent(), 1);
        streams.revoke(consent);
        assert_eq!(streams.lapsing(), [(rejected, None)], "only the open one moves");
    }

    #[test]
    fn days_are_keys_in_their_order() {
        let days = [date(-9999, 1, 1), date(-1, 12, 31), date(0, 1, 1), date(2026, 12, 31), date(2027, 1, 1)];
        for pair in days.windows(2) {
            assert!(day(pair[0]) < day(pair[1]), "{} before {}", pair[0], pair[1]);
        }
        assert!([0; 4] < day(date(-9999, 1, 1)), "a revoked consent's entry comes first");
    }
}

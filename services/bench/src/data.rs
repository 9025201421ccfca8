//! Families shaped like real ones, written straight into the four streams as the event store
//! writes them (sealed with each family's key, one envelope per command), in bulk.
//!
//! The messages carry no `Nats-Msg-Id`: they stand for years of writes, long out of the
//! duplicate window.
//!
//! A realistic family has 2–6 members and their consents, a contact person, 0–6 referrals with
//! their steps, 0–3 meetings with their actions and 5–40 contact-log entries: about 40 events
//! across all four streams. A light family has 10 events in all four streams.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jiff::civil::Date;
use luukku_domain::contacts::{
    Assigned, AssignmentEvent, CaseloadChange, ContactId, ContactLogEvent, ContactPersonEvent,
    ContactPersonId, ContactRecorded, Direction, FollowUpCompleted, Party, Profile,
};
use luukku_domain::family::{
    ConsentGranted, ConsentId, FamilyEvent, FamilyId, MemberDetails, MemberId, MemberJoined, MemberRole,
    Municipality, Registered,
};
use luukku_domain::identity_code::IdentityCode;
use luukku_domain::meetings::{
    ActionDone, ActionId, AgreedAction, Answer, ChildView, InvitationAnswered, MeetingEvent, MeetingHeld,
    MeetingId, MeetingProposed, MeetingScheduled, Participant, Purpose, Slot,
};
use luukku_domain::referrals::{
    Basis, Note, ReferralCreated, ReferralEvent, ReferralId, ServiceEvent, ServiceId, ServiceInfo, Step,
    Urgency,
};
use luukku_domain::sealing::{FamilyKey, HasPersonal, Personal};
use luukku_domain::{Actor, Channel, Code, DomainEvent, Need, RequestId, Sector, Timestamp};
use luukku_eventstore::{AggregateRef, Envelope, EventStore, KeyStore, NatsKeyStore, RawEvent, Stream};

/// Given names common in Finland.
const GIVEN_NAMES: &[&str] = &[
    "Maria", "Helena", "Anna", "Johanna", "Kaarina", "Sofia", "Aino", "Emilia", "Olivia", "Ella", "Juhani",
    "Johannes", "Mikael", "Olavi", "Matti", "Eino", "Elias", "Leo", "Oliver", "Onni", "Väinö", "Eetu",
    "Linnea", "Venla", "Iida", "Lilja", "Pihla", "Ilmari", "Aleksi", "Tuomas",
];
/// Family names common in Finland.
const FAMILY_NAMES: &[&str] = &[
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
];
/// Municipality codes of Finland's larger municipalities.
const MUNICIPALITIES: &[&str] = &["091", "049", "092", "837", "853", "564", "179", "398", "297", "609"];
const SUMMARIES: &[&str] = &[
    "Talked through the week's routines and how mornings go before school.",
    "Guardian asked about early education places and the application dates.",
    "Agreed to look for a family worker's support at home twice a month.",
    "The child's sleep has improved; the guardian wants to keep the evening plan.",
    "Discussed the school's support plan and who takes part in the next meeting.",
    "Called to check how the first visit to family counselling went.",
];

/// How a family is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// About 40 events, the ranges of a real family.
    Realistic,
    /// 10 events: a registration, a consent, an assignment, contacts, a referral, a meeting.
    Light,
}

/// One message for a stream: its subject and envelope.
pub struct Message {
    pub subject: String,
    pub envelope: Envelope,
}

/// The contact persons and the services the families' events name.
pub struct Catalogue {
    persons: Vec<(ContactPersonId, Code)>,
    services: Vec<(ServiceId, Sector)>,
}

impl Catalogue {
    /// A contact person for every `families_per_person` families (at least one), and 40
    /// services; returns them with the messages that register them. `batch` tells the persons
    /// of one catalogue from another's.
    pub fn new(
        families: usize,
        families_per_person: usize,
        batch: u64,
    ) -> anyhow::Result<(Self, Vec<Message>)> {
        let actor = luukku_testkit::supervisor();
        let mut messages = Vec::new();
        let mut persons = Vec::new();
        for number in 0..families.div_ceil(families_per_person).max(1) {
            let person = ContactPersonId::generate();
            let sector =
                [Sector::FamilySocialServices, Sector::ChildHealthClinic, Sector::StudentWelfare][number % 3];
            let person_id = Code::parse(&format!("person.{batch}.{number}"))?;
            let profile = Profile {
                person_id: person_id.clone(),
                name: format!(
                    "{} {}",
                    GIVEN_NAMES[number % GIVEN_NAMES.len()],
                    FAMILY_NAMES[number % FAMILY_NAMES.len()]
                ),
                organisation: Code::parse("county")?,
                sector,
                municipalities: vec![
                    Municipality::parse(MUNICIPALITIES[number % MUNICIPALITIES.len()])
                        .map_err(anyhow::Error::msg)?,
                ],
                languages: vec!["fi".to_owned(), "sv".to_owned()],
                caseload_limit: u32::try_from(families_per_person * 2)?,
            };
            messages.push(message(
                &actor,
                AggregateRef::new(Stream::Contacts, "person", person),
                vec![ContactPersonEvent::Registered(profile)],
            )?);
            persons.push((person, person_id));
        }
        let mut services = Vec::new();
        for number in 0..40 {
            let service = ServiceId::generate();
            let sector = Sector::ALL[number % Sector::ALL.len()];
            let info = ServiceInfo {
                provider: "county".to_owned(),
                sector,
                name: format!("{} service {number}", sector.as_code()),
                description: "Support for families with children.".to_owned(),
                min_age: 0,
                max_age: 17,
                needs: vec![Need::ALL[number % Need::ALL.len()]],
                municipalities: Vec::new(),
                low_threshold: number % 2 == 0,
                contact: "palvelut@example.fi".to_owned(),
            };
            messages.push(message(
                &actor,
                AggregateRef::new(Stream::Referrals, "service", service),
                vec![ServiceEvent::Registered(info)],
            )?);
            services.push((service, sector));
        }
        Ok((Self { persons, services }, messages))
    }
}

fn message<E: DomainEvent>(
    actor: &Actor,
    aggregate: AggregateRef,
    events: Vec<E>,
) -> anyhow::Result<Message> {
    Ok(Message {
        subject: aggregate.subject(),
        envelope: Envelope {
            recorded_at: Timestamp::now(),
            request_id: RequestId::generate(),
            actor: actor.clone(),
            events: events.iter().map(RawEvent::encode).collect::<Result<_, _>>()?,
            fingerprint: None,
        },
    })
}

/// Makes families' messages; the same seed makes families of the same shape.
pub struct Generator {
    rng: fastrand::Rng,
    actor: Actor,
}

/// What one family's messages are built from.
struct Family<'a> {
    key: &'a FamilyKey,
    aad: String,
    messages: Vec<Message>,
}

impl Family<'_> {
    fn push<E: DomainEvent + HasPersonal>(
        &mut self,
        actor: &Actor,
        aggregate: AggregateRef,
        mut events: Vec<E>,
    ) -> anyhow::Result<()> {
        for event in &mut events {
            event.seal(self.key, self.aad.as_bytes())?;
        }
        self.messages.push(message(actor, aggregate, events)?);
        Ok(())
    }
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self { rng: fastrand::Rng::with_seed(seed), actor: luukku_testkit::actor() }
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.rng.usize(..from.len())]
    }

    fn text(&mut self) -> Personal<String> {
        Personal::Plain((*self.pick(SUMMARIES)).to_owned())
    }

    fn date(&mut self, from_year: i16, to_year: i16) -> Date {
        jiff::civil::date(self.rng.i16(from_year..=to_year), self.rng.i8(1..=12), self.rng.i8(1..=28))
    }

    /// A valid identity code (henkilötunnus) of someone born on `born`, born in the 1900s.
    fn identity_code(&mut self, born: Date) -> anyhow::Result<IdentityCode> {
        const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
        let individual = self.rng.u32(2..=899);
        let date = format!("{:02}{:02}{:02}", born.day(), born.month(), born.year() % 100);
        let number: u64 = format!("{date}{individual:03}").parse()?;
        let check = char::from(CHECK[usize::try_from(number % 31)?]);
        IdentityCode::parse(&format!("{date}-{individual:03}{check}")).map_err(anyhow::Error::msg)
    }

    /// The date `days` days from today (before it when negative).
    fn date_in(days: i64) -> Date {
        let today = luukku_app::context_now().today;
        today.checked_add(jiff::Span::new().days(days)).unwrap_or(today)
    }

    /// A time `days` days from now (before it when negative), at a whole hour.
    fn day(days: i64) -> Timestamp {
        let now = Timestamp::now().as_millis();
        Timestamp::from_millis((now + days * 86_400_000) / 3_600_000 * 3_600_000)
    }

    /// The messages of one family, in the order the services would write them, and the person id
    /// of its contact person.
    pub fn family(
        &mut self,
        catalogue: &Catalogue,
        id: FamilyId,
        key: &FamilyKey,
        shape: Shape,
    ) -> anyhow::Result<(Vec<Message>, Code, Probe)> {
        let realistic = shape == Shape::Realistic;
        let mut family = Family { key, aad: id.to_string(), messages: Vec::new() };
        let family_name = *self.pick(FAMILY_NAMES);
        let (guardians, children) =
            if realistic { (self.rng.usize(1..=2), self.rng.usize(1..=4)) } else { (1, 1) };
        let mut members = Vec::new();
        let mut probe = Probe { family_name: family_name.to_owned(), identity_code: None };
        for number in 0..guardians + children {
            let (role, born) = if number < guardians {
                (MemberRole::Guardian, self.date(1975, 1998))
            } else {
                (MemberRole::Child, self.date(2009, 2025))
            };
            // Guardians have identity codes, children none (as the services take them).
            let identity_code =
                (role == MemberRole::Guardian).then(|| self.identity_code(born)).transpose()?;
            probe.identity_code = probe.identity_code.or_else(|| identity_code.clone());
            members.push(MemberJoined {
                member_id: MemberId::generate(),
                role,
                details: Personal::Plain(MemberDetails {
                    given_names: (*self.pick(GIVEN_NAMES)).to_owned(),
                    family_name: family_name.to_owned(),
                    birth_date: Some(born),
                    identity_code,
                    languages: vec![if self.rng.u8(..10) == 0 { "sv" } else { "fi" }.to_owned()],
                }),
            });
        }
        let guardian = members[0].member_id;
        let child_ids: Vec<MemberId> = members[guardians..].iter().map(|member| member.member_id).collect();
        let actor = self.actor.clone();
        let on_family = AggregateRef::new(Stream::Families, "family", id);
        family.push(
            &actor,
            on_family,
            vec![FamilyEvent::Registered(Registered {
                municipality: Municipality::parse(self.pick::<&str>(MUNICIPALITIES))
                    .map_err(anyhow::Error::msg)?,
                members,
            })],
        )?;
        let mut consents = Vec::new();
        let consent_count = if realistic { children.min(3) } else { 1 };
        for number in 0..consent_count {
            let consent = ConsentId::generate();
            let from = Self::date_in(-self.rng.i64(0..300));
            family.push(
                &actor,
                on_family,
                vec![FamilyEvent::ConsentGranted(ConsentGranted {
                    consent_id: consent,
                    given_by: guardian,
                    concerns: child_ids.get(number).copied(),
                    sectors: vec![
                        Sector::FamilySocialServices,
                        *self.pick(Sector::ALL),
                        *self.pick(Sector::ALL),
                    ],
                    purpose: Personal::Plain(
                        "Coordinating the family's support between services.".to_owned(),
                    ),
                    valid_from: from,
                    valid_until: from.saturating_add(jiff::Span::new().years(1)),
                })],
            )?;
            consents.push(consent);
        }

        let (person, person_code) = self.pick(&catalogue.persons).clone();
        family.push(
            &actor,
            AggregateRef::new(Stream::Contacts, "assignment", id),
            vec![AssignmentEvent::Assigned(Assigned { contact_person: person })],
        )?;
        family.push(
            &actor,
            AggregateRef::new(Stream::Contacts, "person", person),
            vec![ContactPersonEvent::CaseloadJoined(CaseloadChange { family_id: id })],
        )?;

        let contacts = if realistic { self.rng.usize(5..=40) } else { 3 };
        let on_log = AggregateRef::new(Stream::Contacts, "log", id);
        for number in 0..contacts {
            let contact = ContactId::generate();
            let follow_up = self.rng.u8(..5) == 0;
            let summary = self.text();
            family.push(
                &actor,
                on_log,
                vec![ContactLogEvent::Recorded(ContactRecorded {
                    contact_id: contact,
                    occurred_at: Self::day(i64::try_from(number)? * 7 - 300),
                    direction: if self.rng.bool() { Direction::Inbound } else { Direction::Outbound },
                    party: Party::FamilyMember(guardian),
                    channel: *self.pick(Channel::ALL),
                    needs: vec![*self.pick(Need::ALL)],
                    summary,
                    guidance: vec![*self.pick(Sector::ALL)],
                    follow_up: follow_up.then(|| Self::date_in(14)),
                })],
            )?;
            if follow_up && realistic && self.rng.bool() {
                let note = self.text();
                family.push(
                    &actor,
                    on_log,
                    vec![ContactLogEvent::FollowUpCompleted(FollowUpCompleted { contact_id: contact, note })],
                )?;
            }
        }

        let referrals = if realistic { self.rng.usize(0..=6) } else { 1 };
        for _ in 0..referrals {
            let referral = ReferralId::generate();
            let on_referral = AggregateRef::new(Stream::Referrals, "referral", referral);
            let (service, sector) = *self.pick(&catalogue.services);
            let reason = self.text();
            family.push(
                &actor,
                on_referral,
                vec![ReferralEvent::Created(ReferralCreated {
                    family_id: id,
                    child: child_ids.first().copied(),
                    service_id: service,
                    sector,
                    needs: vec![*self.pick(Need::ALL)],
                    urgency: if self.rng.u8(..10) == 0 { Urgency::Urgent } else { Urgency::Normal },
                    reason,
                    basis: Basis::Consent(*self.pick(&consents)),
                    sent_at: Self::day(-self.rng.i64(0..60)),
                    deadline: Self::day(self.rng.i64(30..90)),
                    contact_person: Some(person),
                })],
            )?;
            let steps = if realistic { self.rng.usize(0..=4) } else { 1 };
            let mut path = [
                ReferralEvent::Received(Step {}),
                ReferralEvent::Accepted(Step {}),
                ReferralEvent::Started(Step {}),
                ReferralEvent::Completed(Note { note: self.text() }),
            ]
            .into_iter();
            for step in path.by_ref().take(steps) {
                family.push(&actor, on_referral, vec![step])?;
            }
        }

        let meetings = if realistic { self.rng.usize(0..=3) } else { 1 };
        let on_meetings = AggregateRef::new(Stream::Meetings, "family", id);
        for _ in 0..meetings {
            let meeting = MeetingId::generate();
            let slot = Slot { starts_at: Self::day(self.rng.i64(-60..30)), minutes: 60 };
            let participants =
                vec![Participant::FamilyMember(guardian), Participant::Sector(*self.pick(Sector::ALL))];
            family.push(
                &actor,
                on_meetings,
                vec![MeetingEvent::Proposed(MeetingProposed {
                    meeting_id: meeting,
                    purpose: *self.pick(Purpose::ALL),
                    description: self.text(),
                    slots: vec![slot],
                    place: Personal::Plain("Perhekeskus, 2. krs".to_owned()),
                    participants: participants.clone(),
                })],
            )?;
            if !realistic {
                continue;
            }
            family.push(
                &actor,
                on_meetings,
                vec![MeetingEvent::Answered(InvitationAnswered {
                    meeting_id: meeting,
                    participant: participants[0].clone(),
                    answers: vec![(0, Answer::Accept)],
                })],
            )?;
            family.push(
                &actor,
                on_meetings,
                vec![MeetingEvent::Scheduled(MeetingScheduled { meeting_id: meeting, slot })],
            )?;
            if self.rng.bool() {
                continue;
            }
            let actions: Vec<AgreedAction> = (0..self.rng.usize(1..=3))
                .map(|_| AgreedAction {
                    action_id: ActionId::generate(),
                    what: self.text(),
                    owner: participants[self.rng.usize(..participants.len())].clone(),
                    due: Self::date_in(self.rng.i64(7..60)),
                })
                .collect();
            let done: Vec<ActionId> =
                actions.iter().filter(|_| self.rng.bool()).map(|action| action.action_id).collect();
            family.push(
                &actor,
                on_meetings,
                vec![MeetingEvent::Held(MeetingHeld {
                    meeting_id: meeting,
                    held_at: slot.starts_at,
                    attended: participants.clone(),
                    summary: self.text(),
                    child_views: child_ids
                        .first()
                        .map(|child| ChildView { member_id: *child, view: self.text() })
                        .into_iter()
                        .collect(),
                    actions,
                })],
            )?;
            for action in done {
                let note = self.text();
                family.push(
                    &actor,
                    on_meetings,
                    vec![MeetingEvent::ActionDone(ActionDone {
                        meeting_id: meeting,
                        action_id: action,
                        note,
                    })],
                )?;
            }
        }
        Ok((family.messages, person_code, probe))
    }
}

/// Publishes messages pipelined, at most `window` unacknowledged at a time.
pub struct Publisher {
    jetstream: async_nats::jetstream::Context,
    pending: FuturesUnordered<<async_nats::jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture>,
    window: usize,
    pub published: u64,
}

impl Publisher {
    pub fn new(store: &EventStore, window: usize) -> Self {
        Self { jetstream: store.jetstream().clone(), pending: FuturesUnordered::new(), window, published: 0 }
    }

    pub async fn publish(&mut self, message: Message) -> anyhow::Result<()> {
        let ack = self
            .jetstream
            .publish_with_headers(message.subject, message.envelope.headers(), message.envelope.encode()?)
            .await?;
        self.pending.push(ack.into_future());
        self.published += 1;
        while self.pending.len() >= self.window {
            if let Some(ack) = self.pending.next().await {
                ack?;
            }
        }
        Ok(())
    }

    pub async fn finish(&mut self) -> anyhow::Result<()> {
        while let Some(ack) = self.pending.next().await {
            ack?;
        }
        Ok(())
    }
}

/// What a search may look a family up by.
#[derive(Debug, Clone)]
pub struct Probe {
    pub family_name: String,
    /// The first guardian's.
    pub identity_code: Option<IdentityCode>,
}

/// What [`fill`] wrote.
pub struct Filled {
    /// Each family, and the person id of its contact person.
    pub families: Vec<(FamilyId, Code)>,
    /// What every 64th family may be searched by: the family, its contact person, the probe.
    pub probes: Vec<(FamilyId, Code, Probe)>,
    pub events: u64,
    pub seconds: f64,
}

/// Writes the catalogue and `families` families, the first `realistic` of them realistic and
/// the rest light, with their keys; prints progress every million events.
pub async fn fill(
    store: &EventStore,
    keys: &NatsKeyStore,
    families: usize,
    realistic: usize,
    seed: u64,
) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let (catalogue, registrations) = Catalogue::new(families, 40, seed)?;
    let mut publisher = Publisher::new(store, 4096);
    for message in registrations {
        publisher.publish(message).await?;
    }
    let mut generator = Generator::new(seed);
    let keys = Arc::new(keys.clone());
    let mut key_requests = futures::stream::iter((0..families).map(|_| FamilyId::generate()))
        .map(|family| {
            let keys = Arc::clone(&keys);
            async move { keys.get_or_create(&family.to_string()).await.map(|key| (family, key)) }
        })
        .buffered(256);
    let mut next_report = 1_000_000;
    let mut made = Vec::with_capacity(families);
    let mut probes = Vec::new();
    while let Some(next) = key_requests.next().await {
        let (family, key) = next?;
        let shape = if made.len() < realistic { Shape::Realistic } else { Shape::Light };
        let (messages, contact_person, probe) = generator.family(&catalogue, family, &key, shape)?;
        if made.len().is_multiple_of(64) {
            probes.push((family, contact_person.clone(), probe));
        }
        made.push((family, contact_person));
        for message in messages {
            publisher.publish(message).await?;
        }
        if publisher.published >= next_report {
            println!(
                "  wrote {} events of {} families in {:.0} s",
                publisher.published,
                made.len(),
                started.elapsed().as_secs_f64()
            );
            next_report += 1_000_000;
        }
    }
    publisher.finish().await?;
    Ok(Filled {
        families: made,
        probes,
        events: publisher.published,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How much a benchmark's streams may hold, each. nats-server reserves the sum of its streams'
/// limits out of the space it sees free (three quarters of the disk's free space by default),
/// and refuses a stream past it: "insufficient storage resources".
#[derive(Debug, Clone, Copy)]
pub enum Streams {
    /// 2 GiB each: the benchmarks of up to a few hundred thousand families' events.
    Usual,
    /// 8 GiB each: `scale`, up to 1,000,000 families (13.5 M events).
    Large,
}

impl Streams {
    /// For `families` realistic families (about 45 events each).
    pub fn for_families(families: usize) -> Self {
        if families > 50_000 { Streams::Large } else { Streams::Usual }
    }
}

/// An event store on `nats` whose streams hold what the benchmark writes; the key bucket
/// provisioned with the search index key, and its key store.
pub async fn bench_store(
    nats: &luukku_testkit::TestNats,
    streams: Streams,
) -> anyhow::Result<(EventStore, NatsKeyStore)> {
    const GIB: i64 = 1024 * 1024 * 1024;
    let max_stream_bytes = match streams {
        Streams::Usual => 2 * GIB,
        Streams::Large => 8 * GIB,
    };
    let settings = luukku_eventstore::StoreSettings { max_stream_bytes, ..Default::default() };
    let store = nats.store_with(settings).await?;
    NatsKeyStore::provision(&store).await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    keys.get_or_create(luukku_eventstore::SEARCH_INDEX_KEY).await?;
    Ok((store, keys))
}

/// A connection of its own to `nats` for one service, with `store`'s settings, and the family
/// key store on it: each served process connects by itself, and its commands, access records
/// and models' deliveries share that connection only.
pub async fn service_store(
    nats: &luukku_testkit::TestNats,
    store: &EventStore,
) -> anyhow::Result<(EventStore, NatsKeyStore)> {
    let store = nats.store_with(store.settings().clone()).await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    Ok((store, keys))
}

/// The last sequence of each stream: where a reader has read everything written so far.
pub async fn ends(store: &EventStore) -> anyhow::Result<luukku_eventstore::Checkpoints> {
    let mut ends = luukku_eventstore::Checkpoints::default();
    for stream in Stream::ALL {
        ends.set(stream, store.last_sequence(stream).await?);
    }
    Ok(ends)
}

/// Waits up to an hour for `projection` to reach `ends`.
pub async fn caught_up(
    projection: &luukku_coordination::Projection,
    ends: luukku_eventstore::Checkpoints,
) -> anyhow::Result<()> {
    projection
        .wait_for(ends, Duration::from_secs(3600))
        .await
        .map_err(|at| anyhow::anyhow!("the projection stopped at {at}"))
}

/// What a projection's applier did over `seconds`: how much of that time it was busy
/// (near 100 %, the rebuild waits on its writes; well under, on the messages reaching it), per
/// message, and its batches.
pub fn applier_account(applied: &luukku_coordination::Applied, seconds: f64) -> String {
    let busy = applied.busy().as_secs_f64();
    let (messages, batches) = (applied.messages(), applied.batches().max(1));
    format!(
        "the applier busy {:.0} % of it ({:.1} µs per message), {batches} batches of {:.0} messages on average, {:.2} family documents written per message",
        100.0 * busy / seconds,
        1e6 * busy / messages.max(1) as f64,
        messages as f64 / batches as f64,
        applied.families() as f64 / messages.max(1) as f64
    )
}

/// Waits until `relations` has reached the streams' ends as they are now (at most an hour).
pub async fn relations_caught_up(
    relations: &luukku_app::Relations,
    store: &luukku_eventstore::EventStore,
) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    loop {
        match relations.caught_up(store).await {
            Ok(()) => return Ok(()),
            Err(error) if began.elapsed() > Duration::from_secs(3600) => return Err(error.into()),
            Err(_) => {}
        }
    }
}

/// The catalogue service the benchmarks' callers refer children to.
pub fn youth_clinic() -> luukku_proto::referrals::v1::RegisterServiceRequest {
    use luukku_proto::referrals::v1 as referrals;
    let info = referrals::ServiceInfo {
        provider: "County".to_owned(),
        sector: "mental_health".to_owned(),
        name: "Youth clinic".to_owned(),
        description: "Support for children and families".to_owned(),
        min_age: 0,
        max_age: 17,
        needs: vec!["mental_health".to_owned()],
        municipalities: vec![],
        low_threshold: false,
        contact: "+358 9 310 00000".to_owned(),
    };
    referrals::RegisterServiceRequest {
        request_id: luukku_domain::RequestId::generate().to_string(),
        service_id: String::new(),
        info: Some(info),
    }
}

/// Contact person `number` of the benchmarks (who signs in as `contact.<number>`), with room
/// for `caseload_limit` families.
pub fn contact_person(
    number: usize,
    caseload_limit: u32,
) -> luukku_proto::contacts::v1::RegisterContactPersonRequest {
    use luukku_proto::contacts::v1 as contacts;
    let profile = contacts::ContactPersonProfile {
        person_id: format!("contact.{number}"),
        name: format!("Contact {number}"),
        organisation: "0201256-6".to_owned(),
        sector: "family_social_services".to_owned(),
        municipalities: vec![],
        languages: vec!["fi".to_owned()],
        caseload_limit,
    };
    contacts::RegisterContactPersonRequest {
        request_id: luukku_domain::RequestId::generate().to_string(),
        contact_person_id: String::new(),
        profile: Some(profile),
    }
}

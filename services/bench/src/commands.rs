//! `commands`: a contact person's working mix across the four write services at 64 concurrent
//! callers, against two ceilings measured in the same run: raw JetStream publishes at the same
//! concurrency, and a tonic unary echo with the same message sizes.
//!
//! Each caller is a contact person who, family after family: registers the family, records
//! the guardian's consent, is assigned to it, records contacts, refers the child to a service
//! (which the service's sector receives and accepts), and proposes, schedules and holds a
//! meeting with an agreed action.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use luukku_domain::{RequestId, Sector};
use luukku_eventstore::{Envelope, RawEvent};
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::serve_routes;
use prost::Message as _;
use tonic::transport::Channel;

use crate::processes::processor_time;
use crate::stats::{Row, Spent, latency_histogram, millis, record};
use crate::{data, echo};

#[derive(Debug, clap::Args)]
pub struct CommandsArgs {
    /// Concurrent callers, each a contact person of their own.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Families each caller works through per trial (13 commands each).
    #[arg(long, default_value_t = 4)]
    families: usize,
    /// Trials of each side, alternating which goes first; the best of each is reported.
    #[arg(long, default_value_t = 3)]
    trials: usize,
    /// The four services share one read-model folder (one sled database) and one model of the
    /// access relations in it, as `luukku dev` runs them in one process; by default each has
    /// its own of both, as `luukku serve` runs one service per process (so that each event is
    /// applied to four relations models, in four databases).
    #[arg(long)]
    one_process: bool,
}

/// Commands per family in the mix.
const PER_FAMILY: usize = 13;
/// Families worked through by one caller alone, for the latency of a single command.
const ALONE: usize = 20;

fn request_id() -> String {
    RequestId::generate().to_string()
}

fn in_days(days: i64) -> String {
    let today = luukku_app::context_now().today;
    today.checked_add(jiff::Span::new().days(days)).unwrap_or(today).to_string()
}

/// The sides of a trial, in the order of the first; the next reverses it.
#[derive(Debug, Clone, Copy)]
enum Side {
    Raw,
    Echo,
    Floor,
    Commands,
}

/// How long the benchmark sends nothing before each of the floor's lone calls.
const QUIET: std::time::Duration = std::time::Duration::from_millis(5);

/// The four services' clients, with tokens minted once, as clients keep them.
#[derive(Clone)]
struct Clients {
    families: FamilyServiceClient<Channel>,
    contacts: ContactServiceClient<Channel>,
    referrals: ReferralServiceClient<Channel>,
    meetings: MeetingServiceClient<Channel>,
    supervisor: Arc<str>,
    clinic: Arc<str>,
}

/// One caller: a contact person, and the service it refers to.
struct Caller {
    contact_person_id: String,
    token: Arc<str>,
    service_id: String,
}

/// What each command took, by its name, and the bytes of its requests and answers.
#[derive(Default)]
struct Measured {
    latencies: BTreeMap<&'static str, hdrhistogram::Histogram<u64>>,
    request_bytes: usize,
    answer_bytes: usize,
    commands: usize,
}

impl Measured {
    fn add(&mut self, name: &'static str, took: std::time::Duration, request: usize, answer: usize) {
        // A histogram is made once per command name: each holds about 200 KB of counters.
        let histogram = match self.latencies.entry(name) {
            std::collections::btree_map::Entry::Occupied(entry) => Some(entry.into_mut()),
            std::collections::btree_map::Entry::Vacant(entry) => {
                latency_histogram().ok().map(|h| entry.insert(h))
            }
        };
        if let Some(histogram) = histogram {
            record(histogram, took);
        }
        self.request_bytes += request;
        self.answer_bytes += answer;
        self.commands += 1;
    }
}

/// Calls `$client.$method($request)` with `$token`, timing it into `$measured`.
macro_rules! timed {
    ($measured:expr, $name:literal, $client:expr, $method:ident, $request:expr, $token:expr) => {{
        let request = $request;
        let size = request.encoded_len();
        let began = Instant::now();
        let answer = $client.$method(luukku_grpc::with_token(request, $token)).await?.into_inner();
        let took = began.elapsed();
        $measured.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(
            $name,
            took,
            size,
            answer.encoded_len(),
        );
        answer
    }};
}

/// Each command's calls, p50 and p99.
fn print_latencies(measured: &Measured) {
    for (name, histogram) in &measured.latencies {
        println!(
            "  {name:<20} {:>6} calls, p50 {:.3} ms, p99 {:.3} ms",
            histogram.len(),
            millis(histogram.value_at_quantile(0.50)),
            millis(histogram.value_at_quantile(0.99))
        );
    }
}

/// One family's commands, as `caller`, timed into `measured` (shared by every caller of a trial:
/// one set of histograms, not one per caller to allocate and merge).
async fn family(
    clients: &mut Clients,
    caller: &Caller,
    measured: &std::sync::Mutex<Measured>,
) -> anyhow::Result<()> {
    let token = &caller.token;
    let registration = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
    let registered =
        timed!(measured, "RegisterFamily", clients.families, register_family, registration, token);
    let family_id = registered.family_id;
    let (guardian, child) = match registered.member_ids.as_slice() {
        [guardian, child, ..] => (guardian.clone(), child.clone()),
        _ => anyhow::bail!("a registration answered without its members"),
    };
    let grant = families::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: family_id.clone(),
        given_by: guardian.clone(),
        sectors: vec!["mental_health".to_owned(), "student_welfare".to_owned()],
        purpose: "Support for the child's school mornings".to_owned(),
        valid_until: in_days(365),
        ..Default::default()
    };
    timed!(measured, "GrantConsent", clients.families, grant_consent, grant, token);
    let assign = contacts::AssignContactPersonRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        contact_person_id: caller.contact_person_id.clone(),
        reason: String::new(),
    };
    let supervisor = Arc::clone(&clients.supervisor);
    timed!(measured, "AssignContactPerson", clients.contacts, assign_contact_person, assign, &supervisor);
    for day in 0..3 {
        let contact = contacts::RecordContactRequest {
            request_id: request_id(),
            family_id: family_id.clone(),
            direction: contacts::Direction::Inbound as i32,
            member_id: guardian.clone(),
            channel: "phone".to_owned(),
            needs: vec!["parenting".to_owned(), "learning".to_owned()],
            summary: "The guardian called about the child's school mornings".to_owned(),
            guidance: vec!["student_welfare".to_owned()],
            follow_up: if day == 0 { in_days(7) } else { String::new() },
            ..Default::default()
        };
        timed!(measured, "RecordContact", clients.contacts, record_contact, contact, token);
    }
    let refer = referrals::CreateReferralRequest {
        request_id: request_id(),
        referral_id: String::new(),
        family_id: family_id.clone(),
        child_member_id: child.clone(),
        service_id: caller.service_id.clone(),
        needs: vec!["mental_health".to_owned()],
        urgency: "normal".to_owned(),
        reason: "Panic attacks before school".to_owned(),
        statutory_basis: None,
    };
    let referral_id =
        timed!(measured, "CreateReferral", clients.referrals, create_referral, refer, token).referral_id;
    let clinic = Arc::clone(&clients.clinic);
    for step in [
        referrals::update_referral_request::Step::Receive(referrals::Empty {}),
        referrals::update_referral_request::Step::Accept(referrals::Empty {}),
    ] {
        let update = referrals::UpdateReferralRequest {
            request_id: request_id(),
            referral_id: referral_id.clone(),
            expected_version: None,
            step: Some(step),
        };
        timed!(measured, "UpdateReferral", clients.referrals, update_referral, update, &clinic);
    }
    let participant = |who| meetings::Participant { who: Some(who) };
    let now = jiff::Timestamp::now().as_millisecond();
    let propose = meetings::ProposeMeetingRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        meeting_id: String::new(),
        purpose: "school_support".to_owned(),
        description: "The child's school mornings".to_owned(),
        slots: vec![meetings::Slot { starts_at_ms: now + 48 * 3_600_000, minutes: 90 }],
        place: "Perhekeskus, room 2".to_owned(),
        participants: vec![
            participant(meetings::participant::Who::MemberId(guardian.clone())),
            participant(meetings::participant::Who::Sector("student_welfare".to_owned())),
        ],
    };
    let meeting_id =
        timed!(measured, "ProposeMeeting", clients.meetings, propose_meeting, propose, token).meeting_id;
    let schedule = meetings::ScheduleMeetingRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        meeting_id: meeting_id.clone(),
        slot: 0,
    };
    timed!(measured, "ScheduleMeeting", clients.meetings, schedule_meeting, schedule, token);
    let hold = meetings::HoldMeetingRequest {
        request_id: request_id(),
        family_id,
        expected_version: None,
        meeting_id,
        held_at_ms: 0,
        attended: vec![participant(meetings::participant::Who::MemberId(guardian.clone()))],
        summary: "A morning routine, and a talk with the school nurse".to_owned(),
        child_views: vec![meetings::ChildView {
            member_id: child,
            view: "Mornings are too early".to_owned(),
        }],
        actions: vec![meetings::NewAction {
            action_id: String::new(),
            what: "Book the school nurse".into(),
            owner: Some(participant(meetings::participant::Who::Sector("student_welfare".to_owned()))),
            due: in_days(7),
        }],
    };
    timed!(measured, "HoldMeeting", clients.meetings, hold_meeting, hold, token);
    Ok(())
}

/// Every caller working through `families` families: commands per second, and what they took.
async fn trial(
    clients: &Clients,
    callers: &[Arc<Caller>],
    families: usize,
) -> anyhow::Result<(f64, Measured)> {
    let measured = Arc::new(std::sync::Mutex::new(Measured::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in callers {
        let (mut clients, caller, measured) = (clients.clone(), Arc::clone(caller), Arc::clone(&measured));
        tasks.push(tokio::spawn(async move {
            for _ in 0..families {
                family(&mut clients, &caller, &measured).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let measured = Arc::try_unwrap(measured)
        .map_err(|_| anyhow::anyhow!("a caller still runs"))?
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((measured.commands as f64 / elapsed, measured))
}

pub async fn run(args: CommandsArgs) -> anyhow::Result<Row> {
    let nats = TestNats::start().await?;
    // The benchmark's own connection: the ceilings, the floor and the warm-up's setup.
    let (store, _) = data::bench_store(&nats, data::Streams::Usual).await?;
    crate::append::provision_raw(&store).await?;
    // Each service's guard writes its own access records; with `--one-process` they share one
    // folder and one relations model in it, as `luukku dev` builds them (there the model
    // follows on the coordination service's connection; here, with no coordination service,
    // on one of its own).
    let shared = if args.one_process {
        let folder = luukku_app::Folder::temporary();
        let relations =
            luukku_app::Relations::spawn(&folder, nats.store_with(store.settings().clone()).await?);
        Some((folder, relations))
    } else {
        None
    };
    // Each service has a NATS connection of its own (its commands, its access records and its
    // models' deliveries), as `luukku serve` and `luukku dev` connect them.
    let service_store = || async {
        let (store, keys) = data::service_store(&nats, &store).await?;
        anyhow::Ok((store, luukku_app::cached_keys(keys)))
    };
    let guard = |store: &luukku_eventstore::EventStore| match &shared {
        Some((folder, relations)) => luukku_app::Guard::new(
            store.clone(),
            folder.clone(),
            Arc::clone(relations),
            luukku_eventstore::audit::AccessLog::start(store.clone()),
        ),
        None => luukku_app::Guard::start(store.clone()),
    };
    let (families_store, families_keys) = service_store().await?;
    let families_guard = guard(&families_store);
    let families_served =
        serve_routes(luukku_families::routes(families_store, families_keys, families_guard).await).await?;
    let (contacts_store, contacts_keys) = service_store().await?;
    let contacts_guard = guard(&contacts_store);
    let (contacts_routes, _contacts_process) = luukku_contacts::start(
        contacts_store,
        contacts_keys,
        luukku_contacts::Config::default(),
        contacts_guard,
    )
    .await;
    let contacts_served = serve_routes(contacts_routes).await?;
    let (referrals_store, referrals_keys) = service_store().await?;
    let referrals_guard = guard(&referrals_store);
    let (referrals_routes, _referrals_process) = luukku_referrals::start(
        referrals_store,
        referrals_keys,
        luukku_referrals::Config::default(),
        referrals_guard,
    )
    .await;
    let referrals_served = serve_routes(referrals_routes).await?;
    let (meetings_store, meetings_keys) = service_store().await?;
    let meetings_guard = guard(&meetings_store);
    let meetings_served =
        serve_routes(luukku_meetings::routes(meetings_store, meetings_keys, meetings_guard).await).await?;
    let connect = |url: String| async move { tonic::transport::Endpoint::from_shared(url)?.connect().await };
    let supervisor: Arc<str> = luukku_testkit::auth::token(&luukku_testkit::supervisor()).into();
    let clinic: Arc<str> =
        luukku_testkit::auth::token(&luukku_testkit::professional("clinic.nurse", Sector::MentalHealth))
            .into();
    let mut clients = Clients {
        families: FamilyServiceClient::new(connect(families_served.url()).await?),
        contacts: ContactServiceClient::new(connect(contacts_served.url()).await?),
        referrals: ReferralServiceClient::new(connect(referrals_served.url()).await?),
        meetings: MeetingServiceClient::new(connect(meetings_served.url()).await?),
        supervisor: Arc::clone(&supervisor),
        clinic,
    };
    println!(
        "luukku-bench commands: {} callers x {} families x {PER_FAMILY} commands per trial, {} trials, {}, nats-server {}",
        args.callers,
        args.families,
        args.trials,
        if args.one_process {
            "one folder and relations model shared by the services"
        } else {
            "a relations model per service"
        },
        nats.url()
    );

    // The callers: contact persons with room for every family they will take, and a service.
    let register = crate::data::youth_clinic();
    let service_id = clients
        .referrals
        .register_service(luukku_grpc::with_token(register, &supervisor))
        .await?
        .into_inner()
        .service_id;
    // The warm-up, the trials, and the first caller's families one at a time.
    let capacity = u32::try_from((args.trials + 1) * args.families + 1 + ALONE)?;
    let mut callers = Vec::new();
    for number in 0..args.callers {
        let request = crate::data::contact_person(number, capacity);
        let person_id = request.profile.as_ref().map(|profile| profile.person_id.clone()).unwrap_or_default();
        let contact_person_id = clients
            .contacts
            .register_contact_person(luukku_grpc::with_token(request, &supervisor))
            .await?
            .into_inner()
            .contact_person_id;
        let token = luukku_testkit::auth::token(&luukku_testkit::actor_named(&person_id)).into();
        callers.push(Arc::new(Caller { contact_person_id, token, service_id: service_id.clone() }));
    }

    // A warm-up family per caller, which also gives the message sizes for the echo.
    let (_, warm) = trial(&clients, &callers, 1).await?;
    let request_bytes = warm.request_bytes / warm.commands.max(1);
    let answer_bytes = warm.answer_bytes / warm.commands.max(1);
    let echo = echo::serve(echo::Payload { bytes: bytes::Bytes::from(vec![b'x'; answer_bytes]) }).await?;
    // About the size of a sealed command's event data.
    let event = RawEvent { event_type: "BenchNoted".into(), schema_version: 1, data: vec![7; 300] };

    // The floor: an echo of the same sizes that stores an access record and an event, in turn,
    // before it answers. Measured in each trial beside the ceilings, and one call at a time.
    let envelope = Envelope {
        recorded_at: luukku_domain::Timestamp::now(),
        request_id: RequestId::generate(),
        actor: luukku_testkit::actor(),
        events: vec![event.clone()],
        fingerprint: None,
    };
    let appended =
        echo::Floored { payload: envelope.encode()?, headers: envelope.headers(), expect_new: true };
    let stored = echo::Stored::new(
        store.jetstream().clone(),
        vec![echo::access_record("/luukku.contacts.v1.ContactService/RecordContact", "write")?, appended],
    );
    let floor =
        echo::serve_storing(echo::Payload { bytes: bytes::Bytes::from(vec![b'x'; answer_bytes]) }, stored)
            .await?;
    let (mut raws, mut echoes, mut floors, mut runs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // The processor time of each side, over every trial: raw, echo, floor, commands.
    let nats_pid = nats.server.pid().ok_or_else(|| anyhow::anyhow!("nats-server is not running"))?;
    let mut spent = [Spent::default(); 4];
    for number in 0..args.trials {
        // Enough calls per caller that connecting does not count.
        let calls = (args.families * PER_FAMILY).max(200);
        let mut sides = [Side::Raw, Side::Echo, Side::Floor, Side::Commands];
        if number % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            let (used, count) = match side {
                Side::Raw => {
                    let raw = crate::append::raw_trial(&store, args.callers, calls, &event);
                    let (rate, used) = processor_time(nats_pid, raw).await?;
                    raws.push(rate);
                    (used, args.callers * calls)
                }
                Side::Echo => {
                    let echoed = echo::measure::<echo::Payload>(&echo, args.callers, calls, request_bytes);
                    let ((rate, _), used) = processor_time(nats_pid, echoed).await?;
                    echoes.push(rate);
                    (used, args.callers * calls)
                }
                Side::Floor => {
                    let floored = echo::measure::<echo::Payload>(&floor, args.callers, calls, request_bytes);
                    let (run, used) = processor_time(nats_pid, floored).await?;
                    floors.push(run);
                    (used, args.callers * calls)
                }
                Side::Commands => {
                    let ((rate, measured), used) =
                        processor_time(nats_pid, trial(&clients, &callers, args.families)).await?;
                    let count = measured.commands;
                    runs.push((rate, measured));
                    (used, count)
                }
            };
            spent[side as usize].add(used, count);
        }
        let rate = runs.last().map(|(rate, _)| *rate).unwrap_or_default();
        println!(
            "trial {}: raw publish {:.0} msg/s, echo {:.0} calls/s, floor {:.0} calls/s, commands {rate:.0}/s",
            number + 1,
            raws.last().copied().unwrap_or_default(),
            echoes.last().copied().unwrap_or_default(),
            floors.last().map(|(rate, _)| *rate).unwrap_or_default()
        );
    }
    let best = |values: &[f64]| values.iter().copied().fold(0.0, f64::max);
    let (raw_rate, echo_rate) = (best(&raws), best(&echoes));
    let (rate, measured) = crate::stats::best(runs)?;

    let ceiling = raw_rate.min(echo_rate);
    let (floor_rate, floored) = crate::stats::best(floors)?;
    let floor_alone = echo::measure::<echo::Payload>(&floor, 1, 500, request_bytes).await?.1;
    // The same, each call after 5 ms in which the benchmark sends nothing (a user leaves
    // seconds between calls).
    let floor_quiet = echo::measure_after_quiet::<echo::Payload>(&floor, 200, QUIET, request_bytes).await?;
    let echo_alone = echo::measure::<echo::Payload>(&echo, 1, 500, request_bytes).await?.1;

    // One command at a time: the latency a single caller sees.
    let alone = std::sync::Mutex::new(Measured::default());
    for _ in 0..ALONE {
        family(&mut clients, &callers[0], &alone).await?;
    }
    let alone = alone.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut single = latency_histogram()?;
    for histogram in alone.latencies.values() {
        single.add(histogram)?;
    }
    println!("one command at a time, by command:");
    print_latencies(&alone);

    println!("ceiling 1 (raw JetStream publish, {} subjects): {raw_rate:.0} msg/s", args.callers);
    println!(
        "ceiling 2 (tonic unary echo, {} callers, {request_bytes}-byte requests, {answer_bytes}-byte answers): {echo_rate:.0} calls/s",
        args.callers
    );
    println!(
        "floor (the echo storing an access record and an event in JetStream, in turn, before it answers, one message each: what a lone command stores): {floor_rate:.0} calls/s, {:.3} of the lower ceiling, p50 {:.3} ms, p99 {:.3} ms; one at a time p50 {:.3} ms, each after {} ms quiet p50 {:.3} ms (the echo alone {:.3} ms)",
        floor_rate / ceiling,
        millis(floored.value_at_quantile(0.50)),
        millis(floored.value_at_quantile(0.99)),
        millis(floor_alone.value_at_quantile(0.50)),
        QUIET.as_millis(),
        millis(floor_quiet.value_at_quantile(0.50)),
        millis(echo_alone.value_at_quantile(0.50)),
    );
    println!(
        "commands ({} callers, the mix): {rate:.0} commands/s, {:.3} of the floor",
        args.callers,
        rate / floor_rate
    );
    print_latencies(&measured);
    let [raw_spent, echo_spent, floor_spent, commands_spent] = spent;
    println!(
        "processor time per call, the mean over all trials, from the first call until both processes are idle again (this process: the callers and what serves them; and nats-server), and the processors busy while the calls ran: raw publish {raw_spent}, echo {echo_spent}, floor {floor_spent}, commands {commands_spent}"
    );
    println!(
        "one command at a time (the mix, one caller): p50 {:.3} ms, p99 {:.3} ms (target: p50 at most 0.4 ms)",
        millis(single.value_at_quantile(0.50)),
        millis(single.value_at_quantile(0.99))
    );
    println!("ratio={:.3}", rate / ceiling);
    Ok(Row {
        // Its own row: the shared model is another deployment's figure.
        name: if args.one_process { "commands --one-process" } else { "commands" },
        figure: format!(
            "{rate:.0} commands/s at {} callers (the mix across the four services{}); one at a time: p50 {:.2} ms, p99 {:.2} ms; floor (the echo storing two messages in turn) {floor_rate:.0} calls/s ({:.2} of the ceiling), one at a time p50 {:.2} ms, each after {} ms quiet p50 {:.2} ms; processor time per command {:.0} µs (the floor's {:.0})",
            args.callers,
            if args.one_process { ", sharing one folder and relations model" } else { "" },
            millis(single.value_at_quantile(0.50)),
            millis(single.value_at_quantile(0.99)),
            floor_rate / ceiling,
            millis(floor_alone.value_at_quantile(0.50)),
            QUIET.as_millis(),
            millis(floor_quiet.value_at_quantile(0.50)),
            commands_spent.per_call().iter().sum::<f64>(),
            floor_spent.per_call().iter().sum::<f64>(),
        ),
        ceiling: format!(
            "the lower of raw JetStream publish ({raw_rate:.0} msg/s) and a tonic echo ({echo_rate:.0} calls/s)"
        ),
        ratio: rate / ceiling,
    })
}

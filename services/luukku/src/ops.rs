//! `luukku ops`: tools for operators, straight on the event store.

use std::collections::HashSet;

use anyhow::Context as _;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use luukku_domain::contacts::assignment::AssignmentEvent;
use luukku_domain::contacts::consultation::ConsultationEvent;
use luukku_domain::contacts::log::ContactLogEvent;
use luukku_domain::contacts::person::ContactPersonEvent;
use luukku_domain::family::FamilyEvent;
use luukku_domain::meetings::MeetingEvent;
use luukku_domain::referrals::{ReferralEvent, ServiceEvent};
use luukku_domain::{CodecError, DomainEvent};
use luukku_eventstore::envelope::Envelope;
use luukku_eventstore::streams::{self, parse_subject};
use luukku_eventstore::{EventStore, RawEvent, StoreSettings};

#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// The NATS server; by default the one `luukku dev` starts.
    #[arg(long, env = "LUUKKU_NATS_URL", default_value = "nats://127.0.0.1:14222", global = true)]
    pub nats_url: String,
    #[command(subcommand)]
    pub command: OpsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Each stream's messages, bytes, first and last sequence, and consumers with their lag.
    Streams,
    /// Prints events, from a sequence or live.
    Tail(TailArgs),
    /// Decodes every event of every stream and checks each aggregate starts with its creation
    /// event; reports each problem and exits non-zero on any.
    Verify,
    /// JSON lines of a stream, or of one family across the streams; personal data is shown
    /// only where the family's key exists.
    Export {
        /// One stream (FAMILIES, CONTACTS, REFERRALS, MEETINGS).
        #[arg(long, conflicts_with = "family")]
        stream: Option<String>,
        /// One family, with its contacts, referrals and meetings.
        #[arg(long)]
        family: Option<String>,
    },
    /// Rebuilds the coordination projection in the running service, from the start of the
    /// streams, while it keeps answering; shows progress, rate and time left.
    Rebuild {
        #[arg(long, env = "LUUKKU_COORDINATION_URL", default_value = "http://127.0.0.1:50055")]
        coordination_url: String,
        /// The operator's identity.
        #[arg(long = "as", env = "LUUKKU_PERSON", default_value = "operator")]
        person: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// FAMILIES, CONTACTS, REFERRALS or MEETINGS.
    #[arg(long, default_value = "FAMILIES")]
    pub stream: String,
    /// First sequence; 0 with --follow prints only new events.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Only this aggregate (a ULID).
    #[arg(long)]
    pub aggregate: Option<String>,
    /// Only messages holding this event type.
    #[arg(long)]
    pub event_type: Option<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep following new events.
    #[arg(long)]
    pub follow: bool,
}

pub async fn run(args: OpsArgs) -> anyhow::Result<std::process::ExitCode> {
    if let OpsCommand::Rebuild { coordination_url, person } = &args.command {
        return rebuild(coordination_url, person).await.map(|()| std::process::ExitCode::SUCCESS);
    }
    let store = EventStore::connect(&args.nats_url, StoreSettings::default())
        .await
        .with_context(|| format!("connecting to {}", args.nats_url))?;
    match args.command {
        OpsCommand::Streams => streams(&store).await.map(|()| std::process::ExitCode::SUCCESS),
        OpsCommand::Tail(tail_args) => {
            tail(&store, tail_args).await.map(|()| std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Verify => verify(&store).await,
        OpsCommand::Export { stream, family } => {
            export(&store, stream, family).await.map(|()| std::process::ExitCode::SUCCESS)
        }
        OpsCommand::Rebuild { .. } => Ok(std::process::ExitCode::SUCCESS),
    }
}

async fn streams(store: &EventStore) -> anyhow::Result<()> {
    println!(
        "{:<10} {:>10} {:>12} {:>8} {:>10} {:>9}",
        "stream", "messages", "bytes", "first", "last", "consumers"
    );
    for spec in streams::ALL {
        let mut stream = store.stream(spec.name).await?;
        let state = stream.info().await?.state.clone();
        println!(
            "{:<10} {:>10} {:>12} {:>8} {:>10} {:>9}",
            spec.name,
            state.messages,
            state.bytes,
            state.first_sequence,
            state.last_sequence,
            state.consumer_count
        );
        let mut consumers = stream.consumers();
        while let Some(consumer) = consumers.next().await {
            let consumer = consumer?;
            println!(
                "  consumer {:<24} delivered {:>10} pending {:>10}",
                consumer.name, consumer.delivered.stream_sequence, consumer.num_pending
            );
        }
    }
    Ok(())
}

fn event_types(envelope: &Envelope) -> Vec<String> {
    envelope.events.iter().map(|event| format!("{} v{}", event.event_type, event.schema_version)).collect()
}

async fn tail(store: &EventStore, args: TailArgs) -> anyhow::Result<()> {
    let spec = streams::ALL.into_iter().find(|spec| spec.name == args.stream).with_context(|| {
        format!("{:?} is not a stream; the streams are FAMILIES, CONTACTS, REFERRALS, MEETINGS", args.stream)
    })?;
    let filter = match &args.aggregate {
        Some(id) => format!("{}.*.{id}", spec.subject_root),
        None => String::new(),
    };
    let last = store.last_sequence(spec.name).await?;
    let deliver_policy = match args.from {
        0 if args.follow => DeliverPolicy::New,
        from => DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
    };
    if !args.follow && args.from > last {
        return Ok(());
    }
    let consumer = store
        .stream(spec.name)
        .await?
        .create_consumer(OrderedConfig { deliver_policy, filter_subject: filter, ..Default::default() })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let sequence = message.info().map_err(|error| anyhow::anyhow!("{error}"))?.stream_sequence;
        match Envelope::decode(&message.payload) {
            Ok(envelope) => {
                let wanted = args
                    .event_type
                    .as_ref()
                    .is_none_or(|wanted| envelope.events.iter().any(|e| &e.event_type == wanted));
                if wanted {
                    print_message(spec.name, sequence, &message.subject, &envelope, args.json)?;
                }
            }
            Err(error) => {
                println!("{} {sequence} {}: not a luukku envelope: {error}", spec.name, message.subject)
            }
        }
        if !args.follow && sequence >= last {
            break;
        }
    }
    Ok(())
}

fn print_message(
    stream: &str,
    sequence: u64,
    subject: &str,
    envelope: &Envelope,
    json: bool,
) -> anyhow::Result<()> {
    let at = jiff::Timestamp::from_millisecond(envelope.recorded_at.as_millis())
        .map(|t| t.to_string())
        .unwrap_or_default();
    if json {
        let line = serde_json::json!({
            "stream": stream,
            "sequence": sequence,
            "subject": subject,
            "recorded_at": at,
            "request_id": envelope.request_id.as_str(),
            "actor": {
                "person_id": envelope.actor.person_id.as_str(),
                "role": envelope.actor.role.as_code(),
                "organisation": envelope.actor.organisation.as_str(),
                "system": envelope.actor.system.as_str(),
            },
            "events": envelope.events.iter().map(|e| serde_json::json!({"type": e.event_type, "version": e.schema_version})).collect::<Vec<_>>(),
        });
        println!("{line}");
    } else {
        println!(
            "{stream} {sequence} {at} {subject} {} by {} ({}) request {}",
            event_types(envelope).join(", "),
            envelope.actor.person_id.as_str(),
            envelope.actor.role.as_code(),
            envelope.request_id
        );
    }
    Ok(())
}

/// Decodes the events as `E`, naming the first that does not decode.
fn decode_as<E: DomainEvent>(events: &[RawEvent]) -> Result<(), CodecError> {
    events.iter().try_for_each(|event| event.decode::<E>().map(|_| ()))
}

/// Decodes one message's events as its aggregate's event type.
type Decoder = fn(&[RawEvent]) -> Result<(), CodecError>;

/// The event type that must open an aggregate of this stream and type, and the decoder.
fn schema(stream: &str, aggregate_type: &str) -> Option<(&'static str, Decoder)> {
    Some(match (stream, aggregate_type) {
        ("FAMILIES", "family") => ("FamilyRegistered", decode_as::<FamilyEvent>),
        ("CONTACTS", "person") => ("ContactPersonRegistered", decode_as::<ContactPersonEvent>),
        ("CONTACTS", "assignment") => ("ContactPersonAssigned", decode_as::<AssignmentEvent>),
        ("CONTACTS", "log") => ("ContactRecorded", decode_as::<ContactLogEvent>),
        ("CONTACTS", "consultation") => ("ConsultationRecorded", decode_as::<ConsultationEvent>),
        ("REFERRALS", "service") => ("ServiceRegistered", decode_as::<ServiceEvent>),
        ("REFERRALS", "referral") => ("ReferralCreated", decode_as::<ReferralEvent>),
        ("MEETINGS", "family") => ("MeetingProposed", decode_as::<MeetingEvent>),
        _ => return None,
    })
}

async fn verify(store: &EventStore) -> anyhow::Result<std::process::ExitCode> {
    let mut problems = 0usize;
    let mut checked = 0usize;
    for spec in streams::ALL {
        let last = store.last_sequence(spec.name).await?;
        if last == 0 {
            continue;
        }
        let consumer = store.stream(spec.name).await?.create_consumer(OrderedConfig::default()).await?;
        let mut messages = consumer.messages().await?;
        let mut seen = HashSet::new();
        while let Some(message) = messages.next().await {
            let message = message?;
            let sequence = message.info().map_err(|error| anyhow::anyhow!("{error}"))?.stream_sequence;
            checked += 1;
            let mut report = |what: String| {
                problems += 1;
                println!("{} {sequence} {}: {what}", spec.name, message.subject);
            };
            match (Envelope::decode(&message.payload), parse_subject(&message.subject)) {
                (Err(error), _) => report(format!("not a luukku envelope: {error}")),
                (_, None) => report("not an aggregate subject".to_owned()),
                (Ok(envelope), Some((aggregate_type, _))) => match schema(spec.name, aggregate_type) {
                    None => report(format!("unknown aggregate type {aggregate_type:?}")),
                    Some((creation, decode)) => {
                        if let Err(error) = decode(&envelope.events) {
                            report(error.to_string());
                        }
                        if envelope.events.is_empty() {
                            report("holds no events".to_owned());
                        }
                        let first = seen.insert(message.subject.to_string());
                        let opens = envelope.events.first().is_some_and(|event| event.event_type == creation);
                        if first && !opens {
                            report(format!("the aggregate's first message does not start with {creation}"));
                        }
                        if !first && opens && creation != "ConsultationRecorded" {
                            report(format!("{creation} again in an existing aggregate"));
                        }
                    }
                },
            }
            if sequence >= last {
                break;
            }
        }
    }
    if problems == 0 {
        println!("verified {checked} messages: no problems");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("verified {checked} messages: {problems} problems");
        Ok(std::process::ExitCode::FAILURE)
    }
}

async fn rebuild(url: &str, person: &str) -> anyhow::Result<()> {
    use luukku_proto::coordination::v1::RebuildRequest;
    use luukku_proto::coordination::v1::coordination_admin_client::CoordinationAdminClient;

    let actor = luukku_domain::Actor {
        person_id: luukku_domain::Code::parse(person).context("--as")?,
        role: luukku_domain::Role::Operator,
        sector: None,
        organisation: luukku_domain::Code::parse("luukku").context("organisation")?,
        system: luukku_domain::Code::parse("luukku-ops").context("system")?,
    };
    let mut client = CoordinationAdminClient::connect(url.to_owned())
        .await
        .with_context(|| format!("connecting to the coordination service at {url}; is it running?"))?;
    let mut progress = client
        .rebuild(luukku_service::with_identity(RebuildRequest {}, &actor))
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while let Some(update) =
        progress.message().await.map_err(|status| anyhow::anyhow!("{}", status.message()))?
    {
        bar.set_length(update.targets.iter().sum());
        bar.set_position(update.positions.iter().sum::<u64>().min(update.targets.iter().sum()));
        if update.done {
            bar.finish();
            println!("rebuilt; generation {} now answers queries", update.generation);
            return Ok(());
        }
    }
    anyhow::bail!("the rebuild ended without finishing; see the coordination service's log")
}

/// The events of a message as JSON, opened with `key` (personal data erased without one).
fn opened<E>(
    events: &[RawEvent],
    key: Option<&luukku_domain::sealing::FamilyKey>,
    family: &str,
) -> Vec<serde_json::Value>
where
    E: DomainEvent + luukku_domain::sealing::HasPersonal + std::fmt::Debug,
{
    events
        .iter()
        .map(|raw| match raw.decode::<E>() {
            Ok(mut event) => {
                let data = match event.open(key, family.as_bytes()) {
                    Ok(()) => format!("{event:?}"),
                    Err(error) => format!("[does not open: {error}]"),
                };
                serde_json::json!({"type": raw.event_type, "version": raw.schema_version, "data": data})
            }
            Err(error) => serde_json::json!({"type": raw.event_type, "version": raw.schema_version, "error": error.to_string()}),
        })
        .collect()
}

async fn export(store: &EventStore, stream: Option<String>, family: Option<String>) -> anyhow::Result<()> {
    use luukku_eventstore::{KeyStore, NatsKeyStore, ReadOptions};
    let keys = NatsKeyStore::open(store).await?;
    let streams_to_read: Vec<&str> = match &stream {
        Some(name) => vec![
            streams::ALL
                .iter()
                .find(|s| s.name == name)
                .with_context(|| format!("{name:?} is not a stream"))?
                .name,
        ],
        None => streams::ALL.iter().map(|s| s.name).collect(),
    };
    anyhow::ensure!(stream.is_some() || family.is_some(), "give --stream or --family");
    for name in streams_to_read {
        let mut messages = store.read(name, ReadOptions::default()).await?;
        while let Some(recorded) = messages.next().await {
            let recorded = recorded?;
            let Some((aggregate_type, id)) = parse_subject(&recorded.subject) else { continue };
            let events = &recorded.envelope.events;
            // The family a message belongs to: its aggregate, or the family a referral names.
            let owner = match (name, aggregate_type) {
                ("FAMILIES", _) | ("MEETINGS", _) | ("CONTACTS", "assignment" | "log") => {
                    Some(id.to_string())
                }
                ("REFERRALS", "referral") => Some(referral_family(store, id).await?),
                _ => None,
            };
            if let Some(wanted) = &family
                && owner.as_ref() != Some(wanted)
            {
                continue;
            }
            let key = match &owner {
                Some(owner) => keys.get(owner).await?,
                None => None,
            };
            let aad = owner.clone().unwrap_or_default();
            let events = match (name, aggregate_type) {
                ("FAMILIES", _) => opened::<FamilyEvent>(events, key.as_ref(), &aad),
                ("CONTACTS", "person") => opened::<ContactPersonEvent>(events, None, &aad),
                ("CONTACTS", "assignment") => opened::<AssignmentEvent>(events, key.as_ref(), &aad),
                ("CONTACTS", "log") => opened::<ContactLogEvent>(events, key.as_ref(), &aad),
                ("CONTACTS", _) => opened::<ConsultationEvent>(events, None, &aad),
                ("REFERRALS", "service") => opened::<ServiceEvent>(events, None, &aad),
                ("REFERRALS", _) => opened::<ReferralEvent>(events, key.as_ref(), &aad),
                _ => opened::<MeetingEvent>(events, key.as_ref(), &aad),
            };
            let line = serde_json::json!({
                "stream": name,
                "sequence": recorded.position.sequence,
                "subject": recorded.subject,
                "recorded_at_ms": recorded.envelope.recorded_at.as_millis(),
                "actor": recorded.envelope.actor.person_id.as_str(),
                "request_id": recorded.envelope.request_id.as_str(),
                "family": owner,
                "events": events,
            });
            println!("{line}");
        }
    }
    Ok(())
}

/// The family a referral names in its first event.
async fn referral_family(store: &EventStore, id: luukku_domain::AggregateId) -> anyhow::Result<String> {
    let aggregate = luukku_eventstore::AggregateRef::new(streams::REFERRALS, "referral", id);
    let loaded = store.load(&aggregate).await?;
    let first = loaded.messages.first().and_then(|m| m.decode_events::<ReferralEvent>().ok());
    Ok(match first.as_ref().and_then(|events| events.first()) {
        Some(ReferralEvent::Created(created)) => created.family_id.to_string(),
        _ => String::new(),
    })
}

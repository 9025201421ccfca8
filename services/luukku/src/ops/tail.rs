//! `luukku ops tail`: events as readable lines or JSON lines, from a sequence or live.

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use luukku_eventstore::envelope::Envelope;
use luukku_eventstore::{EventStore, Stream};

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// FAMILIES, CONTACTS, REFERRALS or MEETINGS.
    #[arg(long, default_value = "FAMILIES")]
    pub stream: Stream,
    /// First sequence; 0 with --follow prints only new events.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// Only this aggregate (a ULID).
    #[arg(long)]
    pub aggregate: Option<luukku_domain::AggregateId>,
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

fn event_types(envelope: &Envelope) -> Vec<String> {
    envelope.events.iter().map(|event| format!("{} v{}", event.event_type, event.schema_version)).collect()
}

pub async fn tail(store: &EventStore, args: TailArgs) -> anyhow::Result<()> {
    let stream = args.stream;
    let filter = match &args.aggregate {
        Some(id) => format!("{}.*.{id}", stream.subject_root()),
        None => String::new(),
    };
    let last = store.last_sequence(stream).await?;
    let deliver_policy = match args.from {
        0 if args.follow => DeliverPolicy::New,
        from => DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
    };
    if !args.follow && args.from > last {
        return Ok(());
    }
    let consumer = store
        .stream(stream)
        .await?
        .create_consumer(OrderedConfig { deliver_policy, filter_subject: filter, ..Default::default() })
        .await?;
    let mut messages = luukku_eventstore::ordered::messages(consumer).await?;
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
                    print_message(stream, sequence, &message.subject, &envelope, args.json);
                }
            }
            Err(error) => println!("{stream} {sequence} {}: not a luukku envelope: {error}", message.subject),
        }
        if !args.follow && sequence >= last {
            break;
        }
    }
    Ok(())
}

fn print_message(stream: Stream, sequence: u64, subject: &str, envelope: &Envelope, json: bool) {
    let at = jiff::Timestamp::from_millisecond(envelope.recorded_at.as_millis())
        .map(|t| t.to_string())
        .unwrap_or_default();
    if json {
        let line = serde_json::json!({
            "stream": stream.name(),
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
}

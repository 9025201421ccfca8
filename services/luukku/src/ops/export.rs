//! `luukku ops export`: JSON lines of a stream or of one family across the streams; personal
//! data appears only where the family's key exists.

use anyhow::Context as _;
use futures::StreamExt;
use luukku_app::Events;
use luukku_domain::referrals::{Referral, ReferralEvent};
use luukku_domain::{Aggregate, AggregateId};
use luukku_eventstore::{AggregateRef, EventStore, KeyStore, NatsKeyStore, ReadOptions, Recorded, Stream};

/// The family a message belongs to: its aggregate, or the family a referral names.
async fn owner(store: &EventStore, recorded: &Recorded) -> anyhow::Result<Option<String>> {
    let (Some(aggregate_type), Some(id)) = (recorded.aggregate_type(), recorded.aggregate_id()) else {
        return Ok(None);
    };
    Ok(match (recorded.position.stream, aggregate_type) {
        (Stream::Families | Stream::Meetings, _) | (Stream::Contacts, "assignment" | "log") => {
            Some(id.to_string())
        }
        (Stream::Referrals, Referral::TYPE) => Some(referral_family(store, id).await?),
        _ => None,
    })
}

/// The family a referral names in its first event.
async fn referral_family(store: &EventStore, id: AggregateId) -> anyhow::Result<String> {
    let aggregate = AggregateRef::new(Stream::Referrals, Referral::TYPE, id);
    let loaded = store.load(&aggregate).await?;
    let first = loaded.messages.first().and_then(|m| m.decode_events::<ReferralEvent>().ok());
    Ok(match first.as_ref().and_then(|events| events.first()) {
        Some(ReferralEvent::Created(created)) => created.family_id.to_string(),
        _ => String::new(),
    })
}

pub async fn export(
    store: &EventStore,
    keys: &NatsKeyStore,
    stream: Option<Stream>,
    family: Option<String>,
) -> anyhow::Result<()> {
    anyhow::ensure!(stream.is_some() || family.is_some(), "give --stream or --family");
    let streams: Vec<Stream> = stream.map_or(Stream::ALL.to_vec(), |stream| vec![stream]);
    for name in streams {
        let mut messages = store.read(name, ReadOptions::default()).await?;
        while let Some(recorded) = messages.next().await {
            let recorded = recorded.with_context(|| format!("reading {name}"))?;
            let owner = owner(store, &recorded).await?;
            if let Some(wanted) = &family
                && owner.as_ref() != Some(wanted)
            {
                continue;
            }
            let key = match &owner {
                Some(owner) => keys.get(owner).await?,
                None => None,
            };
            let events = match Events::decode(&recorded) {
                Ok(mut events) => {
                    match events.open(key.as_ref(), owner.clone().unwrap_or_default().as_bytes()) {
                        Ok(()) => events
                            .debug()
                            .into_iter()
                            .map(|(event_type, data)| serde_json::json!({"type": event_type, "data": data}))
                            .collect(),
                        Err(error) => vec![serde_json::json!({"error": format!("does not open: {error}")})],
                    }
                }
                Err(error) => vec![serde_json::json!({"error": error.to_string()})],
            };
            let line = serde_json::json!({
                "stream": name.name(),
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

//! Erasure completes: a process follows the `FAMILIES` stream and, for every `FamilyErased`,
//! makes sure the family's key is gone, asking again until it is. An erasure whose key deletion
//! failed (the service stopped between the event and the deletion) is finished here.

use std::time::Duration;

use futures::StreamExt;
use luukku_eventstore::{EventStore, KeyStore, Stream};

/// The longest wait between attempts to delete one key.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Follows the stream from its start and deletes the key of every erased family; runs until
/// the runtime stops.
pub fn spawn<K: KeyStore + Clone>(store: EventStore, keys: K) {
    tokio::spawn(async move {
        let mut messages = std::pin::pin!(store.follow(Stream::Families, 1));
        while let Some(item) = messages.next().await {
            let recorded = match item {
                Ok(recorded) => recorded,
                // A newer release's message may be an erasure this release cannot read: wait
                // at it (the service's relationships model reports the stop) until upgraded.
                Err(undecodable) if matches!(undecodable.error, luukku_eventstore::Error::Newer { .. }) => {
                    tracing::error!(position = %undecodable.position, "erasures wait at a newer release's message: upgrade this service");
                    std::future::pending::<()>().await;
                    return;
                }
                // Not a luukku envelope: it holds no erasure.
                Err(_) => continue,
            };
            let erased = recorded.envelope.events.iter().any(|event| event.event_type == "FamilyErased");
            let Some(family) = recorded.aggregate_id().filter(|_| erased) else {
                continue;
            };
            let family = family.to_string();
            let mut wait = Duration::from_millis(100);
            while let Err(error) = keys.erase(&family).await {
                tracing::warn!(%family, %error, "the key of an erased family is not deleted yet; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_WAIT);
            }
        }
    });
}

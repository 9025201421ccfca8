//! Erasure completes: a checkpointed model of `FAMILIES` keeps, for every `FamilyErased`, an
//! entry until the family's key is gone, and a worker deletes each key, asking again until it
//! is gone. An erasure whose key deletion failed (the service stopped between the event and
//! the deletion) is finished here. A start follows the stream from where the model stopped.

use std::sync::Arc;
use std::time::Duration;

use luukku_app::Standing;
use luukku_app::projected::{Folder, Projected, View, key};
use luukku_domain::{AggregateId, CodecError};
use luukku_eventstore::{EventStore, KeyStore, Recorded, Stream};
use tokio::sync::Notify;

/// The shape of the model's records; a new shape writes the model anew.
const VERSION: u32 = 1;

/// A family whose key may not be deleted yet.
const PENDING: u8 = b'p';

/// The longest wait between attempts to delete one key.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// How often the worker looks without being woken (after a failure, or to end once the model
/// is dropped).
const LOOK_EVERY: Duration = Duration::from_secs(5);

fn apply(erased: &Arc<Notify>, view: &mut View<'_>, recorded: &Recorded) -> Result<(), CodecError> {
    // Read by type: nothing is decoded.
    let erasure = recorded.envelope.events.iter().any(|event| event.event_type == "FamilyErased");
    if let Some(family) = recorded.aggregate_id().filter(|_| erasure) {
        view.put(key(PENDING, &[&family.as_ulid().to_bytes()]), &());
        // The worker waits for the model to catch up before it reads.
        erased.notify_one();
    }
    Ok(())
}

/// The erasures to complete: a checkpointed model and its worker, which ends when this is
/// dropped.
pub struct Erasures(Arc<Projected<Arc<Notify>>>);

impl Erasures {
    /// Where the model stands, and whether it stopped.
    pub fn standing(&self) -> &Arc<Standing> {
        self.0.standing()
    }

    /// How many messages the model has read since it started: after a start on its folder,
    /// only the ones written since it stopped.
    pub fn applied_since_start(&self) -> u64 {
        self.0.applied_since_start()
    }
}

/// Follows `FAMILIES` from the model's checkpoint in `folder` and deletes the key of every
/// erased family, for as long as the answer is kept.
pub fn spawn<K: KeyStore + Clone>(folder: &Folder, store: EventStore, keys: K) -> Erasures {
    let erased = Arc::new(Notify::new());
    let streams = [Stream::Families];
    let model = Projected::spawn(
        folder,
        store.clone(),
        "erasures to complete",
        VERSION,
        &streams,
        Arc::clone(&erased),
        apply,
    );
    let weak = Arc::downgrade(&model);
    tokio::spawn(async move {
        loop {
            let Some(model) = weak.upgrade() else { return };
            complete(&model, &store, &keys).await;
            drop(model);
            let _ = tokio::time::timeout(LOOK_EVERY, erased.notified()).await;
        }
    });
    Erasures(model)
}

/// Deletes the key of every family the model holds as pending.
async fn complete<K: KeyStore>(model: &Projected<Arc<Notify>>, store: &EventStore, keys: &K) {
    // Its folder is still being checked: looked at again shortly.
    if model.ready().await.is_err() {
        return;
    }
    // An erasure's entry is written with its message, so what the model holds is whole: its
    // catching up only shows the newest sooner. A model stopped at a message it cannot read
    // still finishes the erasures before it.
    let _ = model.caught_up(store).await;
    let pending: Vec<Vec<u8>> = match model.keys(&[PENDING]).collect() {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!(%error, "the erasures to complete cannot be read now; trying again");
            return;
        }
    };
    for rest in pending {
        let Some(family) = <[u8; 16]>::try_from(rest.as_slice()).ok().map(ulid::Ulid::from_bytes) else {
            continue;
        };
        let family = AggregateId::from_ulid(family).to_string();
        let mut wait = Duration::from_millis(100);
        while let Err(error) = keys.erase(&family).await {
            tracing::warn!(%family, %error, "the key of an erased family is not deleted yet; trying again");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_WAIT);
        }
        if let Err(error) = model.done(&key(PENDING, &[&rest])) {
            // Deleted again at the next look: deleting a key twice does no harm.
            tracing::warn!(%family, %error, "an erasure completed is not yet marked done; trying again");
            return;
        }
    }
}

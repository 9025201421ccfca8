//! The terms of every family's consents, kept from the `FAMILIES` stream in the read-model
//! folder: their dates and whether they were revoked, nothing personal. The consent process
//! reads a referral's consent here instead of loading its family, and a revocation wakes it at
//! once. Checkpointed: a start follows the stream from where it stopped.

use std::sync::Arc;

use jiff::civil::Date;
use luukku_app::Result;
use luukku_app::projected::{Folder, Projected, View, key};
use luukku_domain::family::{ConsentId, Family, FamilyEvent};
use luukku_domain::{Aggregate, CodecError};
use luukku_eventstore::{EventStore, Recorded, Stream};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The shape of the model's records; a new shape writes the model anew.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Terms {
    valid_from: Date,
    valid_until: Date,
    revoked: bool,
}

fn consent_key(consent: ConsentId) -> Vec<u8> {
    key(b'c', &[&consent.as_ulid().to_bytes()])
}

/// Applies one message; `revoked` is told of every revocation.
fn apply(
    revoked: &Arc<Notify>,
    view: &mut View<'_>,
    recorded: &Recorded,
) -> std::result::Result<(), CodecError> {
    if recorded.aggregate_type() != Some(Family::TYPE) {
        return Ok(());
    }
    for event in recorded.decode_events::<FamilyEvent>()? {
        match event {
            FamilyEvent::ConsentGranted(granted) => {
                let terms = Terms {
                    valid_from: granted.valid_from,
                    valid_until: granted.valid_until,
                    revoked: false,
                };
                view.put(consent_key(granted.consent_id), &terms);
            }
            FamilyEvent::ConsentRevoked(revocation) => {
                let key = consent_key(revocation.consent_id);
                if let Some(mut terms) = view.get::<Terms>(&key) {
                    terms.revoked = true;
                    view.put(key, &terms);
                    // Whoever wakes waits for the model to catch up before it reads.
                    revoked.notify_one();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The consents' terms.
pub struct Consents(Arc<Projected<Arc<Notify>>>);

impl Consents {
    /// Opens the model in `folder` and follows `FAMILIES` from its checkpoint in the background.
    pub fn spawn(folder: &Folder, store: EventStore) -> Self {
        let revoked = Arc::new(Notify::new());
        Self(Projected::spawn(folder, store, "consent terms", VERSION, &[Stream::Families], revoked, apply))
    }

    pub fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }

    pub async fn caught_up(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up(store).await
    }

    /// Resolves at the next revocation.
    pub async fn revoked(&self) {
        self.0.context().notified().await;
    }

    /// Whether a consent this model knows no longer counts on `today`, as the family's own
    /// state says ([`luukku_domain::family::Consent::in_force`]): revoked, or `today` outside its
    /// validity. A consent it does not know yet (granted after the model last caught up) is not
    /// lapsed: it is checked again.
    pub fn lapsed(&self, consent: ConsentId, today: Date) -> Result<bool> {
        Ok(self
            .0
            .get::<Terms>(&consent_key(consent))?
            .is_some_and(|terms| terms.revoked || today < terms.valid_from || terms.valid_until < today))
    }
}

//! The terms of every family's consents, kept in memory from the `FAMILIES` stream: their dates
//! and whether they were revoked, nothing personal. The consent process reads a referral's
//! consent here instead of loading its family, and a revocation wakes it at once.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::Date;
use luukku_domain::family::{ConsentId, Family, FamilyEvent};
use luukku_domain::{Aggregate, CodecError};
use luukku_eventstore::Recorded;
use tokio::sync::Notify;

struct Terms {
    valid_from: Date,
    valid_until: Date,
    revoked: bool,
}

#[derive(Default)]
pub struct State {
    consents: HashMap<ConsentId, Terms>,
    /// Told of every revocation.
    pub revoked: Arc<Notify>,
}

impl State {
    /// Whether the consent counts on `today`, as the family's own state says
    /// ([`luukku_domain::family::Consent::in_force`]): known, not revoked, and `today` within its
    /// validity. A consent past its end date stops counting with no event.
    pub fn in_force(&self, consent: ConsentId, today: Date) -> bool {
        self.consents
            .get(&consent)
            .is_some_and(|terms| !terms.revoked && terms.valid_from <= today && today <= terms.valid_until)
    }

    /// Whether a consent this model knows no longer counts on `today`. A consent it does not
    /// know yet (granted after the model last caught up) is not lapsed: it is checked again.
    pub fn lapsed(&self, consent: ConsentId, today: Date) -> bool {
        self.consents.contains_key(&consent) && !self.in_force(consent, today)
    }
}

pub fn apply(state: &mut State, recorded: &Recorded) -> Result<(), CodecError> {
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
                state.consents.insert(granted.consent_id, terms);
            }
            FamilyEvent::ConsentRevoked(revoked) => {
                if let Some(terms) = state.consents.get_mut(&revoked.consent_id) {
                    terms.revoked = true;
                    state.revoked.notify_one();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

//! Every referral and catalogue service, kept in memory from the `REFERRALS` stream (sealed,
//! nothing opened): for inboxes, repeated referrals, search and the deadline and consent
//! process.

use std::collections::HashMap;

use luukku_domain::Aggregate;
use luukku_domain::referrals::{
    CatalogueService, Referral, ReferralEvent, ReferralId, ServiceEvent, ServiceId,
};
use luukku_eventstore::Recorded;

#[derive(Default)]
pub struct State {
    pub referrals: HashMap<ReferralId, Referral>,
    pub services: HashMap<ServiceId, CatalogueService>,
}

pub fn apply(state: &mut State, recorded: &Recorded) {
    let Some(id) = recorded.aggregate_id() else {
        return;
    };
    match recorded.aggregate_type() {
        Some(Referral::TYPE) => match recorded.decode_events::<ReferralEvent>() {
            Ok(events) => {
                let referral = state.referrals.entry(ReferralId::from_ulid(id.as_ulid())).or_default();
                events.iter().for_each(|event| referral.apply(event));
            }
            Err(error) => {
                tracing::error!(%error, position = %recorded.position, "undecodable referral event")
            }
        },
        Some(CatalogueService::TYPE) => match recorded.decode_events::<ServiceEvent>() {
            Ok(events) => {
                let service = state.services.entry(ServiceId::from_ulid(id.as_ulid())).or_default();
                events.iter().for_each(|event| service.apply(event));
            }
            Err(error) => tracing::error!(%error, position = %recorded.position, "undecodable service event"),
        },
        other => tracing::warn!(?other, subject = recorded.subject, "unknown aggregate in REFERRALS"),
    }
}

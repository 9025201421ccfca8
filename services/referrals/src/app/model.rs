//! Every referral and catalogue service, kept in memory from the `REFERRALS` stream (a
//! referral's sealed values dropped, nothing opened): for inboxes, repeated referrals, search
//! and the deadline and consent process.

use std::collections::HashMap;

use luukku_domain::referrals::{
    CatalogueService, Referral, ReferralEvent, ReferralId, ServiceEvent, ServiceId,
};
use luukku_domain::sealing::HasPersonal;
use luukku_domain::{Aggregate, CodecError};
use luukku_eventstore::Recorded;

#[derive(Default)]
pub struct State {
    pub referrals: HashMap<ReferralId, Referral>,
    pub services: HashMap<ServiceId, CatalogueService>,
}

pub fn apply(state: &mut State, recorded: &Recorded) -> Result<(), CodecError> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    match recorded.aggregate_type() {
        Some(Referral::TYPE) => {
            let mut events = recorded.decode_events::<ReferralEvent>()?;
            // Answers load referrals from the stream: the model keeps no sealed value.
            events.iter_mut().for_each(HasPersonal::drop_sealed);
            let referral = state.referrals.entry(ReferralId::from_ulid(id.as_ulid())).or_default();
            events.iter().for_each(|event| referral.apply(event));
        }
        Some(CatalogueService::TYPE) => {
            let events = recorded.decode_events::<ServiceEvent>()?;
            let service = state.services.entry(ServiceId::from_ulid(id.as_ulid())).or_default();
            events.iter().for_each(|event| service.apply(event));
        }
        other => tracing::warn!(?other, subject = recorded.subject, "unknown aggregate in REFERRALS"),
    }
    Ok(())
}

//! The referrals service's use cases: the catalogue, referrals and their steps, inboxes, and
//! the escalations of the deadline and consent process. Free of gRPC.

mod catalogue;
mod escalate;
mod model;
mod referrals;

use std::sync::Arc;

use luukku_app::{Folder, Keys, Reader, Repository};
use luukku_domain::AggregateId;
use luukku_domain::contacts::Assignment;
use luukku_domain::family::Family;
use luukku_domain::referrals::{CatalogueService, DeadlinePolicy, Referral, ReferralEvent};
use luukku_eventstore::{EventStore, KeyStore, Stream};

pub use catalogue::ServiceFilter;
pub use escalate::Escalation;
pub use referrals::{Created, NewReferral, ReferralFilter, ReferralPage, ReferralRecord, StepRequest};

pub struct Referrals<K: KeyStore> {
    referrals: Repository<Referral, K>,
    catalogue: Repository<CatalogueService, K>,
    families: Reader<Family, K>,
    assignments: Reader<Assignment, K>,
    model: model::Model,
    policy: DeadlinePolicy,
}

/// The family whose key seals a referral's personal data: the one it names.
fn referral_family(state: &Referral, events: &[ReferralEvent]) -> Option<AggregateId> {
    let created = events.iter().find_map(|event| match event {
        ReferralEvent::Created(created) => Some(created.family_id),
        _ => None,
    });
    state.created.as_ref().map(|created| created.family_id).or(created).map(Into::into)
}

impl<K: KeyStore + Clone> Referrals<K> {
    /// Where the referral model stands, and whether it stopped.
    pub fn standings(&self) -> [Arc<luukku_app::Standing>; 1] {
        [self.model.standing().clone()]
    }

    /// The use cases on `store`, with their read models in `folder`.
    pub fn new(folder: &Folder, store: EventStore, keys: K, policy: DeadlinePolicy) -> Self {
        if let Err(error) = folder.retire(model::RETIRED) {
            tracing::warn!(%error, model = model::RETIRED, "a model no longer kept stays in the folder");
        }
        let referrals = Stream::Referrals;
        Self {
            referrals: Repository::new(
                store.clone(),
                keys.clone(),
                referrals,
                Keys::FamilyOf(referral_family),
            ),
            catalogue: Repository::new(store.clone(), keys.clone(), referrals, Keys::None),
            families: Reader::new(store.clone(), keys.clone(), Stream::Families, Keys::FamilyKey),
            assignments: Reader::new(store.clone(), keys, Stream::Contacts, Keys::FamilyKey),
            model: model::Model::spawn(folder, store),
            policy,
        }
    }
}

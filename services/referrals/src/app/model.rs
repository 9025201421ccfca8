//! Every referral and catalogue service, kept from the `REFERRALS` stream in the read-model
//! folder (a referral's sealed values dropped, nothing opened), with indexes for inboxes and
//! lists (by family, contact person and sector, in the order sent), repeated referrals, and the
//! deadline and consent process. Checkpointed: a start follows the stream from where it stopped.

use std::ops::Bound;
use std::sync::Arc;

use luukku_app::projected::{Folder, Projected, View, key};
use luukku_app::{AppError, Result};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{ConsentId, FamilyId};
use luukku_domain::referrals::{
    Basis, CatalogueService, Referral, ReferralEvent, ReferralId, ReferralState, ServiceEvent, ServiceId,
};
use luukku_domain::sealing::HasPersonal;
use luukku_domain::{Aggregate, CodecError, Sector, Timestamp};
use luukku_eventstore::{EventStore, Recorded, Stream};

/// The shape of the model's records; a new shape writes the model anew.
const VERSION: u32 = 1;

const REFERRAL: u8 = b'r';
const SERVICE: u8 = b's';
/// Every referral in the order sent.
const ALL: u8 = b'A';
const BY_FAMILY: u8 = b'F';
const BY_CONTACT_PERSON: u8 = b'C';
const BY_SECTOR: u8 = b'S';
/// Requested referrals not marked overdue, by deadline.
const DUE: u8 = b'd';
/// Open referrals resting on a consent not flagged lapsed.
const ON_CONSENT: u8 = b'c';

/// A time as a key part, in order.
fn time(at: Timestamp) -> [u8; 8] {
    ((at.as_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn sector(sector: Sector) -> Vec<u8> {
    postcard::to_allocvec(&sector).unwrap_or_else(|error| unreachable!("a sector encodes: {error}"))
}

/// Where a list of referrals is kept: the index of the filter's most selective part.
fn list_prefix(
    family: Option<FamilyId>,
    contact_person: Option<ContactPersonId>,
    to: Option<Sector>,
) -> Vec<u8> {
    match (family, contact_person, to) {
        (Some(family), _, _) => key(BY_FAMILY, &[&family.as_ulid().to_bytes()]),
        (None, Some(person), _) => key(BY_CONTACT_PERSON, &[&person.as_ulid().to_bytes()]),
        (None, None, Some(to)) => key(BY_SECTOR, &[&sector(to)]),
        (None, None, None) => vec![ALL],
    }
}

/// A referral's index entries.
fn entries(id: ReferralId, referral: &Referral) -> Vec<Vec<u8>> {
    let Some(created) = &referral.created else {
        return Vec::new();
    };
    let id = id.as_ulid().to_bytes();
    let sent = time(created.sent_at);
    let mut entries = vec![
        key(ALL, &[&sent, &id]),
        [list_prefix(Some(created.family_id), None, None), sent.to_vec(), id.to_vec()].concat(),
    ];
    if let Some(person) = created.contact_person {
        entries.push([list_prefix(None, Some(person), None), sent.to_vec(), id.to_vec()].concat());
    }
    if let Some(to) = referral.sector {
        entries.push([list_prefix(None, None, Some(to)), sent.to_vec(), id.to_vec()].concat());
    }
    if let Some(deadline) = referral.deadline
        && referral.state == Some(ReferralState::Requested)
        && !referral.overdue
    {
        entries.push(key(DUE, &[&time(deadline), &id]));
    }
    if let Basis::Consent(consent) = created.basis
        && referral.state.is_some_and(ReferralState::is_open)
        && !referral.consent_lapsed
    {
        entries.push(key(ON_CONSENT, &[&id, &consent.as_ulid().to_bytes()]));
    }
    entries
}

fn apply(_: &(), view: &mut View<'_>, recorded: &Recorded) -> std::result::Result<(), CodecError> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    match recorded.aggregate_type() {
        Some(Referral::TYPE) => {
            let mut events = recorded.decode_events::<ReferralEvent>()?;
            // Answers load referrals from the stream: the model keeps no sealed value.
            events.iter_mut().for_each(HasPersonal::drop_sealed);
            let referral_id = ReferralId::from_ulid(id.as_ulid());
            let record = key(REFERRAL, &[&id.as_ulid().to_bytes()]);
            let mut referral: Referral = view.get(&record).unwrap_or_default();
            let before = entries(referral_id, &referral);
            events.iter().for_each(|event| referral.apply(event));
            view.reindex(before, entries(referral_id, &referral));
            view.put(record, &referral);
        }
        Some(CatalogueService::TYPE) => {
            let events = recorded.decode_events::<ServiceEvent>()?;
            view.update(key(SERVICE, &[&id.as_ulid().to_bytes()]), |service: &mut CatalogueService| {
                events.iter().for_each(|event| service.apply(event));
            });
        }
        other => tracing::warn!(?other, subject = recorded.subject, "unknown aggregate in REFERRALS"),
    }
    Ok(())
}

fn ulid_at(bytes: &[u8], at: usize) -> Result<ulid::Ulid> {
    let part = bytes.get(at..at + 16).and_then(|part| <[u8; 16]>::try_from(part).ok());
    part.map(ulid::Ulid::from_bytes)
        .ok_or_else(|| AppError::Internal("the referral index holds an entry of another shape".to_owned()))
}

/// The referral model.
pub struct Model(Arc<Projected<()>>);

impl Model {
    /// Opens the model in `folder` and follows the stream from its checkpoint in the background.
    pub fn spawn(folder: &Folder, store: EventStore) -> Self {
        Self(Projected::spawn(folder, store, "referral index", VERSION, &[Stream::Referrals], (), apply))
    }

    pub fn standing(&self) -> &Arc<luukku_app::Standing> {
        self.0.standing()
    }

    /// Waits (at most a few seconds) until the model may be read.
    pub async fn ready(&self) -> Result<()> {
        self.0.ready().await
    }

    pub async fn caught_up(&self, store: &EventStore) -> Result<()> {
        self.0.caught_up(store).await
    }

    pub fn referral(&self, id: ReferralId) -> Result<Option<Referral>> {
        self.0.get(&key(REFERRAL, &[&id.as_ulid().to_bytes()]))
    }

    pub fn service(&self, id: ServiceId) -> Result<Option<CatalogueService>> {
        self.0.get(&key(SERVICE, &[&id.as_ulid().to_bytes()]))
    }

    pub fn services(&self) -> Result<Vec<(ServiceId, CatalogueService)>> {
        self.0
            .records::<CatalogueService>(&[SERVICE])
            .map(|found| {
                let (id, service) = found?;
                Ok((ServiceId::from_ulid(ulid_at(&id, 0)?), service))
            })
            .collect()
    }

    /// The referrals of the list that the filter's most selective part names, in the order
    /// sent, after `after` (a referral in that list).
    pub fn listed(
        &self,
        family: Option<FamilyId>,
        contact_person: Option<ContactPersonId>,
        to: Option<Sector>,
        after: Option<ReferralId>,
    ) -> Result<impl Iterator<Item = Result<(ReferralId, Referral)>> + '_> {
        let start = match after {
            Some(after) => match self.referral(after)?.and_then(|referral| referral.created) {
                Some(created) => {
                    Some([time(created.sent_at).to_vec(), after.as_ulid().to_bytes().to_vec()].concat())
                }
                // Not a referral of any list: nothing comes after it.
                None => return Ok(None.into_iter().flatten()),
            },
            None => None,
        };
        let prefix = list_prefix(family, contact_person, to);
        let from = start.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let listed = self.0.keys_from(&prefix, from).map(|rest| {
            let id = ReferralId::from_ulid(ulid_at(&rest?, 8)?);
            let referral = self.referral(id)?.unwrap_or_default();
            Ok((id, referral))
        });
        Ok(Some(listed).into_iter().flatten())
    }

    /// The referrals of `family`, in the order sent.
    pub fn of_family(&self, family: FamilyId) -> Result<Vec<(ReferralId, Referral)>> {
        self.listed(Some(family), None, None, None)?.collect()
    }

    /// Requested referrals not marked overdue whose deadline is `now` or before.
    pub fn due(&self, now: Timestamp) -> Result<Vec<ReferralId>> {
        let until = time(now);
        let mut due = Vec::new();
        for rest in self.0.keys(&[DUE]) {
            let rest = rest?;
            if rest.get(..8).is_none_or(|deadline| deadline > until.as_slice()) {
                break;
            }
            due.push(ReferralId::from_ulid(ulid_at(&rest, 8)?));
        }
        Ok(due)
    }

    /// Open referrals resting on a consent not flagged lapsed, with the consent.
    pub fn on_consent(&self) -> Result<Vec<(ReferralId, ConsentId)>> {
        self.0
            .keys(&[ON_CONSENT])
            .map(|rest| {
                let rest = rest?;
                Ok((ReferralId::from_ulid(ulid_at(&rest, 0)?), ConsentId::from_ulid(ulid_at(&rest, 16)?)))
            })
            .collect()
    }
}

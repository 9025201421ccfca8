//! Referrals: sending one on a consent or a statutory basis, its steps, and inboxes.

use std::sync::Arc;

use luukku_app::{AppError, Caller, Entry, Result, Write, Written, context_now, finnish_zone, refused};
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{Family, FamilyId, MemberId};
use luukku_domain::referrals::{
    Basis, CatalogueService, Referral, ReferralCommand, ReferralCreated, ReferralError, ReferralEvent,
    ReferralId, ReferralState, ServiceId, StatutoryBasis, Urgency, redirect_basis, referral_basis,
};
use luukku_domain::sealing::Personal;
use luukku_domain::{Need, Sector, Timestamp};
use luukku_eventstore::KeyStore;

use super::Referrals;

/// A referral as the sender asks for it.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub family_id: FamilyId,
    pub child: Option<MemberId>,
    pub service_id: ServiceId,
    pub needs: Vec<Need>,
    pub urgency: Urgency,
    pub reason: String,
    /// The statute that allows it without consent, and why.
    pub statutory: Option<(StatutoryBasis, String)>,
}

/// A referral sent: what it rests on, by when it must be received, and open referrals of the
/// same family (and child) to the same service.
#[derive(Debug, Clone)]
pub struct Created {
    pub referral_id: ReferralId,
    pub written: Written,
    pub basis: Option<Basis>,
    pub deadline: Option<Timestamp>,
    pub possible_duplicates: Vec<ReferralId>,
}

/// One step of a referral's lifecycle. A redirect names the service; the rest is the domain's.
#[derive(Debug, Clone)]
pub enum StepRequest {
    Redirect { service_id: ServiceId, note: String },
    Other(ReferralCommand),
}

/// A referral as it stands now, with its history and when the wait for help ended.
#[derive(Debug, Clone)]
pub struct ReferralRecord {
    pub referral_id: ReferralId,
    pub state: Referral,
    pub version: u64,
    pub entries: Vec<Arc<Entry<ReferralEvent>>>,
    pub wait_ended: Option<Timestamp>,
}

/// Which referrals a list shows: a sector's inbox, a contact person's or a family's.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub sector: Option<Sector>,
    pub contact_person: Option<ContactPersonId>,
    pub family: Option<FamilyId>,
    pub states: Vec<ReferralState>,
    pub overdue_only: bool,
}

/// One page of a list, oldest first, and the referral the next page starts after.
#[derive(Debug, Clone)]
pub struct ReferralPage {
    pub referrals: Vec<ReferralRecord>,
    pub next: Option<ReferralId>,
}

fn record(referral_id: ReferralId, loaded: &luukku_app::Loaded<Referral>) -> ReferralRecord {
    let wait_ended = loaded
        .entries
        .iter()
        .find(|entry| entry.events.iter().any(|event| event.moves_to().is_some_and(ReferralState::ends_wait)))
        .map(|entry| entry.recorded.envelope.recorded_at);
    ReferralRecord {
        referral_id,
        state: loaded.state.clone(),
        version: loaded.version,
        entries: loaded.entries.clone(),
        wait_ended,
    }
}

/// The service as loaded, which must take referrals now.
fn taking(
    service_id: ServiceId,
    service: &CatalogueService,
) -> Result<luukku_domain::referrals::ServiceInfo> {
    Ok(service.check_taking().map_err(refused::<CatalogueService>(service_id))?.clone())
}

impl<K: KeyStore> Referrals<K> {
    /// The service, which takes referrals now.
    async fn taking(&self, service_id: ServiceId) -> Result<luukku_domain::referrals::ServiceInfo> {
        taking(service_id, &self.catalogue.load_latest(service_id.into()).await?.state)
    }

    /// Sends a referral of an open family to a service taking referrals, on a statutory basis
    /// or on a consent in force covering the service's sector.
    pub async fn create_referral(
        &self,
        caller: &Caller,
        write: &Write,
        referral_id: ReferralId,
        referral: NewReferral,
    ) -> Result<Created> {
        // What the referral rests on, loaded together: one round trip's wait, not three. Checked
        // in order, the family first, whichever load ended first.
        let (family, service, assignment) = tokio::join!(
            self.families.load_latest(referral.family_id.into()),
            self.catalogue.load_latest(referral.service_id.into()),
            self.assignments.load(referral.family_id.into()),
        );
        let family = family?;
        family.state.check_open().map_err(refused::<Family>(referral.family_id))?;
        let service = taking(referral.service_id, &service?.state)?;
        let assignment = assignment?;
        let context = context_now();
        let statutory = referral.statutory.as_ref().map(|(basis, note)| (*basis, note.as_str()));
        let basis = referral_basis(&family.state, referral.child, service.sector, statutory, context.today)
            .map_err(|error| match error {
            ReferralError::NoConsent { .. } => AppError::refused("family", referral.family_id, error),
            other => AppError::refused("referral", referral_id, other),
        })?;
        let contact_person = assignment.state.current;
        let created = ReferralCreated {
            family_id: referral.family_id,
            child: referral.child,
            service_id: referral.service_id,
            sector: service.sector,
            needs: referral.needs,
            urgency: referral.urgency,
            reason: Personal::text(&referral.reason),
            basis,
            sent_at: context.now,
            deadline: self.policy.deadline(referral.urgency, context.now, &finnish_zone()),
            contact_person,
        };
        let command = ReferralCommand::Create(Box::new(created));
        let outcome = self.referrals.execute(referral_id.into(), caller, write, &command).await?;
        let referral_id = ReferralId::from_ulid(outcome.id.as_ulid());
        let recorded = outcome.events.iter().find_map(|event| match event {
            ReferralEvent::Created(created) => Some(created),
            _ => None,
        });
        // Every referral acknowledged before this one is in the index once this one is.
        match outcome.written.position {
            Some(position) => self.model.reached(position.sequence).await?,
            None => self.model.caught_up(self.referrals.store()).await?,
        }
        let (family_id, child, service_id) = (referral.family_id, referral.child, referral.service_id);
        let possible_duplicates = self
            .model
            .of_family(family_id)?
            .into_iter()
            .filter(|(other, found)| {
                *other != referral_id
                    && found.state.is_some_and(ReferralState::is_open)
                    && found.service_id == Some(service_id)
                    && found.created.as_ref().is_some_and(|c| c.family_id == family_id && c.child == child)
            })
            .map(|(other, _)| other)
            .collect();
        Ok(Created {
            referral_id,
            written: outcome.written,
            basis: recorded.map(|created| created.basis.clone()),
            deadline: recorded.map(|created| created.deadline),
            possible_duplicates,
        })
    }

    /// Takes one step; a redirect needs a service taking referrals and the same basis a new
    /// referral to it would need. Answers the state the referral is in after it.
    pub async fn update_referral(
        &self,
        caller: &Caller,
        write: &Write,
        referral_id: ReferralId,
        step: StepRequest,
    ) -> Result<(Written, Option<ReferralState>)> {
        let command = match step {
            StepRequest::Other(command) => command,
            StepRequest::Redirect { service_id, note } => {
                let current = self.referrals.load(referral_id.into()).await?;
                let urgency =
                    current.state.created.as_ref().map_or(Urgency::Normal, |created| created.urgency);
                let now = context_now();
                let sector = if current.written_by(&caller.actor, &write.request_id).is_some() {
                    current.state.sector.unwrap_or(Sector::Other)
                } else {
                    let sector = self.taking(service_id).await?.sector;
                    if let Some(created) = &current.state.created {
                        let family = self.families.load_latest(created.family_id.into()).await?;
                        redirect_basis(&current.state, &family.state, sector, now.today)
                            .map_err(refused::<Referral>(referral_id))?;
                    }
                    sector
                };
                let deadline = self.policy.deadline(urgency, now.now, &finnish_zone());
                ReferralCommand::Redirect { service_id, sector, note, deadline }
            }
        };
        let outcome = self.referrals.execute(referral_id.into(), caller, write, &command).await?;
        // The state the step left, as this process wrote it; loaded when it is not at hand.
        let state = match self.referrals.reader().cached_at(referral_id.into(), outcome.written.version) {
            Some(after) => after.state.state,
            None => self.referrals.load(referral_id.into()).await?.state.state,
        };
        Ok((outcome.written, state))
    }

    pub async fn get_referral(&self, _caller: &Caller, referral_id: ReferralId) -> Result<ReferralRecord> {
        let loaded = self.referrals.load(referral_id.into()).await?;
        if loaded.state.created.is_none() {
            return Err(AppError::refused("referral", referral_id, ReferralError::NotFound));
        }
        Ok(record(referral_id, &loaded))
    }

    /// Referrals matching `filter`, oldest first, `page_size` after `after`.
    pub async fn list_referrals(
        &self,
        _caller: &Caller,
        filter: &ReferralFilter,
        after: Option<ReferralId>,
        page_size: usize,
    ) -> Result<ReferralPage> {
        self.model.caught_up(self.referrals.store()).await?;
        // The list of the filter's most selective part, in the order sent, from after `after`:
        // a page reads as far as it needs and one more.
        let mut page = Vec::with_capacity(page_size);
        let mut more = false;
        for listed in self.model.listed(filter.family, filter.contact_person, filter.sector, after)? {
            let (id, referral) = listed?;
            let Some(created) = referral.created.as_ref() else { continue };
            let wanted = filter.sector.is_none_or(|sector| referral.sector == Some(sector))
                && filter.contact_person.is_none_or(|person| created.contact_person == Some(person))
                && filter.family.is_none_or(|family| created.family_id == family)
                && (filter.states.is_empty()
                    || referral.state.is_some_and(|state| filter.states.contains(&state)))
                && (!filter.overdue_only || referral.overdue);
            if !wanted {
                continue;
            }
            if page.len() == page_size {
                more = true;
                break;
            }
            page.push(id);
        }
        let next = if more { page.last().copied() } else { None };
        let mut referrals = Vec::with_capacity(page.len());
        for referral_id in page {
            let loaded = self.referrals.load(referral_id.into()).await?;
            referrals.push(record(referral_id, &loaded));
        }
        Ok(ReferralPage { referrals, next })
    }
}

//! The catalogue's and the referrals' states, evolved from their events.

use super::ServiceId;
use super::events::*;
use crate::Sector;
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ServiceStatus {
    #[default]
    Absent,
    /// Taking referrals.
    Active,
    /// Not taking referrals for now (capacity).
    Paused,
    Retired,
}

impl ServiceStatus {
    pub fn as_code(self) -> &'static str {
        match self {
            ServiceStatus::Absent => "absent",
            ServiceStatus::Active => "active",
            ServiceStatus::Paused => "paused",
            ServiceStatus::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CatalogueService {
    pub info: Option<ServiceInfo>,
    pub status: ServiceStatus,
}

impl CatalogueService {
    pub(super) fn evolve(&mut self, event: &ServiceEvent) {
        match event {
            ServiceEvent::Registered(info) | ServiceEvent::Updated(info) => {
                if self.status == ServiceStatus::Absent {
                    self.status = ServiceStatus::Active;
                }
                self.info = Some(info.clone());
            }
            ServiceEvent::Paused(_) => self.status = ServiceStatus::Paused,
            ServiceEvent::Resumed(_) => self.status = ServiceStatus::Active,
            ServiceEvent::Retired(_) => self.status = ServiceStatus::Retired,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Referral {
    pub created: Option<ReferralCreated>,
    pub state: Option<ReferralState>,
    /// The state to return to from `on_hold`.
    pub held_from: Option<ReferralState>,
    pub service_id: Option<ServiceId>,
    pub sector: Option<Sector>,
    pub deadline: Option<Timestamp>,
    pub overdue: bool,
    pub consent_lapsed: bool,
    pub redirects: u32,
}

impl Referral {
    pub(super) fn evolve(&mut self, event: &ReferralEvent) {
        match event {
            ReferralEvent::Created(created) => {
                self.service_id = Some(created.service_id);
                self.sector = Some(created.sector);
                self.deadline = Some(created.deadline);
                self.created = Some(created.clone());
            }
            ReferralEvent::PutOnHold(_) => self.held_from = self.state,
            ReferralEvent::Resumed(_) => {
                self.state = self.held_from.take().or(Some(ReferralState::Requested));
            }
            ReferralEvent::Redirected(redirected) => {
                self.service_id = Some(redirected.service_id);
                self.sector = Some(redirected.sector);
                self.deadline = Some(redirected.deadline);
                self.overdue = false;
                self.redirects += 1;
            }
            ReferralEvent::Overdue(_) => self.overdue = true,
            ReferralEvent::ConsentLapsed(_) => self.consent_lapsed = true,
            ReferralEvent::Received(_)
            | ReferralEvent::Accepted(_)
            | ReferralEvent::Rejected(_)
            | ReferralEvent::Started(_)
            | ReferralEvent::Completed(_)
            | ReferralEvent::Failed(_)
            | ReferralEvent::Cancelled(_) => {}
        }
        if let Some(state) = event.moves_to() {
            self.state = Some(state);
        }
    }

    /// The basis the referral rests on.
    pub fn basis(&self) -> Option<&Basis> {
        self.created.as_ref().map(|created| &created.basis)
    }
}

//! The service catalogue: services of the city's sectors, NGOs and parishes that families can
//! be referred to.

use serde::{Deserialize, Serialize};

use crate::family::Municipality;
use crate::sealing::{HasPersonal, PersonalField};
use crate::{Aggregate, Context, Need, Sector, Violation};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub provider: String,
    pub sector: Sector,
    pub name: String,
    pub description: String,
    /// Inclusive ages served, in years.
    pub min_age: u8,
    pub max_age: u8,
    pub needs: Vec<Need>,
    pub municipalities: Vec<Municipality>,
    /// Open to all without a referral decision (clubs, peer groups, parish activities).
    pub low_threshold: bool,
    /// How to get in touch.
    pub contact: String,
}

impl ServiceInfo {
    pub fn serves(
        &self,
        age: Option<u8>,
        need: Option<crate::Need>,
        municipality: Option<&Municipality>,
    ) -> bool {
        age.is_none_or(|age| (self.min_age..=self.max_age).contains(&age))
            && need.is_none_or(|need| self.needs.contains(&need))
            && municipality.is_none_or(|m| self.municipalities.is_empty() || self.municipalities.contains(m))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub reason: String,
}

crate::v1_events!(
    pub enum ServiceEvent {
        Registered(ServiceInfo) = "ServiceRegistered",
        Updated(ServiceInfo) = "ServiceUpdated",
        Paused(Reason) = "ServicePaused",
        Resumed(Reason) = "ServiceResumed",
        Retired(Reason) = "ServiceRetired",
    }
);

impl HasPersonal for ServiceEvent {
    /// A service's description is public information.
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        Vec::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceStatus {
    #[default]
    Absent,
    /// Taking referrals.
    Active,
    /// Not taking referrals for now (capacity).
    Paused,
    Retired,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogueService {
    pub info: Option<ServiceInfo>,
    pub status: ServiceStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCommand {
    Register(ServiceInfo),
    Update(ServiceInfo),
    Pause { reason: String },
    Resume,
    Retire { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid command: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    #[error("service not found")]
    NotFound,
    #[error("the service is already registered")]
    Exists,
    #[error("the service is retired")]
    Retired,
}

fn check(info: &ServiceInfo) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (field, value) in [("provider", &info.provider), ("name", &info.name), ("contact", &info.contact)] {
        if value.trim().is_empty() {
            violations.push(Violation::new(field, "must not be empty"));
        }
    }
    if info.min_age > info.max_age {
        violations.push(Violation::new("max_age", "is below min_age"));
    }
    if info.needs.is_empty() {
        violations.push(Violation::new("needs", "name at least one need the service meets"));
    }
    violations
}

impl Aggregate for CatalogueService {
    type Event = ServiceEvent;
    type Command = ServiceCommand;
    type Error = ServiceError;

    const TYPE: &'static str = "service";

    fn apply(&mut self, event: &ServiceEvent) {
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

    fn decide(&self, command: &ServiceCommand, _: &Context) -> Result<Vec<ServiceEvent>, ServiceError> {
        let invalid = |violations: Vec<Violation>| {
            if violations.is_empty() { Ok(()) } else { Err(ServiceError::Invalid(violations)) }
        };
        match (command, self.status) {
            (ServiceCommand::Register(info), ServiceStatus::Absent) => {
                invalid(check(info))?;
                Ok(vec![ServiceEvent::Registered(info.clone())])
            }
            (ServiceCommand::Register(_), _) => Err(ServiceError::Exists),
            (_, ServiceStatus::Absent) => Err(ServiceError::NotFound),
            (_, ServiceStatus::Retired) => Err(ServiceError::Retired),
            (ServiceCommand::Update(info), _) => {
                invalid(check(info))?;
                Ok(if self.info.as_ref() == Some(info) {
                    Vec::new()
                } else {
                    vec![ServiceEvent::Updated(info.clone())]
                })
            }
            (ServiceCommand::Pause { reason }, ServiceStatus::Active) => {
                Ok(vec![ServiceEvent::Paused(Reason { reason: reason.trim().to_owned() })])
            }
            (ServiceCommand::Resume, ServiceStatus::Paused) => {
                Ok(vec![ServiceEvent::Resumed(Reason { reason: String::new() })])
            }
            (ServiceCommand::Pause { .. } | ServiceCommand::Resume, _) => Ok(Vec::new()),
            (ServiceCommand::Retire { reason }, _) => {
                Ok(vec![ServiceEvent::Retired(Reason { reason: reason.trim().to_owned() })])
            }
        }
    }
}

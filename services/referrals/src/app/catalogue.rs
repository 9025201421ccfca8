//! The service catalogue.

use luukku_app::{Caller, Result, Write, Written};
use luukku_domain::family::Municipality;
use luukku_domain::referrals::{CatalogueService, ServiceCommand, ServiceId, ServiceInfo, ServiceStatus};
use luukku_domain::{Need, Sector};
use luukku_eventstore::KeyStore;

use super::Referrals;

/// What a catalogue search asks for; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub sector: Option<Sector>,
    pub need: Option<Need>,
    pub age: Option<u8>,
    pub municipality: Option<Municipality>,
    /// Only services taking referrals now (not paused).
    pub taking_referrals: bool,
}

impl<K: KeyStore> Referrals<K> {
    pub async fn register_service(
        &self,
        caller: &Caller,
        write: &Write,
        service_id: ServiceId,
        info: ServiceInfo,
    ) -> Result<(ServiceId, Written)> {
        let command = ServiceCommand::Register(info);
        let outcome = self.catalogue.execute(service_id.into(), caller, write, &command).await?;
        Ok((ServiceId::from_ulid(outcome.id.as_ulid()), outcome.written))
    }

    /// Updates, pauses, resumes or retires a service.
    pub async fn change_service(
        &self,
        caller: &Caller,
        write: &Write,
        service_id: ServiceId,
        command: ServiceCommand,
    ) -> Result<Written> {
        Ok(self.catalogue.execute(service_id.into(), caller, write, &command).await?.written)
    }

    /// The sector of a service the catalogue knows, as far as the model has come.
    pub async fn service_sector(&self, service_id: ServiceId) -> Result<Option<Sector>> {
        self.model.ready().await?;
        Ok(self.model.service(service_id)?.and_then(|service| service.info).map(|info| info.sector))
    }

    /// The services that match, by name; retired ones never.
    pub async fn search_services(
        &self,
        _caller: &Caller,
        filter: &ServiceFilter,
    ) -> Result<Vec<(ServiceId, CatalogueService)>> {
        self.model.caught_up(self.catalogue.store()).await?;
        let mut found: Vec<(ServiceId, CatalogueService)> = self
            .model
            .services()?
            .into_iter()
            .filter(|(_, service)| match &service.info {
                Some(info) => {
                    service.status != ServiceStatus::Retired
                        && (!filter.taking_referrals || service.status == ServiceStatus::Active)
                        && filter.sector.is_none_or(|sector| info.sector == sector)
                        && info.serves(filter.age, filter.need, filter.municipality.as_ref())
                }
                None => false,
            })
            .collect();
        found.sort_by(|(_, a), (_, b)| {
            a.info.as_ref().map(|info| &info.name).cmp(&b.info.as_ref().map(|info| &info.name))
        });
        Ok(found)
    }
}

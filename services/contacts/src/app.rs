//! The contacts service's use cases: contact persons, assignments and handovers, caseload
//! transfers, the contact log and consultations. Free of gRPC.

mod assignments;
mod log;
mod persons;

use std::sync::Arc;

use luukku_app::{Caller, Keys, Loaded, Reader, Repository, Result, Write, refused};
use luukku_domain::RequestId;
use luukku_domain::contacts::{
    Assignment, Consultation, ContactLog, ContactPerson, ContactPersonCommand, ContactPersonId,
};
use luukku_domain::family::{Family, FamilyId};
use luukku_eventstore::{EventStore, KeyStore, Stream};

pub use assignments::{Assigned, AssignmentRecord, Transfer, TransferRequest, Transferred};
pub use log::FamilyContact;
pub use persons::PersonRecord;

pub struct Contacts<K: KeyStore> {
    persons: Repository<ContactPerson, K>,
    assignments: Repository<Assignment, K>,
    logs: Repository<ContactLog, K>,
    consultations: Repository<Consultation, K>,
    families: Reader<Family, K>,
}

impl<K: KeyStore + Clone> Contacts<K> {
    pub fn new(store: EventStore, keys: K) -> Self {
        let contacts = Stream::Contacts;
        Self {
            persons: Repository::new(store.clone(), keys.clone(), contacts, Keys::None),
            assignments: Repository::new(store.clone(), keys.clone(), contacts, Keys::FamilyKey),
            logs: Repository::new(store.clone(), keys.clone(), contacts, Keys::FamilyKey),
            consultations: Repository::new(store.clone(), keys.clone(), contacts, Keys::None),
            families: Reader::new(store, keys, Stream::Families, Keys::FamilyKey),
        }
    }
}

impl<K: KeyStore> Contacts<K> {
    /// The family, which must exist; with `open`, it must also be neither closed nor erased.
    async fn family(&self, family_id: FamilyId, open: bool) -> Result<Arc<Loaded<Family>>> {
        let family = self.families.load(family_id.into()).await?;
        let checked = if open { family.state.check_open() } else { family.state.check_exists() };
        checked.map_err(refused::<Family>(family_id))?;
        Ok(family)
    }

    /// A contact person, who must exist.
    async fn person(&self, id: ContactPersonId) -> Result<Arc<Loaded<ContactPerson>>> {
        let person = self.persons.load(id.into()).await?;
        person.state.check_exists().map_err(refused::<ContactPerson>(id))?;
        Ok(person)
    }

    /// Reserves or releases a place in a caseload, on behalf of `caller`, with a request id of
    /// its own.
    async fn caseload(
        &self,
        caller: &Caller,
        person: ContactPersonId,
        command: ContactPersonCommand,
    ) -> Result<()> {
        self.persons.execute(person.into(), caller, &Write::new(RequestId::generate()), &command).await?;
        Ok(())
    }

    /// Gives up a reservation whose assignment did not happen. A failure is logged: the
    /// caller's answer is the assignment's refusal.
    async fn release(&self, caller: &Caller, person: ContactPersonId, family_id: FamilyId) {
        if let Err(error) = self.caseload(caller, person, ContactPersonCommand::Leave { family_id }).await {
            tracing::error!(%person, %family_id, %error, "caseload reservation not released");
        }
    }
}

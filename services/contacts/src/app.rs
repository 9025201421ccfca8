//! The contacts service's use cases: contact persons, assignments and handovers, caseload
//! transfers, the contact log and consultations. Free of gRPC.

mod assignments;
mod caseloads;
mod log;
mod persons;

use std::sync::Arc;
use std::time::Duration;

use luukku_app::{Caller, Folder, Keys, Loaded, Reader, Repository, Result, Write, refused};
use luukku_domain::RequestId;
use luukku_domain::contacts::{
    Assignment, Consultation, ContactLog, ContactPerson, ContactPersonCommand, ContactPersonId,
};
use luukku_domain::family::{Family, FamilyId};
use luukku_eventstore::{EventStore, KeyStore, Stream};

pub use assignments::{Assigned, AssignmentRecord, Transfer, TransferRequest, Transferred};
pub use caseloads::{Reconciled, Repaired, process_caller};
pub use log::FamilyContact;
pub use persons::PersonRecord;

/// How long a place in a caseload stays held for an assignment being recorded, unless the
/// service is told otherwise: far longer than any call may run.
pub const RESERVATION_TIME: Duration = Duration::from_secs(120);

pub struct Contacts<K: KeyStore> {
    persons: Repository<ContactPerson, K>,
    assignments: Repository<Assignment, K>,
    logs: Repository<ContactLog, K>,
    consultations: Repository<Consultation, K>,
    families: Reader<Family, K>,
    /// Caseloads and assignments, followed from `CONTACTS`, and closed and erased families,
    /// from `FAMILIES`: to reconcile them, and end the assignments of ended families.
    caseloads: caseloads::CaseloadModel,
    reservation_time: Duration,
}

impl<K: KeyStore + Clone> Contacts<K> {
    /// The use cases on `store`, with their read model in `folder`.
    pub fn new(folder: &Folder, store: EventStore, keys: K) -> Self {
        Self::with_reservation_time(folder, store, keys, RESERVATION_TIME)
    }

    /// With places in caseloads held for `reservation_time`.
    pub fn with_reservation_time(
        folder: &Folder,
        store: EventStore,
        keys: K,
        reservation_time: Duration,
    ) -> Self {
        let contacts = Stream::Contacts;
        Self {
            persons: Repository::new(store.clone(), keys.clone(), contacts, Keys::None),
            assignments: Repository::new(store.clone(), keys.clone(), contacts, Keys::FamilyKey),
            logs: Repository::new(store.clone(), keys.clone(), contacts, Keys::FamilyKey),
            consultations: Repository::new(store.clone(), keys.clone(), contacts, Keys::None),
            families: Reader::new(store.clone(), keys, Stream::Families, Keys::FamilyKey),
            caseloads: caseloads::CaseloadModel::spawn(folder, store),
            reservation_time,
        }
    }
}

impl<K: KeyStore> Contacts<K> {
    /// The family, which must exist; with `open`, it must also be neither closed nor erased,
    /// as the stream's leader has it (a write is decided on it).
    async fn family(&self, family_id: FamilyId, open: bool) -> Result<Arc<Loaded<Family>>> {
        let family = if open {
            self.families.load_latest(family_id.into()).await?
        } else {
            self.families.load(family_id.into()).await?
        };
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

    /// Changes a caseload on behalf of `caller`, with a request id of its own: every caseload
    /// command is decided idempotently, so a repeat changes nothing.
    async fn caseload(
        &self,
        caller: &Caller,
        person: ContactPersonId,
        command: ContactPersonCommand,
    ) -> Result<()> {
        self.persons.execute(person.into(), caller, &Write::new(RequestId::generate()), &command).await?;
        Ok(())
    }

    /// The read models this service keeps, for health.
    pub fn standings(&self) -> Vec<Arc<luukku_app::Standing>> {
        vec![self.caseloads.standing().clone()]
    }
}

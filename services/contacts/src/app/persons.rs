//! Contact persons and consultations.

use luukku_app::{Caller, Result, Write, Written, refused};
use luukku_domain::contacts::{
    ConsultationId, ConsultationRecorded, ContactPerson, ContactPersonCommand, ContactPersonError,
    ContactPersonId, Profile,
};
use luukku_eventstore::KeyStore;

use super::Contacts;

/// A contact person as they stand now.
#[derive(Debug, Clone)]
pub struct PersonRecord {
    pub id: ContactPersonId,
    pub state: ContactPerson,
    pub version: u64,
}

impl<K: KeyStore> Contacts<K> {
    pub async fn register_person(
        &self,
        caller: &Caller,
        write: &Write,
        person_id: ContactPersonId,
        profile: Profile,
    ) -> Result<(ContactPersonId, Written)> {
        let command = ContactPersonCommand::Register(profile);
        let outcome = self.persons.execute(person_id.into(), caller, write, &command).await?;
        Ok((ContactPersonId::from_ulid(outcome.id.as_ulid()), outcome.written))
    }

    /// Updates the profile or deactivates the person. A person whom any family's assignment
    /// still names is not deactivated, even when their caseload (a second write that may lag
    /// or have been lost) says otherwise.
    pub async fn change_person(
        &self,
        caller: &Caller,
        write: &Write,
        person_id: ContactPersonId,
        command: ContactPersonCommand,
    ) -> Result<Written> {
        if matches!(command, ContactPersonCommand::Deactivate { .. })
            && self
                .persons
                .load(person_id.into())
                .await?
                .written_by(&caller.actor, &write.request_id)
                .is_none()
        {
            let families = self.coordinated_by(person_id).await?;
            if families > 0 {
                let error = ContactPersonError::HasCaseload { families, reserved: 0 };
                return Err(refused::<ContactPerson>(person_id)(error));
            }
        }
        Ok(self.persons.execute(person_id.into(), caller, write, &command).await?.written)
    }

    pub async fn get_person(&self, _caller: &Caller, person_id: ContactPersonId) -> Result<PersonRecord> {
        let person = self.person(person_id).await?;
        Ok(PersonRecord { id: person_id, state: person.state.clone(), version: person.version })
    }

    /// Counts a consultation about a client who is not registered; nothing personal is kept.
    pub async fn record_consultation(
        &self,
        caller: &Caller,
        write: &Write,
        consultation: ConsultationRecorded,
    ) -> Result<(ConsultationId, Written)> {
        let id = ConsultationId::from_ulid(write.new_id(caller, "consultation"));
        let outcome = self.consultations.execute(id.into(), caller, write, &consultation).await?;
        Ok((ConsultationId::from_ulid(outcome.id.as_ulid()), outcome.written))
    }
}

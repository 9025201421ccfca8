//! The contact log of each family.

use jiff::civil::Date;
use luukku_app::{Caller, Result, Write, Written, refused};
use luukku_domain::contacts::{
    ContactId, ContactLogCommand, ContactLogEvent, ContactPersonId, ContactRecorded, LoggedContact,
    check_party,
};
use luukku_domain::family::{Family, FamilyId};
use luukku_eventstore::KeyStore;

use super::Contacts;

/// One logged contact of a family.
#[derive(Debug, Clone)]
pub struct FamilyContact {
    pub family_id: FamilyId,
    pub contact_id: ContactId,
    pub logged: LoggedContact,
}

impl<K: KeyStore> Contacts<K> {
    /// Logs a contact with an open family; a family member it names must be the family's.
    pub async fn record_contact(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        contact: ContactRecorded,
    ) -> Result<(Written, Option<ContactId>)> {
        let family = self.family(family_id, true).await?;
        check_party(&family.state, &contact.party).map_err(refused::<Family>(family_id))?;
        let command = ContactLogCommand::Record(contact);
        let outcome = self.logs.execute(family_id.into(), caller, write, &command).await?;
        let contact_id = outcome.events.iter().find_map(|event| match event {
            ContactLogEvent::Recorded(recorded) => Some(recorded.contact_id),
            ContactLogEvent::FollowUpCompleted(_) => None,
        });
        Ok((outcome.written, contact_id))
    }

    pub async fn complete_follow_up(
        &self,
        caller: &Caller,
        write: &Write,
        family_id: FamilyId,
        contact_id: ContactId,
        note: String,
    ) -> Result<Written> {
        self.family(family_id, true).await?;
        let command = ContactLogCommand::CompleteFollowUp { contact_id, note };
        Ok(self.logs.execute(family_id.into(), caller, write, &command).await?.written)
    }

    /// The family's contacts, newest first.
    pub async fn family_contacts(&self, _caller: &Caller, family_id: FamilyId) -> Result<Vec<FamilyContact>> {
        self.family(family_id, false).await?;
        let log = self.logs.load(family_id.into()).await?;
        let mut contacts: Vec<FamilyContact> = log
            .state
            .contacts
            .iter()
            .map(|(contact_id, logged)| FamilyContact {
                family_id,
                contact_id: *contact_id,
                logged: logged.clone(),
            })
            .collect();
        contacts.sort_by_key(|contact| std::cmp::Reverse(contact.logged.contact.occurred_at));
        Ok(contacts)
    }

    /// The follow-ups due by `due_by` in a contact person's families, soonest first.
    pub async fn follow_ups_due(
        &self,
        _caller: &Caller,
        person_id: ContactPersonId,
        due_by: Date,
    ) -> Result<Vec<FamilyContact>> {
        let person = self.person(person_id).await?;
        let mut due = Vec::new();
        for family_id in &person.state.caseload {
            let log = self.logs.load((*family_id).into()).await?;
            due.extend(log.state.contacts.iter().filter(|(_, logged)| logged.follow_up_due(due_by)).map(
                |(contact_id, logged)| FamilyContact {
                    family_id: *family_id,
                    contact_id: *contact_id,
                    logged: logged.clone(),
                },
            ));
        }
        due.sort_by_key(|contact| contact.logged.contact.follow_up);
        Ok(due)
    }
}

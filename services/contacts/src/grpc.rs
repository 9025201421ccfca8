//! `luukku.contacts.v1.ContactService`: each call decodes its request, calls the application
//! and encodes the answer.

mod decode;
mod encode;

use std::sync::Arc;

use luukku_app::Guard;
use luukku_app::context_now;
use luukku_domain::Role;
use luukku_domain::access::{Action, Target};
use luukku_eventstore::KeyStore;
use luukku_grpc::paging::{page, requested};
use luukku_grpc::{caller, check, status, status_with};
use luukku_proto::contacts::v1 as pb;
use luukku_proto::contacts::v1::contact_service_server::ContactService;
use tonic::{Request, Response, Status};

use crate::app::Contacts;

pub struct ContactGrpc<K: KeyStore> {
    app: Arc<Contacts<K>>,
    guard: Guard,
}

impl<K: KeyStore> ContactGrpc<K> {
    pub fn new(app: Arc<Contacts<K>>, guard: Guard) -> Self {
        Self { app, guard }
    }

    /// The contact person whose tokens name `person` (their identity provider's id).
    async fn contact_person_of(
        &self,
        person: &str,
    ) -> Result<luukku_domain::contacts::ContactPersonId, Status> {
        let code = luukku_domain::Code::try_from(person.to_owned()).map_err(|error| {
            luukku_grpc::decode::invalid(vec![("person_id".to_owned(), error.to_string())])
        })?;
        let relations = self.guard.relations();
        relations.ready().await.map_err(status)?;
        relations
            .contact_person_of(&code)
            .map_err(status)?
            .ok_or_else(|| Status::not_found("no contact person has this person id"))
    }
}

#[tonic::async_trait]
impl<K: KeyStore> ContactService for ContactGrpc<K> {
    async fn register_contact_person(
        &self,
        request: Request<pb::RegisterContactPersonRequest>,
    ) -> Result<Response<pb::RegisterContactPersonResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, person_id, profile) = decode::register_person(request.get_ref(), &caller)?;
        check(&self.guard, &caller, Action::RegisterContactPerson, Target::default()).await?;
        let (person_id, written) = self
            .app
            .register_person(&caller, &write, person_id, profile)
            .await
            .map_err(status_with(decode::profile_paths))?;
        Ok(Response::new(pb::RegisterContactPersonResponse {
            result: encode::written(written),
            contact_person_id: person_id.to_string(),
        }))
    }

    async fn update_contact_person(
        &self,
        request: Request<pb::UpdateContactPersonRequest>,
    ) -> Result<Response<pb::UpdateContactPersonResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, person_id, command) = decode::update_person(request.get_ref())?;
        check(
            &self.guard,
            &caller,
            Action::UpdateContactPerson,
            Target { contact_person: Some(person_id), ..Target::default() },
        )
        .await?;
        let written = self
            .app
            .change_person(&caller, &write, person_id, command)
            .await
            .map_err(status_with(decode::profile_paths))?;
        Ok(Response::new(pb::UpdateContactPersonResponse { result: encode::written(written) }))
    }

    async fn deactivate_contact_person(
        &self,
        request: Request<pb::DeactivateContactPersonRequest>,
    ) -> Result<Response<pb::DeactivateContactPersonResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, person_id, command) = decode::deactivate_person(request.get_ref())?;
        check(
            &self.guard,
            &caller,
            Action::DeactivateContactPerson,
            Target { contact_person: Some(person_id), ..Target::default() },
        )
        .await?;
        let written = self.app.change_person(&caller, &write, person_id, command).await.map_err(status)?;
        Ok(Response::new(pb::DeactivateContactPersonResponse { result: encode::written(written) }))
    }

    async fn get_contact_person(
        &self,
        request: Request<pb::GetContactPersonRequest>,
    ) -> Result<Response<pb::GetContactPersonResponse>, Status> {
        let caller = caller(&request).await?;
        let asked = request.get_ref();
        let person_id = match (asked.contact_person_id.is_empty(), asked.person_id.is_empty()) {
            (true, false) => self.contact_person_of(&asked.person_id).await?,
            (false, false) => {
                return Err(luukku_grpc::decode::invalid(vec![(
                    "person_id".to_owned(),
                    "give contact_person_id or person_id, not both".to_owned(),
                )]));
            }
            _ => decode::person_id("contact_person_id", &asked.contact_person_id)?,
        };
        check(
            &self.guard,
            &caller,
            Action::GetContactPerson,
            Target { contact_person: Some(person_id), ..Target::default() },
        )
        .await?;
        let person = self.app.get_person(&caller, person_id).await.map_err(status)?;
        let mut answer = encode::person(&person);
        // Which families a contact person coordinates is for them, and for those who assign
        // families (supervisors, operators); anyone else sees who they are, not their caseload.
        let own = answer
            .profile
            .as_ref()
            .is_some_and(|profile| profile.person_id == caller.actor.person_id.as_str());
        if own || matches!(caller.actor.role, Role::Supervisor | Role::Operator) {
            let offered = self.guard.relations().offered_to(person_id).map_err(status)?;
            answer.offered = offered.iter().map(ToString::to_string).collect();
        } else {
            answer.caseload.clear();
            answer.reserved.clear();
        }
        Ok(Response::new(pb::GetContactPersonResponse { contact_person: Some(answer) }))
    }

    async fn assign_contact_person(
        &self,
        request: Request<pb::AssignContactPersonRequest>,
    ) -> Result<Response<pb::AssignContactPersonResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, to, reason) = decode::assign(request.get_ref())?;
        check(
            &self.guard,
            &caller,
            Action::AssignContactPerson,
            Target { contact_person: Some(to), ..Target::family(family_id) },
        )
        .await?;
        let assigned = self.app.assign(&caller, &write, family_id, to, reason).await.map_err(status)?;
        Ok(Response::new(pb::AssignContactPersonResponse {
            result: encode::written(assigned.written),
            assigned: assigned.assigned,
            handover_id: assigned.handover_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn accept_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, handover_id) = decode::handover_decision(request.get_ref())?;
        check(&self.guard, &caller, Action::AcceptHandover, Target::family(family_id)).await?;
        let written =
            self.app.accept_handover(&caller, &write, family_id, handover_id).await.map_err(status)?;
        Ok(Response::new(pb::HandoverDecisionResponse { result: encode::written(written) }))
    }

    async fn decline_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, handover_id) = decode::handover_decision(request.get_ref())?;
        check(&self.guard, &caller, Action::DeclineHandover, Target::family(family_id)).await?;
        let reason = request.into_inner().reason;
        let written = self
            .app
            .decline_handover(&caller, &write, family_id, handover_id, reason)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::HandoverDecisionResponse { result: encode::written(written) }))
    }

    async fn withdraw_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, handover_id) = decode::handover_decision(request.get_ref())?;
        check(&self.guard, &caller, Action::WithdrawHandover, Target::family(family_id)).await?;
        let written =
            self.app.withdraw_handover(&caller, &write, family_id, handover_id).await.map_err(status)?;
        Ok(Response::new(pb::HandoverDecisionResponse { result: encode::written(written) }))
    }

    async fn end_assignment(
        &self,
        request: Request<pb::EndAssignmentRequest>,
    ) -> Result<Response<pb::EndAssignmentResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, reason, note) = decode::end_assignment(request.get_ref())?;
        check(&self.guard, &caller, Action::EndAssignment, Target::family(family_id)).await?;
        let written =
            self.app.end_assignment(&caller, &write, family_id, reason, note).await.map_err(status)?;
        Ok(Response::new(pb::EndAssignmentResponse { result: encode::written(written) }))
    }

    async fn transfer_caseload(
        &self,
        request: Request<pb::TransferCaseloadRequest>,
    ) -> Result<Response<pb::TransferCaseloadResponse>, Status> {
        let caller = caller(&request).await?;
        let transfer = decode::transfer(request.get_ref())?;
        check(&self.guard, &caller, Action::TransferCaseload, Target::default()).await?;
        let transfer = self.app.transfer_caseload(&caller, transfer).await.map_err(status)?;
        Ok(Response::new(encode::transfer(transfer)))
    }

    async fn get_assignment(
        &self,
        request: Request<pb::GetAssignmentRequest>,
    ) -> Result<Response<pb::GetAssignmentResponse>, Status> {
        let caller = caller(&request).await?;
        let family_id = decode::family_id(&request.get_ref().family_id)?;
        check(&self.guard, &caller, Action::GetAssignment, Target::family(family_id)).await?;
        let assignment = self.app.get_assignment(&caller, family_id).await.map_err(status)?;
        Ok(Response::new(encode::assignment(&assignment)))
    }

    async fn record_contact(
        &self,
        request: Request<pb::RecordContactRequest>,
    ) -> Result<Response<pb::RecordContactResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, contact) = decode::contact(request.get_ref(), context_now().now)?;
        check(&self.guard, &caller, Action::RecordContact, Target::family(family_id)).await?;
        let (written, contact_id) = self
            .app
            .record_contact(&caller, &write, family_id, contact)
            .await
            .map_err(status_with(decode::occurred_paths))?;
        Ok(Response::new(pb::RecordContactResponse {
            result: encode::written(written),
            contact_id: contact_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn complete_follow_up(
        &self,
        request: Request<pb::CompleteFollowUpRequest>,
    ) -> Result<Response<pb::CompleteFollowUpResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, contact_id) = decode::follow_up(request.get_ref())?;
        check(&self.guard, &caller, Action::CompleteFollowUp, Target::family(family_id)).await?;
        let note = request.into_inner().note;
        let written = self
            .app
            .complete_follow_up(&caller, &write, family_id, contact_id, note)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CompleteFollowUpResponse { result: encode::written(written) }))
    }

    async fn record_consultation(
        &self,
        request: Request<pb::RecordConsultationRequest>,
    ) -> Result<Response<pb::RecordConsultationResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, consultation) = decode::consultation(request.get_ref(), context_now().now)?;
        check(&self.guard, &caller, Action::RecordConsultation, Target::default()).await?;
        let (consultation_id, written) = self
            .app
            .record_consultation(&caller, &write, consultation)
            .await
            .map_err(status_with(decode::occurred_paths))?;
        Ok(Response::new(pb::RecordConsultationResponse {
            result: encode::written(written),
            consultation_id: consultation_id.to_string(),
        }))
    }

    async fn list_family_contacts(
        &self,
        request: Request<pb::ListFamilyContactsRequest>,
    ) -> Result<Response<pb::ListFamilyContactsResponse>, Status> {
        let caller = caller(&request).await?;
        let family_id = decode::family_id(&request.get_ref().family_id)?;
        let requested = requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        check(&self.guard, &caller, Action::ListFamilyContacts, Target::family(family_id)).await?;
        let contacts = self.app.family_contacts(&caller, family_id).await.map_err(status)?;
        let (contacts, next_page_token) = page(contacts, decode::newest_first, &requested);
        Ok(Response::new(pb::ListFamilyContactsResponse {
            contacts: contacts.iter().map(encode::contact).collect(),
            next_page_token,
        }))
    }

    async fn list_follow_ups_due(
        &self,
        request: Request<pb::ListFollowUpsDueRequest>,
    ) -> Result<Response<pb::ListFollowUpsDueResponse>, Status> {
        let caller = caller(&request).await?;
        let (person_id, due_by) = decode::follow_ups_due(request.get_ref(), context_now().today)?;
        let requested = requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        let granted = check(
            &self.guard,
            &caller,
            Action::ListFollowUpsDue,
            Target { contact_person: Some(person_id), ..Target::default() },
        )
        .await?;
        let due = self.app.follow_ups_due(&caller, person_id, due_by).await.map_err(status)?;
        let (due, next_page_token) = page(due, decode::soonest_due, &requested);
        let found: Vec<_> = due.iter().map(|contact| contact.family_id).collect();
        self.guard
            .record_found(&caller, Action::ListFollowUpsDue, &found, &granted.basis)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListFollowUpsDueResponse {
            follow_ups: due.iter().map(encode::contact).collect(),
            next_page_token,
        }))
    }
}

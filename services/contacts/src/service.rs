//! `luukku.contacts.v1.ContactService`.

use std::sync::Arc;

use futures::StreamExt;
use luukku_domain::contacts::assignment::{Assignment, AssignmentCommand, AssignmentEvent};
use luukku_domain::contacts::consultation::{Consultation, ConsultationRecorded};
use luukku_domain::contacts::log::{ContactLog, ContactLogCommand, ContactLogEvent, ContactRecorded, Party};
use luukku_domain::contacts::person::{ContactPerson, ContactPersonCommand};
use luukku_domain::contacts::transfer::{Receiver, SpreadRule, plan};
use luukku_domain::contacts::{ConsultationId, ContactId, ContactPersonId, HandoverId};
use luukku_domain::family::{Family, FamilyId, MemberId};
use luukku_domain::sealing::Personal;
use luukku_domain::{Actor, Channel, Need, RequestId, Role, Sector, Timestamp};
use luukku_eventstore::{EventStore, KeyStore, streams};
use luukku_proto::contacts::v1 as pb;
use luukku_proto::contacts::v1::contact_service_server::ContactService;
use luukku_service::parse::{checked, date, id, list, municipality, optional_date, optional_id, write};
use luukku_service::repository::{Keys, Loaded, Repository, Write};
use luukku_service::status::failed_precondition;
use luukku_service::{Violations, caller, context_now};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::errors::{assignment_status, consultation_status, log_status, person_status};

/// Handovers of one caseload transfer proposed at once.
const TRANSFER_CONCURRENCY: usize = 16;

pub struct ContactsService<K: KeyStore> {
    persons: Repository<ContactPerson, K>,
    assignments: Repository<Assignment, K>,
    logs: Repository<ContactLog, K>,
    consultations: Repository<Consultation, K>,
    families: Repository<Family, K>,
}

fn refuse_family(id: luukku_domain::AggregateId, error: luukku_domain::family::FamilyError) -> Status {
    Status::internal(format!("the contacts service does not change family {id}: {error}"))
}

/// The request id of one part of a request (one family of a caseload transfer): the same
/// request and part always give the same id, so a retried transfer replays each part.
fn part_request_id(request_id: &RequestId, part: &str) -> Result<RequestId, Status> {
    let digest = Sha256::digest(format!("{request_id}/{part}").as_bytes());
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    RequestId::parse(&format!("part-{hex}")).map_err(|error| Status::internal(error.to_string()))
}

/// An internal write on behalf of `actor`, with a fresh request id.
fn internal(actor: &Actor) -> Write {
    Write { request_id: RequestId::generate(), expected_version: None, actor: actor.clone() }
}

impl<K: KeyStore + Clone> ContactsService<K> {
    pub fn new(store: EventStore, keys: K) -> Self {
        let contacts = streams::CONTACTS;
        Self {
            persons: Repository::new(store.clone(), keys.clone(), contacts, Keys::None, person_status),
            assignments: Repository::new(
                store.clone(),
                keys.clone(),
                contacts,
                Keys::FamilyKey,
                assignment_status,
            ),
            logs: Repository::new(store.clone(), keys.clone(), contacts, Keys::FamilyKey, log_status),
            consultations: Repository::new(
                store.clone(),
                keys.clone(),
                contacts,
                Keys::None,
                consultation_status,
            ),
            families: Repository::new(store, keys, streams::FAMILIES, Keys::FamilyKey, refuse_family),
        }
    }
}

impl<K: KeyStore> ContactsService<K> {
    /// The family, which must exist; `changeable` also requires it to be open.
    async fn family(&self, family_id: FamilyId, changeable: bool) -> Result<Arc<Loaded<Family>>, Status> {
        luukku_service::family::require_family(&self.families, family_id, changeable).await
    }

    async fn person(&self, id: ContactPersonId) -> Result<Arc<Loaded<ContactPerson>>, Status> {
        let person = self.persons.load(id.into()).await?;
        if person.state.profile.is_none() {
            return Err(Status::not_found(format!("contact person {id} not found")));
        }
        Ok(person)
    }

    async fn active_person(&self, id: ContactPersonId) -> Result<Arc<Loaded<ContactPerson>>, Status> {
        let person = self.person(id).await?;
        if !person.state.active {
            return Err(failed_precondition(
                "CONTACT_PERSON_INACTIVE",
                &format!("contact_person/{id}"),
                format!("contact person {id} is deactivated and takes no families"),
            ));
        }
        Ok(person)
    }

    /// Only the receiving contact person (or an operator) decides on a handover.
    async fn require_recipient(&self, actor: &Actor, to: ContactPersonId) -> Result<(), Status> {
        if actor.role == Role::Operator {
            return Ok(());
        }
        let person = self.person(to).await?;
        let recipient = person.state.profile.as_ref().map(|profile| &profile.person_id);
        if recipient == Some(&actor.person_id) {
            return Ok(());
        }
        Err(Status::permission_denied(format!(
            "only the receiving contact person {to} (or an operator) decides on this handover"
        )))
    }

    async fn join(&self, actor: &Actor, person: ContactPersonId, family_id: FamilyId) -> Result<(), Status> {
        self.persons
            .execute(person.into(), &internal(actor), &ContactPersonCommand::Join { family_id }, false)
            .await?;
        Ok(())
    }

    async fn leave(&self, actor: &Actor, person: ContactPersonId, family_id: FamilyId) -> Result<(), Status> {
        self.persons
            .execute(person.into(), &internal(actor), &ContactPersonCommand::Leave { family_id }, false)
            .await?;
        Ok(())
    }

    /// Gives up a reservation whose assignment did not happen; a failure is logged, as the
    /// caller's answer is the assignment's refusal.
    async fn release(&self, actor: &Actor, person: ContactPersonId, family_id: FamilyId) {
        if let Err(status) = self.leave(actor, person, family_id).await {
            tracing::error!(%person, %family_id, %status, "caseload reservation not released");
        }
    }

    /// Assigns or proposes a handover. A first assignment reserves the place in the person's
    /// caseload before it is recorded, and releases it if the family went to someone else.
    async fn assign(
        &self,
        write: &Write,
        family_id: FamilyId,
        to: ContactPersonId,
        handover_id: HandoverId,
        reason: String,
    ) -> Result<(luukku_proto::common::v1::WriteResult, Vec<AssignmentEvent>), Status> {
        let assignment = self.assignments.load(family_id.into()).await?;
        let command = AssignmentCommand::Assign { to, handover_id, reason };
        if assignment.written_by(&write.request_id).is_some() {
            let outcome = self.assignments.execute(family_id.into(), write, &command, false).await?;
            return Ok((outcome.result, outcome.events));
        }
        self.family(family_id, true).await?;
        let person = self.active_person(to).await?;
        let first = assignment.state.current.is_none();
        if first {
            self.join(&write.actor, to, family_id).await?;
        } else if assignment.state.current != Some(to) && !person.state.has_room() {
            let limit = person.state.profile.as_ref().map_or(0, |profile| profile.caseload_limit);
            return Err(failed_precondition(
                "CASELOAD_FULL",
                &format!("contact_person/{to}"),
                format!("the caseload of {to} is full ({limit} families)"),
            ));
        }
        let outcome = self.assignments.execute(family_id.into(), write, &command, false).await;
        let assigned = |events: &[AssignmentEvent]| {
            events.iter().any(|event| matches!(event, AssignmentEvent::Assigned(a) if a.contact_person == to))
        };
        match outcome {
            Ok(outcome) => {
                if first && !assigned(&outcome.events) {
                    self.release(&write.actor, to, family_id).await;
                }
                Ok((outcome.result, outcome.events))
            }
            Err(status) => {
                if first {
                    self.release(&write.actor, to, family_id).await;
                }
                Err(status)
            }
        }
    }

    fn handover_request(
        &self,
        request: &Request<pb::HandoverDecisionRequest>,
    ) -> Result<(Write, FamilyId, HandoverId), Status> {
        let actor = caller(request)?;
        let message = request.get_ref();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let handover_id = id(&mut violations, "handover_id", &message.handover_id, HandoverId::parse);
        violations.into_result()?;
        Ok((checked(write)?, checked(family_id)?, checked(handover_id)?))
    }
}

fn needs(violations: &mut Violations, values: &[String]) -> Vec<Need> {
    list(violations, "needs", values, str::parse::<Need>)
}

fn sectors(violations: &mut Violations, field: &str, values: &[String]) -> Vec<Sector> {
    list(violations, field, values, str::parse::<Sector>)
}

fn occurred_at(value: i64) -> Timestamp {
    if value == 0 { context_now().now } else { Timestamp::from_millis(value) }
}

#[tonic::async_trait]
impl<K: KeyStore + Clone> ContactService for ContactsService<K> {
    async fn register_contact_person(
        &self,
        request: Request<pb::RegisterContactPersonRequest>,
    ) -> Result<Response<pb::RegisterContactPersonResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, None, actor);
        let person_id = optional_id(
            &mut violations,
            "contact_person_id",
            &message.contact_person_id,
            ContactPersonId::parse,
            ContactPersonId::generate,
        );
        let profile = convert::profile(&mut violations, message.profile.as_ref());
        violations.into_result()?;
        let command = ContactPersonCommand::Register(checked(profile)?);
        let outcome =
            self.persons.execute(checked(person_id)?.into(), &checked(write)?, &command, true).await?;
        Ok(Response::new(pb::RegisterContactPersonResponse {
            result: Some(outcome.result),
            contact_person_id: outcome.id.to_string(),
        }))
    }

    async fn update_contact_person(
        &self,
        request: Request<pb::UpdateContactPersonRequest>,
    ) -> Result<Response<pb::UpdateContactPersonResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let person_id =
            id(&mut violations, "contact_person_id", &message.contact_person_id, ContactPersonId::parse);
        let profile = convert::profile(&mut violations, message.profile.as_ref());
        violations.into_result()?;
        let command = ContactPersonCommand::Update(checked(profile)?);
        let outcome =
            self.persons.execute(checked(person_id)?.into(), &checked(write)?, &command, false).await?;
        Ok(Response::new(pb::UpdateContactPersonResponse { result: Some(outcome.result) }))
    }

    async fn deactivate_contact_person(
        &self,
        request: Request<pb::DeactivateContactPersonRequest>,
    ) -> Result<Response<pb::DeactivateContactPersonResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let person_id =
            id(&mut violations, "contact_person_id", &message.contact_person_id, ContactPersonId::parse);
        violations.into_result()?;
        let command = ContactPersonCommand::Deactivate { reason: message.reason };
        let outcome =
            self.persons.execute(checked(person_id)?.into(), &checked(write)?, &command, false).await?;
        Ok(Response::new(pb::DeactivateContactPersonResponse { result: Some(outcome.result) }))
    }

    async fn get_contact_person(
        &self,
        request: Request<pb::GetContactPersonRequest>,
    ) -> Result<Response<pb::GetContactPersonResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let person_id = id(
            &mut violations,
            "contact_person_id",
            &request.get_ref().contact_person_id,
            ContactPersonId::parse,
        );
        violations.into_result()?;
        let person_id = checked(person_id)?;
        let person = self.person(person_id).await?;
        Ok(Response::new(pb::GetContactPersonResponse {
            contact_person: Some(convert::person_pb(person_id.to_string(), &person.state, person.version)),
        }))
    }

    async fn assign_contact_person(
        &self,
        request: Request<pb::AssignContactPersonRequest>,
    ) -> Result<Response<pb::AssignContactPersonResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let to = id(&mut violations, "contact_person_id", &message.contact_person_id, ContactPersonId::parse);
        violations.into_result()?;
        let (result, events) = self
            .assign(
                &checked(write)?,
                checked(family_id)?,
                checked(to)?,
                HandoverId::generate(),
                message.reason,
            )
            .await?;
        let mut response = pb::AssignContactPersonResponse { result: Some(result), ..Default::default() };
        for event in events {
            match event {
                AssignmentEvent::Assigned(_) => response.assigned = true,
                AssignmentEvent::HandoverProposed(proposed) => {
                    response.handover_id = proposed.handover_id.to_string()
                }
                _ => {}
            }
        }
        Ok(Response::new(response))
    }

    async fn accept_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let (write, family_id, handover_id) = self.handover_request(&request)?;
        let command = AssignmentCommand::Accept { handover_id };
        let assignment = self.assignments.load(family_id.into()).await?;
        let pending = assignment.state.pending.clone().filter(|pending| pending.handover_id == handover_id);
        let (Some(pending), None) = (pending, assignment.written_by(&write.request_id)) else {
            // A retry, or no such handover: the assignment answers either.
            let outcome = self.assignments.execute(family_id.into(), &write, &command, false).await?;
            return Ok(Response::new(pb::HandoverDecisionResponse { result: Some(outcome.result) }));
        };
        self.require_recipient(&write.actor, pending.to).await?;
        self.family(family_id, true).await?;
        self.active_person(pending.to).await?;
        self.join(&write.actor, pending.to, family_id).await?;
        match self.assignments.execute(family_id.into(), &write, &command, false).await {
            Ok(outcome) => {
                self.leave(&write.actor, pending.from, family_id).await?;
                Ok(Response::new(pb::HandoverDecisionResponse { result: Some(outcome.result) }))
            }
            Err(status) => {
                self.release(&write.actor, pending.to, family_id).await;
                Err(status)
            }
        }
    }

    async fn decline_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let (write, family_id, handover_id) = self.handover_request(&request)?;
        let assignment = self.assignments.load(family_id.into()).await?;
        if let Some(pending) =
            assignment.state.pending.as_ref().filter(|pending| pending.handover_id == handover_id)
        {
            self.require_recipient(&write.actor, pending.to).await?;
        }
        let command = AssignmentCommand::Decline { handover_id, reason: request.into_inner().reason };
        let outcome = self.assignments.execute(family_id.into(), &write, &command, false).await?;
        Ok(Response::new(pb::HandoverDecisionResponse { result: Some(outcome.result) }))
    }

    async fn withdraw_handover(
        &self,
        request: Request<pb::HandoverDecisionRequest>,
    ) -> Result<Response<pb::HandoverDecisionResponse>, Status> {
        let (write, family_id, handover_id) = self.handover_request(&request)?;
        let command = AssignmentCommand::Withdraw { handover_id };
        let outcome = self.assignments.execute(family_id.into(), &write, &command, false).await?;
        Ok(Response::new(pb::HandoverDecisionResponse { result: Some(outcome.result) }))
    }

    async fn transfer_caseload(
        &self,
        request: Request<pb::TransferCaseloadRequest>,
    ) -> Result<Response<pb::TransferCaseloadResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, None, actor);
        let from = id(
            &mut violations,
            "from_contact_person_id",
            &message.from_contact_person_id,
            ContactPersonId::parse,
        );
        let receivers = list(
            &mut violations,
            "to_contact_person_ids",
            &message.to_contact_person_ids,
            ContactPersonId::parse,
        );
        if message.to_contact_person_ids.is_empty() {
            violations.add("to_contact_person_ids", "name at least one receiver");
        }
        if from.is_some_and(|from| receivers.contains(&from)) {
            violations.add("to_contact_person_ids", "the leaving contact person cannot receive families");
        }
        let rule = match pb::SpreadRule::try_from(message.rule) {
            Ok(pb::SpreadRule::RoundRobin) => Some(SpreadRule::RoundRobin),
            Ok(pb::SpreadRule::LeastLoaded) => Some(SpreadRule::LeastLoaded),
            _ => {
                violations.add("rule", "must be SPREAD_RULE_ROUND_ROBIN or SPREAD_RULE_LEAST_LOADED");
                None
            }
        };
        if message.reason.trim().is_empty() {
            violations.add("reason", "a handover needs a reason");
        }
        violations.into_result()?;
        let (write, from, rule) = (checked(write)?, checked(from)?, checked(rule)?);

        let leaving = self.person(from).await?;
        let mut planned_receivers = Vec::new();
        for receiver in &receivers {
            let person = self.active_person(*receiver).await?;
            let limit = person.state.profile.as_ref().map_or(0, |profile| profile.caseload_limit as usize);
            planned_receivers.push(Receiver { id: *receiver, caseload: person.state.caseload.len(), limit });
        }
        let mut response = pb::TransferCaseloadResponse::default();
        let mut eligible = Vec::new();
        for family_id in &leaving.state.caseload {
            let assignment = self.assignments.load((*family_id).into()).await?;
            let part = part_request_id(&write.request_id, &family_id.to_string())?;
            if assignment.written_by(&part).is_some()
                || (assignment.state.current == Some(from) && assignment.state.pending.is_none())
            {
                eligible.push(*family_id);
            } else {
                let reason = match &assignment.state.pending {
                    Some(pending) => format!("handover {} is already pending", pending.handover_id),
                    None => format!("{from} is not the family's contact person"),
                };
                response.skipped.push(pb::SkippedFamily { family_id: family_id.to_string(), reason });
            }
        }
        let planned = plan(&eligible, &planned_receivers, rule);
        let reason = message.reason.trim().to_owned();
        let proposals = futures::stream::iter(planned.into_iter().map(|(family_id, to)| {
            let reason = reason.clone();
            let write = &write;
            async move {
                let Some(to) = to else {
                    return Err((family_id, "no receiver has room".to_owned()));
                };
                let part = Write {
                    request_id: part_request_id(&write.request_id, &family_id.to_string())
                        .map_err(|s| (family_id, s.message().to_owned()))?,
                    expected_version: None,
                    actor: write.actor.clone(),
                };
                let command = AssignmentCommand::Assign { to, handover_id: HandoverId::generate(), reason };
                let outcome = self
                    .assignments
                    .execute(family_id.into(), &part, &command, false)
                    .await
                    .map_err(|status| (family_id, status.message().to_owned()))?;
                let handover = outcome.events.iter().find_map(|event| match event {
                    AssignmentEvent::HandoverProposed(proposed) => Some((proposed.handover_id, proposed.to)),
                    _ => None,
                });
                handover.ok_or((family_id, "no handover was proposed".to_owned())).map(|(handover_id, to)| {
                    pb::TransferredFamily {
                        family_id: family_id.to_string(),
                        to_contact_person_id: to.to_string(),
                        handover_id: handover_id.to_string(),
                    }
                })
            }
        }))
        .buffered(TRANSFER_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        for proposal in proposals {
            match proposal {
                Ok(transferred) => response.proposed.push(transferred),
                Err((family_id, reason)) => {
                    response.skipped.push(pb::SkippedFamily { family_id: family_id.to_string(), reason });
                }
            }
        }
        tracing::info!(%from, proposed = response.proposed.len(), skipped = response.skipped.len(), "caseload transfer");
        Ok(Response::new(response))
    }

    async fn get_assignment(
        &self,
        request: Request<pb::GetAssignmentRequest>,
    ) -> Result<Response<pb::GetAssignmentResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let family_id = id(&mut violations, "family_id", &request.get_ref().family_id, FamilyId::parse);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        self.family(family_id, false).await?;
        let assignment = self.assignments.load(family_id.into()).await?;
        let pending_handover = assignment.state.pending.as_ref().map(|pending| pb::Handover {
            handover_id: pending.handover_id.to_string(),
            from_contact_person_id: pending.from.to_string(),
            to_contact_person_id: pending.to.to_string(),
            reason: pending.reason.plain().cloned().unwrap_or_default(),
        });
        Ok(Response::new(pb::GetAssignmentResponse {
            family_id: family_id.to_string(),
            contact_person_id: assignment.state.current.map(|id| id.to_string()).unwrap_or_default(),
            pending_handover,
            version: assignment.version,
            history: assignment
                .entries
                .iter()
                .map(|entry| luukku_service::parse::history_entry(entry, convert::assignment_summary))
                .collect(),
        }))
    }

    async fn record_contact(
        &self,
        request: Request<pb::RecordContactRequest>,
    ) -> Result<Response<pb::RecordContactResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let contact_id = optional_id(
            &mut violations,
            "contact_id",
            &message.contact_id,
            ContactId::parse,
            ContactId::generate,
        );
        let direction = convert::direction(&mut violations, message.direction);
        let party = match (message.member_id.is_empty(), message.professional_sector.is_empty()) {
            (false, true) => {
                id(&mut violations, "member_id", &message.member_id, MemberId::parse).map(Party::FamilyMember)
            }
            (true, false) => violations
                .check("professional_sector", message.professional_sector.parse::<Sector>())
                .map(Party::Professional),
            _ => {
                violations.add("member_id", "name either a family member or a professional's sector");
                None
            }
        };
        let channel = violations.check("channel", message.channel.parse::<Channel>());
        let needs = needs(&mut violations, &message.needs);
        let guidance = sectors(&mut violations, "guidance", &message.guidance);
        let follow_up = optional_date(&mut violations, "follow_up", &message.follow_up);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        let family = self.family(family_id, true).await?;
        let party = checked(party)?;
        if let Party::FamilyMember(member) = party
            && !family.state.members.contains_key(&member)
        {
            return Err(Status::not_found(format!("member {member} is not in family {family_id}")));
        }
        let command = ContactLogCommand::Record(ContactRecorded {
            contact_id: checked(contact_id)?,
            occurred_at: occurred_at(message.occurred_at_ms),
            direction: checked(direction)?,
            party,
            channel: checked(channel)?,
            needs,
            summary: Personal::Plain(message.summary.trim().to_owned()),
            guidance,
            follow_up: checked(follow_up)?,
        });
        let outcome = self.logs.execute(family_id.into(), &checked(write)?, &command, false).await?;
        let contact_id = outcome
            .events
            .iter()
            .find_map(|event| match event {
                ContactLogEvent::Recorded(recorded) => Some(recorded.contact_id.to_string()),
                ContactLogEvent::FollowUpCompleted(_) => None,
            })
            .unwrap_or_default();
        Ok(Response::new(pb::RecordContactResponse { result: Some(outcome.result), contact_id }))
    }

    async fn complete_follow_up(
        &self,
        request: Request<pb::CompleteFollowUpRequest>,
    ) -> Result<Response<pb::CompleteFollowUpResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, message.expected_version, actor);
        let family_id = id(&mut violations, "family_id", &message.family_id, FamilyId::parse);
        let contact_id = id(&mut violations, "contact_id", &message.contact_id, ContactId::parse);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        self.family(family_id, true).await?;
        let command =
            ContactLogCommand::CompleteFollowUp { contact_id: checked(contact_id)?, note: message.note };
        let outcome = self.logs.execute(family_id.into(), &checked(write)?, &command, false).await?;
        Ok(Response::new(pb::CompleteFollowUpResponse { result: Some(outcome.result) }))
    }

    async fn record_consultation(
        &self,
        request: Request<pb::RecordConsultationRequest>,
    ) -> Result<Response<pb::RecordConsultationResponse>, Status> {
        let actor = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let write = write(&mut violations, &message.request_id, None, actor);
        let sector = violations.check("sector", message.sector.parse::<Sector>());
        let channel = violations.check("channel", message.channel.parse::<Channel>());
        let needs = needs(&mut violations, &message.needs);
        let guidance = sectors(&mut violations, "guidance", &message.guidance);
        let municipality = if message.municipality.is_empty() {
            Some(None)
        } else {
            municipality(&mut violations, "municipality", &message.municipality).map(Some)
        };
        violations.into_result()?;
        let command = ConsultationRecorded {
            occurred_at: occurred_at(message.occurred_at_ms),
            sector: checked(sector)?,
            channel: checked(channel)?,
            needs,
            guidance,
            municipality: checked(municipality)?,
        };
        let outcome = self
            .consultations
            .execute(ConsultationId::generate().into(), &checked(write)?, &command, true)
            .await?;
        Ok(Response::new(pb::RecordConsultationResponse {
            result: Some(outcome.result),
            consultation_id: outcome.id.to_string(),
        }))
    }

    async fn list_family_contacts(
        &self,
        request: Request<pb::ListFamilyContactsRequest>,
    ) -> Result<Response<pb::ListFamilyContactsResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let family_id = id(&mut violations, "family_id", &request.get_ref().family_id, FamilyId::parse);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        self.family(family_id, false).await?;
        let log = self.logs.load(family_id.into()).await?;
        let mut contacts: Vec<_> = log
            .state
            .contacts
            .iter()
            .map(|(id, logged)| convert::contact_pb(family_id, *id, logged))
            .collect();
        contacts.sort_by_key(|contact| std::cmp::Reverse(contact.occurred_at_ms));
        Ok(Response::new(pb::ListFamilyContactsResponse { contacts }))
    }

    async fn list_follow_ups_due(
        &self,
        request: Request<pb::ListFollowUpsDueRequest>,
    ) -> Result<Response<pb::ListFollowUpsDueResponse>, Status> {
        caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let person_id =
            id(&mut violations, "contact_person_id", &message.contact_person_id, ContactPersonId::parse);
        let due_by = if message.due_by.is_empty() {
            Some(context_now().today)
        } else {
            date(&mut violations, "due_by", &message.due_by)
        };
        violations.into_result()?;
        let (person_id, due_by) = (checked(person_id)?, checked(due_by)?);
        let person = self.person(person_id).await?;
        let mut follow_ups = Vec::new();
        for family_id in &person.state.caseload {
            let log = self.logs.load((*family_id).into()).await?;
            follow_ups.extend(
                log.state
                    .contacts
                    .iter()
                    .filter(|(_, logged)| logged.follow_up_due(due_by))
                    .map(|(id, logged)| convert::contact_pb(*family_id, *id, logged)),
            );
        }
        follow_ups.sort_by(|a, b| a.follow_up.cmp(&b.follow_up));
        Ok(Response::new(pb::ListFollowUpsDueResponse { follow_ups }))
    }
}

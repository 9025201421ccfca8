//! `luukku.families.v1.FamilyService`.

use luukku_domain::Role;
use luukku_domain::family::{ConsentId, FamilyCommand, FamilyEvent, FamilyId};
use luukku_eventstore::KeyStore;
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_server::FamilyService;
use luukku_service::{Violations, caller, context_now};
use tonic::{Request, Response, Status};

use luukku_domain::family::Family;
use luukku_eventstore::{EventStore, streams};
use luukku_service::repository::{Keys, Outcome, Repository, Write};

use crate::convert;
use crate::errors::family_status;

/// The largest history page.
const MAX_PAGE: usize = 500;

pub struct FamiliesService<K: KeyStore> {
    repository: Repository<Family, K>,
}

impl<K: KeyStore> FamiliesService<K> {
    pub fn new(store: EventStore, keys: K) -> Self {
        let repository =
            Repository::new(store, keys, streams::FAMILIES, Keys::CreatesFamilyKey, family_status);
        Self { repository }
    }

    async fn run(
        &self,
        family_id: FamilyId,
        write: &Write,
        command: FamilyCommand,
    ) -> Result<Outcome<FamilyEvent>, Status> {
        let creates = matches!(command, FamilyCommand::Register { .. });
        let outcome = self.repository.execute(family_id.into(), write, &command, creates).await?;
        let family_id = FamilyId::from_ulid(outcome.id.as_ulid());
        if outcome.events.contains(&FamilyEvent::Erased) {
            // After the event, so a retry of the same request completes a deletion that failed.
            self.repository
                .keys()
                .erase(&family_id.to_string())
                .await
                .map_err(luukku_service::store_status)?;
            tracing::info!(%family_id, "family key erased");
        }
        tracing::info!(
            %family_id,
            request_id = %write.request_id,
            version = outcome.result.version,
            replayed = outcome.result.replayed,
            "family command"
        );
        Ok(outcome)
    }
}

use luukku_service::parse::checked;

/// The request id, family id and expected version every change of an existing family carries.
fn change<T>(
    request: &Request<T>,
    request_id: &str,
    family_id: &str,
    expected_version: Option<u64>,
    violations: &mut Violations,
) -> Result<(Option<Write>, Option<FamilyId>), Status> {
    let actor = caller(request)?;
    let write = convert::write(violations, request_id, expected_version, actor);
    let family_id = convert::family_id(violations, family_id);
    Ok((write, family_id))
}

#[tonic::async_trait]
impl<K: KeyStore> FamilyService for FamiliesService<K> {
    async fn register_family(
        &self,
        request: Request<pb::RegisterFamilyRequest>,
    ) -> Result<Response<pb::RegisterFamilyResponse>, Status> {
        let actor = caller(&request)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let write = convert::write(&mut violations, &request.request_id, None, actor);
        let family_id = convert::optional_id(
            &mut violations,
            "family_id",
            &request.family_id,
            FamilyId::parse,
            FamilyId::generate,
        );
        let municipality = convert::municipality(&mut violations, "municipality", &request.municipality);
        let members: Vec<_> = request
            .members
            .iter()
            .enumerate()
            .map(|(index, member)| {
                convert::new_member(&mut violations, &format!("members[{index}]"), Some(member))
            })
            .collect();
        violations.into_result()?;
        let command = FamilyCommand::Register {
            municipality: checked(municipality)?,
            members: members.into_iter().map(checked).collect::<Result<_, _>>()?,
        };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        let member_ids = match outcome.events.first() {
            Some(FamilyEvent::Registered(registered)) => {
                registered.members.iter().map(|member| member.member_id.to_string()).collect()
            }
            _ => Vec::new(),
        };
        Ok(Response::new(pb::RegisterFamilyResponse {
            result: Some(outcome.result),
            family_id: outcome.id.to_string(),
            member_ids,
        }))
    }

    async fn add_member(
        &self,
        request: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::AddMemberResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let member = convert::new_member(&mut violations, "member", message.member.as_ref());
        violations.into_result()?;
        let outcome = self
            .run(checked(family_id)?, &checked(write)?, FamilyCommand::AddMember(checked(member)?))
            .await?;
        let member_id = outcome
            .events
            .iter()
            .find_map(|event| match event {
                FamilyEvent::MemberAdded(joined) => Some(joined.member_id.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Response::new(pb::AddMemberResponse { result: Some(outcome.result), member_id }))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::UpdateMemberResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let member_id = convert::member_id(&mut violations, "member_id", &message.member_id);
        let input = convert::member_input(&mut violations, "details", message.details.as_ref(), true);
        violations.into_result()?;
        let (role, details) = checked(input)?;
        let command = FamilyCommand::UpdateMember { member_id: checked(member_id)?, role, details };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::UpdateMemberResponse { result: Some(outcome.result) }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let member_id = convert::member_id(&mut violations, "member_id", &message.member_id);
        violations.into_result()?;
        let command =
            FamilyCommand::RemoveMember { member_id: checked(member_id)?, reason: message.reason.clone() };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::RemoveMemberResponse { result: Some(outcome.result) }))
    }

    async fn change_municipality(
        &self,
        request: Request<pb::ChangeMunicipalityRequest>,
    ) -> Result<Response<pb::ChangeMunicipalityResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let municipality = convert::municipality(&mut violations, "municipality", &message.municipality);
        violations.into_result()?;
        let command = FamilyCommand::ChangeMunicipality { municipality: checked(municipality)? };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::ChangeMunicipalityResponse { result: Some(outcome.result) }))
    }

    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let consent_id = convert::optional_id(
            &mut violations,
            "consent_id",
            &message.consent_id,
            ConsentId::parse,
            ConsentId::generate,
        );
        let given_by = convert::member_id(&mut violations, "given_by", &message.given_by);
        let concerns = if message.concerns_member_id.is_empty() {
            Some(None)
        } else {
            convert::member_id(&mut violations, "concerns_member_id", &message.concerns_member_id).map(Some)
        };
        let sectors = convert::sectors(&mut violations, &message.sectors);
        let valid_from = if message.valid_from.is_empty() {
            Some(context_now().today)
        } else {
            convert::date(&mut violations, "valid_from", &message.valid_from)
        };
        let valid_until = convert::date(&mut violations, "valid_until", &message.valid_until);
        violations.into_result()?;
        let command = FamilyCommand::GrantConsent {
            consent_id: checked(consent_id)?,
            given_by: checked(given_by)?,
            concerns: checked(concerns)?,
            sectors,
            purpose: message.purpose.clone(),
            valid_from: checked(valid_from)?,
            valid_until: checked(valid_until)?,
        };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        let consent_id = outcome
            .events
            .iter()
            .find_map(|event| match event {
                FamilyEvent::ConsentGranted(granted) => Some(granted.consent_id.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Response::new(pb::GrantConsentResponse { result: Some(outcome.result), consent_id }))
    }

    async fn revoke_consent(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let consent_id = violations.check("consent_id", ConsentId::parse(&message.consent_id));
        let revoked_by = convert::member_id(&mut violations, "revoked_by", &message.revoked_by);
        violations.into_result()?;
        let command = FamilyCommand::RevokeConsent {
            consent_id: checked(consent_id)?,
            revoked_by: checked(revoked_by)?,
        };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::RevokeConsentResponse { result: Some(outcome.result) }))
    }

    async fn close_family(
        &self,
        request: Request<pb::CloseFamilyRequest>,
    ) -> Result<Response<pb::CloseFamilyResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        let reason = convert::close_reason(&mut violations, message.reason);
        violations.into_result()?;
        let command = FamilyCommand::Close { reason: checked(reason)?, note: message.note.clone() };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::CloseFamilyResponse { result: Some(outcome.result) }))
    }

    async fn reopen_family(
        &self,
        request: Request<pb::ReopenFamilyRequest>,
    ) -> Result<Response<pb::ReopenFamilyResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        violations.into_result()?;
        let command = FamilyCommand::Reopen { note: message.note.clone() };
        let outcome = self.run(checked(family_id)?, &checked(write)?, command).await?;
        Ok(Response::new(pb::ReopenFamilyResponse { result: Some(outcome.result) }))
    }

    async fn erase_family(
        &self,
        request: Request<pb::EraseFamilyRequest>,
    ) -> Result<Response<pb::EraseFamilyResponse>, Status> {
        let mut violations = Violations::new();
        let message = request.get_ref();
        let (write, family_id) = change(
            &request,
            &message.request_id,
            &message.family_id,
            message.expected_version,
            &mut violations,
        )?;
        violations.into_result()?;
        let write = checked(write)?;
        if !matches!(write.actor.role, Role::ContactPerson | Role::Operator) {
            return Err(Status::permission_denied(format!(
                "erasure is carried out by a contact person or an operator, not by a {}",
                write.actor.role.as_code()
            )));
        }
        let outcome = self.run(checked(family_id)?, &write, FamilyCommand::Erase).await?;
        Ok(Response::new(pb::EraseFamilyResponse { result: Some(outcome.result) }))
    }

    async fn get_family(
        &self,
        request: Request<pb::GetFamilyRequest>,
    ) -> Result<Response<pb::GetFamilyResponse>, Status> {
        caller(&request)?;
        let mut violations = Violations::new();
        let family_id = convert::family_id(&mut violations, &request.get_ref().family_id);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        let loaded = self.repository.load(family_id.into()).await?;
        if loaded.version == 0 {
            return Err(Status::not_found(format!("family {family_id} not found")));
        }
        let family = convert::family_pb(
            family_id,
            &loaded.state,
            loaded.version,
            &loaded.entries,
            context_now().today,
        );
        Ok(Response::new(pb::GetFamilyResponse { family: Some(family) }))
    }

    async fn list_family_history(
        &self,
        request: Request<pb::ListFamilyHistoryRequest>,
    ) -> Result<Response<pb::ListFamilyHistoryResponse>, Status> {
        caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let family_id = convert::family_id(&mut violations, &message.family_id);
        violations.into_result()?;
        let family_id = checked(family_id)?;
        let loaded = self.repository.load(family_id.into()).await?;
        if loaded.version == 0 {
            return Err(Status::not_found(format!("family {family_id} not found")));
        }
        let page_size = match usize::try_from(message.page_size).unwrap_or(MAX_PAGE) {
            0 => MAX_PAGE,
            size => size.min(MAX_PAGE),
        };
        let remaining: Vec<_> = loaded
            .entries
            .iter()
            .filter(|entry| entry.recorded.position.sequence > message.after_version)
            .collect();
        let entries: Vec<_> =
            remaining.iter().take(page_size).map(|entry| convert::history_entry(entry)).collect();
        let next_after_version =
            if remaining.len() > page_size { entries.last().map_or(0, |entry| entry.version) } else { 0 };
        Ok(Response::new(pb::ListFamilyHistoryResponse { entries, next_after_version }))
    }
}

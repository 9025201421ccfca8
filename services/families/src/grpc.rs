//! `luukku.families.v1.FamilyService`: each call decodes its request, calls the application
//! and encodes the answer.

mod decode;
mod encode;

use luukku_app::{Guard, context_now};
use luukku_domain::access::{Action, Target};
use luukku_domain::family::FamilyCommand;
use luukku_eventstore::KeyStore;
use luukku_grpc::decode::page_size;
use luukku_grpc::{caller, check, status, status_with};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_server::FamilyService;
use tonic::{Request, Response, Status};

use crate::app::Families;

/// The largest history page.
const MAX_PAGE: usize = 500;

pub struct FamilyGrpc<K: KeyStore> {
    app: Families<K>,
    guard: Guard,
}

impl<K: KeyStore> FamilyGrpc<K> {
    pub fn new(app: Families<K>, guard: Guard) -> Self {
        Self { app, guard }
    }
}

#[tonic::async_trait]
impl<K: KeyStore> FamilyService for FamilyGrpc<K> {
    async fn register_family(
        &self,
        request: Request<pb::RegisterFamilyRequest>,
    ) -> Result<Response<pb::RegisterFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::register(request.get_ref(), &caller)?;
        check(&self.guard, &caller, Action::RegisterFamily, Target::family(family_id)).await?;
        let registered = self
            .app
            .register(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::register_paths))?;
        Ok(Response::new(encode::registered(registered)))
    }

    async fn add_member(
        &self,
        request: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::AddMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::add_member(request.get_ref())?;
        check(&self.guard, &caller, Action::AddMember, Target::family(family_id)).await?;
        let (written, member_id) = self
            .app
            .add_member(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::add_member_paths))?;
        Ok(Response::new(pb::AddMemberResponse {
            result: encode::written(written),
            member_id: member_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::UpdateMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::update_member(request.get_ref())?;
        check(&self.guard, &caller, Action::UpdateMember, Target::family(family_id)).await?;
        let written = self
            .app
            .change(&caller, &write, family_id, command)
            .await
            .map_err(status_with(decode::update_member_paths))?;
        Ok(Response::new(pb::UpdateMemberResponse { result: encode::written(written) }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::remove_member(request.get_ref())?;
        check(&self.guard, &caller, Action::RemoveMember, Target::family(family_id)).await?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::RemoveMemberResponse { result: encode::written(written) }))
    }

    async fn change_municipality(
        &self,
        request: Request<pb::ChangeMunicipalityRequest>,
    ) -> Result<Response<pb::ChangeMunicipalityResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::change_municipality(request.get_ref())?;
        check(&self.guard, &caller, Action::ChangeMunicipality, Target::family(family_id)).await?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::ChangeMunicipalityResponse { result: encode::written(written) }))
    }

    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::grant_consent(request.get_ref(), context_now().today)?;
        let given_by = match &command {
            FamilyCommand::GrantConsent { given_by, .. } => Some(*given_by),
            _ => None,
        };
        let signed_form =
            Some(request.get_ref().signed_form.trim().to_owned()).filter(|form| !form.is_empty());
        let target = Target { member: given_by, signed_form, ..Target::family(family_id) };
        check(&self.guard, &caller, Action::GrantConsent, target).await?;
        let (written, consent_id) =
            self.app.grant_consent(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::GrantConsentResponse {
            result: encode::written(written),
            consent_id: consent_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn revoke_consent(
        &self,
        request: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::revoke_consent(request.get_ref())?;
        let revoked_by = match &command {
            FamilyCommand::RevokeConsent { revoked_by, .. } => Some(*revoked_by),
            _ => None,
        };
        let target = Target { member: revoked_by, ..Target::family(family_id) };
        check(&self.guard, &caller, Action::RevokeConsent, target).await?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::RevokeConsentResponse { result: encode::written(written) }))
    }

    async fn link_member(
        &self,
        request: Request<pb::LinkMemberRequest>,
    ) -> Result<Response<pb::LinkMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, member_id, subject) = decode::link_member(request.get_ref())?;
        check(
            &self.guard,
            &caller,
            Action::LinkMember,
            Target { member: Some(member_id), ..Target::family(family_id) },
        )
        .await?;
        let written =
            self.app.link_member(&caller, &write, family_id, member_id, &subject).await.map_err(status)?;
        Ok(Response::new(pb::LinkMemberResponse { result: encode::written(written) }))
    }

    async fn unlink_member(
        &self,
        request: Request<pb::UnlinkMemberRequest>,
    ) -> Result<Response<pb::UnlinkMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, member_id) = decode::unlink_member(request.get_ref())?;
        check(
            &self.guard,
            &caller,
            Action::UnlinkMember,
            Target { member: Some(member_id), ..Target::family(family_id) },
        )
        .await?;
        let written = self.app.unlink_member(&caller, &write, family_id, member_id).await.map_err(status)?;
        Ok(Response::new(pb::UnlinkMemberResponse { result: encode::written(written) }))
    }

    async fn close_family(
        &self,
        request: Request<pb::CloseFamilyRequest>,
    ) -> Result<Response<pb::CloseFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::close(request.get_ref())?;
        check(&self.guard, &caller, Action::CloseFamily, Target::family(family_id)).await?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::CloseFamilyResponse { result: encode::written(written) }))
    }

    async fn reopen_family(
        &self,
        request: Request<pb::ReopenFamilyRequest>,
    ) -> Result<Response<pb::ReopenFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::reopen(request.get_ref())?;
        check(&self.guard, &caller, Action::ReopenFamily, Target::family(family_id)).await?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::ReopenFamilyResponse { result: encode::written(written) }))
    }

    async fn request_erasure(
        &self,
        request: Request<pb::RequestErasureRequest>,
    ) -> Result<Response<pb::RequestErasureResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, erasure_id, ground, on_behalf_of) =
            decode::request_erasure(request.get_ref())?;
        let target = Target { member: on_behalf_of, ..Target::family(family_id) };
        check(&self.guard, &caller, Action::RequestErasure, target).await?;
        let (written, erasure_id) = self
            .app
            .request_erasure(&caller, &write, family_id, erasure_id, ground, on_behalf_of)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RequestErasureResponse {
            result: encode::written(written),
            erasure_id: erasure_id.to_string(),
        }))
    }

    async fn approve_erasure(
        &self,
        request: Request<pb::ApproveErasureRequest>,
    ) -> Result<Response<pb::ApproveErasureResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, erasure_id) = decode::approve_erasure(request.get_ref())?;
        check(&self.guard, &caller, Action::ApproveErasure, Target::family(family_id)).await?;
        let written =
            self.app.approve_erasure(&caller, &write, family_id, erasure_id).await.map_err(status)?;
        Ok(Response::new(pb::ApproveErasureResponse { result: encode::written(written) }))
    }

    async fn erase_family(
        &self,
        request: Request<pb::EraseFamilyRequest>,
    ) -> Result<Response<pb::EraseFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id) = decode::erase(request.get_ref())?;
        check(&self.guard, &caller, Action::EraseFamily, Target::family(family_id)).await?;
        let written = self.app.erase(&caller, &write, family_id).await.map_err(status)?;
        Ok(Response::new(pb::EraseFamilyResponse { result: encode::written(written) }))
    }

    async fn get_family(
        &self,
        request: Request<pb::GetFamilyRequest>,
    ) -> Result<Response<pb::GetFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let family_id = decode::family_id(&request.get_ref().family_id)?;
        let granted = check(&self.guard, &caller, Action::GetFamily, Target::family(family_id)).await?;
        let family = self.app.get(&caller, family_id).await.map_err(status)?;
        let (family, withheld) =
            encode::shaped_family(encode::family(&family, context_now().today), &granted.scope);
        Ok(Response::new(pb::GetFamilyResponse { family: Some(family), withheld }))
    }

    async fn list_family_history(
        &self,
        request: Request<pb::ListFamilyHistoryRequest>,
    ) -> Result<Response<pb::ListFamilyHistoryResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let family_id = decode::family_id(&message.family_id)?;
        check(&self.guard, &caller, Action::ListFamilyHistory, Target::family(family_id)).await?;
        let page_size = page_size(message.page_size, luukku_grpc::paging::DEFAULT_PAGE, MAX_PAGE);
        let page =
            self.app.history(&caller, family_id, message.after_version, page_size).await.map_err(status)?;
        Ok(Response::new(encode::history(&page)))
    }
}

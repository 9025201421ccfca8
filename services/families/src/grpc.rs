//! `luukku.families.v1.FamilyService`: each call decodes its request, calls the application
//! and encodes the answer.

mod decode;
mod encode;

use luukku_app::context_now;
use luukku_eventstore::KeyStore;
use luukku_grpc::decode::page_size;
use luukku_grpc::{caller, status, status_with};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_server::FamilyService;
use tonic::{Request, Response, Status};

use crate::app::Families;

/// The largest history page.
const MAX_PAGE: usize = 500;

pub struct FamilyGrpc<K: KeyStore> {
    app: Families<K>,
}

impl<K: KeyStore> FamilyGrpc<K> {
    pub fn new(app: Families<K>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl<K: KeyStore> FamilyService for FamilyGrpc<K> {
    async fn register_family(
        &self,
        request: Request<pb::RegisterFamilyRequest>,
    ) -> Result<Response<pb::RegisterFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::register(request.get_ref())?;
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
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::RemoveMemberResponse { result: encode::written(written) }))
    }

    async fn change_municipality(
        &self,
        request: Request<pb::ChangeMunicipalityRequest>,
    ) -> Result<Response<pb::ChangeMunicipalityResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::change_municipality(request.get_ref())?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::ChangeMunicipalityResponse { result: encode::written(written) }))
    }

    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::grant_consent(request.get_ref(), context_now().today)?;
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
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::RevokeConsentResponse { result: encode::written(written) }))
    }

    async fn link_member(
        &self,
        request: Request<pb::LinkMemberRequest>,
    ) -> Result<Response<pb::LinkMemberResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, member_id, subject) = decode::link_member(request.get_ref())?;
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
        let written = self.app.unlink_member(&caller, &write, family_id, member_id).await.map_err(status)?;
        Ok(Response::new(pb::UnlinkMemberResponse { result: encode::written(written) }))
    }

    async fn close_family(
        &self,
        request: Request<pb::CloseFamilyRequest>,
    ) -> Result<Response<pb::CloseFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::close(request.get_ref())?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::CloseFamilyResponse { result: encode::written(written) }))
    }

    async fn reopen_family(
        &self,
        request: Request<pb::ReopenFamilyRequest>,
    ) -> Result<Response<pb::ReopenFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id, command) = decode::reopen(request.get_ref())?;
        let written = self.app.change(&caller, &write, family_id, command).await.map_err(status)?;
        Ok(Response::new(pb::ReopenFamilyResponse { result: encode::written(written) }))
    }

    async fn erase_family(
        &self,
        request: Request<pb::EraseFamilyRequest>,
    ) -> Result<Response<pb::EraseFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, family_id) = decode::erase(request.get_ref())?;
        let written = self.app.erase(&caller, &write, family_id).await.map_err(status)?;
        Ok(Response::new(pb::EraseFamilyResponse { result: encode::written(written) }))
    }

    async fn get_family(
        &self,
        request: Request<pb::GetFamilyRequest>,
    ) -> Result<Response<pb::GetFamilyResponse>, Status> {
        let caller = caller(&request).await?;
        let family_id = decode::family_id(&request.get_ref().family_id)?;
        let family = self.app.get(&caller, family_id).await.map_err(status)?;
        Ok(Response::new(pb::GetFamilyResponse {
            family: Some(encode::family(&family, context_now().today)),
        }))
    }

    async fn list_family_history(
        &self,
        request: Request<pb::ListFamilyHistoryRequest>,
    ) -> Result<Response<pb::ListFamilyHistoryResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let family_id = decode::family_id(&message.family_id)?;
        let page_size = page_size(message.page_size, MAX_PAGE, MAX_PAGE);
        let page =
            self.app.history(&caller, family_id, message.after_version, page_size).await.map_err(status)?;
        Ok(Response::new(encode::history(&page)))
    }
}

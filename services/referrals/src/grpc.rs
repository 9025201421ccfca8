//! `luukku.referrals.v1.ReferralService`: each call decodes its request, calls the application
//! and encodes the answer.

mod decode;
mod encode;

use std::sync::Arc;

use luukku_app::{Guard, context_now};
use luukku_domain::access::{Action, ReferralStep, Scope, Target};
use luukku_domain::referrals::{ReferralCommand, ServiceCommand};
use luukku_eventstore::KeyStore;
use luukku_grpc::decode::page_size;
use luukku_grpc::{caller, check, status, status_with};
use luukku_proto::referrals::v1 as pb;
use luukku_proto::referrals::v1::referral_service_server::ReferralService;
use tonic::{Request, Response, Status};

use crate::app::{Referrals, StepRequest};

/// The largest page of a referral list.
const MAX_PAGE: usize = 500;

pub struct ReferralGrpc<K: KeyStore> {
    app: Arc<Referrals<K>>,
    guard: Guard,
}

impl<K: KeyStore> ReferralGrpc<K> {
    pub fn new(app: Arc<Referrals<K>>, guard: Guard) -> Self {
        Self { app, guard }
    }

    async fn service_status(
        &self,
        request: Request<pb::ServiceStatusRequest>,
        command: fn(String) -> ServiceCommand,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, service_id) = decode::service_status(request.get_ref())?;
        let action = match command(String::new()) {
            ServiceCommand::Pause { .. } => Action::PauseService,
            ServiceCommand::Resume => Action::ResumeService,
            _ => Action::RetireService,
        };
        check(&self.guard, &caller, action, Target::default()).await?;
        let command = command(request.into_inner().reason);
        let written = self.app.change_service(&caller, &write, service_id, command).await.map_err(status)?;
        Ok(Response::new(pb::ServiceWriteResponse { result: encode::written(written) }))
    }
}

#[tonic::async_trait]
impl<K: KeyStore> ReferralService for ReferralGrpc<K> {
    async fn register_service(
        &self,
        request: Request<pb::RegisterServiceRequest>,
    ) -> Result<Response<pb::RegisterServiceResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, service_id, info) = decode::register_service(request.get_ref(), &caller)?;
        check(&self.guard, &caller, Action::RegisterService, Target::default()).await?;
        let (service_id, written) = self
            .app
            .register_service(&caller, &write, service_id, info)
            .await
            .map_err(status_with(decode::info_paths))?;
        Ok(Response::new(pb::RegisterServiceResponse {
            result: encode::written(written),
            service_id: service_id.to_string(),
        }))
    }

    async fn update_service(
        &self,
        request: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, service_id, command) = decode::update_service(request.get_ref())?;
        check(&self.guard, &caller, Action::UpdateService, Target::default()).await?;
        let written = self
            .app
            .change_service(&caller, &write, service_id, command)
            .await
            .map_err(status_with(decode::info_paths))?;
        Ok(Response::new(pb::ServiceWriteResponse { result: encode::written(written) }))
    }

    async fn pause_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_status(request, |reason| ServiceCommand::Pause { reason }).await
    }

    async fn resume_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_status(request, |_| ServiceCommand::Resume).await
    }

    async fn retire_service(
        &self,
        request: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceWriteResponse>, Status> {
        self.service_status(request, |reason| ServiceCommand::Retire { reason }).await
    }

    async fn search_services(
        &self,
        request: Request<pb::SearchServicesRequest>,
    ) -> Result<Response<pb::SearchServicesResponse>, Status> {
        let caller = caller(&request).await?;
        let filter = decode::service_filter(request.get_ref())?;
        let requested =
            luukku_grpc::paging::requested(request.get_ref().page_size, &request.get_ref().page_token)?;
        check(&self.guard, &caller, Action::SearchServices, Target::default()).await?;
        let services = self.app.search_services(&caller, &filter).await.map_err(status)?;
        let (services, next_page_token) =
            luukku_grpc::paging::page(services, |(id, _)| id.to_string(), &requested);
        Ok(Response::new(pb::SearchServicesResponse {
            services: services.iter().map(|(id, service)| encode::service(*id, service)).collect(),
            next_page_token,
        }))
    }

    async fn create_referral(
        &self,
        request: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::CreateReferralResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, referral_id, referral) = decode::create_referral(request.get_ref(), &caller)?;
        let target = Target {
            member: referral.child,
            statutory: referral.statutory.as_ref().map(|(basis, _)| *basis),
            to_sector: self.app.service_sector(referral.service_id).await.map_err(status)?,
            ..Target::family(referral.family_id)
        };
        let granted = check(&self.guard, &caller, Action::CreateReferral, target).await?;
        let created = self
            .app
            .create_referral(&caller, &write, referral_id, referral)
            .await
            .map_err(status_with(decode::referral_paths))?;
        let mut response = encode::created(created);
        if granted.scope != Scope::Whole {
            // Other referrals of the child are the family's, not the sender's, to know.
            response.possible_duplicates.clear();
        }
        Ok(Response::new(response))
    }

    async fn update_referral(
        &self,
        request: Request<pb::UpdateReferralRequest>,
    ) -> Result<Response<pb::UpdateReferralResponse>, Status> {
        let caller = caller(&request).await?;
        let (write, referral_id, step) = decode::update_referral(request.into_inner())?;
        let kind = match &step {
            StepRequest::Other(ReferralCommand::Cancel { .. }) => ReferralStep::Cancel,
            _ => ReferralStep::Receiving,
        };
        let target = Target { referral: Some(referral_id), step: Some(kind), ..Target::default() };
        check(&self.guard, &caller, Action::UpdateReferral, target).await?;
        let (written, state) = self
            .app
            .update_referral(&caller, &write, referral_id, step)
            .await
            .map_err(status_with(decode::step_paths))?;
        Ok(Response::new(pb::UpdateReferralResponse {
            result: encode::written(written),
            state: state.map(|state| state.as_code().to_owned()).unwrap_or_default(),
        }))
    }

    async fn get_referral(
        &self,
        request: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        let caller = caller(&request).await?;
        let referral_id = decode::referral_id(&request.get_ref().referral_id)?;
        let granted = check(
            &self.guard,
            &caller,
            Action::GetReferral,
            Target { referral: Some(referral_id), ..Target::default() },
        )
        .await?;
        let record = self.app.get_referral(&caller, referral_id).await.map_err(status)?;
        Ok(Response::new(encode::get_referral(
            &record,
            context_now().now,
            &granted.scope,
            caller.actor.sector,
        )))
    }

    async fn list_referrals(
        &self,
        request: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let (filter, after) = decode::referral_filter(message)?;
        let target = Target {
            family: filter.family,
            sector: filter.sector,
            contact_person: filter.contact_person,
            ..Target::default()
        };
        let granted = check(&self.guard, &caller, Action::ListReferrals, target).await?;
        let page_size = page_size(message.page_size, luukku_grpc::paging::DEFAULT_PAGE, MAX_PAGE);
        let page = self.app.list_referrals(&caller, &filter, after, page_size).await.map_err(status)?;
        let now = context_now().now;
        if filter.family.is_none() {
            let found: Vec<_> = page
                .referrals
                .iter()
                .filter_map(|record| record.state.created.as_ref().map(|c| c.family_id))
                .collect();
            self.guard
                .record_found(&caller, Action::ListReferrals, &found, &granted.basis)
                .await
                .map_err(status)?;
        }
        Ok(Response::new(encode::referral_page(&page, now, &granted.scope, caller.actor.sector)))
    }
}

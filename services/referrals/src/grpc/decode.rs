//! Referrals requests into commands, and the domain's field names into request paths.

use luukku_app::{Caller, Write};
use luukku_domain::Field;
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{FamilyId, MemberId, Municipality};
use luukku_domain::referrals::{ReferralCommand, ReferralId, ServiceCommand, ServiceId, ServiceInfo};
use luukku_grpc::Decoder;
use luukku_proto::referrals::v1 as pb;
use luukku_proto::referrals::v1::update_referral_request::Step;
use tonic::Status;

use crate::app::{NewReferral, ReferralFilter, ServiceFilter, StepRequest};

pub fn referral_id(value: &str) -> Result<ReferralId, Status> {
    let mut decoder = Decoder::new();
    let referral_id = decoder.id("referral_id", value, ReferralId::parse);
    decoder.finish(|| referral_id)
}

fn info(decoder: &mut Decoder, input: Option<&pb::ServiceInfo>) -> Option<ServiceInfo> {
    let Some(input) = input else {
        decoder.bad("info", "is required");
        return None;
    };
    let sector = decoder.code("info.sector", &input.sector);
    let min_age = decoder.number("info.min_age", input.min_age, "0 to 255");
    let max_age = decoder.number("info.max_age", input.max_age, "0 to 255");
    let needs = decoder.codes("info.needs", &input.needs);
    let municipalities = decoder.list("info.municipalities", &input.municipalities, Municipality::parse);
    Some(ServiceInfo {
        provider: input.provider.trim().to_owned(),
        sector: sector?,
        name: input.name.trim().to_owned(),
        description: input.description.trim().to_owned(),
        min_age: min_age?,
        max_age: max_age?,
        needs,
        municipalities,
        low_threshold: input.low_threshold,
        contact: input.contact.trim().to_owned(),
    })
}

/// A service's fields are named within `info`.
pub fn info_paths(field: &Field) -> String {
    format!("info.{field}")
}

pub fn register_service(
    message: &pb::RegisterServiceRequest,
    caller: &Caller,
) -> Result<(Write, ServiceId, ServiceInfo), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let service_id = decoder.creates(
        "service_id",
        &message.service_id,
        ServiceId::parse,
        ServiceId::from_ulid,
        write.as_ref(),
        caller,
        "service",
    );
    let info = info(&mut decoder, message.info.as_ref());
    decoder.finish(|| Some((write?, service_id?, info?)))
}

pub fn update_service(
    message: &pb::UpdateServiceRequest,
) -> Result<(Write, ServiceId, ServiceCommand), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let service_id = decoder.id("service_id", &message.service_id, ServiceId::parse);
    let info = info(&mut decoder, message.info.as_ref());
    decoder.finish(|| Some((write?, service_id?, ServiceCommand::Update(info?))))
}

pub fn service_status(message: &pb::ServiceStatusRequest) -> Result<(Write, ServiceId), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let service_id = decoder.id("service_id", &message.service_id, ServiceId::parse);
    decoder.finish(|| Some((write?, service_id?)))
}

pub fn service_filter(message: &pb::SearchServicesRequest) -> Result<ServiceFilter, Status> {
    let mut decoder = Decoder::new();
    let sector = decoder.optional_code("sector", &message.sector);
    let need = decoder.optional_code("need", &message.need);
    let age = match message.age {
        Some(age) => decoder.number("age", age, "0 to 255").map(Some),
        None => Some(None),
    };
    let municipality = if message.municipality.is_empty() {
        Some(None)
    } else {
        decoder.municipality("municipality", &message.municipality).map(Some)
    };
    decoder.finish(|| {
        Some(ServiceFilter {
            sector: sector?,
            need: need?,
            age: age?,
            municipality: municipality?,
            taking_referrals: message.taking_referrals,
        })
    })
}

pub fn create_referral(
    message: &pb::CreateReferralRequest,
    caller: &Caller,
) -> Result<(Write, ReferralId, NewReferral), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let referral_id = decoder.creates(
        "referral_id",
        &message.referral_id,
        ReferralId::parse,
        ReferralId::from_ulid,
        write.as_ref(),
        caller,
        "referral",
    );
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let child = decoder.optional_id("child_member_id", &message.child_member_id, MemberId::parse);
    let service_id = decoder.id("service_id", &message.service_id, ServiceId::parse);
    let needs = decoder.codes("needs", &message.needs);
    let urgency = decoder.code("urgency", &message.urgency);
    let statutory = match &message.statutory_basis {
        Some(basis) => {
            decoder.code("statutory_basis.basis", &basis.basis).map(|code| Some((code, basis.note.clone())))
        }
        None => Some(None),
    };
    decoder.finish(|| {
        let referral = NewReferral {
            family_id: family_id?,
            child: child?,
            service_id: service_id?,
            needs,
            urgency: urgency?,
            reason: message.reason.clone(),
            statutory: statutory?,
        };
        Some((write?, referral_id?, referral))
    })
}

pub fn referral_paths(field: &Field) -> String {
    match field.name {
        "child" => "child_member_id".to_owned(),
        "statutory_note" => "statutory_basis.note".to_owned(),
        _ => field.to_string(),
    }
}

pub fn update_referral(
    message: pb::UpdateReferralRequest,
) -> Result<(Write, ReferralId, StepRequest), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(&message, &message.request_id, message.expected_version);
    let referral_id = decoder.id("referral_id", &message.referral_id, ReferralId::parse);
    let step = match message.step {
        Some(Step::Receive(_)) => Some(StepRequest::Other(ReferralCommand::Receive)),
        Some(Step::Accept(_)) => Some(StepRequest::Other(ReferralCommand::Accept)),
        Some(Step::Reject(reject)) => decoder
            .code("reject.reason", &reject.reason)
            .map(|reason| StepRequest::Other(ReferralCommand::Reject { reason, note: reject.note })),
        Some(Step::Start(_)) => Some(StepRequest::Other(ReferralCommand::Start)),
        Some(Step::Complete(note)) => {
            Some(StepRequest::Other(ReferralCommand::Complete { outcome: note.note }))
        }
        Some(Step::Fail(note)) => Some(StepRequest::Other(ReferralCommand::Fail { note: note.note })),
        Some(Step::Hold(note)) => Some(StepRequest::Other(ReferralCommand::Hold { note: note.note })),
        Some(Step::Resume(_)) => Some(StepRequest::Other(ReferralCommand::Resume)),
        Some(Step::Cancel(note)) => Some(StepRequest::Other(ReferralCommand::Cancel { note: note.note })),
        Some(Step::Redirect(redirect)) => decoder
            .id("redirect.service_id", &redirect.service_id, ServiceId::parse)
            .map(|service_id| StepRequest::Redirect { service_id, note: redirect.note }),
        None => {
            decoder.bad(
                "step",
                "name the step: receive, accept, reject, start, complete, fail, hold, resume, cancel or redirect",
            );
            None
        }
    };
    decoder.finish(|| Some((write?, referral_id?, step?)))
}

pub fn step_paths(field: &Field) -> String {
    match field.name {
        "outcome" => "complete.note".to_owned(),
        "service_id" => "redirect.service_id".to_owned(),
        _ => field.to_string(),
    }
}

pub fn referral_filter(
    message: &pb::ListReferralsRequest,
) -> Result<(ReferralFilter, Option<ReferralId>), Status> {
    let mut decoder = Decoder::new();
    let sector = decoder.optional_code("sector", &message.sector);
    let contact_person =
        decoder.optional_id("contact_person_id", &message.contact_person_id, ContactPersonId::parse);
    let family = decoder.optional_id("family_id", &message.family_id, FamilyId::parse);
    let states = decoder.codes("states", &message.states);
    if message.sector.is_empty() && message.contact_person_id.is_empty() && message.family_id.is_empty() {
        decoder.bad("sector", "name a sector, a contact person or a family");
    }
    let after = decoder.optional_id("page_token", &message.page_token, ReferralId::parse);
    decoder.finish(|| {
        let filter = ReferralFilter {
            sector: sector?,
            contact_person: contact_person?,
            family: family?,
            states,
            overdue_only: message.overdue_only,
        };
        Some((filter, after?))
    })
}

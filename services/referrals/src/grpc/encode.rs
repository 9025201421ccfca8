//! Referrals outcomes into responses.

use luukku_domain::Sector;
use luukku_domain::Timestamp;
use luukku_domain::access::Scope;
use luukku_domain::referrals::{Basis, CatalogueService, ServiceId, ServiceInfo};
use luukku_grpc::encode::history_entry;
use luukku_proto::common::v1 as common;
use luukku_proto::referrals::v1 as pb;

use crate::app::{Created, ReferralPage, ReferralRecord};

pub fn written(written: luukku_app::Written) -> Option<common::WriteResult> {
    luukku_grpc::encode::written_pb(written)
}

fn info(info: &ServiceInfo) -> pb::ServiceInfo {
    pb::ServiceInfo {
        provider: info.provider.clone(),
        sector: info.sector.as_code().to_owned(),
        name: info.name.clone(),
        description: info.description.clone(),
        min_age: u32::from(info.min_age),
        max_age: u32::from(info.max_age),
        needs: info.needs.iter().map(|need| need.as_code().to_owned()).collect(),
        municipalities: info.municipalities.iter().map(|m| m.as_str().to_owned()).collect(),
        low_threshold: info.low_threshold,
        contact: info.contact.clone(),
    }
}

pub fn service(id: ServiceId, service: &CatalogueService) -> pb::Service {
    pb::Service {
        service_id: id.to_string(),
        info: service.info.as_ref().map(info),
        status: service.status.as_code().to_owned(),
    }
}

pub fn created(created: Created) -> pb::CreateReferralResponse {
    pb::CreateReferralResponse {
        result: written(created.written),
        referral_id: created.referral_id.to_string(),
        consent_id: match created.basis {
            Some(Basis::Consent(consent)) => consent.to_string(),
            _ => String::new(),
        },
        deadline_ms: created.deadline.map_or(0, Timestamp::as_millis),
        possible_duplicates: created.possible_duplicates.iter().map(ToString::to_string).collect(),
    }
}

fn referral(record: &ReferralRecord, now: Timestamp) -> pb::Referral {
    let referral = &record.state;
    let mut out = pb::Referral {
        referral_id: record.referral_id.to_string(),
        version: record.version,
        ..Default::default()
    };
    let Some(created) = &referral.created else {
        return out;
    };
    out.family_id = created.family_id.to_string();
    out.child_member_id = created.child.map(|child| child.to_string()).unwrap_or_default();
    out.service_id = referral.service_id.map(|service| service.to_string()).unwrap_or_default();
    out.sector = referral.sector.map(|sector| sector.as_code().to_owned()).unwrap_or_default();
    out.needs = created.needs.iter().map(|need| need.as_code().to_owned()).collect();
    out.urgency = created.urgency.as_code().to_owned();
    out.reason = created.reason.plain().cloned().unwrap_or_default();
    out.state = referral.state.map(|state| state.as_code().to_owned()).unwrap_or_default();
    match &created.basis {
        Basis::Consent(consent) => out.consent_id = consent.to_string(),
        Basis::Statutory { basis, .. } => out.statutory_basis = basis.as_code().to_owned(),
    }
    out.sent_at_ms = created.sent_at.as_millis();
    out.deadline_ms = referral.deadline.map_or(0, Timestamp::as_millis);
    out.overdue = referral.overdue;
    out.consent_lapsed = referral.consent_lapsed;
    let end = record.wait_ended.unwrap_or(now);
    out.waiting_ms = end.as_millis().saturating_sub(created.sent_at.as_millis()).max(0);
    out.contact_person_id = created.contact_person.map(|person| person.to_string()).unwrap_or_default();
    out
}

/// The referral as the caller's scope lets them see it: a child-protection referral's reason
/// and notes stay with child protection, the contact person and the family.
pub fn get_referral(
    record: &ReferralRecord,
    now: Timestamp,
    scope: &Scope,
    sector: Option<Sector>,
) -> pb::GetReferralResponse {
    let mut found = referral(record, now);
    let mut history: Vec<_> = record.entries.iter().map(std::sync::Arc::as_ref).map(history_entry).collect();
    let mut withheld = Vec::new();
    let privileged =
        matches!(scope, Scope::Whole | Scope::Members(_)) || sector == Some(Sector::ChildProtection);
    if found.sector == Sector::ChildProtection.as_code() && !privileged {
        found.reason.clear();
        for event in history.iter_mut().flat_map(|entry| entry.events.iter_mut()) {
            event.summary = format!("{} (withheld)", event.event_type);
        }
        withheld.push("reason".to_owned());
    }
    pb::GetReferralResponse { referral: Some(found), history, withheld }
}

/// A page of referrals as the caller's scope lets them see it: under a consent, those to the
/// caller's sector; under referrals, those; and a child-protection referral's reason only for
/// child protection, the contact person and the family.
pub fn referral_page(
    page: &ReferralPage,
    now: Timestamp,
    scope: &Scope,
    sector: Option<Sector>,
) -> pb::ListReferralsResponse {
    let privileged =
        matches!(scope, Scope::Whole | Scope::Members(_)) || sector == Some(Sector::ChildProtection);
    let visible = |record: &&ReferralRecord| match scope {
        Scope::Consent { .. } => record.state.sector.is_some() && record.state.sector == sector,
        Scope::Referrals(ids) => ids.contains(&record.referral_id),
        Scope::Meetings(_) => false,
        Scope::Whole | Scope::Members(_) | Scope::Own | Scope::NoPersonalData => true,
    };
    let referrals = page
        .referrals
        .iter()
        .filter(visible)
        .map(|record| {
            let mut found = referral(record, now);
            if found.sector == Sector::ChildProtection.as_code() && !privileged {
                found.reason.clear();
            }
            found
        })
        .collect();
    pb::ListReferralsResponse {
        referrals,
        next_page_token: page.next.map(|next| next.to_string()).unwrap_or_default(),
    }
}

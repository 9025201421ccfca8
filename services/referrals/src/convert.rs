//! Domain values into responses, and readable accounts of referral events.

use luukku_domain::Timestamp;
use luukku_domain::family::Municipality;
use luukku_domain::referrals::{
    Basis, CatalogueService, Referral, ReferralEvent, ReferralId, ServiceId, ServiceInfo, ServiceStatus,
};
use luukku_domain::sealing::Personal;
use luukku_proto::referrals::v1 as pb;
use luukku_service::repository::Loaded;

pub fn info_pb(info: &ServiceInfo) -> pb::ServiceInfo {
    pb::ServiceInfo {
        provider: info.provider.clone(),
        sector: info.sector.as_code().to_owned(),
        name: info.name.clone(),
        description: info.description.clone(),
        min_age: u32::from(info.min_age),
        max_age: u32::from(info.max_age),
        needs: info.needs.iter().map(|need| need.as_code().to_owned()).collect(),
        municipalities: info.municipalities.iter().map(|m: &Municipality| m.as_str().to_owned()).collect(),
        low_threshold: info.low_threshold,
        contact: info.contact.clone(),
    }
}

pub fn status_code(status: ServiceStatus) -> &'static str {
    match status {
        ServiceStatus::Absent => "absent",
        ServiceStatus::Active => "active",
        ServiceStatus::Paused => "paused",
        ServiceStatus::Retired => "retired",
    }
}

pub fn service_pb(id: ServiceId, service: &CatalogueService) -> pb::Service {
    pb::Service {
        service_id: id.to_string(),
        info: service.info.as_ref().map(info_pb),
        status: status_code(service.status).to_owned(),
    }
}

fn text(value: &Personal<String>) -> String {
    value.plain().cloned().unwrap_or_default()
}

/// When the wait ended: the help started, or the referral reached a final state.
fn wait_ended(loaded: &Loaded<Referral>) -> Option<Timestamp> {
    loaded
        .entries
        .iter()
        .find(|entry| {
            entry.events.iter().any(|event| {
                matches!(
                    event,
                    ReferralEvent::Started(_)
                        | ReferralEvent::Rejected(_)
                        | ReferralEvent::Completed(_)
                        | ReferralEvent::Failed(_)
                        | ReferralEvent::Cancelled(_)
                )
            })
        })
        .map(|entry| entry.recorded.envelope.recorded_at)
}

pub fn referral_pb(id: ReferralId, loaded: &Loaded<Referral>, now: Timestamp) -> pb::Referral {
    let referral = &loaded.state;
    let mut out = pb::Referral { referral_id: id.to_string(), version: loaded.version, ..Default::default() };
    let Some(created) = &referral.created else {
        return out;
    };
    out.family_id = created.family_id.to_string();
    out.child_member_id = created.child.map(|child| child.to_string()).unwrap_or_default();
    out.service_id = referral.service_id.map(|service| service.to_string()).unwrap_or_default();
    out.sector = referral.sector.map(|sector| sector.as_code().to_owned()).unwrap_or_default();
    out.needs = created.needs.iter().map(|need| need.as_code().to_owned()).collect();
    out.urgency = created.urgency.as_code().to_owned();
    out.reason = text(&created.reason);
    out.state = referral.state.map(|state| state.as_code().to_owned()).unwrap_or_default();
    match &created.basis {
        Basis::Consent(consent) => out.consent_id = consent.to_string(),
        Basis::Statutory { basis, .. } => out.statutory_basis = basis.as_code().to_owned(),
    }
    out.sent_at_ms = created.sent_at.as_millis();
    out.deadline_ms = referral.deadline.map_or(0, Timestamp::as_millis);
    out.overdue = referral.overdue;
    out.consent_lapsed = referral.consent_lapsed;
    let end = wait_ended(loaded).unwrap_or(now);
    out.waiting_ms = end.as_millis().saturating_sub(created.sent_at.as_millis()).max(0);
    out.contact_person_id = created.contact_person.map(|person| person.to_string()).unwrap_or_default();
    out
}

/// A readable account of a referral event.
pub fn summary(event: &ReferralEvent) -> String {
    let sealed = |value: &Personal<String>| value.plain().cloned().unwrap_or_else(|| "[erased]".to_owned());
    match event {
        ReferralEvent::Created(created) => format!(
            "referred to {} ({}, {}): {}",
            created.sector.as_code(),
            created.service_id,
            created.urgency.as_code(),
            sealed(&created.reason)
        ),
        ReferralEvent::Received(_) => "received by the sector".to_owned(),
        ReferralEvent::Accepted(_) => "accepted".to_owned(),
        ReferralEvent::Rejected(rejected) => {
            format!("rejected ({}): {}", rejected.reason.as_code(), sealed(&rejected.note))
        }
        ReferralEvent::Started(_) => "help started".to_owned(),
        ReferralEvent::Completed(note) => format!("completed: {}", sealed(&note.note)),
        ReferralEvent::Failed(note) => format!("failed: {}", sealed(&note.note)),
        ReferralEvent::PutOnHold(note) => format!("on hold: {}", sealed(&note.note)),
        ReferralEvent::Resumed(_) => "resumed".to_owned(),
        ReferralEvent::Cancelled(note) => format!("cancelled by the sender: {}", sealed(&note.note)),
        ReferralEvent::Redirected(redirected) => format!(
            "redirected to {} ({}): {}",
            redirected.sector.as_code(),
            redirected.service_id,
            sealed(&redirected.note)
        ),
        ReferralEvent::Overdue(_) => "overdue: not received by its deadline".to_owned(),
        ReferralEvent::ConsentLapsed(lapsed) => {
            format!("the consent {} it rests on lapsed", lapsed.consent_id)
        }
    }
}

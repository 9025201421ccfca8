//! Families outcomes into responses.

use jiff::civil::Date;
use luukku_domain::access::Scope;
use luukku_domain::family::{CloseReason, Consent, FamilyStatus, Member, MemberId, MemberRole};
use luukku_grpc::encode::history_entry;
use luukku_proto::common::v1 as common;
use luukku_proto::families::v1 as pb;

use crate::app::{FamilyRecord, HistoryPage, Registered};

pub fn written(written: luukku_app::Written) -> Option<common::WriteResult> {
    luukku_grpc::encode::written_pb(written)
}

pub fn registered(registered: Registered) -> pb::RegisterFamilyResponse {
    pb::RegisterFamilyResponse {
        result: written(registered.written),
        family_id: registered.family_id.to_string(),
        member_ids: registered.member_ids.iter().map(ToString::to_string).collect(),
    }
}

fn close_reason_pb(reason: CloseReason) -> pb::CloseReason {
    match reason {
        CloseReason::NeedsMet => pb::CloseReason::NeedsMet,
        CloseReason::MovedAway => pb::CloseReason::MovedAway,
        CloseReason::FamilyDeclined => pb::CloseReason::FamilyDeclined,
        CloseReason::Transferred => pb::CloseReason::Transferred,
        CloseReason::Other => pb::CloseReason::Other,
    }
}

fn role_pb(role: MemberRole) -> pb::MemberRole {
    match role {
        MemberRole::Guardian => pb::MemberRole::Guardian,
        MemberRole::Child => pb::MemberRole::Child,
    }
}

fn member(member_id: MemberId, member: &Member) -> pb::Member {
    let mut out = pb::Member {
        member_id: member_id.to_string(),
        role: role_pb(member.role) as i32,
        readable: false,
        ..Default::default()
    };
    if let Some(details) = member.details.plain() {
        out.readable = true;
        out.given_names.clone_from(&details.given_names);
        out.family_name.clone_from(&details.family_name);
        out.birth_date = details.birth_date.map(|date| date.to_string()).unwrap_or_default();
        out.identity_code =
            details.identity_code.as_ref().map(|code| code.as_str().to_owned()).unwrap_or_default();
        out.languages.clone_from(&details.languages);
    }
    out
}

fn consent(consent_id: String, consent: &Consent, today: Date) -> pb::Consent {
    pb::Consent {
        consent_id,
        given_by: consent.given_by.to_string(),
        concerns_member_id: consent.concerns.map(|id| id.to_string()).unwrap_or_default(),
        sectors: consent.sectors.iter().map(|sector| sector.as_code().to_owned()).collect(),
        purpose: consent.purpose.plain().cloned().unwrap_or_default(),
        valid_from: consent.valid_from.to_string(),
        valid_until: consent.valid_until.to_string(),
        revoked: consent.revoked_by.is_some(),
        in_force: consent.in_force(today),
    }
}

pub fn family(record: &FamilyRecord, today: Date) -> pb::Family {
    let family = &record.state;
    let (status, close_reason) = match family.status {
        FamilyStatus::Absent => (pb::FamilyStatus::Unspecified, pb::CloseReason::Unspecified),
        FamilyStatus::Active => (pb::FamilyStatus::Active, pb::CloseReason::Unspecified),
        FamilyStatus::Closed(reason) => (pb::FamilyStatus::Closed, close_reason_pb(reason)),
        FamilyStatus::Erased => (pb::FamilyStatus::Erased, pb::CloseReason::Unspecified),
    };
    pb::Family {
        family_id: record.family_id.to_string(),
        status: status as i32,
        municipality: family.municipality.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default(),
        members: family.members.iter().map(|(id, found)| member(*id, found)).collect(),
        consents: family.consents.iter().map(|(id, found)| consent(id.to_string(), found, today)).collect(),
        close_reason: close_reason as i32,
        version: record.version,
        registered_at_ms: record.registered_at.map_or(0, |at| at.as_millis()),
    }
}

pub fn history(page: &HistoryPage) -> pb::ListFamilyHistoryResponse {
    pb::ListFamilyHistoryResponse {
        entries: page.entries.iter().map(std::sync::Arc::as_ref).map(history_entry).collect(),
        next_after_version: page.next_after_version,
    }
}

/// The family as `scope` lets the caller see it, and the parts withheld.
pub fn shaped_family(mut family: pb::Family, scope: &Scope) -> (pb::Family, Vec<String>) {
    let mut withheld = Vec::new();
    let keep: Option<Vec<String>> = match scope {
        Scope::Whole => return (family, withheld),
        Scope::Members(seen) => Some(seen.iter().map(ToString::to_string).collect()),
        Scope::Consent { children, .. } if !children.contains(&None) => {
            let mut keep: Vec<String> = children.iter().flatten().map(ToString::to_string).collect();
            keep.extend(
                family
                    .members
                    .iter()
                    .filter(|member| member.role() == pb::MemberRole::Guardian)
                    .map(|member| member.member_id.clone()),
            );
            Some(keep)
        }
        _ => None,
    };
    if let Some(keep) = keep {
        let before = family.members.len();
        family.members.retain(|member| keep.contains(&member.member_id));
        if family.members.len() < before {
            withheld.push("members".to_owned());
        }
    }
    if let Scope::Consent { consents, .. } = scope {
        let before = family.consents.len();
        family.consents.retain(|consent| consents.iter().any(|id| id.to_string() == consent.consent_id));
        if family.consents.len() < before {
            withheld.push("consents".to_owned());
        }
    }
    if matches!(scope, Scope::Referrals(_) | Scope::Meetings(_) | Scope::Own | Scope::NoPersonalData) {
        // The minimal extract: names, not birth dates or languages.
        let mut dated = false;
        for member in &mut family.members {
            dated |= !std::mem::take(&mut member.birth_date).is_empty();
            member.languages.clear();
        }
        if dated {
            withheld.push("members.birth_date".to_owned());
        }
    }
    if !matches!(scope, Scope::Members(_)) {
        // Identity codes go only to the contact person and the family.
        let mut coded = false;
        for member in &mut family.members {
            coded |= !std::mem::take(&mut member.identity_code).is_empty();
        }
        if coded {
            withheld.push("identity_codes".to_owned());
        }
        if !matches!(scope, Scope::Consent { .. }) && !family.consents.is_empty() {
            family.consents.clear();
            withheld.push("consents".to_owned());
        }
    }
    (family, withheld)
}

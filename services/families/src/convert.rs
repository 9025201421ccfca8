//! Requests into commands (every bad field reported at once) and state into responses.

use jiff::civil::Date;
use luukku_domain::Sector;
use luukku_domain::family::{
    CloseReason, Consent, Family, FamilyId, FamilyStatus, Member, MemberDetails, MemberId, MemberRole,
    NewMember, parse_language,
};
use luukku_domain::identity_code::IdentityCode;
use luukku_proto::common::v1 as common;
use luukku_proto::families::v1 as pb;
use luukku_service::Violations;

use luukku_domain::family::FamilyEvent;
pub use luukku_service::parse::{date, municipality, optional_date, optional_id, write};
use luukku_service::repository::Entry;

pub type FamilyEntry = Entry<FamilyEvent>;

pub fn family_id(violations: &mut Violations, value: &str) -> Option<FamilyId> {
    violations.check("family_id", FamilyId::parse(value))
}

pub fn member_id(violations: &mut Violations, field: &str, value: &str) -> Option<MemberId> {
    violations.check(field, MemberId::parse(value))
}

fn role(violations: &mut Violations, field: &str, value: i32) -> Option<MemberRole> {
    match pb::MemberRole::try_from(value) {
        Ok(pb::MemberRole::Guardian) => Some(MemberRole::Guardian),
        Ok(pb::MemberRole::Child) => Some(MemberRole::Child),
        _ => {
            violations.add(field, "must be MEMBER_ROLE_GUARDIAN or MEMBER_ROLE_CHILD");
            None
        }
    }
}

/// Details and role from a `MemberInput` at `field`. An unspecified role is `None` when
/// `role_optional` (an update keeps the current role).
pub fn member_input(
    violations: &mut Violations,
    field: &str,
    input: Option<&pb::MemberInput>,
    role_optional: bool,
) -> Option<(Option<MemberRole>, MemberDetails)> {
    let Some(input) = input else {
        violations.add(field, "is required");
        return None;
    };
    let role = if role_optional && input.role == pb::MemberRole::Unspecified as i32 {
        Some(None)
    } else {
        role(violations, &format!("{field}.role"), input.role).map(Some)
    };
    let birth_date = optional_date(violations, &format!("{field}.birth_date"), &input.birth_date);
    let identity_code = if input.identity_code.is_empty() {
        Some(None)
    } else {
        violations
            .check(&format!("{field}.identity_code"), IdentityCode::parse(&input.identity_code))
            .map(Some)
    };
    let mut languages = Vec::new();
    for (index, language) in input.languages.iter().enumerate() {
        if let Some(language) =
            violations.check(&format!("{field}.languages[{index}]"), parse_language(language))
        {
            languages.push(language);
        }
    }
    let details = MemberDetails {
        given_names: input.given_names.clone(),
        family_name: input.family_name.clone(),
        birth_date: birth_date?,
        identity_code: identity_code?,
        languages,
    };
    Some((role?, details))
}

pub fn new_member(
    violations: &mut Violations,
    field: &str,
    member: Option<&pb::NewMember>,
) -> Option<NewMember> {
    let Some(member) = member else {
        violations.add(field, "is required");
        return None;
    };
    let member_id = optional_id(
        violations,
        &format!("{field}.member_id"),
        &member.member_id,
        MemberId::parse,
        MemberId::generate,
    );
    let input = member_input(violations, &format!("{field}.details"), member.details.as_ref(), false);
    let (role, details) = input?;
    Some(NewMember { member_id: member_id?, role: role?, details })
}

pub fn sectors(violations: &mut Violations, values: &[String]) -> Vec<Sector> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| violations.check(&format!("sectors[{index}]"), value.parse::<Sector>()))
        .collect()
}

pub fn close_reason(violations: &mut Violations, value: i32) -> Option<CloseReason> {
    match pb::CloseReason::try_from(value) {
        Ok(pb::CloseReason::NeedsMet) => Some(CloseReason::NeedsMet),
        Ok(pb::CloseReason::MovedAway) => Some(CloseReason::MovedAway),
        Ok(pb::CloseReason::FamilyDeclined) => Some(CloseReason::FamilyDeclined),
        Ok(pb::CloseReason::Transferred) => Some(CloseReason::Transferred),
        Ok(pb::CloseReason::Other) => Some(CloseReason::Other),
        _ => {
            violations.add("reason", "name the reason for closing");
            None
        }
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

fn member_pb(member_id: MemberId, member: &Member) -> pb::Member {
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

fn consent_pb(consent_id: String, consent: &Consent, today: Date) -> pb::Consent {
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

pub fn family_pb(
    family_id: FamilyId,
    family: &Family,
    version: u64,
    entries: &[FamilyEntry],
    today: Date,
) -> pb::Family {
    let (status, close_reason) = match family.status {
        FamilyStatus::Absent => (pb::FamilyStatus::Unspecified, pb::CloseReason::Unspecified),
        FamilyStatus::Active => (pb::FamilyStatus::Active, pb::CloseReason::Unspecified),
        FamilyStatus::Closed(reason) => (pb::FamilyStatus::Closed, close_reason_pb(reason)),
        FamilyStatus::Erased => (pb::FamilyStatus::Erased, pb::CloseReason::Unspecified),
    };
    pb::Family {
        family_id: family_id.to_string(),
        status: status as i32,
        municipality: family.municipality.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default(),
        members: family.members.iter().map(|(id, member)| member_pb(*id, member)).collect(),
        consents: family
            .consents
            .iter()
            .map(|(id, consent)| consent_pb(id.to_string(), consent, today))
            .collect(),
        close_reason: close_reason as i32,
        version,
        registered_at_ms: entries
            .first()
            .map(|entry| entry.recorded.envelope.recorded_at.as_millis())
            .unwrap_or(0),
    }
}

pub fn history_entry(entry: &FamilyEntry) -> common::HistoryEntry {
    luukku_service::parse::history_entry(entry, FamilyEvent::summary)
}

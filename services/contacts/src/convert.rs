//! Requests into domain values, and states into responses.

use luukku_domain::contacts::ContactId;
use luukku_domain::contacts::assignment::AssignmentEvent;
use luukku_domain::contacts::log::{Direction, LoggedContact, Party};
use luukku_domain::contacts::person::{ContactPerson, Profile};
use luukku_domain::family::{FamilyId, parse_language};
use luukku_domain::{Code, Sector};
use luukku_proto::contacts::v1 as pb;
use luukku_service::Violations;
use luukku_service::parse::{list, municipality};

pub fn profile(violations: &mut Violations, input: Option<&pb::ContactPersonProfile>) -> Option<Profile> {
    let Some(input) = input else {
        violations.add("profile", "is required");
        return None;
    };
    let person_id = violations.check("profile.person_id", Code::parse(&input.person_id));
    let organisation = violations.check("profile.organisation", Code::parse(&input.organisation));
    let sector = violations.check("profile.sector", input.sector.parse::<Sector>());
    let municipalities = input
        .municipalities
        .iter()
        .enumerate()
        .filter_map(|(index, value)| {
            municipality(violations, &format!("profile.municipalities[{index}]"), value)
        })
        .collect();
    let languages = list(violations, "profile.languages", &input.languages, parse_language);
    Some(Profile {
        person_id: person_id?,
        name: input.name.trim().to_owned(),
        organisation: organisation?,
        sector: sector?,
        municipalities,
        languages,
        caseload_limit: input.caseload_limit,
    })
}

pub fn profile_pb(profile: &Profile) -> pb::ContactPersonProfile {
    pb::ContactPersonProfile {
        person_id: profile.person_id.as_str().to_owned(),
        name: profile.name.clone(),
        organisation: profile.organisation.as_str().to_owned(),
        sector: profile.sector.as_code().to_owned(),
        municipalities: profile.municipalities.iter().map(|m| m.as_str().to_owned()).collect(),
        languages: profile.languages.clone(),
        caseload_limit: profile.caseload_limit,
    }
}

pub fn person_pb(id: String, person: &ContactPerson, version: u64) -> pb::ContactPerson {
    pb::ContactPerson {
        contact_person_id: id,
        profile: person.profile.as_ref().map(profile_pb),
        active: person.active,
        caseload: person.caseload.iter().map(ToString::to_string).collect(),
        version,
    }
}

pub fn direction(violations: &mut Violations, value: i32) -> Option<Direction> {
    match pb::Direction::try_from(value) {
        Ok(pb::Direction::Inbound) => Some(Direction::Inbound),
        Ok(pb::Direction::Outbound) => Some(Direction::Outbound),
        _ => {
            violations.add("direction", "must be DIRECTION_INBOUND or DIRECTION_OUTBOUND");
            None
        }
    }
}

pub fn contact_pb(family_id: FamilyId, contact_id: ContactId, logged: &LoggedContact) -> pb::Contact {
    let contact = &logged.contact;
    let (member_id, professional_sector) = match contact.party {
        Party::FamilyMember(member) => (member.to_string(), String::new()),
        Party::Professional(sector) => (String::new(), sector.as_code().to_owned()),
    };
    pb::Contact {
        contact_id: contact_id.to_string(),
        occurred_at_ms: contact.occurred_at.as_millis(),
        direction: match contact.direction {
            Direction::Inbound => pb::Direction::Inbound,
            Direction::Outbound => pb::Direction::Outbound,
        } as i32,
        member_id,
        professional_sector,
        channel: contact.channel.as_code().to_owned(),
        needs: contact.needs.iter().map(|need| need.as_code().to_owned()).collect(),
        summary: contact.summary.plain().cloned().unwrap_or_default(),
        guidance: contact.guidance.iter().map(|sector| sector.as_code().to_owned()).collect(),
        follow_up: contact.follow_up.map(|date| date.to_string()).unwrap_or_default(),
        follow_up_done: logged.follow_up_done.is_some(),
        family_id: family_id.to_string(),
    }
}

fn text(value: &luukku_domain::sealing::Personal<String>) -> String {
    value.plain().cloned().unwrap_or_else(|| "[erased]".to_owned())
}

/// A readable account of an assignment event.
pub fn assignment_summary(event: &AssignmentEvent) -> String {
    match event {
        AssignmentEvent::Assigned(assigned) => {
            format!("{} became the contact person", assigned.contact_person)
        }
        AssignmentEvent::HandoverProposed(proposed) => format!(
            "handover {} proposed from {} to {}: {}",
            proposed.handover_id,
            proposed.from,
            proposed.to,
            text(&proposed.reason)
        ),
        AssignmentEvent::HandoverAccepted(accepted) => format!("handover {} accepted", accepted.handover_id),
        AssignmentEvent::HandoverDeclined(declined) => {
            format!("handover {} declined: {}", declined.handover_id, text(&declined.reason))
        }
        AssignmentEvent::HandoverWithdrawn(withdrawn) => {
            format!("handover {} withdrawn", withdrawn.handover_id)
        }
    }
}

//! Contacts outcomes into responses.

use luukku_domain::contacts::{ContactPerson, Direction, Party, Profile};
use luukku_grpc::encode::history_entry;
use luukku_proto::common::v1 as common;
use luukku_proto::contacts::v1 as pb;

use crate::app::{AssignmentRecord, FamilyContact, PersonRecord, Transfer};

pub fn written(written: luukku_app::Written) -> Option<common::WriteResult> {
    luukku_grpc::encode::written_pb(written)
}

fn profile(profile: &Profile) -> pb::ContactPersonProfile {
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

pub fn person(record: &PersonRecord) -> pb::ContactPerson {
    let person: &ContactPerson = &record.state;
    pb::ContactPerson {
        contact_person_id: record.id.to_string(),
        profile: person.profile.as_ref().map(profile),
        active: person.active,
        caseload: person.caseload.iter().map(ToString::to_string).collect(),
        version: record.version,
        reserved: person
            .reserved
            .iter()
            .map(|(family_id, reservation)| pb::ReservedPlace {
                family_id: family_id.to_string(),
                until_ms: reservation.until.as_millis(),
            })
            .collect(),
        // Filled in by the call, for those who may see it.
        offered: Vec::new(),
    }
}

pub fn transfer(transfer: Transfer) -> pb::TransferCaseloadResponse {
    pb::TransferCaseloadResponse {
        proposed: transfer
            .proposed
            .iter()
            .map(|proposed| pb::TransferredFamily {
                family_id: proposed.family_id.to_string(),
                to_contact_person_id: proposed.to.to_string(),
                handover_id: proposed.handover_id.to_string(),
                result: written(proposed.written),
            })
            .collect(),
        skipped: transfer
            .skipped
            .into_iter()
            .map(|(family_id, reason)| pb::SkippedFamily { family_id: family_id.to_string(), reason })
            .collect(),
    }
}

pub fn assignment(record: &AssignmentRecord) -> pb::GetAssignmentResponse {
    let assignment = &record.state;
    pb::GetAssignmentResponse {
        family_id: record.family_id.to_string(),
        contact_person_id: assignment.current.map(|id| id.to_string()).unwrap_or_default(),
        pending_handover: assignment.pending.as_ref().map(|pending| pb::Handover {
            handover_id: pending.handover_id.to_string(),
            from_contact_person_id: pending.from.to_string(),
            to_contact_person_id: pending.to.to_string(),
            reason: pending.reason.plain().cloned().unwrap_or_default(),
        }),
        version: record.version,
        history: record.entries.iter().map(std::sync::Arc::as_ref).map(history_entry).collect(),
    }
}

pub fn contact(found: &FamilyContact) -> pb::Contact {
    let contact = &found.logged.contact;
    let (member_id, professional_sector) = match contact.party {
        Party::FamilyMember(member) => (member.to_string(), String::new()),
        Party::Professional(sector) => (String::new(), sector.as_code().to_owned()),
    };
    pb::Contact {
        contact_id: found.contact_id.to_string(),
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
        follow_up_done: found.logged.follow_up_done.is_some(),
        family_id: found.family_id.to_string(),
    }
}

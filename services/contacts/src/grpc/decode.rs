//! Contacts requests into commands, and the domain's field names into request paths.

use jiff::civil::Date;
use luukku_app::{Caller, Write};
use luukku_domain::contacts::{
    ConsultationRecorded, ContactId, ContactPersonCommand, ContactPersonId, ContactRecorded, Direction,
    EndReason, HandoverId, Party, Profile, SpreadRule,
};
use luukku_domain::family::{FamilyId, MemberId, parse_language};
use luukku_domain::sealing::Personal;
use luukku_domain::{Code, Field, Timestamp};
use luukku_grpc::Decoder;
use luukku_proto::contacts::v1 as pb;
use tonic::Status;

use crate::app::TransferRequest;

pub fn family_id(value: &str) -> Result<FamilyId, Status> {
    let mut decoder = Decoder::new();
    let family_id = decoder.id("family_id", value, FamilyId::parse);
    decoder.finish(|| family_id)
}

pub fn person_id(field: &str, value: &str) -> Result<ContactPersonId, Status> {
    let mut decoder = Decoder::new();
    let person_id = decoder.id(field, value, ContactPersonId::parse);
    decoder.finish(|| person_id)
}

fn profile(decoder: &mut Decoder, input: Option<&pb::ContactPersonProfile>) -> Option<Profile> {
    let Some(input) = input else {
        decoder.bad("profile", "is required");
        return None;
    };
    let person_id = decoder.field("profile.person_id", Code::parse(&input.person_id));
    let organisation = decoder.field("profile.organisation", Code::parse(&input.organisation));
    let sector = decoder.code("profile.sector", &input.sector);
    let municipalities = decoder.list(
        "profile.municipalities",
        &input.municipalities,
        luukku_domain::family::Municipality::parse,
    );
    let languages = decoder.list("profile.languages", &input.languages, parse_language);
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

/// The profile's fields are named within `profile`.
pub fn profile_paths(field: &Field) -> String {
    format!("profile.{field}")
}

pub fn register_person(
    message: &pb::RegisterContactPersonRequest,
    caller: &Caller,
) -> Result<(Write, ContactPersonId, Profile), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let person_id = decoder.creates(
        "contact_person_id",
        &message.contact_person_id,
        ContactPersonId::parse,
        ContactPersonId::from_ulid,
        write.as_ref(),
        caller,
        "contact_person",
    );
    let profile = profile(&mut decoder, message.profile.as_ref());
    decoder.finish(|| Some((write?, person_id?, profile?)))
}

type PersonChange = (Write, ContactPersonId, ContactPersonCommand);

pub fn update_person(message: &pb::UpdateContactPersonRequest) -> Result<PersonChange, Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let person_id = decoder.id("contact_person_id", &message.contact_person_id, ContactPersonId::parse);
    let profile = profile(&mut decoder, message.profile.as_ref());
    decoder.finish(|| Some((write?, person_id?, ContactPersonCommand::Update(profile?))))
}

pub fn deactivate_person(message: &pb::DeactivateContactPersonRequest) -> Result<PersonChange, Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let person_id = decoder.id("contact_person_id", &message.contact_person_id, ContactPersonId::parse);
    decoder.finish(|| {
        Some((write?, person_id?, ContactPersonCommand::Deactivate { reason: message.reason.clone() }))
    })
}

pub fn assign(
    message: &pb::AssignContactPersonRequest,
) -> Result<(Write, FamilyId, ContactPersonId, String), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let to = decoder.id("contact_person_id", &message.contact_person_id, ContactPersonId::parse);
    decoder.finish(|| Some((write?, family_id?, to?, message.reason.clone())))
}

pub fn handover_decision(
    message: &pb::HandoverDecisionRequest,
) -> Result<(Write, FamilyId, HandoverId), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let handover_id = decoder.id("handover_id", &message.handover_id, HandoverId::parse);
    decoder.finish(|| Some((write?, family_id?, handover_id?)))
}

/// Ending an assignment: the write, the family, the reason and the note. The service itself
/// records the reasons for closed and erased families.
pub fn end_assignment(
    message: &pb::EndAssignmentRequest,
) -> Result<(Write, FamilyId, EndReason, String), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let reason = match pb::EndReason::try_from(message.reason) {
        Ok(pb::EndReason::NeedsMet) => Some(EndReason::NeedsMet),
        Ok(pb::EndReason::FamilyDeclined) => Some(EndReason::FamilyDeclined),
        Ok(pb::EndReason::ResponsibilityMoved) => Some(EndReason::ResponsibilityMoved),
        Ok(pb::EndReason::MovedAway) => Some(EndReason::MovedAway),
        Ok(pb::EndReason::Other) => Some(EndReason::Other),
        Ok(pb::EndReason::FamilyClosed | pb::EndReason::FamilyErased) => {
            decoder.bad("reason", "is recorded by the service when the family is closed or erased");
            None
        }
        _ => {
            decoder.bad("reason", "name the reason for ending");
            None
        }
    };
    decoder.finish(|| Some((write?, family_id?, reason?, message.note.clone())))
}

pub fn transfer(message: &pb::TransferCaseloadRequest) -> Result<TransferRequest, Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let from = decoder.id("from_contact_person_id", &message.from_contact_person_id, ContactPersonId::parse);
    let receivers =
        decoder.list("to_contact_person_ids", &message.to_contact_person_ids, ContactPersonId::parse);
    if message.to_contact_person_ids.is_empty() {
        decoder.bad("to_contact_person_ids", "name at least one receiver");
    }
    if from.is_some_and(|from| receivers.contains(&from)) {
        decoder.bad("to_contact_person_ids", "the leaving contact person cannot receive families");
    }
    let rule = match pb::SpreadRule::try_from(message.rule) {
        Ok(pb::SpreadRule::RoundRobin) => Some(SpreadRule::RoundRobin),
        Ok(pb::SpreadRule::LeastLoaded) => Some(SpreadRule::LeastLoaded),
        _ => {
            decoder.bad("rule", "must be SPREAD_RULE_ROUND_ROBIN or SPREAD_RULE_LEAST_LOADED");
            None
        }
    };
    if message.reason.trim().is_empty() {
        decoder.bad("reason", "a handover needs a reason");
    }
    decoder.finish(|| {
        Some(TransferRequest {
            write: write?,
            from: from?,
            receivers,
            rule: rule?,
            reason: message.reason.clone(),
        })
    })
}

fn direction(decoder: &mut Decoder, value: i32) -> Option<Direction> {
    match pb::Direction::try_from(value) {
        Ok(pb::Direction::Inbound) => Some(Direction::Inbound),
        Ok(pb::Direction::Outbound) => Some(Direction::Outbound),
        _ => {
            decoder.bad("direction", "must be DIRECTION_INBOUND or DIRECTION_OUTBOUND");
            None
        }
    }
}

/// When a contact happened: now, unless the request says.
fn occurred_at(value: i64, now: Timestamp) -> Timestamp {
    if value == 0 { now } else { Timestamp::from_millis(value) }
}

/// The contact's time is `occurred_at_ms` in requests.
pub fn occurred_paths(field: &Field) -> String {
    match field.name {
        "occurred_at" => "occurred_at_ms".to_owned(),
        _ => field.to_string(),
    }
}

pub fn contact(
    message: &pb::RecordContactRequest,
    now: Timestamp,
) -> Result<(Write, FamilyId, ContactRecorded), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let contact_id =
        decoder.id_or_new("contact_id", &message.contact_id, ContactId::parse, ContactId::generate);
    let direction = direction(&mut decoder, message.direction);
    let party = match (message.member_id.is_empty(), message.professional_sector.is_empty()) {
        (false, true) => {
            decoder.id("member_id", &message.member_id, MemberId::parse).map(Party::FamilyMember)
        }
        (true, false) => {
            decoder.code("professional_sector", &message.professional_sector).map(Party::Professional)
        }
        _ => {
            decoder.bad("member_id", "name either a family member or a professional's sector");
            None
        }
    };
    let channel = decoder.code("channel", &message.channel);
    let needs = decoder.codes("needs", &message.needs);
    let guidance = decoder.codes("guidance", &message.guidance);
    let follow_up = decoder.optional_date("follow_up", &message.follow_up);
    decoder.finish(|| {
        let contact = ContactRecorded {
            contact_id: contact_id?,
            occurred_at: occurred_at(message.occurred_at_ms, now),
            direction: direction?,
            party: party?,
            channel: channel?,
            needs,
            summary: Personal::text(&message.summary),
            guidance,
            follow_up: follow_up?,
        };
        Some((write?, family_id?, contact))
    })
}

pub fn follow_up(message: &pb::CompleteFollowUpRequest) -> Result<(Write, FamilyId, ContactId), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, message.expected_version);
    let family_id = decoder.id("family_id", &message.family_id, FamilyId::parse);
    let contact_id = decoder.id("contact_id", &message.contact_id, ContactId::parse);
    decoder.finish(|| Some((write?, family_id?, contact_id?)))
}

pub fn consultation(
    message: &pb::RecordConsultationRequest,
    now: Timestamp,
) -> Result<(Write, ConsultationRecorded), Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let sector = decoder.code("sector", &message.sector);
    let channel = decoder.code("channel", &message.channel);
    let needs = decoder.codes("needs", &message.needs);
    let guidance = decoder.codes("guidance", &message.guidance);
    let municipality = if message.municipality.is_empty() {
        Some(None)
    } else {
        decoder.municipality("municipality", &message.municipality).map(Some)
    };
    decoder.finish(|| {
        let consultation = ConsultationRecorded {
            occurred_at: occurred_at(message.occurred_at_ms, now),
            sector: sector?,
            channel: channel?,
            needs,
            guidance,
            municipality: municipality?,
        };
        Some((write?, consultation))
    })
}

/// Follow-ups due by today, unless the request names a day.
pub fn follow_ups_due(
    message: &pb::ListFollowUpsDueRequest,
    today: Date,
) -> Result<(ContactPersonId, Date), Status> {
    let mut decoder = Decoder::new();
    let person_id = decoder.id("contact_person_id", &message.contact_person_id, ContactPersonId::parse);
    let due_by = decoder.optional_date("due_by", &message.due_by);
    decoder.finish(|| Some((person_id?, due_by?.unwrap_or(today))))
}

/// The paging key of a family's contact, newest first: when it happened, then its id.
pub fn newest_first(contact: &crate::app::FamilyContact) -> String {
    let occurred = contact.logged.contact.occurred_at.as_millis();
    format!("{}.{}", luukku_grpc::paging::ordered(-occurred), contact.contact_id)
}

/// The paging key of a follow-up, soonest due first: its due date, then the contact's id.
pub fn soonest_due(contact: &crate::app::FamilyContact) -> String {
    let due = contact.logged.contact.follow_up.map(|due| due.to_string()).unwrap_or_default();
    format!("{due}.{}.{}", contact.family_id, contact.contact_id)
}

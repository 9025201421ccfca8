//! Meetings requests into commands, and the domain's field names into request paths.

use luukku_app::Write;
use luukku_domain::family::{FamilyId, MemberId};
use luukku_domain::meetings::{ActionId, Answer, MeetingCommand, MeetingId, NewAction, Participant, Slot};
use luukku_domain::{Code, Field, Timestamp};
use luukku_grpc::Decoder;
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::participant::Who;
use tonic::Status;

pub type Decoded = (Write, FamilyId, MeetingCommand);

pub fn family_id(value: &str) -> Result<FamilyId, Status> {
    let mut decoder = Decoder::new();
    let family_id = decoder.id("family_id", value, FamilyId::parse);
    decoder.finish(|| family_id)
}

pub fn meeting_id(value: &str) -> Result<MeetingId, Status> {
    let mut decoder = Decoder::new();
    let meeting_id = decoder.id("meeting_id", value, MeetingId::parse);
    decoder.finish(|| meeting_id)
}

/// Times are milliseconds in requests, and a scheduled slot is named by its index.
pub fn meeting_path(name: &str) -> &str {
    match name {
        "starts_at" => "starts_at_ms",
        "held_at" => "held_at_ms",
        "slot_index" => "slot",
        other => other,
    }
}

pub fn meeting_paths(field: &Field) -> String {
    let name = meeting_path(field.name);
    match (field.item, name) {
        (Some((list, index)), "") => format!("{list}[{index}]"),
        (Some((list, index)), name) => format!("{list}[{index}].{name}"),
        (None, name) => name.to_owned(),
    }
}

/// A rescheduled slot's fields are within `slot`.
pub fn reschedule_paths(field: &Field) -> String {
    match field.name {
        "starts_at" | "minutes" => format!("slot.{}", meeting_path(field.name)),
        _ => meeting_paths(field),
    }
}

fn participant(decoder: &mut Decoder, field: &str, input: Option<&pb::Participant>) -> Option<Participant> {
    match input.and_then(|participant| participant.who.as_ref()) {
        Some(Who::MemberId(id)) => {
            decoder.id(&format!("{field}.member_id"), id, MemberId::parse).map(Participant::FamilyMember)
        }
        Some(Who::PersonId(person)) => {
            decoder.field(&format!("{field}.person_id"), Code::parse(person)).map(Participant::Person)
        }
        Some(Who::Sector(sector)) => {
            decoder.code(&format!("{field}.sector"), sector).map(Participant::Sector)
        }
        None => {
            decoder.bad(field, "name a family member, a person or a sector");
            None
        }
    }
}

fn participants(decoder: &mut Decoder, field: &str, inputs: &[pb::Participant]) -> Vec<Participant> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(index, input)| participant(decoder, &format!("{field}[{index}]"), Some(input)))
        .collect()
}

fn slot(decoder: &mut Decoder, field: &str, input: Option<&pb::Slot>) -> Option<Slot> {
    let Some(input) = input else {
        decoder.bad(field, "is required");
        return None;
    };
    let minutes = decoder.number(&format!("{field}.minutes"), input.minutes, "1 to 480")?;
    Some(Slot { starts_at: Timestamp::from_millis(input.starts_at_ms), minutes })
}

fn answer_value(decoder: &mut Decoder, field: &str, value: i32) -> Option<Answer> {
    match pb::Answer::try_from(value) {
        Ok(pb::Answer::Accept) => Some(Answer::Accept),
        Ok(pb::Answer::Decline) => Some(Answer::Decline),
        Ok(pb::Answer::Tentative) => Some(Answer::Tentative),
        _ => {
            decoder.bad(field, "must be ANSWER_ACCEPT, ANSWER_DECLINE or ANSWER_TENTATIVE");
            None
        }
    }
}

/// The request id, family and meeting every change names.
fn target<M: prost::Message + prost::Name>(
    decoder: &mut Decoder,
    message: &M,
    request_id: &str,
    family_id: &str,
    expected: Option<u64>,
    meeting_id: &str,
) -> (Option<Write>, Option<FamilyId>, Option<MeetingId>) {
    (
        decoder.write(message, request_id, expected),
        decoder.id("family_id", family_id, FamilyId::parse),
        decoder.id("meeting_id", meeting_id, MeetingId::parse),
    )
}

pub fn propose(m: &pb::ProposeMeetingRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(m, &m.request_id, m.expected_version);
    let family_id = decoder.id("family_id", &m.family_id, FamilyId::parse);
    let meeting_id = decoder.id_or_new("meeting_id", &m.meeting_id, MeetingId::parse, MeetingId::generate);
    let purpose = decoder.code("purpose", &m.purpose);
    let slots: Vec<Slot> = m
        .slots
        .iter()
        .enumerate()
        .filter_map(|(index, input)| slot(&mut decoder, &format!("slots[{index}]"), Some(input)))
        .collect();
    let participants = participants(&mut decoder, "participants", &m.participants);
    decoder.finish(|| {
        let command = MeetingCommand::Propose {
            meeting_id: meeting_id?,
            purpose: purpose?,
            description: m.description.clone(),
            slots,
            place: m.place.clone(),
            participants,
        };
        Some((write?, family_id?, command))
    })
}

pub fn answer(m: &pb::AnswerInvitationRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let participant = participant(&mut decoder, "participant", m.participant.as_ref());
    let mut answers = Vec::new();
    for (index, given) in m.answers.iter().enumerate() {
        let value = answer_value(&mut decoder, &format!("answers[{index}].answer"), given.answer);
        let slot = decoder.number(&format!("answers[{index}].slot"), given.slot, "0 to 255");
        if let (Some(value), Some(slot)) = (value, slot) {
            answers.push((slot, value));
        }
    }
    decoder.finish(|| {
        let command = MeetingCommand::Answer { meeting_id: meeting_id?, participant: participant?, answers };
        Some((write?, family_id?, command))
    })
}

pub fn schedule(m: &pb::ScheduleMeetingRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let slot_index = decoder.number("slot", m.slot, "0 to 255");
    decoder.finish(|| {
        Some((
            write?,
            family_id?,
            MeetingCommand::Schedule { meeting_id: meeting_id?, slot_index: slot_index? },
        ))
    })
}

pub fn reschedule(m: &pb::RescheduleMeetingRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let slot = slot(&mut decoder, "slot", m.slot.as_ref());
    decoder.finish(|| {
        let command =
            MeetingCommand::Reschedule { meeting_id: meeting_id?, slot: slot?, reason: m.reason.clone() };
        Some((write?, family_id?, command))
    })
}

pub fn cancel(m: &pb::CancelMeetingRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    decoder.finish(|| {
        Some((
            write?,
            family_id?,
            MeetingCommand::Cancel { meeting_id: meeting_id?, reason: m.reason.clone() },
        ))
    })
}

fn participant_change(
    m: &pb::ParticipantRequest,
    command: fn(MeetingId, Participant) -> MeetingCommand,
) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let participant = participant(&mut decoder, "participant", m.participant.as_ref());
    decoder.finish(|| Some((write?, family_id?, command(meeting_id?, participant?))))
}

pub fn add_participant(m: &pb::ParticipantRequest) -> Result<Decoded, Status> {
    participant_change(m, |meeting_id, participant| MeetingCommand::AddParticipant {
        meeting_id,
        participant,
    })
}

pub fn remove_participant(m: &pb::ParticipantRequest) -> Result<Decoded, Status> {
    participant_change(m, |meeting_id, participant| MeetingCommand::RemoveParticipant {
        meeting_id,
        participant,
    })
}

/// A held meeting; held now unless the request says when.
pub fn hold(m: &pb::HoldMeetingRequest, now: Timestamp) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let attended = participants(&mut decoder, "attended", &m.attended);
    let child_views: Vec<(MemberId, String)> = m
        .child_views
        .iter()
        .enumerate()
        .filter_map(|(index, view)| {
            let member =
                decoder.id(&format!("child_views[{index}].member_id"), &view.member_id, MemberId::parse)?;
            Some((member, view.view.clone()))
        })
        .collect();
    let mut actions = Vec::new();
    for (index, action) in m.actions.iter().enumerate() {
        let field = format!("actions[{index}]");
        let action_id = decoder.id_or_new(
            &format!("{field}.action_id"),
            &action.action_id,
            ActionId::parse,
            ActionId::generate,
        );
        let owner = participant(&mut decoder, &format!("{field}.owner"), action.owner.as_ref());
        let due = decoder.date(&format!("{field}.due"), &action.due);
        if let (Some(action_id), Some(owner), Some(due)) = (action_id, owner, due) {
            actions.push(NewAction { action_id, what: action.what.clone(), owner, due });
        }
    }
    let held_at = if m.held_at_ms == 0 { now } else { Timestamp::from_millis(m.held_at_ms) };
    decoder.finish(|| {
        let command = MeetingCommand::Hold {
            meeting_id: meeting_id?,
            held_at,
            attended,
            summary: m.summary.clone(),
            child_views,
            actions,
        };
        Some((write?, family_id?, command))
    })
}

pub fn complete_action(m: &pb::CompleteActionRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let action_id = decoder.id("action_id", &m.action_id, ActionId::parse);
    decoder.finish(|| {
        let command = MeetingCommand::CompleteAction {
            meeting_id: meeting_id?,
            action_id: action_id?,
            note: m.note.clone(),
        };
        Some((write?, family_id?, command))
    })
}

pub fn reassign_action(m: &pb::ReassignActionRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id, meeting_id) =
        target(&mut decoder, m, &m.request_id, &m.family_id, m.expected_version, &m.meeting_id);
    let action_id = decoder.id("action_id", &m.action_id, ActionId::parse);
    let owner = participant(&mut decoder, "owner", m.owner.as_ref());
    decoder.finish(|| {
        let command =
            MeetingCommand::ReassignAction { meeting_id: meeting_id?, action_id: action_id?, owner: owner? };
        Some((write?, family_id?, command))
    })
}

/// The person or sector a query is about.
pub fn who(person_id: &str, sector: &str) -> Result<Participant, Status> {
    let mut decoder = Decoder::new();
    let who = match (person_id.is_empty(), sector.is_empty()) {
        (false, true) => decoder.field("person_id", Code::parse(person_id)).map(Participant::Person),
        (true, false) => decoder.code("sector", sector).map(Participant::Sector),
        _ => {
            decoder.bad("person_id", "name either a person or a sector");
            None
        }
    };
    decoder.finish(|| who)
}

/// The paging key of an upcoming meeting: its start, then its id.
pub fn upcoming_key(found: &crate::app::FamilyMeeting) -> String {
    let starts = match found.meeting.status {
        luukku_domain::meetings::MeetingStatus::Scheduled(slot) => slot.starts_at.as_millis(),
        _ => 0,
    };
    format!("{}.{}", luukku_grpc::paging::ordered(starts), found.meeting_id)
}

/// The paging key of an open action: its due date, then its id.
pub fn action_key(open: &crate::app::OpenAction) -> String {
    format!("{}.{}", open.action.due, open.action_id)
}

/// The paging key of a family's meeting, newest first: when it was proposed, then its id.
pub fn newest_first(found: &crate::app::FamilyMeeting) -> String {
    let proposed = i64::try_from(found.meeting_id.as_ulid().timestamp_ms()).unwrap_or(i64::MAX);
    format!("{}.{}", luukku_grpc::paging::ordered(-proposed), found.meeting_id)
}

//! Requests into domain values, and meetings into responses.

use jiff::civil::Date;
use luukku_domain::family::{FamilyId, MemberId};
use luukku_domain::meetings::{Answer, Meeting, MeetingId, MeetingStatus, Participant, Slot};
use luukku_domain::{Code, Sector, Timestamp};
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::participant::Who;
use luukku_service::Violations;

pub fn participant(
    violations: &mut Violations,
    field: &str,
    input: Option<&pb::Participant>,
) -> Option<Participant> {
    match input.and_then(|participant| participant.who.as_ref()) {
        Some(Who::MemberId(id)) => violations
            .check(&format!("{field}.member_id"), MemberId::parse(id))
            .map(Participant::FamilyMember),
        Some(Who::PersonId(person)) => {
            violations.check(&format!("{field}.person_id"), Code::parse(person)).map(Participant::Person)
        }
        Some(Who::Sector(sector)) => {
            violations.check(&format!("{field}.sector"), sector.parse::<Sector>()).map(Participant::Sector)
        }
        None => {
            violations.add(field, "name a family member, a person or a sector");
            None
        }
    }
}

pub fn participants(
    violations: &mut Violations,
    field: &str,
    inputs: &[pb::Participant],
) -> Vec<Participant> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(index, input)| participant(violations, &format!("{field}[{index}]"), Some(input)))
        .collect()
}

pub fn participant_pb(participant: &Participant) -> pb::Participant {
    let who = match participant {
        Participant::FamilyMember(member) => Who::MemberId(member.to_string()),
        Participant::Person(person) => Who::PersonId(person.as_str().to_owned()),
        Participant::Sector(sector) => Who::Sector(sector.as_code().to_owned()),
    };
    pb::Participant { who: Some(who) }
}

pub fn slot(violations: &mut Violations, field: &str, input: Option<&pb::Slot>) -> Option<Slot> {
    let Some(input) = input else {
        violations.add(field, "is required");
        return None;
    };
    let Ok(minutes) = u16::try_from(input.minutes) else {
        violations.add(format!("{field}.minutes"), "must be 1 to 480");
        return None;
    };
    Some(Slot { starts_at: Timestamp::from_millis(input.starts_at_ms), minutes })
}

pub fn slot_pb(slot: &Slot) -> pb::Slot {
    pb::Slot { starts_at_ms: slot.starts_at.as_millis(), minutes: u32::from(slot.minutes) }
}

pub fn answer(violations: &mut Violations, field: &str, value: i32) -> Option<Answer> {
    match pb::Answer::try_from(value) {
        Ok(pb::Answer::Accept) => Some(Answer::Accept),
        Ok(pb::Answer::Decline) => Some(Answer::Decline),
        Ok(pb::Answer::Tentative) => Some(Answer::Tentative),
        _ => {
            violations.add(field, "must be ANSWER_ACCEPT, ANSWER_DECLINE or ANSWER_TENTATIVE");
            None
        }
    }
}

fn answer_pb(answer: Answer) -> pb::Answer {
    match answer {
        Answer::Accept => pb::Answer::Accept,
        Answer::Decline => pb::Answer::Decline,
        Answer::Tentative => pb::Answer::Tentative,
    }
}

fn text(value: &luukku_domain::sealing::Personal<String>) -> String {
    value.plain().cloned().unwrap_or_default()
}

pub fn actions_pb(
    family_id: FamilyId,
    meeting_id: MeetingId,
    meeting: &Meeting,
    today: Date,
) -> Vec<pb::Action> {
    meeting
        .actions
        .iter()
        .map(|(action_id, action)| pb::Action {
            action_id: action_id.to_string(),
            meeting_id: meeting_id.to_string(),
            family_id: family_id.to_string(),
            what: text(&action.what),
            owner: Some(participant_pb(&action.owner)),
            due: action.due.to_string(),
            done: action.done.is_some(),
            overdue: action.overdue(today),
        })
        .collect()
}

pub fn meeting_pb(family_id: FamilyId, meeting_id: MeetingId, meeting: &Meeting, today: Date) -> pb::Meeting {
    let status = match meeting.status {
        MeetingStatus::Proposed => pb::MeetingStatus::Proposed,
        MeetingStatus::Scheduled(_) => pb::MeetingStatus::Scheduled,
        MeetingStatus::Held => pb::MeetingStatus::Held,
        MeetingStatus::Cancelled => pb::MeetingStatus::Cancelled,
    };
    let scheduled = match meeting.status {
        MeetingStatus::Scheduled(slot) => Some(slot_pb(&slot)),
        _ => None,
    };
    let held = meeting.held.as_ref();
    pb::Meeting {
        meeting_id: meeting_id.to_string(),
        family_id: family_id.to_string(),
        purpose: meeting.purpose.as_code().to_owned(),
        description: text(&meeting.description),
        status: status as i32,
        proposed_slots: meeting.slots.iter().map(slot_pb).collect(),
        scheduled,
        place: text(&meeting.place),
        invitations: meeting
            .participants
            .iter()
            .map(|participant| pb::Invitation {
                participant: Some(participant_pb(participant)),
                answers: meeting
                    .answers
                    .get(participant)
                    .map(|answers| {
                        answers
                            .iter()
                            .map(|(slot, answer)| pb::SlotAnswer {
                                slot: u32::from(*slot),
                                answer: answer_pb(*answer) as i32,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        held_at_ms: held.map_or(0, |held| held.held_at.as_millis()),
        attended: held.map(|held| held.attended.iter().map(participant_pb).collect()).unwrap_or_default(),
        summary: held.map(|held| text(&held.summary)).unwrap_or_default(),
        child_views: held
            .map(|held| {
                held.child_views
                    .iter()
                    .map(|view| pb::ChildView {
                        member_id: view.member_id.to_string(),
                        view: text(&view.view),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        actions: actions_pb(family_id, meeting_id, meeting, today),
    }
}

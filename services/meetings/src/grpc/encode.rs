//! Meetings into responses.

use jiff::civil::Date;
use luukku_domain::meetings::{Answer, Meeting, MeetingStatus, Participant, Slot};
use luukku_domain::sealing::Personal;
use luukku_proto::common::v1 as common;
use luukku_proto::meetings::v1 as pb;
use luukku_proto::meetings::v1::participant::Who;

use crate::app::{FamilyMeeting, OpenAction};

pub fn written(written: luukku_app::Written) -> Option<common::WriteResult> {
    luukku_grpc::encode::written_pb(written)
}

fn participant(participant: &Participant) -> pb::Participant {
    let who = match participant {
        Participant::FamilyMember(member) => Who::MemberId(member.to_string()),
        Participant::Person(person) => Who::PersonId(person.as_str().to_owned()),
        Participant::Sector(sector) => Who::Sector(sector.as_code().to_owned()),
    };
    pb::Participant { who: Some(who) }
}

fn slot(slot: &Slot) -> pb::Slot {
    pb::Slot { starts_at_ms: slot.starts_at.as_millis(), minutes: u32::from(slot.minutes) }
}

fn answer(answer: Answer) -> pb::Answer {
    match answer {
        Answer::Accept => pb::Answer::Accept,
        Answer::Decline => pb::Answer::Decline,
        Answer::Tentative => pb::Answer::Tentative,
    }
}

fn text(value: &Personal<String>) -> String {
    value.plain().cloned().unwrap_or_default()
}

pub fn open_action(open: &OpenAction, today: Date) -> pb::Action {
    pb::Action {
        action_id: open.action_id.to_string(),
        meeting_id: open.meeting_id.to_string(),
        family_id: open.family_id.to_string(),
        what: text(&open.action.what),
        owner: Some(participant(&open.action.owner)),
        due: open.action.due.to_string(),
        done: open.action.done.is_some(),
        overdue: open.action.overdue(today),
    }
}

fn actions(found: &FamilyMeeting, today: Date) -> Vec<pb::Action> {
    found
        .meeting
        .actions
        .iter()
        .map(|(action_id, action)| {
            let open = OpenAction {
                family_id: found.family_id,
                meeting_id: found.meeting_id,
                action_id: *action_id,
                action: action.clone(),
            };
            open_action(&open, today)
        })
        .collect()
}

pub fn meeting(found: &FamilyMeeting, today: Date) -> pb::Meeting {
    let meeting: &Meeting = &found.meeting;
    let status = match meeting.status {
        MeetingStatus::Proposed => pb::MeetingStatus::Proposed,
        MeetingStatus::Scheduled(_) => pb::MeetingStatus::Scheduled,
        MeetingStatus::Held => pb::MeetingStatus::Held,
        MeetingStatus::Cancelled => pb::MeetingStatus::Cancelled,
    };
    let scheduled = match meeting.status {
        MeetingStatus::Scheduled(scheduled) => Some(slot(&scheduled)),
        _ => None,
    };
    let held = meeting.held.as_ref();
    pb::Meeting {
        meeting_id: found.meeting_id.to_string(),
        family_id: found.family_id.to_string(),
        purpose: meeting.purpose.as_code().to_owned(),
        description: text(&meeting.description),
        status: status as i32,
        proposed_slots: meeting.slots.iter().map(slot).collect(),
        scheduled,
        place: text(&meeting.place),
        invitations: meeting
            .participants
            .iter()
            .map(|invited| pb::Invitation {
                participant: Some(participant(invited)),
                answers: meeting
                    .answers
                    .get(invited)
                    .map(|answers| {
                        answers
                            .iter()
                            .map(|(slot, given)| pb::SlotAnswer {
                                slot: u32::from(*slot),
                                answer: answer(*given) as i32,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        held_at_ms: held.map_or(0, |held| held.held_at.as_millis()),
        attended: held.map(|held| held.attended.iter().map(participant).collect()).unwrap_or_default(),
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
        actions: actions(found, today),
    }
}

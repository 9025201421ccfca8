//! Given events, when a command, then events or a refusal.

use jiff::civil::{Date, date};

use super::*;
use crate::family::MemberId;
use crate::sealing::Personal;
use crate::{Aggregate, Code, Context, Sector, Timestamp};

const TODAY: Date = date(2026, 11, 23);
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);
const HOUR: i64 = 3_600_000;

fn context() -> Context {
    Context { now: NOW, today: TODAY }
}

fn id<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("01J{n:0>23}").parse().expect("test id")
}

fn when(given: &[MeetingEvent], command: MeetingCommand) -> Result<Vec<MeetingEvent>, MeetingError> {
    FamilyMeetings::replay(given).decide(&command, &context())
}

fn then_after(given: &[MeetingEvent], command: MeetingCommand) -> Vec<MeetingEvent> {
    let mut events = given.to_vec();
    events.extend(when(given, command).expect("accepted"));
    events
}

fn slot(hours_ahead: i64) -> Slot {
    Slot { starts_at: Timestamp::from_millis(NOW.as_millis() + hours_ahead * HOUR), minutes: 90 }
}

fn mother() -> Participant {
    Participant::FamilyMember(id(1))
}

fn teacher() -> Participant {
    Participant::Person(Code::parse("teacher.1").expect("code"))
}

fn propose(meeting: u32, purpose: Purpose) -> MeetingCommand {
    MeetingCommand::Propose {
        meeting_id: id(meeting),
        purpose,
        description: "School absences and sleep".to_owned(),
        slots: vec![slot(48), slot(72)],
        place: "School, room 2".to_owned(),
        participants: vec![mother(), teacher(), Participant::Sector(Sector::StudentWelfare)],
    }
}

fn proposed() -> Vec<MeetingEvent> {
    when(&[], propose(10, Purpose::SchoolSupport)).expect("proposed")
}

fn scheduled() -> Vec<MeetingEvent> {
    then_after(&proposed(), MeetingCommand::Schedule { meeting_id: id(10), slot_index: 1 })
}

fn hold(actions: Vec<NewAction>) -> MeetingCommand {
    MeetingCommand::Hold {
        meeting_id: id(10),
        held_at: Timestamp::from_millis(NOW.as_millis() - HOUR),
        attended: vec![mother(), teacher()],
        summary: "Agreed on a morning routine".to_owned(),
        child_views: vec![(id::<MemberId>(2), "I want to sleep longer".to_owned())],
        actions,
    }
}

fn action(n: u32, due: Date) -> NewAction {
    NewAction { action_id: id(n), what: "Call the school nurse".to_owned(), owner: teacher(), due }
}

fn fields(result: Result<Vec<MeetingEvent>, MeetingError>) -> Vec<String> {
    match result {
        Err(MeetingError::Invalid(violations)) => violations.into_iter().map(|v| v.field).collect(),
        other => panic!("expected violations, got {other:?}"),
    }
}

#[test]
fn a_meeting_is_proposed_with_its_participants() {
    let state = FamilyMeetings::replay(&proposed());
    let meeting = &state.meetings[&id(10)];
    assert_eq!(meeting.status, MeetingStatus::Proposed);
    assert_eq!(meeting.participants.len(), 3);
    assert_eq!(meeting.place, Personal::Plain("School, room 2".to_owned()));
    assert_eq!(when(&proposed(), propose(10, Purpose::Crisis)), Err(MeetingError::Exists(id(10))));
}

#[test]
fn one_open_meeting_per_purpose() {
    assert_eq!(
        when(&proposed(), propose(11, Purpose::SchoolSupport)),
        Err(MeetingError::AlreadyOpen { purpose: "school_support", open: id(10) })
    );
    assert!(when(&proposed(), propose(11, Purpose::Transition)).is_ok(), "another purpose is fine");
    let cancelled =
        then_after(&proposed(), MeetingCommand::Cancel { meeting_id: id(10), reason: "illness".to_owned() });
    assert!(when(&cancelled, propose(11, Purpose::SchoolSupport)).is_ok(), "a cancelled one is not open");
}

#[test]
fn a_proposal_is_checked() {
    let command = MeetingCommand::Propose {
        meeting_id: id(10),
        purpose: Purpose::Other,
        description: String::new(),
        slots: vec![slot(-1), Slot { minutes: 0, ..slot(5) }],
        place: " ".to_owned(),
        participants: vec![],
    };
    assert_eq!(
        fields(when(&[], command)),
        ["slots[0].starts_at", "slots[1].minutes", "participants", "place"]
    );
}

#[test]
fn invitations_are_answered_per_slot() {
    let answer = |participant, answers| MeetingCommand::Answer { meeting_id: id(10), participant, answers };
    let events = then_after(&proposed(), answer(mother(), vec![(0, Answer::Decline), (1, Answer::Accept)]));
    let meeting = &FamilyMeetings::replay(&events).meetings[&id(10)];
    assert_eq!(meeting.answers[&mother()], [(0, Answer::Decline), (1, Answer::Accept)]);
    let stranger = Participant::Sector(Sector::ChildProtection);
    assert_eq!(when(&proposed(), answer(stranger.clone(), vec![])), Err(MeetingError::NotInvited(stranger)));
    assert_eq!(
        fields(when(&proposed(), answer(teacher(), vec![(5, Answer::Tentative)]))),
        ["answers[0].slot"]
    );
}

#[test]
fn schedule_reschedule_and_cancel() {
    let events = scheduled();
    assert_eq!(FamilyMeetings::replay(&events).meetings[&id(10)].status, MeetingStatus::Scheduled(slot(72)));
    assert!(matches!(
        when(&events, MeetingCommand::Schedule { meeting_id: id(10), slot_index: 0 }),
        Err(MeetingError::WrongStatus { status: "scheduled", .. })
    ));
    assert_eq!(
        fields(when(&proposed(), MeetingCommand::Schedule { meeting_id: id(10), slot_index: 2 })),
        ["slot_index"]
    );
    let reschedule =
        MeetingCommand::Reschedule { meeting_id: id(10), slot: slot(100), reason: "teacher ill".into() };
    let moved = then_after(&events, reschedule.clone());
    assert_eq!(FamilyMeetings::replay(&moved).meetings[&id(10)].status, MeetingStatus::Scheduled(slot(100)));
    assert!(matches!(
        when(&proposed(), reschedule),
        Err(MeetingError::WrongStatus { status: "proposed", .. })
    ));
    assert_eq!(
        fields(when(&events, MeetingCommand::Cancel { meeting_id: id(10), reason: String::new() })),
        ["reason"]
    );
    let cancelled =
        then_after(&moved, MeetingCommand::Cancel { meeting_id: id(10), reason: "family moved".into() });
    assert_eq!(FamilyMeetings::replay(&cancelled).meetings[&id(10)].status, MeetingStatus::Cancelled);
    assert!(matches!(
        when(&cancelled, MeetingCommand::Cancel { meeting_id: id(10), reason: "again".into() }),
        Err(MeetingError::WrongStatus { status: "cancelled", .. })
    ));
    assert_eq!(
        when(&[], MeetingCommand::Cancel { meeting_id: id(99), reason: "x".into() }),
        Err(MeetingError::NotFound(id(99)))
    );
}

#[test]
fn participants_change_until_the_meeting_is_held() {
    let nurse = Participant::Sector(Sector::ChildHealthClinic);
    let add = MeetingCommand::AddParticipant { meeting_id: id(10), participant: nurse.clone() };
    let events = then_after(&scheduled(), add.clone());
    assert_eq!(when(&events, add), Err(MeetingError::AlreadyInvited(nurse.clone())));
    let remove = MeetingCommand::RemoveParticipant { meeting_id: id(10), participant: nurse.clone() };
    let events = then_after(&events, remove.clone());
    assert_eq!(when(&events, remove), Err(MeetingError::NotInvited(nurse.clone())));
    let held = then_after(&events, hold(vec![]));
    assert!(matches!(
        when(&held, MeetingCommand::AddParticipant { meeting_id: id(10), participant: nurse }),
        Err(MeetingError::WrongStatus { status: "held", .. })
    ));
}

#[test]
fn a_held_meeting_records_the_childs_view_and_agreed_actions() {
    let held =
        then_after(&scheduled(), hold(vec![action(20, date(2026, 12, 1)), action(21, date(2026, 11, 25))]));
    let meeting = &FamilyMeetings::replay(&held).meetings[&id(10)];
    assert_eq!(meeting.status, MeetingStatus::Held);
    let record = meeting.held.as_ref().expect("held");
    assert_eq!(record.child_views[0].view, Personal::Plain("I want to sleep longer".to_owned()));
    assert_eq!(meeting.actions.len(), 2);
    assert!(!meeting.actions[&id(21)].overdue(TODAY));
    assert!(meeting.actions[&id(21)].overdue(date(2026, 11, 26)));
    assert!(matches!(
        when(&proposed(), hold(vec![])),
        Err(MeetingError::WrongStatus { status: "proposed", .. })
    ));
    assert!(matches!(when(&held, hold(vec![])), Err(MeetingError::WrongStatus { status: "held", .. })));
}

#[test]
fn a_hold_is_checked() {
    let MeetingCommand::Hold { meeting_id, attended, .. } = hold(vec![]) else { unreachable!("a hold") };
    let command = MeetingCommand::Hold {
        meeting_id,
        held_at: Timestamp::from_millis(NOW.as_millis() + HOUR),
        attended,
        summary: " ".to_owned(),
        child_views: vec![(id(2), String::new())],
        actions: vec![NewAction { what: String::new(), ..action(20, date(2026, 11, 1)) }],
    };
    assert_eq!(
        fields(when(&scheduled(), command)),
        ["summary", "held_at", "child_views[0].view", "actions[0].what", "actions[0].due"]
    );
}

#[test]
fn actions_are_done_once_and_reassigned() {
    let held = then_after(&scheduled(), hold(vec![action(20, date(2026, 12, 1))]));
    let reassign = |owner| MeetingCommand::ReassignAction { meeting_id: id(10), action_id: id(20), owner };
    let events = then_after(&held, reassign(Participant::Sector(Sector::StudentWelfare)));
    let meeting = &FamilyMeetings::replay(&events).meetings[&id(10)];
    assert_eq!(meeting.actions[&id(20)].owner, Participant::Sector(Sector::StudentWelfare));
    assert_eq!(when(&events, reassign(Participant::Sector(Sector::StudentWelfare))), Ok(vec![]));

    let complete =
        MeetingCommand::CompleteAction { meeting_id: id(10), action_id: id(20), note: "done".into() };
    let done = then_after(&events, complete.clone());
    assert!(FamilyMeetings::replay(&done).meetings[&id(10)].actions[&id(20)].done.is_some());
    assert_eq!(when(&done, complete), Err(MeetingError::ActionDone(id(20))));
    assert_eq!(when(&done, reassign(teacher())), Err(MeetingError::ActionDone(id(20))));
    let unknown =
        MeetingCommand::CompleteAction { meeting_id: id(10), action_id: id(29), note: String::new() };
    assert_eq!(when(&done, unknown), Err(MeetingError::ActionNotFound(id(29))));
}

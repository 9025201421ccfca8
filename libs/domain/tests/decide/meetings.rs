//! A family's network meetings and agreed actions, and the rule that the family members they
//! name belong to the family.

use jiff::civil::{Date, date};
use luukku_domain::family::{Family, MemberId};
use luukku_domain::meetings::*;
use luukku_domain::sealing::Personal;
use luukku_domain::{Code, Sector, Timestamp};
use luukku_testkit::fixtures::{guardian, registered, teen};
use luukku_testkit::given::{Given, NOW, TODAY, given, id};

const HOUR: i64 = 3_600_000;

fn slot(hours_ahead: i64) -> Slot {
    Slot { starts_at: Timestamp::from_millis(NOW.as_millis() + hours_ahead * HOUR), minutes: 90 }
}

fn mother() -> Participant {
    Participant::FamilyMember(guardian())
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

fn proposed() -> Given<FamilyMeetings> {
    given::<FamilyMeetings>([]).when(propose(10, Purpose::SchoolSupport)).and()
}

fn scheduled() -> Given<FamilyMeetings> {
    proposed().when(MeetingCommand::Schedule { meeting_id: id(10), slot_index: 1 }).and()
}

fn hold(actions: Vec<NewAction>) -> MeetingCommand {
    MeetingCommand::Hold {
        meeting_id: id(10),
        held_at: Timestamp::from_millis(NOW.as_millis() - HOUR),
        attended: vec![mother(), teacher()],
        summary: "Agreed on a morning routine".to_owned(),
        child_views: vec![(teen(), "I want to sleep longer".to_owned())],
        actions,
    }
}

fn action(n: u32, due: Date) -> NewAction {
    NewAction { action_id: id(n), what: "Call the school nurse".to_owned(), owner: teacher(), due }
}

fn status(meetings: &Given<FamilyMeetings>) -> MeetingStatus {
    meetings.state().meetings[&id(10)].status
}

#[test]
fn a_meeting_is_proposed_with_its_participants() {
    let state = proposed().state();
    let meeting = &state.meetings[&id(10)];
    assert_eq!(meeting.status, MeetingStatus::Proposed);
    assert_eq!(meeting.participants.len(), 3);
    assert_eq!(meeting.place, Personal::Plain("School, room 2".to_owned()));
    proposed().when(propose(10, Purpose::Crisis)).then_err(MeetingError::Exists(id(10)));
}

#[test]
fn one_open_meeting_per_purpose() {
    proposed()
        .when(propose(11, Purpose::SchoolSupport))
        .then_err(MeetingError::AlreadyOpen { purpose: "school_support", open: id(10) });
    assert_eq!(
        proposed().when(propose(11, Purpose::Transition)).events().len(),
        1,
        "another purpose is fine"
    );
    let cancelled =
        proposed().when(MeetingCommand::Cancel { meeting_id: id(10), reason: "illness".to_owned() }).and();
    assert_eq!(
        cancelled.when(propose(11, Purpose::SchoolSupport)).events().len(),
        1,
        "a cancelled one is not open"
    );
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
        given::<FamilyMeetings>([]).when(command).then_invalid(),
        ["slots[0].starts_at", "slots[1].minutes", "participants", "place"]
    );
}

#[test]
fn invitations_are_answered_per_slot() {
    let answer = |participant, answers| MeetingCommand::Answer { meeting_id: id(10), participant, answers };
    let answered = proposed().when(answer(mother(), vec![(0, Answer::Decline), (1, Answer::Accept)])).and();
    assert_eq!(
        answered.state().meetings[&id(10)].answers[&mother()],
        [(0, Answer::Decline), (1, Answer::Accept)]
    );
    let stranger = Participant::Sector(Sector::ChildProtection);
    proposed().when(answer(stranger.clone(), vec![])).then_err(MeetingError::NotInvited(stranger));
    assert_eq!(
        proposed().when(answer(teacher(), vec![(5, Answer::Tentative)])).then_invalid(),
        ["answers[0].slot"]
    );
}

#[test]
fn schedule_reschedule_and_cancel() {
    let scheduled = scheduled();
    assert_eq!(status(&scheduled), MeetingStatus::Scheduled(slot(72)));
    let again = scheduled.when(MeetingCommand::Schedule { meeting_id: id(10), slot_index: 0 });
    assert!(matches!(again.result(), Err(MeetingError::WrongStatus { status: "scheduled", .. })));
    assert_eq!(
        proposed().when(MeetingCommand::Schedule { meeting_id: id(10), slot_index: 2 }).then_invalid(),
        ["slot_index"]
    );
    let reschedule =
        MeetingCommand::Reschedule { meeting_id: id(10), slot: slot(100), reason: "teacher ill".into() };
    let moved = scheduled.when(reschedule.clone()).and();
    assert_eq!(status(&moved), MeetingStatus::Scheduled(slot(100)));
    assert!(matches!(
        proposed().when(reschedule).result(),
        Err(MeetingError::WrongStatus { status: "proposed", .. })
    ));
    assert_eq!(
        scheduled.when(MeetingCommand::Cancel { meeting_id: id(10), reason: String::new() }).then_invalid(),
        ["reason"]
    );
    let cancelled =
        moved.when(MeetingCommand::Cancel { meeting_id: id(10), reason: "family moved".into() }).and();
    assert_eq!(status(&cancelled), MeetingStatus::Cancelled);
    let twice = cancelled.when(MeetingCommand::Cancel { meeting_id: id(10), reason: "again".into() });
    assert!(matches!(twice.result(), Err(MeetingError::WrongStatus { status: "cancelled", .. })));
    given::<FamilyMeetings>([])
        .when(MeetingCommand::Cancel { meeting_id: id(99), reason: "x".into() })
        .then_err(MeetingError::NotFound(id(99)));
}

#[test]
fn participants_change_until_the_meeting_is_held() {
    let nurse = Participant::Sector(Sector::ChildHealthClinic);
    let add = MeetingCommand::AddParticipant { meeting_id: id(10), participant: nurse.clone() };
    let added = scheduled().when(add.clone()).and();
    added.when(add).then_err(MeetingError::AlreadyInvited(nurse.clone()));
    let remove = MeetingCommand::RemoveParticipant { meeting_id: id(10), participant: nurse.clone() };
    let removed = added.when(remove.clone()).and();
    removed.when(remove).then_err(MeetingError::NotInvited(nurse.clone()));
    let held = removed.when(hold(vec![])).and();
    let late = held.when(MeetingCommand::AddParticipant { meeting_id: id(10), participant: nurse });
    assert!(matches!(late.result(), Err(MeetingError::WrongStatus { status: "held", .. })));
}

#[test]
fn a_held_meeting_records_the_childs_view_and_agreed_actions() {
    let held =
        scheduled().when(hold(vec![action(20, date(2026, 12, 1)), action(21, date(2026, 11, 25))])).and();
    let state = held.state();
    let meeting = &state.meetings[&id(10)];
    assert_eq!(meeting.status, MeetingStatus::Held);
    let record = meeting.held.as_ref().expect("held");
    assert_eq!(record.child_views[0].view, Personal::Plain("I want to sleep longer".to_owned()));
    assert_eq!(meeting.actions.len(), 2);
    assert!(!meeting.actions[&id(21)].overdue(TODAY));
    assert!(meeting.actions[&id(21)].overdue(date(2026, 11, 26)));
    assert!(matches!(
        proposed().when(hold(vec![])).result(),
        Err(MeetingError::WrongStatus { status: "proposed", .. })
    ));
    assert!(matches!(
        held.when(hold(vec![])).result(),
        Err(MeetingError::WrongStatus { status: "held", .. })
    ));
}

#[test]
fn a_hold_is_checked() {
    let MeetingCommand::Hold { meeting_id, attended, .. } = hold(vec![]) else { unreachable!("a hold") };
    let command = MeetingCommand::Hold {
        meeting_id,
        held_at: Timestamp::from_millis(NOW.as_millis() + HOUR),
        attended,
        summary: " ".to_owned(),
        child_views: vec![(teen(), String::new())],
        actions: vec![NewAction { what: String::new(), ..action(20, date(2026, 11, 1)) }],
    };
    assert_eq!(
        scheduled().when(command).then_invalid(),
        ["summary", "held_at", "child_views[0].view", "actions[0].what", "actions[0].due"]
    );
}

#[test]
fn actions_are_done_once_and_reassigned() {
    let held = scheduled().when(hold(vec![action(20, date(2026, 12, 1))])).and();
    let reassign = |owner| MeetingCommand::ReassignAction { meeting_id: id(10), action_id: id(20), owner };
    let reassigned = held.when(reassign(Participant::Sector(Sector::StudentWelfare))).and();
    assert_eq!(
        reassigned.state().meetings[&id(10)].actions[&id(20)].owner,
        Participant::Sector(Sector::StudentWelfare)
    );
    reassigned.when(reassign(Participant::Sector(Sector::StudentWelfare))).then_nothing();

    let complete =
        MeetingCommand::CompleteAction { meeting_id: id(10), action_id: id(20), note: "done".into() };
    let done = reassigned.when(complete.clone()).and();
    assert!(done.state().meetings[&id(10)].actions[&id(20)].done.is_some());
    done.when(complete).then_err(MeetingError::ActionDone(id(20)));
    done.when(reassign(teacher())).then_err(MeetingError::ActionDone(id(20)));
    let unknown =
        MeetingCommand::CompleteAction { meeting_id: id(10), action_id: id(29), note: String::new() };
    done.when(unknown).then_err(MeetingError::ActionNotFound(id(29)));
}

// The rule across a family's meetings and the family.

fn fields(result: Result<(), MeetingError>) -> Vec<String> {
    match result {
        Err(MeetingError::Invalid(violations)) => violations.iter().map(|v| v.field.to_string()).collect(),
        other => panic!("expected violations, got {other:?}"),
    }
}

#[test]
fn the_family_members_a_meeting_names_belong_to_the_family() {
    let family: Family = given::<Family>(registered()).state();
    let stranger = Participant::FamilyMember(id::<MemberId>(99));
    assert_eq!(check_participants(&family, &propose(10, Purpose::Crisis)), Ok(()));
    let mut with_stranger = propose(10, Purpose::Crisis);
    if let MeetingCommand::Propose { participants, .. } = &mut with_stranger {
        participants.push(stranger.clone());
    }
    assert_eq!(fields(check_participants(&family, &with_stranger)), ["participants[3]"]);
    let add = MeetingCommand::AddParticipant { meeting_id: id(10), participant: stranger.clone() };
    assert_eq!(fields(check_participants(&family, &add)), ["participant"]);
    let reassign =
        MeetingCommand::ReassignAction { meeting_id: id(10), action_id: id(20), owner: stranger.clone() };
    assert_eq!(fields(check_participants(&family, &reassign)), ["owner"]);
}

#[test]
fn a_childs_own_view_is_a_childs_and_everyone_held_belongs_to_the_family() {
    let family: Family = given::<Family>(registered()).state();
    assert_eq!(check_participants(&family, &hold(vec![action(20, date(2026, 12, 1))])), Ok(()));
    let command = MeetingCommand::Hold {
        meeting_id: id(10),
        held_at: NOW,
        attended: vec![Participant::FamilyMember(id(98))],
        summary: "met".to_owned(),
        child_views: vec![(guardian(), "fine".to_owned()), (id(97), "?".to_owned())],
        actions: vec![NewAction {
            owner: Participant::FamilyMember(id(96)),
            ..action(20, date(2026, 12, 1))
        }],
    };
    assert_eq!(
        fields(check_participants(&family, &command)),
        ["attended[0]", "child_views[0].member_id", "child_views[1].member_id", "actions[0].owner"]
    );
}

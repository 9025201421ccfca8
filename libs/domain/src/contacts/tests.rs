//! Given events, when a command, then events or a refusal.

use jiff::civil::{Date, date};

use super::assignment::*;
use super::consultation::*;
use super::log::*;
use super::person::*;
use super::transfer::{Receiver, SpreadRule, plan};
use crate::family::{FamilyId, MemberId, Municipality};
use crate::sealing::Personal;
use crate::{Aggregate, Channel, Code, Context, Need, Sector, Timestamp};

const TODAY: Date = date(2026, 11, 23);
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_000);

fn context() -> Context {
    Context { now: NOW, today: TODAY }
}

fn id<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("01J{n:0>23}").parse().expect("test id")
}

fn when<A: Aggregate>(given: &[A::Event], command: A::Command) -> Result<Vec<A::Event>, A::Error> {
    A::replay(given).decide(&command, &context())
}

fn then_after<A: Aggregate>(given: &[A::Event], command: A::Command) -> Vec<A::Event>
where
    A::Error: std::fmt::Debug,
{
    let mut events = given.to_vec();
    events.extend(when::<A>(given, command).expect("accepted"));
    events
}

fn profile(limit: u32) -> Profile {
    Profile {
        person_id: Code::parse("anna.contact").expect("code"),
        name: "Anna Koskinen".to_owned(),
        organisation: Code::parse("0201256-6").expect("code"),
        sector: Sector::FamilySocialServices,
        municipalities: vec![Municipality::parse("091").expect("code")],
        languages: vec!["fi".to_owned(), "sv".to_owned()],
        caseload_limit: limit,
    }
}

fn registered(limit: u32) -> Vec<ContactPersonEvent> {
    when::<ContactPerson>(&[], ContactPersonCommand::Register(profile(limit))).expect("registers")
}

fn join(family: u32) -> ContactPersonCommand {
    ContactPersonCommand::Join { family_id: id(family) }
}

#[test]
fn a_contact_person_is_registered_and_checked() {
    let person = ContactPerson::replay(&registered(2));
    assert!(person.active && person.has_room());
    assert_eq!(
        when::<ContactPerson>(&registered(2), ContactPersonCommand::Register(profile(2))),
        Err(ContactPersonError::AlreadyRegistered)
    );
    let bad = Profile { name: " ".to_owned(), caseload_limit: 0, ..profile(1) };
    let Err(ContactPersonError::Invalid(violations)) =
        when::<ContactPerson>(&[], ContactPersonCommand::Register(bad))
    else {
        panic!("expected violations")
    };
    let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["name", "caseload_limit"]);
    assert_eq!(when::<ContactPerson>(&[], join(1)), Err(ContactPersonError::NotFound));
}

#[test]
fn an_update_keeps_the_identity_and_records_only_changes() {
    let mut changed = profile(5);
    changed.person_id = Code::parse("someone.else").expect("code");
    let events = then_after::<ContactPerson>(&registered(2), ContactPersonCommand::Update(changed));
    let person = ContactPerson::replay(&events);
    let current = person.profile.expect("profile");
    assert_eq!((current.person_id.as_str(), current.caseload_limit), ("anna.contact", 5));
    assert_eq!(when::<ContactPerson>(&events, ContactPersonCommand::Update(profile(5))), Ok(vec![]));
}

#[test]
fn the_caseload_limit_holds() {
    let events = then_after::<ContactPerson>(&registered(2), join(1));
    let events = then_after::<ContactPerson>(&events, join(2));
    assert_eq!(when::<ContactPerson>(&events, join(3)), Err(ContactPersonError::CaseloadFull { limit: 2 }));
    assert_eq!(when::<ContactPerson>(&events, join(2)), Ok(vec![]), "joining twice changes nothing");
    let events = then_after::<ContactPerson>(&events, ContactPersonCommand::Leave { family_id: id(1) });
    assert!(when::<ContactPerson>(&events, join(3)).is_ok());
    assert_eq!(when::<ContactPerson>(&events, ContactPersonCommand::Leave { family_id: id(9) }), Ok(vec![]));
}

#[test]
fn deactivation_needs_an_empty_caseload_and_stops_new_families() {
    let with_family = then_after::<ContactPerson>(&registered(2), join(1));
    let deactivate = ContactPersonCommand::Deactivate { reason: "retires".to_owned() };
    assert_eq!(
        when::<ContactPerson>(&with_family, deactivate.clone()),
        Err(ContactPersonError::HasCaseload(1))
    );
    let events = then_after::<ContactPerson>(&registered(2), deactivate.clone());
    assert!(!ContactPerson::replay(&events).active);
    assert_eq!(when::<ContactPerson>(&events, join(1)), Err(ContactPersonError::Inactive));
    assert_eq!(when::<ContactPerson>(&events, deactivate), Ok(vec![]));
}

fn assign(to: u32, handover: u32, reason: &str) -> AssignmentCommand {
    AssignmentCommand::Assign { to: id(to), handover_id: id(handover), reason: reason.to_owned() }
}

fn assigned_to(person: u32) -> Vec<AssignmentEvent> {
    when::<Assignment>(&[], assign(person, 100, "")).expect("assigns")
}

#[test]
fn the_first_assignment_needs_no_reason() {
    let events = assigned_to(1);
    assert_eq!(events, [AssignmentEvent::Assigned(Assigned { contact_person: id(1) })]);
    assert_eq!(when::<Assignment>(&events, assign(1, 101, "")), Err(AssignmentError::AlreadyAssigned(id(1))));
}

#[test]
fn assigning_another_is_a_handover_that_needs_a_reason() {
    let events = assigned_to(1);
    assert_eq!(
        when::<Assignment>(&events, assign(2, 101, " ")),
        Err(AssignmentError::ReasonRequired { current: id(1) })
    );
    let proposed = then_after::<Assignment>(&events, assign(2, 101, "moves to Tampere"));
    let state = Assignment::replay(&proposed);
    assert_eq!(state.current, Some(id(1)), "the current one stays responsible until accepted");
    let pending = state.pending.expect("pending handover");
    assert_eq!((pending.from, pending.to), (id(1), id(2)));
    assert_eq!(pending.reason, Personal::Plain("moves to Tampere".to_owned()));
    assert_eq!(
        when::<Assignment>(&proposed, assign(3, 102, "another")),
        Err(AssignmentError::HandoverPending { handover_id: id(101), to: id(2) })
    );
}

#[test]
fn an_accepted_handover_changes_the_contact_person() {
    let proposed = then_after::<Assignment>(&assigned_to(1), assign(2, 101, "moves"));
    assert_eq!(
        when::<Assignment>(&proposed, AssignmentCommand::Accept { handover_id: id(999) }),
        Err(AssignmentError::NoSuchHandover(id(999)))
    );
    let accepted = then_after::<Assignment>(&proposed, AssignmentCommand::Accept { handover_id: id(101) });
    let state = Assignment::replay(&accepted);
    assert_eq!((state.current, state.pending), (Some(id(2)), None));
    assert_eq!(accepted.len(), 3, "the whole history stays");
    assert_eq!(
        when::<Assignment>(&accepted, AssignmentCommand::Accept { handover_id: id(101) }),
        Err(AssignmentError::NoSuchHandover(id(101)))
    );
}

#[test]
fn a_declined_or_withdrawn_handover_leaves_things_as_they_were() {
    let proposed = then_after::<Assignment>(&assigned_to(1), assign(2, 101, "moves"));
    for command in [
        AssignmentCommand::Decline { handover_id: id(101), reason: "caseload full".to_owned() },
        AssignmentCommand::Withdraw { handover_id: id(101) },
    ] {
        let events = then_after::<Assignment>(&proposed, command);
        let state = Assignment::replay(&events);
        assert_eq!((state.current, state.pending), (Some(id(1)), None));
        assert!(when::<Assignment>(&events, assign(3, 102, "again")).is_ok(), "a new handover may follow");
    }
}

fn contact(contact: u32, follow_up: Option<Date>) -> ContactRecorded {
    ContactRecorded {
        contact_id: id(contact),
        occurred_at: Timestamp::from_millis(NOW.as_millis() - 60_000),
        direction: Direction::Inbound,
        party: Party::FamilyMember(id::<MemberId>(7)),
        channel: Channel::Phone,
        needs: vec![Need::Parenting, Need::Learning],
        summary: Personal::Plain("Mother called about school absences".to_owned()),
        guidance: vec![Sector::StudentWelfare],
        follow_up,
    }
}

#[test]
fn contacts_are_logged_with_follow_ups() {
    let events =
        when::<ContactLog>(&[], ContactLogCommand::Record(contact(1, Some(date(2026, 11, 30))))).expect("ok");
    let events = then_after::<ContactLog>(&events, ContactLogCommand::Record(contact(2, None)));
    let log = ContactLog::replay(&events);
    assert!(!log.contacts[&id(1)].follow_up_due(TODAY));
    assert!(log.contacts[&id(1)].follow_up_due(date(2026, 11, 30)));
    assert_eq!(
        when::<ContactLog>(&events, ContactLogCommand::Record(contact(1, None))),
        Err(ContactLogError::Exists(id(1)))
    );
    let complete =
        |contact| ContactLogCommand::CompleteFollowUp { contact_id: id(contact), note: "called back".into() };
    assert_eq!(when::<ContactLog>(&events, complete(2)), Err(ContactLogError::NoFollowUp(id(2))));
    assert_eq!(when::<ContactLog>(&events, complete(3)), Err(ContactLogError::NotFound(id(3))));
    let done = then_after::<ContactLog>(&events, complete(1));
    assert!(!ContactLog::replay(&done).contacts[&id(1)].follow_up_due(date(2026, 12, 31)));
    assert_eq!(when::<ContactLog>(&done, complete(1)), Err(ContactLogError::FollowUpDone(id(1))));
}

#[test]
fn a_contact_is_checked() {
    let mut bad = contact(1, Some(date(2026, 11, 1)));
    bad.needs.clear();
    bad.summary = Personal::Plain(String::new());
    bad.occurred_at = Timestamp::from_millis(NOW.as_millis() + 3_600_000);
    let Err(ContactLogError::Invalid(violations)) = when::<ContactLog>(&[], ContactLogCommand::Record(bad))
    else {
        panic!("expected violations")
    };
    let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["needs", "summary", "occurred_at", "follow_up"]);
}

#[test]
fn a_consultation_is_recorded_once_without_personal_data() {
    let consultation = ConsultationRecorded {
        occurred_at: NOW,
        sector: Sector::School,
        channel: Channel::Phone,
        needs: vec![Need::MentalHealth],
        guidance: vec![Sector::MentalHealth],
        municipality: None,
    };
    let events = when::<Consultation>(&[], consultation.clone()).expect("records");
    assert_eq!(when::<Consultation>(&events, consultation.clone()), Err(ConsultationError::Exists));
    let empty = ConsultationRecorded { needs: vec![], ..consultation };
    assert!(matches!(when::<Consultation>(&[], empty), Err(ConsultationError::Invalid(_))));
}

fn families(count: u32) -> Vec<FamilyId> {
    (0..count).map(|n| id(1000 + n)).collect()
}

#[test]
fn a_caseload_of_500_is_spread_in_turn() {
    let receivers: Vec<Receiver> =
        (1..=3).map(|n| Receiver { id: id(n), caseload: 0, limit: 1000 }).collect();
    let planned = plan(&families(500), &receivers, SpreadRule::RoundRobin);
    assert_eq!(planned.len(), 500);
    let count = |n: u32| planned.iter().filter(|(_, to)| *to == Some(id(n))).count();
    assert_eq!((count(1), count(2), count(3)), (167, 167, 166));
    assert_eq!(planned[0].1, Some(id(1)));
    assert_eq!(planned[1].1, Some(id(2)));
}

#[test]
fn least_loaded_evens_out_and_respects_limits() {
    let receivers = [
        Receiver { id: id(1), caseload: 40, limit: 300 },
        Receiver { id: id(2), caseload: 0, limit: 300 },
        Receiver { id: id(3), caseload: 10, limit: 100 },
    ];
    let planned = plan(&families(500), &receivers, SpreadRule::LeastLoaded);
    let count = |n: u32| planned.iter().filter(|(_, to)| *to == Some(id(n))).count();
    assert_eq!(count(3), 90, "up to its limit of 100");
    assert_eq!((count(1), count(2)), (185, 225), "both end with 225 families");
    assert_eq!(count(1) + count(2) + count(3), 500);
    let full = [Receiver { id: id(1), caseload: 2, limit: 3 }];
    let planned = plan(&families(3), &full, SpreadRule::RoundRobin);
    assert_eq!(planned.iter().filter(|(_, to)| to.is_none()).count(), 2, "no room left for two");
}

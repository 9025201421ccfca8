//! Contact persons, assignments, the contact log and consultations, and the rules across them.

use jiff::civil::{Date, date};
use luukku_domain::contacts::*;
use luukku_domain::family::{Family, FamilyError, FamilyId, MemberId, Municipality};
use luukku_domain::sealing::Personal;
use luukku_domain::{Actor, Channel, Code, Need, Role, Sector, Timestamp};
use luukku_testkit::fixtures::{registered, teen};
use luukku_testkit::given::{NOW, TODAY, given, id};

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

fn registered_person(limit: u32) -> Vec<ContactPersonEvent> {
    given::<ContactPerson>([]).when(ContactPersonCommand::Register(profile(limit))).events()
}

fn join(family: u32) -> ContactPersonCommand {
    ContactPersonCommand::Join { family_id: id(family) }
}

#[test]
fn a_contact_person_is_registered_and_checked() {
    let anna = given::<ContactPerson>(registered_person(2));
    assert!(anna.state().active && anna.state().has_room());
    anna.when(ContactPersonCommand::Register(profile(2))).then_err(ContactPersonError::AlreadyRegistered);
    let bad = Profile { name: " ".to_owned(), caseload_limit: 0, ..profile(1) };
    assert_eq!(
        given::<ContactPerson>([]).when(ContactPersonCommand::Register(bad)).then_invalid(),
        ["name", "caseload_limit"]
    );
    given::<ContactPerson>([]).when(join(1)).then_err(ContactPersonError::NotFound);
}

#[test]
fn an_update_keeps_the_identity_and_records_only_changes() {
    let mut changed = profile(5);
    changed.person_id = Code::parse("someone.else").expect("code");
    let updated =
        given::<ContactPerson>(registered_person(2)).when(ContactPersonCommand::Update(changed)).and();
    let current = updated.state().profile.expect("profile");
    assert_eq!((current.person_id.as_str(), current.caseload_limit), ("anna.contact", 5));
    updated.when(ContactPersonCommand::Update(profile(5))).then_nothing();
}

#[test]
fn the_caseload_limit_holds() {
    let full = given::<ContactPerson>(registered_person(2)).when(join(1)).and().when(join(2)).and();
    full.when(join(3)).then_err(ContactPersonError::CaseloadFull { limit: 2 });
    full.when(join(2)).then_nothing();
    let left = full.when(ContactPersonCommand::Leave { family_id: id(1) }).and();
    left.when(join(3)).then([ContactPersonEvent::CaseloadJoined(CaseloadChange { family_id: id(3) })]);
    left.when(ContactPersonCommand::Leave { family_id: id(9) }).then_nothing();
}

#[test]
fn deactivation_needs_an_empty_caseload_and_stops_new_families() {
    let deactivate = ContactPersonCommand::Deactivate { reason: "retires".to_owned() };
    given::<ContactPerson>(registered_person(2))
        .when(join(1))
        .and()
        .when(deactivate.clone())
        .then_err(ContactPersonError::HasCaseload(1));
    let inactive = given::<ContactPerson>(registered_person(2)).when(deactivate.clone()).and();
    assert!(!inactive.state().active);
    inactive.when(join(1)).then_err(ContactPersonError::Inactive);
    inactive.when(deactivate).then_nothing();
}

fn assign(to: u32, handover: u32, reason: &str) -> AssignmentCommand {
    AssignmentCommand::Assign { to: id(to), handover_id: id(handover), reason: reason.to_owned() }
}

fn assigned_to(person: u32) -> Vec<AssignmentEvent> {
    given::<Assignment>([]).when(assign(person, 100, "")).events()
}

#[test]
fn the_first_assignment_needs_no_reason() {
    given::<Assignment>([])
        .when(assign(1, 100, ""))
        .then([AssignmentEvent::Assigned(Assigned { contact_person: id(1) })]);
    given::<Assignment>(assigned_to(1))
        .when(assign(1, 101, ""))
        .then_err(AssignmentError::AlreadyAssigned(id(1)));
}

#[test]
fn assigning_another_is_a_handover_that_needs_a_reason() {
    let assigned = given::<Assignment>(assigned_to(1));
    assigned.when(assign(2, 101, " ")).then_err(AssignmentError::ReasonRequired { current: id(1) });
    let proposed = assigned.when(assign(2, 101, "moves to Tampere")).and();
    let state = proposed.state();
    assert_eq!(state.current, Some(id(1)), "the current one stays responsible until accepted");
    let pending = state.pending.expect("pending handover");
    assert_eq!((pending.from, pending.to), (id(1), id(2)));
    assert_eq!(pending.reason, Personal::Plain("moves to Tampere".to_owned()));
    proposed
        .when(assign(3, 102, "another"))
        .then_err(AssignmentError::HandoverPending { handover_id: id(101), to: id(2) });
}

#[test]
fn an_accepted_handover_changes_the_contact_person() {
    let proposed = given::<Assignment>(assigned_to(1)).when(assign(2, 101, "moves")).and();
    proposed
        .when(AssignmentCommand::Accept { handover_id: id(999) })
        .then_err(AssignmentError::NoSuchHandover(id(999)));
    let accepted = proposed.when(AssignmentCommand::Accept { handover_id: id(101) }).and();
    let state = accepted.state();
    assert_eq!((state.current, state.pending), (Some(id(2)), None));
    assert_eq!(accepted.history().len(), 3, "the whole history stays");
    accepted
        .when(AssignmentCommand::Accept { handover_id: id(101) })
        .then_err(AssignmentError::NoSuchHandover(id(101)));
}

#[test]
fn a_declined_or_withdrawn_handover_leaves_things_as_they_were() {
    let proposed = given::<Assignment>(assigned_to(1)).when(assign(2, 101, "moves")).and();
    for command in [
        AssignmentCommand::Decline { handover_id: id(101), reason: "caseload full".to_owned() },
        AssignmentCommand::Withdraw { handover_id: id(101) },
    ] {
        let after = proposed.when(command).and();
        let state = after.state();
        assert_eq!((state.current, state.pending), (Some(id(1)), None));
        assert_eq!(after.when(assign(3, 102, "again")).events().len(), 1, "a new handover may follow");
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
    let logged = given::<ContactLog>([])
        .when(ContactLogCommand::Record(contact(1, Some(date(2026, 11, 30)))))
        .and()
        .when(ContactLogCommand::Record(contact(2, None)))
        .and();
    let log = logged.state();
    assert!(!log.contacts[&id(1)].follow_up_due(TODAY));
    assert!(log.contacts[&id(1)].follow_up_due(date(2026, 11, 30)));
    logged.when(ContactLogCommand::Record(contact(1, None))).then_err(ContactLogError::Exists(id(1)));
    let complete =
        |contact| ContactLogCommand::CompleteFollowUp { contact_id: id(contact), note: "called back".into() };
    logged.when(complete(2)).then_err(ContactLogError::NoFollowUp(id(2)));
    logged.when(complete(3)).then_err(ContactLogError::NotFound(id(3)));
    let done = logged.when(complete(1)).and();
    assert!(!done.state().contacts[&id(1)].follow_up_due(date(2026, 12, 31)));
    done.when(complete(1)).then_err(ContactLogError::FollowUpDone(id(1)));
}

#[test]
fn a_contact_is_checked() {
    let mut bad = contact(1, Some(date(2026, 11, 1)));
    bad.needs.clear();
    bad.summary = Personal::Plain(String::new());
    bad.occurred_at = Timestamp::from_millis(NOW.as_millis() + 3_600_000);
    assert_eq!(
        given::<ContactLog>([]).when(ContactLogCommand::Record(bad)).then_invalid(),
        ["needs", "summary", "occurred_at", "follow_up"]
    );
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
    let recorded = given::<Consultation>([]).when(consultation.clone()).and();
    recorded.when(consultation.clone()).then_err(ConsultationError::Exists);
    let empty = ConsultationRecorded { needs: vec![], ..consultation };
    assert_eq!(given::<Consultation>([]).when(empty).then_invalid(), ["needs"]);
}

fn families(count: u32) -> Vec<FamilyId> {
    (0..count).map(|n| id(1000 + n)).collect()
}

#[test]
fn a_caseload_of_500_is_spread_in_turn() {
    let receivers: Vec<Receiver> =
        (1..=3).map(|n| Receiver { id: id(n), caseload: 0, limit: 1000 }).collect();
    let planned = spread(&families(500), &receivers, SpreadRule::RoundRobin);
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
    let planned = spread(&families(500), &receivers, SpreadRule::LeastLoaded);
    let count = |n: u32| planned.iter().filter(|(_, to)| *to == Some(id(n))).count();
    assert_eq!(count(3), 90, "up to its limit of 100");
    assert_eq!((count(1), count(2)), (185, 225), "both end with 225 families");
    assert_eq!(count(1) + count(2) + count(3), 500);
    let full = [Receiver { id: id(1), caseload: 2, limit: 3 }];
    let planned = spread(&families(3), &full, SpreadRule::RoundRobin);
    assert_eq!(planned.iter().filter(|(_, to)| to.is_none()).count(), 2, "no room left for two");
}

// Rules across aggregates.

fn person_with(limit: u32, families: &[u32]) -> ContactPerson {
    let mut person = given::<ContactPerson>(registered_person(limit));
    for family in families {
        person = person.when(join(*family)).and();
    }
    person.state()
}

#[test]
fn a_first_assignment_reserves_a_place_and_a_handover_needs_room() {
    let unassigned = Assignment::default();
    let anna = person_with(2, &[]);
    assert_eq!(plan_assignment(&unassigned, &anna, id(1)), Ok(AssignPlan::ReserveFirst(id(1))));
    let full = person_with(1, &[50]);
    assert_eq!(
        plan_assignment(&unassigned, &full, id(1)),
        Ok(AssignPlan::ReserveFirst(id(1))),
        "the reservation itself refuses a full caseload"
    );
    let assigned = given::<Assignment>(assigned_to(2)).state();
    assert_eq!(plan_assignment(&assigned, &anna, id(1)), Ok(AssignPlan::Propose));
    assert_eq!(plan_assignment(&assigned, &full, id(1)), Err(ContactPersonError::CaseloadFull { limit: 1 }));
    assert_eq!(
        plan_assignment(&given::<Assignment>(assigned_to(1)).state(), &full, id(1)),
        Ok(AssignPlan::Propose)
    );
    let inactive = given::<ContactPerson>(registered_person(2))
        .when(ContactPersonCommand::Deactivate { reason: String::new() })
        .and()
        .state();
    assert_eq!(plan_assignment(&unassigned, &inactive, id(1)), Err(ContactPersonError::Inactive));
    assert_eq!(
        plan_assignment(&unassigned, &ContactPerson::default(), id(1)),
        Err(ContactPersonError::NotFound)
    );
}

#[test]
fn a_reservation_is_kept_only_when_the_assignment_happened() {
    assert!(assignment_kept(&assigned_to(1), id(1)));
    assert!(!assignment_kept(&assigned_to(2), id(1)), "another won the race");
    assert!(!assignment_kept(&[], id(1)), "nothing was recorded");
    let proposed = given::<Assignment>(assigned_to(2)).when(assign(1, 101, "moves")).events();
    assert!(!assignment_kept(&proposed, id(1)), "a proposal takes no place yet");
}

#[test]
fn an_accepted_handover_moves_the_family_between_caseloads() {
    let proposed = given::<Assignment>(assigned_to(1)).when(assign(2, 101, "moves")).and().state();
    assert_eq!(plan_accept(&proposed, id(101)), Some(CaseloadMove { from: id(1), to: id(2) }));
    assert_eq!(plan_accept(&proposed, id(999)), None);
    assert_eq!(plan_accept(&given::<Assignment>(assigned_to(1)).state(), id(101)), None);
}

fn actor(person: &str, role: Role) -> Actor {
    Actor {
        person_id: Code::parse(person).expect("code"),
        role,
        sector: Some(Sector::FamilySocialServices),
        organisation: Code::parse("0201256-6").expect("code"),
        system: Code::parse("tests").expect("code"),
    }
}

#[test]
fn only_the_receiver_or_an_operator_decides_on_a_handover() {
    let anna = person_with(5, &[]);
    assert_eq!(check_receiver(&actor("anna.contact", Role::ContactPerson), id(1), &anna), Ok(()));
    assert_eq!(check_receiver(&actor("ops.1", Role::Operator), id(1), &anna), Ok(()));
    assert_eq!(
        check_receiver(&actor("ben.contact", Role::ContactPerson), id(1), &anna),
        Err(AssignmentError::NotTheReceiver(id(1)))
    );
}

#[test]
fn a_contact_names_a_member_of_the_family() {
    let family: Family = given::<Family>(registered()).state();
    assert_eq!(check_party(&family, &Party::FamilyMember(teen())), Ok(()));
    assert_eq!(check_party(&family, &Party::Professional(Sector::School)), Ok(()));
    assert_eq!(check_party(&family, &Party::FamilyMember(id(99))), Err(FamilyError::MemberNotFound(id(99))));
}

#[test]
fn a_transfer_proposes_each_family_once_and_says_why_others_are_left() {
    let leaving = id::<ContactPersonId>(1);
    let theirs = given::<Assignment>(assigned_to(1)).state();
    let pending = given::<Assignment>(assigned_to(1)).when(assign(5, 101, "moves")).and().state();
    let someone_elses = given::<Assignment>(assigned_to(7)).state();
    let caseload = [
        CaseloadFamily { family_id: id(1000), assignment: &theirs, retried: false },
        CaseloadFamily { family_id: id(1001), assignment: &pending, retried: false },
        CaseloadFamily { family_id: id(1002), assignment: &someone_elses, retried: false },
        CaseloadFamily { family_id: id(1003), assignment: &pending, retried: true },
        CaseloadFamily { family_id: id(1004), assignment: &theirs, retried: false },
    ];
    let receivers = [Receiver { id: id(2), caseload: 0, limit: 2 }];
    let plan = plan_transfer(leaving, &caseload, &receivers, SpreadRule::RoundRobin);
    assert_eq!(plan.handovers, [(id(1000), id(2)), (id(1003), id(2))], "a retry plans its family again");
    assert_eq!(
        plan.skipped,
        [
            (id(1001), Skip::HandoverPending(id(101))),
            (id(1002), Skip::NotTheirs(leaving)),
            (id(1004), Skip::NoRoom)
        ]
    );
    assert_eq!(Skip::NoRoom.to_string(), "no receiver has room");
}

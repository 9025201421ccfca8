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

const UNTIL: Timestamp = Timestamp::from_millis(1_795_500_120_000);

fn reserve(family: u32, reservation: u32) -> ContactPersonCommand {
    ContactPersonCommand::Reserve { family_id: id(family), reservation_id: id(reservation), until: UNTIL }
}

fn release(family: u32, reservation: u32) -> ContactPersonCommand {
    ContactPersonCommand::Release { family_id: id(family), reservation_id: id(reservation), expired: false }
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
    given::<ContactPerson>([]).when(reserve(1, 501)).then_err(ContactPersonError::NotFound);
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
fn the_caseload_limit_counts_families_and_places_held() {
    let full = given::<ContactPerson>(registered_person(2)).when(reserve(1, 501)).and().when(join(2)).and();
    assert_eq!(full.state().places_taken(), 2);
    full.when(reserve(3, 503)).then_err(ContactPersonError::CaseloadFull { limit: 2 });
    full.when(reserve(2, 502)).then_nothing();
    full.when(reserve(1, 501)).then_nothing();
    let left = full.when(ContactPersonCommand::Leave { family_id: id(2) }).and();
    left.when(reserve(3, 503)).then([ContactPersonEvent::PlaceReserved(PlaceReserved {
        family_id: id(3),
        reservation_id: id(503),
        until: UNTIL,
    })]);
    left.when(ContactPersonCommand::Leave { family_id: id(9) }).then_nothing();
}

#[test]
fn a_place_is_released_only_by_the_request_that_holds_it() {
    let held = given::<ContactPerson>(registered_person(5)).when(reserve(1, 501)).and();
    held.when(reserve(1, 502)).then_err(ContactPersonError::PlaceHeld(id(1)));
    held.when(release(1, 502)).then_nothing();
    let released = held.when(release(1, 501)).and();
    assert!(released.state().reserved.is_empty() && released.state().caseload.is_empty());
    released.when(release(1, 501)).then_nothing();

    // Joining takes the place; a late release of it then changes nothing.
    let joined = held.when(join(1)).and();
    assert_eq!((joined.state().caseload.len(), joined.state().reserved.len()), (1, 0));
    joined.when(release(1, 501)).then_nothing();
    joined.when(reserve(1, 502)).then_nothing();
    joined.when(join(1)).then_nothing();
}

#[test]
fn a_place_whose_time_ran_out_is_taken_by_the_next_request_and_a_retry_renews_its_own() {
    let ran_out = Timestamp::from_millis(NOW.as_millis() - 1);
    let reserve_until = |reservation: u32, until: Timestamp| ContactPersonCommand::Reserve {
        family_id: id(1),
        reservation_id: id(reservation),
        until,
    };
    let held = given::<ContactPerson>(registered_person(1)).when(reserve_until(501, ran_out)).and();
    held.when(reserve_until(502, UNTIL)).then([
        ContactPersonEvent::ReservationReleased(ReservationReleased {
            family_id: id(1),
            reservation_id: id(501),
            expired: true,
        }),
        ContactPersonEvent::PlaceReserved(PlaceReserved {
            family_id: id(1),
            reservation_id: id(502),
            until: UNTIL,
        }),
    ]);
    let renewed = held.when(reserve_until(501, UNTIL)).and();
    assert_eq!(renewed.state().reserved[&id(1)].until, UNTIL, "the retry's time starts again");
    renewed.when(reserve_until(502, UNTIL)).then_err(ContactPersonError::PlaceHeld(id(1)));
    renewed.when(reserve_until(501, ran_out)).then_nothing();
}

#[test]
fn deactivation_needs_every_assignment_ended_and_stops_new_families() {
    let deactivate = ContactPersonCommand::Deactivate { reason: "retires".to_owned() };
    let coordinating = given::<ContactPerson>(registered_person(2)).when(join(1)).and();
    coordinating
        .when(deactivate.clone())
        .then_err(ContactPersonError::HasCaseload { families: 1, reserved: 0 });
    given::<ContactPerson>(registered_person(2))
        .when(reserve(1, 501))
        .and()
        .when(deactivate.clone())
        .then_err(ContactPersonError::HasCaseload { families: 0, reserved: 1 });
    let ended = coordinating.when(ContactPersonCommand::Leave { family_id: id(1) }).and();
    assert!(!ended.when(deactivate.clone()).and().state().active);
    let inactive = given::<ContactPerson>(registered_person(2)).when(deactivate.clone()).and();
    assert!(!inactive.state().active);
    inactive.when(reserve(1, 501)).then_err(ContactPersonError::Inactive);
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
fn an_assignment_ends_with_a_reason_and_withdraws_a_pending_handover() {
    let end = |reason, note: &str| AssignmentCommand::End { reason, note: note.to_owned() };
    given::<Assignment>([]).when(end(EndReason::NeedsMet, "")).then_err(AssignmentError::NotAssigned);
    given::<Assignment>(assigned_to(1)).when(end(EndReason::NeedsMet, " done ")).then([
        AssignmentEvent::Ended(AssignmentEnded {
            contact_person: id(1),
            reason: EndReason::NeedsMet,
            note: Some(Personal::Plain("done".to_owned())),
        }),
    ]);
    let proposed = given::<Assignment>(assigned_to(1)).when(assign(2, 101, "moves")).and();
    let ended = proposed.when(end(EndReason::FamilyClosed, "")).and();
    assert_eq!(
        ended.history()[2..],
        [
            AssignmentEvent::HandoverWithdrawn(HandoverWithdrawn { handover_id: id(101) }),
            AssignmentEvent::Ended(AssignmentEnded {
                contact_person: id(1),
                reason: EndReason::FamilyClosed,
                note: None
            }),
        ]
    );
    let state = ended.state();
    assert_eq!((state.current, state.pending), (None, None));
    ended
        .when(AssignmentCommand::Accept { handover_id: id(101) })
        .then_err(AssignmentError::NoSuchHandover(id(101)));
    ended.when(end(EndReason::Other, "")).then_err(AssignmentError::NotAssigned);
    ended.when(assign(3, 102, "")).then([AssignmentEvent::Assigned(Assigned { contact_person: id(3) })]);
}

mod reconciling {
    use std::collections::BTreeSet;

    use luukku_domain::contacts::reconcile::*;
    use luukku_domain::family::{CloseReason, Closed, FamilyEvent, Reopened};

    use super::*;

    const T0: i64 = 1_795_500_000_000;
    const GRACE: i64 = 60_000;

    fn at(offset_ms: i64) -> Timestamp {
        Timestamp::from_millis(T0 + offset_ms)
    }

    /// What `command` records for a contact person holding what `caseloads` says they hold.
    fn person_event(caseloads: &mut Caseloads, person: u32, command: ContactPersonCommand, when: i64) {
        let places = caseloads.persons.get(&id(person)).cloned().unwrap_or_default();
        let mut history = registered_person(10);
        history.extend(
            places
                .caseload
                .iter()
                .map(|family| ContactPersonEvent::CaseloadJoined(CaseloadChange { family_id: *family })),
        );
        for event in given::<ContactPerson>(history).when(command).events() {
            caseloads.apply_person(id(person), &event, at(when));
        }
    }

    fn found(caseloads: &Caseloads, ends: &FamilyEnds, now: i64) -> Vec<(Difference, bool)> {
        differences(caseloads, ends, at(now), GRACE).into_iter().map(|f| (f.difference, f.settled)).collect()
    }

    #[test]
    fn caseloads_that_follow_their_assignments_have_no_differences() {
        let mut caseloads = Caseloads::default();
        caseloads.apply_assignment(id(1000), &assigned_to(1)[0], at(0));
        person_event(&mut caseloads, 1, join(1000), 0);
        assert_eq!(found(&caseloads, &FamilyEnds::default(), GRACE * 10), []);
        // A place held and not yet expired is a request in flight.
        person_event(&mut caseloads, 2, reserve(1001, 501), 0);
        assert_eq!(found(&caseloads, &FamilyEnds::default(), UNTIL.as_millis() - T0 - 1), []);
    }

    #[test]
    fn every_kind_of_difference_is_found_and_settles_after_the_grace_time() {
        let mut caseloads = Caseloads::default();
        let mut ends = FamilyEnds::default();
        // Assigned to 1, but the join never happened.
        caseloads.apply_assignment(id(1000), &assigned_to(1)[0], at(0));
        // In 2's caseload, but the assignment names nobody (its end's leave stopped short).
        person_event(&mut caseloads, 2, join(1001), 0);
        // A place 3 holds whose assignment never came.
        person_event(&mut caseloads, 3, reserve(1002, 502), 0);
        // Assigned to 4, in their caseload, and closed since.
        caseloads.apply_assignment(id(1003), &assigned_to(4)[0], at(0));
        person_event(&mut caseloads, 4, join(1003), 0);
        let closed = FamilyEvent::Closed(Closed { reason: CloseReason::NeedsMet, note: Personal::text("") });
        ends.apply(id(1003), &closed, at(1000));

        let expired = UNTIL.as_millis() - T0;
        let young = found(&caseloads, &ends, 1500);
        assert!(young.iter().all(|(_, settled)| !settled), "{young:?}");
        assert_eq!(young.len(), 3, "the place has not expired yet: {young:?}");
        let settled = found(&caseloads, &ends, expired.max(GRACE + 1000));
        let kinds: BTreeSet<_> = settled.iter().map(|(difference, _)| difference.kind()).collect();
        assert_eq!(kinds, BTreeSet::from(["expired", "missing", "stale", "ended"]));
        assert!(settled.iter().all(|(_, settled)| *settled));
        assert!(settled.contains(&(Difference::Missing { family: id(1000), person: id(1) }, true)));
        assert!(
            settled.contains(&(Difference::Stale { family: id(1001), person: id(2), assigned: None }, true))
        );
        assert!(settled.contains(&(
            Difference::Expired { family: id(1002), person: id(3), reservation_id: id(502) },
            true
        )));
        assert!(settled.contains(&(
            Difference::Ended { family: id(1003), person: id(4), end: FamilyEnd::Closed },
            true
        )));

        // Reopened, the family's assignment is no difference any more.
        ends.apply(id(1003), &FamilyEvent::Reopened(Reopened { note: Personal::text("") }), at(2000));
        assert!(!found(&caseloads, &ends, GRACE * 10).iter().any(|(d, _)| d.kind() == "ended"));
    }

    #[test]
    fn a_handover_accepted_moves_the_family_between_caseloads() {
        let mut caseloads = Caseloads::default();
        let proposed = given::<Assignment>(assigned_to(1)).when(assign(2, 101, "moves")).and();
        let accepted = proposed.when(AssignmentCommand::Accept { handover_id: id(101) }).and();
        for event in accepted.history() {
            caseloads.apply_assignment(id(1000), event, at(0));
        }
        person_event(&mut caseloads, 1, join(1000), 0);
        let differences = found(&caseloads, &FamilyEnds::default(), GRACE);
        assert_eq!(
            differences,
            [
                (Difference::Stale { family: id(1000), person: id(1), assigned: Some(id(2)) }, true),
                (Difference::Missing { family: id(1000), person: id(2) }, true),
            ]
        );
    }
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
        CaseloadFamily { family_id: id(1000), assignment: &theirs, retried: false, closed: false },
        CaseloadFamily { family_id: id(1001), assignment: &pending, retried: false, closed: false },
        CaseloadFamily { family_id: id(1002), assignment: &someone_elses, retried: false, closed: false },
        CaseloadFamily { family_id: id(1003), assignment: &pending, retried: true, closed: false },
        CaseloadFamily { family_id: id(1004), assignment: &theirs, retried: false, closed: false },
        CaseloadFamily { family_id: id(1005), assignment: &theirs, retried: false, closed: true },
    ];
    let receivers = [Receiver { id: id(2), caseload: 0, limit: 2 }];
    let plan = plan_transfer(leaving, &caseload, &receivers, SpreadRule::RoundRobin);
    assert_eq!(plan.handovers, [(id(1000), id(2)), (id(1003), id(2))], "a retry plans its family again");
    assert_eq!(
        plan.skipped,
        [
            (id(1001), Skip::HandoverPending(id(101))),
            (id(1002), Skip::NotTheirs(leaving)),
            (id(1005), Skip::FamilyClosed),
            (id(1004), Skip::NoRoom)
        ]
    );
    assert_eq!(Skip::NoRoom.to_string(), "no receiver has room");
}

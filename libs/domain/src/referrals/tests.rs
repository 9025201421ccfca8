//! Given events, when a command, then events or a refusal; and deadline arithmetic.

use jiff::civil::date;

use super::*;
use crate::family::{ConsentId, FamilyId};
use crate::sealing::Personal;
use crate::{Aggregate, Context, Need, Sector, Timestamp};

fn id<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("01J{n:0>23}").parse().expect("test id")
}

fn finland() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Helsinki").expect("the time zone database")
}

/// Milliseconds of a Helsinki wall-clock time.
fn helsinki(y: i16, m: i8, d: i8, h: i8) -> Timestamp {
    let zoned = date(y, m, d).at(h, 0, 0, 0).in_tz("Europe/Helsinki").expect("zone");
    Timestamp::from_millis(zoned.timestamp().as_millisecond())
}

const SENT: (i16, i8, i8, i8) = (2026, 11, 23, 10); // a Monday

fn context_at(now: Timestamp) -> Context {
    Context { now, today: date(2026, 11, 23) }
}

fn created(basis: Basis) -> ReferralCreated {
    let sent = helsinki(SENT.0, SENT.1, SENT.2, SENT.3);
    ReferralCreated {
        family_id: id::<FamilyId>(1),
        child: Some(id(2)),
        service_id: id(3),
        sector: Sector::MentalHealth,
        needs: vec![Need::MentalHealth],
        urgency: Urgency::Normal,
        reason: Personal::Plain("Anxiety, school refusal".to_owned()),
        basis,
        sent_at: sent,
        deadline: DeadlinePolicy::default().deadline(Urgency::Normal, sent, &finland()),
        contact_person: None,
    }
}

fn requested() -> Vec<ReferralEvent> {
    vec![ReferralEvent::Created(created(Basis::Consent(id(9))))]
}

fn run(given: &[ReferralEvent], commands: &[ReferralCommand]) -> Result<Referral, ReferralError> {
    let mut events = given.to_vec();
    let context = context_at(helsinki(SENT.0, SENT.1, SENT.2, SENT.3 + 1));
    for command in commands {
        events.extend(Referral::replay(&events).decide(command, &context)?);
    }
    Ok(Referral::replay(&events))
}

fn state(given: &[ReferralEvent], commands: &[ReferralCommand]) -> &'static str {
    run(given, commands).expect("legal").state.map_or("none", ReferralState::as_code)
}

fn reject() -> ReferralCommand {
    ReferralCommand::Reject { reason: RejectReason::NoCapacity, note: "queue full".into() }
}

#[test]
fn the_happy_path_follows_the_fhir_states() {
    use ReferralCommand as C;
    assert_eq!(state(&requested(), &[]), "requested");
    assert_eq!(state(&requested(), &[C::Receive]), "received");
    assert_eq!(state(&requested(), &[C::Receive, C::Accept]), "accepted");
    assert_eq!(state(&requested(), &[C::Receive, C::Accept, C::Start]), "in_progress");
    assert_eq!(
        state(&requested(), &[C::Receive, C::Accept, C::Start, C::Complete { outcome: "helped".into() }]),
        "completed"
    );
    assert_eq!(state(&requested(), &[C::Accept, C::Start, C::Fail { note: "moved".into() }]), "failed");
    assert_eq!(state(&requested(), &[C::Receive, reject()]), "rejected");
}

#[test]
fn on_hold_returns_to_where_it_was() {
    use ReferralCommand as C;
    let hold = C::Hold { note: "family abroad".into() };
    assert_eq!(state(&requested(), &[C::Receive, C::Accept, hold.clone()]), "on_hold");
    assert_eq!(state(&requested(), &[C::Receive, C::Accept, hold.clone(), C::Resume]), "accepted");
    assert_eq!(state(&requested(), &[C::Receive, C::Accept, C::Start, hold, C::Resume]), "in_progress");
}

#[test]
fn the_sender_cancels_any_time_before_completion() {
    use ReferralCommand as C;
    let cancel = C::Cancel { note: "no longer needed".into() };
    for path in [vec![], vec![C::Receive], vec![C::Accept, C::Start], vec![C::Hold { note: String::new() }]] {
        let mut commands = path.clone();
        commands.push(cancel.clone());
        assert_eq!(state(&requested(), &commands), "cancelled", "after {path:?}");
    }
    let done = [C::Accept, C::Start, C::Complete { outcome: "ok".into() }, cancel];
    assert_eq!(
        run(&requested(), &done),
        Err(ReferralError::IllegalTransition { state: "completed", action: "cancel" })
    );
}

#[test]
fn illegal_transitions_name_the_current_state() {
    use ReferralCommand as C;
    let cases: Vec<(Vec<C>, C, &str)> = vec![
        (vec![], C::Start, "requested"),
        (vec![], C::Complete { outcome: "x".into() }, "requested"),
        (vec![], C::Resume, "requested"),
        (vec![C::Receive], C::Receive, "received"),
        (vec![C::Accept], reject(), "accepted"),
        (vec![C::Accept, C::Start], C::Accept, "in_progress"),
        (vec![reject()], C::Accept, "rejected"),
        (vec![C::Cancel { note: String::new() }], C::Hold { note: String::new() }, "cancelled"),
    ];
    for (path, command, expected) in cases {
        let mut commands = path;
        commands.push(command);
        match run(&requested(), &commands) {
            Err(ReferralError::IllegalTransition { state, .. }) => assert_eq!(state, expected),
            other => panic!("expected an illegal transition from {expected}, got {other:?}"),
        }
    }
    assert_eq!(run(&[], &[C::Receive]), Err(ReferralError::NotFound));
    assert_eq!(
        run(&requested(), &[C::Create(Box::new(created(Basis::Consent(id(9)))))]),
        Err(ReferralError::Exists)
    );
}

#[test]
fn a_redirect_keeps_the_history_and_restarts_the_clock() {
    let redirect = ReferralCommand::Redirect {
        service_id: id(4),
        sector: Sector::FamilyCounselling,
        note: "better fit".into(),
        deadline: helsinki(2026, 12, 10, 10),
    };
    let referral = run(&requested(), &[ReferralCommand::Receive, redirect.clone()]).expect("redirects");
    assert_eq!(referral.state, Some(ReferralState::Requested));
    assert_eq!((referral.service_id, referral.sector), (Some(id(4)), Some(Sector::FamilyCounselling)));
    assert_eq!(referral.redirects, 1);
    assert!(matches!(run(&requested(), &[redirect.clone(), redirect]), Err(ReferralError::Invalid(_))));
}

#[test]
fn overdue_is_emitted_once_and_only_when_due() {
    let referral = Referral::replay(&requested());
    let deadline = referral.deadline.expect("deadline");
    let before = context_at(Timestamp::from_millis(deadline.as_millis() - 1));
    assert_eq!(referral.decide(&ReferralCommand::MarkOverdue, &before), Ok(vec![]));
    let after = context_at(deadline);
    let events = referral.decide(&ReferralCommand::MarkOverdue, &after).expect("ok");
    assert_eq!(events, [ReferralEvent::Overdue(Overdue { deadline })]);
    let mut history = requested();
    history.extend(events);
    assert_eq!(Referral::replay(&history).decide(&ReferralCommand::MarkOverdue, &after), Ok(vec![]));
    let received = Referral::replay(&requested()[..]).decide(&ReferralCommand::Receive, &before).expect("ok");
    let mut on_time = requested();
    on_time.extend(received);
    assert_eq!(
        Referral::replay(&on_time).decide(&ReferralCommand::MarkOverdue, &after),
        Ok(vec![]),
        "received in time"
    );
}

#[test]
fn a_lapsed_consent_flags_the_open_referrals_resting_on_it_once() {
    let flag = |consent| ReferralCommand::FlagConsentLapsed { consent_id: id::<ConsentId>(consent) };
    let referral = run(&requested(), &[flag(9)]).expect("flags");
    assert!(referral.consent_lapsed);
    assert_eq!(referral.state, Some(ReferralState::Requested), "nothing recorded is lost");
    let twice = run(&requested(), &[flag(9), flag(9)]).expect("no-op");
    assert!(twice.consent_lapsed);
    assert!(!run(&requested(), &[flag(8)]).expect("other consent").consent_lapsed);
    let statutory = vec![ReferralEvent::Created(created(Basis::Statutory {
        basis: StatutoryBasis::ChildProtectionNotification,
        note: Personal::Plain("notification 12/2026".into()),
    }))];
    assert!(!run(&statutory, &[flag(9)]).expect("no consent").consent_lapsed);
    let done = [
        ReferralCommand::Accept,
        ReferralCommand::Start,
        ReferralCommand::Complete { outcome: "ok".into() },
        flag(9),
    ];
    assert!(!run(&requested(), &done).expect("closed").consent_lapsed);
}

#[test]
fn a_referral_is_checked() {
    let mut bad =
        created(Basis::Statutory { basis: StatutoryBasis::Emergency, note: Personal::Plain(" ".into()) });
    bad.needs.clear();
    bad.reason = Personal::Plain(String::new());
    let Err(ReferralError::Invalid(violations)) = run(&[], &[ReferralCommand::Create(Box::new(bad))]) else {
        panic!("expected violations")
    };
    let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["needs", "reason", "statutory_note"]);
}

#[test]
fn deadlines_count_days_and_working_days() {
    let policy = DeadlinePolicy::default();
    let monday = helsinki(2026, 11, 23, 10);
    assert_eq!(policy.deadline(Urgency::Normal, monday, &finland()), helsinki(2026, 11, 30, 10));
    assert_eq!(policy.deadline(Urgency::Urgent, monday, &finland()), helsinki(2026, 11, 24, 10));
    let friday = helsinki(2026, 11, 27, 15);
    assert_eq!(
        policy.deadline(Urgency::Urgent, friday, &finland()),
        helsinki(2026, 11, 30, 15),
        "over the weekend"
    );
    let saturday = helsinki(2026, 11, 28, 12);
    assert_eq!(
        policy.deadline(Urgency::Urgent, saturday, &finland()),
        helsinki(2026, 12, 1, 0),
        "from Monday's start"
    );
    let custom = DeadlinePolicy { urgent: Allowance::WorkingDays(3), normal: Allowance::Days(14) };
    assert_eq!(custom.deadline(Urgency::Urgent, friday, &finland()), helsinki(2026, 12, 2, 15));
    // Across the change to winter time the wall-clock time is kept.
    let before_dst_end = helsinki(2026, 10, 20, 9);
    assert_eq!(policy.deadline(Urgency::Normal, before_dst_end, &finland()), helsinki(2026, 10, 27, 9));
}

#[test]
fn the_catalogue_pauses_resumes_and_retires() {
    let info = ServiceInfo {
        provider: "Helsinki family counselling".into(),
        sector: Sector::FamilyCounselling,
        name: "Parenting support".into(),
        description: "Sessions for parents".into(),
        min_age: 0,
        max_age: 17,
        needs: vec![Need::Parenting],
        municipalities: vec![crate::family::Municipality::parse("091").expect("code")],
        low_threshold: false,
        contact: "perheneuvola@example.fi".into(),
    };
    let context = context_at(Timestamp::from_millis(0));
    let mut events =
        CatalogueService::default().decide(&ServiceCommand::Register(info.clone()), &context).expect("ok");
    let decide =
        |events: &[ServiceEvent], command| CatalogueService::replay(events).decide(&command, &context);
    events.extend(decide(&events, ServiceCommand::Pause { reason: "full".into() }).expect("pauses"));
    assert_eq!(CatalogueService::replay(&events).status, ServiceStatus::Paused);
    events.extend(decide(&events, ServiceCommand::Resume).expect("resumes"));
    assert_eq!(CatalogueService::replay(&events).status, ServiceStatus::Active);
    events.extend(decide(&events, ServiceCommand::Retire { reason: "ended".into() }).expect("retires"));
    assert_eq!(decide(&events, ServiceCommand::Resume), Err(ServiceError::Retired));
    assert_eq!(decide(&[], ServiceCommand::Resume), Err(ServiceError::NotFound));
    let bad = ServiceInfo { name: String::new(), min_age: 10, max_age: 5, needs: vec![], ..info.clone() };
    assert!(
        matches!(decide(&[], ServiceCommand::Register(bad)), Err(ServiceError::Invalid(v)) if v.len() == 3)
    );
    assert!(info.serves(Some(7), Some(Need::Parenting), None));
    assert!(!info.serves(Some(18), None, None));
    assert!(!info.serves(None, Some(Need::Housing), None));
}

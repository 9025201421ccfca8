//! The catalogue and referrals; deadline arithmetic; the basis a referral rests on.

use jiff::civil::date;
use luukku_domain::family::{ConsentId, Family, FamilyId, Municipality};
use luukku_domain::referrals::*;
use luukku_domain::sealing::Personal;
use luukku_domain::{Context, Need, Sector, Timestamp};
use luukku_testkit::fixtures::{consent, guardian, registered, teen, toddler};
use luukku_testkit::given::{Given, TODAY, given, id};

fn finland() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Helsinki").expect("the time zone database")
}

/// Milliseconds of a Helsinki wall-clock time.
fn helsinki(y: i16, m: i8, d: i8, h: i8) -> Timestamp {
    let zoned = date(y, m, d).at(h, 0, 0, 0).in_tz("Europe/Helsinki").expect("zone");
    Timestamp::from_millis(zoned.timestamp().as_millisecond())
}

/// Sent on Monday 2026-11-23 at 10 in Helsinki.
fn sent() -> Timestamp {
    helsinki(2026, 11, 23, 10)
}

fn context_at(now: Timestamp) -> Context {
    Context { now, today: TODAY }
}

fn created(basis: Basis) -> ReferralCreated {
    ReferralCreated {
        family_id: id::<FamilyId>(1),
        child: Some(id(2)),
        service_id: id(3),
        sector: Sector::MentalHealth,
        needs: vec![Need::MentalHealth],
        urgency: Urgency::Normal,
        reason: Personal::Plain("Anxiety, school refusal".to_owned()),
        basis,
        sent_at: sent(),
        deadline: DeadlinePolicy::default().deadline(Urgency::Normal, sent(), &finland()),
        contact_person: None,
    }
}

fn requested() -> Given<Referral> {
    given::<Referral>([ReferralEvent::Created(created(Basis::Consent(id(9))))])
        .at(context_at(helsinki(2026, 11, 23, 11)))
}

/// The referral after each of `commands` in turn, or the first refusal.
fn after(mut referral: Given<Referral>, commands: &[ReferralCommand]) -> Result<Referral, ReferralError> {
    for command in commands {
        let then = referral.when(command.clone());
        let history = referral.history().to_vec();
        let events = then.result()?;
        referral =
            given::<Referral>(history.into_iter().chain(events)).at(context_at(helsinki(2026, 11, 23, 11)));
    }
    Ok(referral.state())
}

fn state(commands: &[ReferralCommand]) -> &'static str {
    after(requested(), commands).expect("legal").state.map_or("none", ReferralState::as_code)
}

fn reject() -> ReferralCommand {
    ReferralCommand::Reject { reason: RejectReason::NoCapacity, note: "queue full".into() }
}

#[test]
fn the_happy_path_follows_the_fhir_states() {
    use ReferralCommand as C;
    assert_eq!(state(&[]), "requested");
    assert_eq!(state(&[C::Receive]), "received");
    assert_eq!(state(&[C::Receive, C::Accept]), "accepted");
    assert_eq!(state(&[C::Receive, C::Accept, C::Start]), "in_progress");
    assert_eq!(
        state(&[C::Receive, C::Accept, C::Start, C::Complete { outcome: "helped".into() }]),
        "completed"
    );
    assert_eq!(state(&[C::Accept, C::Start, C::Fail { note: "moved".into() }]), "failed");
    assert_eq!(state(&[C::Receive, reject()]), "rejected");
}

#[test]
fn on_hold_returns_to_where_it_was() {
    use ReferralCommand as C;
    let hold = C::Hold { note: "family abroad".into() };
    assert_eq!(state(&[C::Receive, C::Accept, hold.clone()]), "on_hold");
    assert_eq!(state(&[C::Receive, C::Accept, hold.clone(), C::Resume]), "accepted");
    assert_eq!(state(&[C::Receive, C::Accept, C::Start, hold, C::Resume]), "in_progress");
}

#[test]
fn the_sender_cancels_any_time_before_completion() {
    use ReferralCommand as C;
    let cancel = C::Cancel { note: "no longer needed".into() };
    for path in [vec![], vec![C::Receive], vec![C::Accept, C::Start], vec![C::Hold { note: String::new() }]] {
        let mut commands = path.clone();
        commands.push(cancel.clone());
        assert_eq!(state(&commands), "cancelled", "after {path:?}");
    }
    let done = [C::Accept, C::Start, C::Complete { outcome: "ok".into() }, cancel];
    assert_eq!(
        after(requested(), &done),
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
        match after(requested(), &commands) {
            Err(ReferralError::IllegalTransition { state, .. }) => assert_eq!(state, expected),
            other => panic!("expected an illegal transition from {expected}, got {other:?}"),
        }
    }
    given::<Referral>([]).when(C::Receive).then_err(ReferralError::NotFound);
    requested().when(C::Create(Box::new(created(Basis::Consent(id(9)))))).then_err(ReferralError::Exists);
}

#[test]
fn a_redirect_keeps_the_history_and_restarts_the_clock() {
    let redirect = ReferralCommand::Redirect {
        service_id: id(4),
        sector: Sector::FamilyCounselling,
        note: "better fit".into(),
        deadline: helsinki(2026, 12, 10, 10),
    };
    let referral = after(requested(), &[ReferralCommand::Receive, redirect.clone()]).expect("redirects");
    assert_eq!(referral.state, Some(ReferralState::Requested));
    assert_eq!((referral.service_id, referral.sector), (Some(id(4)), Some(Sector::FamilyCounselling)));
    assert_eq!(referral.redirects, 1);
    assert!(matches!(after(requested(), &[redirect.clone(), redirect]), Err(ReferralError::Invalid(_))));
}

#[test]
fn overdue_is_emitted_once_and_only_when_due() {
    let deadline = requested().state().deadline.expect("deadline");
    let before = context_at(Timestamp::from_millis(deadline.as_millis() - 1));
    let at_deadline = context_at(deadline);
    requested().at(before).when(ReferralCommand::MarkOverdue).then_nothing();
    let overdue = requested().at(at_deadline).when(ReferralCommand::MarkOverdue);
    let overdue = overdue.and();
    assert_eq!(overdue.history().last(), Some(&ReferralEvent::Overdue(Overdue { deadline })));
    overdue.when(ReferralCommand::MarkOverdue).then_nothing();
    let received = requested().at(before).when(ReferralCommand::Receive).and();
    received.at(at_deadline).when(ReferralCommand::MarkOverdue).then_nothing();
}

#[test]
fn a_lapsed_consent_flags_the_open_referrals_resting_on_it_once() {
    let flag = |consent| ReferralCommand::FlagConsentLapsed { consent_id: id::<ConsentId>(consent) };
    let referral = after(requested(), &[flag(9)]).expect("flags");
    assert!(referral.consent_lapsed);
    assert_eq!(referral.state, Some(ReferralState::Requested), "nothing recorded is lost");
    requested().when(flag(9)).and().when(flag(9)).then_nothing();
    requested().when(flag(8)).then_nothing();
    let statutory = given::<Referral>([ReferralEvent::Created(created(Basis::Statutory {
        basis: StatutoryBasis::ChildProtectionNotification,
        note: Personal::Plain("notification 12/2026".into()),
    }))]);
    statutory.when(flag(9)).then_nothing();
    let done =
        [ReferralCommand::Accept, ReferralCommand::Start, ReferralCommand::Complete { outcome: "ok".into() }];
    assert!(!after(requested(), &[&done[..], &[flag(9)]].concat()).expect("closed").consent_lapsed);
}

#[test]
fn a_referral_is_checked() {
    let mut bad =
        created(Basis::Statutory { basis: StatutoryBasis::Emergency, note: Personal::Plain(" ".into()) });
    bad.needs.clear();
    bad.reason = Personal::Plain(String::new());
    assert_eq!(
        given::<Referral>([]).when(ReferralCommand::Create(Box::new(bad))).then_invalid(),
        ["needs", "reason", "statutory_note"]
    );
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
    // Holidays are not working days: Christmas Eve and Day, then the weekend.
    let before_christmas = helsinki(2026, 12, 23, 10);
    assert_eq!(policy.deadline(Urgency::Urgent, before_christmas, &finland()), helsinki(2026, 12, 28, 10));
    // Sent on Good Friday, it counts from the Tuesday after Easter Monday.
    let good_friday = helsinki(2027, 3, 26, 11);
    assert_eq!(policy.deadline(Urgency::Urgent, good_friday, &finland()), helsinki(2027, 3, 31, 0));
    let before_midsummer = helsinki(2027, 6, 24, 14);
    assert_eq!(policy.deadline(Urgency::Urgent, before_midsummer, &finland()), helsinki(2027, 6, 28, 14));
    // Across the change to winter time the wall-clock time is kept.
    let before_dst_end = helsinki(2026, 10, 20, 9);
    assert_eq!(policy.deadline(Urgency::Normal, before_dst_end, &finland()), helsinki(2026, 10, 27, 9));
}

fn service_info() -> ServiceInfo {
    ServiceInfo {
        provider: "Helsinki family counselling".into(),
        sector: Sector::FamilyCounselling,
        name: "Parenting support".into(),
        description: "Sessions for parents".into(),
        min_age: 0,
        max_age: 17,
        needs: vec![Need::Parenting],
        municipalities: vec![Municipality::parse("091").expect("code")],
        low_threshold: false,
        contact: "perheneuvola@example.fi".into(),
    }
}

#[test]
fn the_catalogue_pauses_resumes_and_retires() {
    let info = service_info();
    let registered = given::<CatalogueService>([]).when(ServiceCommand::Register(info.clone())).and();
    assert_eq!(registered.state().check_taking(), Ok(&info));
    let paused = registered.when(ServiceCommand::Pause { reason: "full".into() }).and();
    assert_eq!(paused.state().status, ServiceStatus::Paused);
    assert_eq!(paused.state().check_taking(), Err(ServiceError::Paused));
    let resumed = paused.when(ServiceCommand::Resume).and();
    assert_eq!(resumed.state().status, ServiceStatus::Active);
    let retired = resumed.when(ServiceCommand::Retire { reason: "ended".into() }).and();
    retired.when(ServiceCommand::Resume).then_err(ServiceError::Retired);
    assert_eq!(retired.state().check_taking(), Err(ServiceError::Retired));
    given::<CatalogueService>([]).when(ServiceCommand::Resume).then_err(ServiceError::NotFound);
    assert_eq!(CatalogueService::default().check_taking(), Err(ServiceError::NotFound));
    let bad = ServiceInfo { name: String::new(), min_age: 10, max_age: 5, needs: vec![], ..info.clone() };
    assert_eq!(
        given::<CatalogueService>([]).when(ServiceCommand::Register(bad)).then_invalid(),
        ["name", "max_age", "needs"]
    );
    assert!(info.serves(Some(7), Some(Need::Parenting), None));
    assert!(!info.serves(Some(18), None, None));
    assert!(!info.serves(None, Some(Need::Housing), None));
}

// Rules across a referral and the family.

fn family_consenting(sectors: &[Sector], concerns: Option<luukku_domain::family::MemberId>) -> Family {
    given::<Family>(registered())
        .when(consent(20, guardian(), concerns, sectors, date(2027, 6, 30)))
        .and()
        .state()
}

#[test]
fn a_referral_rests_on_a_consent_covering_its_sector_and_child() {
    let family = family_consenting(&[Sector::MentalHealth], None);
    assert_eq!(
        referral_basis(&family, Some(teen()), Sector::MentalHealth, None, TODAY),
        Ok(Basis::Consent(id(20)))
    );
    assert_eq!(referral_basis(&family, None, Sector::MentalHealth, None, TODAY), Ok(Basis::Consent(id(20))));
    assert_eq!(
        referral_basis(&family, Some(teen()), Sector::School, None, TODAY),
        Err(ReferralError::NoConsent { sector: Sector::School })
    );
    assert_eq!(
        referral_basis(&family, Some(teen()), Sector::MentalHealth, None, date(2027, 7, 1)),
        Err(ReferralError::NoConsent { sector: Sector::MentalHealth }),
        "the consent has ended"
    );
    let for_the_teen = family_consenting(&[Sector::MentalHealth], Some(teen()));
    assert_eq!(
        referral_basis(&for_the_teen, Some(toddler()), Sector::MentalHealth, None, TODAY),
        Err(ReferralError::NoConsent { sector: Sector::MentalHealth }),
        "a consent for one child does not cover another"
    );
}

#[test]
fn a_statutory_basis_needs_no_consent_but_the_child_must_be_the_familys() {
    let family = given::<Family>(registered()).state();
    let basis = referral_basis(
        &family,
        Some(toddler()),
        Sector::ChildProtection,
        Some((StatutoryBasis::ChildProtectionNotification, " notification 41/2026 ")),
        TODAY,
    );
    assert_eq!(
        basis,
        Ok(Basis::Statutory {
            basis: StatutoryBasis::ChildProtectionNotification,
            note: Personal::Plain("notification 41/2026".into())
        })
    );
    let guardian_is_no_child = referral_basis(
        &family,
        Some(guardian()),
        Sector::ChildProtection,
        Some((StatutoryBasis::Emergency, "x")),
        TODAY,
    );
    assert!(matches!(&guardian_is_no_child, Err(ReferralError::Invalid(v)) if v[0].field.name == "child"));
    let stranger = check_child(&family, Some(id(99)));
    assert!(matches!(stranger, Err(ReferralError::Invalid(_))));
    assert_eq!(check_child(&family, None), Ok(()));
}

#[test]
fn a_redirect_needs_the_same_basis_as_a_creation() {
    let referral = requested().state();
    let consenting = family_consenting(&[Sector::MentalHealth, Sector::FamilyCounselling], None);
    assert_eq!(
        redirect_basis(&referral, &consenting, Sector::FamilyCounselling, TODAY),
        Ok(Basis::Consent(id(20)))
    );
    let only_mental_health = family_consenting(&[Sector::MentalHealth], None);
    assert_eq!(
        redirect_basis(&referral, &only_mental_health, Sector::FamilyCounselling, TODAY),
        Err(ReferralError::NoConsent { sector: Sector::FamilyCounselling })
    );
    let statutory =
        Basis::Statutory { basis: StatutoryBasis::Emergency, note: Personal::Plain("fire".into()) };
    let sent_on_statute = given::<Referral>([ReferralEvent::Created(created(statutory.clone()))]).state();
    assert_eq!(
        redirect_basis(&sent_on_statute, &only_mental_health, Sector::FamilySocialServices, TODAY),
        Ok(statutory),
        "the statute it was sent on carries over to a sector it names"
    );
    assert_eq!(
        redirect_basis(&sent_on_statute, &only_mental_health, Sector::FamilyCounselling, TODAY),
        Err(ReferralError::NoConsent { sector: Sector::FamilyCounselling }),
        "and to no other"
    );
    assert_eq!(
        redirect_basis(&Referral::default(), &consenting, Sector::School, TODAY),
        Err(ReferralError::NotFound)
    );
}

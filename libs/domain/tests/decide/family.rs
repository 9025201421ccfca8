//! The family: given events, when a command, then events or a refusal.

use jiff::civil::date;
use luukku_domain::family::*;
use luukku_domain::identity_code::IdentityCode;
use luukku_domain::sealing::Personal;
use luukku_domain::{Aggregate, DomainEvent, Sector};
use luukku_testkit::fixtures::*;
use luukku_testkit::given::{Given, TODAY, given, id};

fn school_consent(
    consent: u32,
    by: MemberId,
    concerns: Option<MemberId>,
    until: jiff::civil::Date,
) -> FamilyCommand {
    super::consent(consent, by, concerns, &[Sector::School, Sector::ChildHealthClinic, Sector::School], until)
}

#[test]
fn register_records_members_in_the_clear_for_sealing() {
    let events = registered();
    let [FamilyEvent::Registered(registered)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(registered.municipality, helsinki());
    assert_eq!(registered.members.len(), 3);
    assert_eq!(registered.members[1].details.plain().map(|d| d.given_names.as_str()), Some("Eero"));
    assert_eq!(Family::replay(&events).status, FamilyStatus::Active);
}

#[test]
fn a_family_may_start_with_one_member() {
    let command = FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![new_member(guardian(), MemberRole::Guardian, details("Maria", None))],
    };
    assert_eq!(given::<Family>([]).when(command).and().state().members.len(), 1);
}

#[test]
fn register_twice_is_refused() {
    given::<Family>(registered()).when(registration()).then_err(FamilyError::AlreadyRegistered);
}

#[test]
fn register_names_every_bad_field() {
    let command = FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![
            new_member(guardian(), MemberRole::Guardian, details(" ", None)),
            new_member(teen(), MemberRole::Child, details("Eero", None)),
            new_member(toddler(), MemberRole::Child, details("Aino", Some(date(2027, 1, 1)))),
            new_member(toddler(), MemberRole::Child, details("Aino", Some(date(2020, 1, 1)))),
        ],
    };
    assert_eq!(
        given::<Family>([]).when(command).then_invalid(),
        ["members[0].given_names", "members[1].birth_date", "members[2].birth_date", "members[3].member_id"]
    );
    let empty = FamilyCommand::Register { municipality: helsinki(), members: vec![] };
    assert_eq!(given::<Family>([]).when(empty).then_invalid(), ["members"]);
}

#[test]
fn identity_code_must_match_the_birth_date_and_fills_a_missing_one() {
    let mut with_code = details("Maria", Some(date(1952, 10, 14)));
    with_code.identity_code = Some(IdentityCode::parse("131052-308T").expect("valid"));
    let command = FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, with_code.clone()));
    assert_eq!(given::<Family>(registered()).when(command).then_invalid(), ["identity_code"]);

    with_code.birth_date = None;
    let command = FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, with_code));
    let family = given::<Family>(registered()).when(command).and().state();
    assert_eq!(family.members[&id(9)].birth_date(), Some(date(1952, 10, 13)));
}

#[test]
fn add_update_and_remove_members() {
    let baby = new_member(id(9), MemberRole::Child, details("Onni", Some(date(2026, 11, 20))));
    let with_baby = given::<Family>(registered()).when(FamilyCommand::AddMember(baby.clone())).and();
    with_baby.when(FamilyCommand::AddMember(baby)).then_err(FamilyError::MemberExists(id(9)));

    let renamed = FamilyCommand::UpdateMember {
        member_id: id(9),
        role: None,
        details: details("Onni Juhani", Some(date(2026, 11, 20))),
    };
    let renamed = with_baby.when(renamed).and();
    let member = &renamed.state().members[&id(9)];
    assert_eq!(member.role, MemberRole::Child);
    assert_eq!(member.details.plain().map(|d| d.given_names.as_str()), Some("Onni Juhani"));

    let moved_out = FamilyCommand::RemoveMember { member_id: guardian(), reason: "moved out".to_owned() };
    let without = renamed.when(moved_out.clone()).and();
    assert!(!without.state().members.contains_key(&guardian()));
    without.when(moved_out).then_err(FamilyError::MemberNotFound(guardian()));
}

#[test]
fn update_checks_the_details() {
    let command = FamilyCommand::UpdateMember { member_id: teen(), role: None, details: details("", None) };
    assert_eq!(given::<Family>(registered()).when(command).then_invalid(), ["given_names", "birth_date"]);
    let unknown = FamilyCommand::UpdateMember { member_id: id(77), role: None, details: details("X", None) };
    given::<Family>(registered()).when(unknown).then_err(FamilyError::MemberNotFound(id(77)));
}

#[test]
fn the_last_member_cannot_be_removed() {
    let command = FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![new_member(guardian(), MemberRole::Guardian, details("Maria", None))],
    };
    let remove = FamilyCommand::RemoveMember { member_id: guardian(), reason: String::new() };
    given::<Family>([]).when(command).and().when(remove).then_err(FamilyError::LastMember);
}

#[test]
fn municipality_change_records_only_a_real_change() {
    let tampere = Municipality::parse("837").expect("code");
    let moved = given::<Family>(registered())
        .when(FamilyCommand::ChangeMunicipality { municipality: tampere.clone() })
        .and();
    assert_eq!(moved.state().municipality, Some(tampere.clone()));
    moved.when(FamilyCommand::ChangeMunicipality { municipality: tampere }).then_nothing();
}

#[test]
fn a_guardian_consents_for_the_family() {
    let consented =
        given::<Family>(registered()).when(school_consent(20, guardian(), None, date(2027, 6, 30))).and();
    let family = consented.state();
    let consent = &family.consents[&id(20)];
    assert_eq!(consent.sectors, [Sector::ChildHealthClinic, Sector::School], "sorted, no repeats");
    assert!(consent.in_force(TODAY));
    assert_eq!(family.consented_sectors(TODAY), [Sector::ChildHealthClinic, Sector::School]);
    consented
        .when(school_consent(20, guardian(), None, date(2027, 6, 30)))
        .then_err(FamilyError::ConsentExists(id(20)));
}

#[test]
fn a_consent_past_its_end_date_no_longer_counts() {
    let family = given::<Family>(registered())
        .when(school_consent(20, guardian(), None, date(2026, 12, 31)))
        .and()
        .state();
    assert!(family.consents[&id(20)].in_force(date(2026, 12, 31)));
    assert!(!family.consents[&id(20)].in_force(date(2027, 1, 1)));
    assert!(family.consented_sectors(date(2027, 1, 1)).is_empty());
}

#[test]
fn a_child_of_15_consents_for_themself_only() {
    let family =
        given::<Family>(registered()).when(school_consent(20, teen(), Some(teen()), date(2027, 6, 30)));
    assert_eq!(family.and().state().consents[&id(20)].concerns, Some(teen()));

    let for_family = given::<Family>(registered()).when(school_consent(21, teen(), None, date(2027, 6, 30)));
    assert!(matches!(for_family.result(), Err(FamilyError::NotEntitledToConsent(_))));
    let for_sibling =
        given::<Family>(registered()).when(school_consent(21, teen(), Some(toddler()), date(2027, 6, 30)));
    assert!(matches!(for_sibling.result(), Err(FamilyError::NotEntitledToConsent(_))));
}

#[test]
fn a_younger_child_cannot_consent() {
    let young =
        given::<Family>(registered()).when(school_consent(20, toddler(), Some(toddler()), date(2027, 6, 30)));
    assert!(
        matches!(young.result(), Err(FamilyError::NotEntitledToConsent(reason)) if reason.contains("aged 3"))
    );
    // Born 2011-11-24, Eero turns 15 tomorrow: today he cannot yet.
    let mut day_before = registered();
    day_before.push(FamilyEvent::MemberUpdated(MemberUpdated {
        member_id: teen(),
        role: MemberRole::Child,
        details: Personal::Plain(details("Eero", Some(date(2011, 11, 24)))),
    }));
    let refused =
        given::<Family>(day_before).when(school_consent(20, teen(), Some(teen()), date(2027, 6, 30)));
    assert!(
        matches!(refused.result(), Err(FamilyError::NotEntitledToConsent(reason)) if reason.contains("aged 14"))
    );
}

#[test]
fn consent_input_is_checked() {
    let mut command = school_consent(20, guardian(), None, date(2026, 1, 1));
    if let FamilyCommand::GrantConsent { sectors, purpose, valid_from, .. } = &mut command {
        sectors.clear();
        purpose.clear();
        *valid_from = date(2026, 2, 1);
    }
    assert_eq!(
        given::<Family>(registered()).when(command).then_invalid(),
        ["sectors", "purpose", "valid_from", "valid_until"]
    );
    let ended = school_consent(20, guardian(), None, date(2026, 11, 22));
    assert_eq!(given::<Family>(registered()).when(ended).then_invalid(), ["valid_until"]);
    let stranger = school_consent(20, id(99), None, date(2027, 1, 1));
    given::<Family>(registered()).when(stranger).then_err(FamilyError::MemberNotFound(id(99)));
}

#[test]
fn a_consent_is_not_backdated_more_than_a_day() {
    let starting = |from| {
        let mut command = school_consent(20, guardian(), None, date(2027, 1, 1));
        if let FamilyCommand::GrantConsent { valid_from, .. } = &mut command {
            *valid_from = from;
        }
        command
    };
    assert_eq!(
        given::<Family>(registered()).when(starting(date(2026, 11, 21))).then_invalid(),
        ["valid_from"]
    );
    assert_eq!(
        given::<Family>(registered()).when(starting(date(2026, 11, 22))).and().state().consents.len(),
        1
    );
}

#[test]
fn consent_revocation() {
    let consented =
        given::<Family>(registered()).when(school_consent(20, teen(), Some(teen()), date(2027, 6, 30))).and();
    let by_sibling = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: toddler() };
    consented.when(by_sibling).then_err(FamilyError::NotEntitledToRevoke(toddler()));
    let unknown = FamilyCommand::RevokeConsent { consent_id: id(21), revoked_by: guardian() };
    consented.when(unknown).then_err(FamilyError::ConsentNotFound(id(21)));

    let by_giver = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: teen() };
    let revoked = consented.when(by_giver.clone()).and();
    assert!(!revoked.state().consents[&id(20)].in_force(TODAY));
    revoked.when(by_giver).then_err(FamilyError::ConsentAlreadyRevoked(id(20)));

    let by_guardian = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: guardian() };
    consented
        .when(by_guardian)
        .then([FamilyEvent::ConsentRevoked(ConsentRevoked { consent_id: id(20), revoked_by: guardian() })]);
}

#[test]
fn a_closed_family_accepts_no_change_until_reopened() {
    let close = FamilyCommand::Close { reason: CloseReason::NeedsMet, note: "all good".to_owned() };
    let closed = given::<Family>(registered()).when(close.clone()).and();
    assert_eq!(closed.state().status, FamilyStatus::Closed(CloseReason::NeedsMet));
    closed.when(close).then_err(FamilyError::Closed);
    for command in [
        FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, details("Pekka", None))),
        FamilyCommand::ChangeMunicipality { municipality: helsinki() },
        school_consent(20, guardian(), None, date(2027, 1, 1)),
    ] {
        closed.when(command).then_err(FamilyError::Closed);
    }
    let reopen = FamilyCommand::Reopen { note: String::new() };
    given::<Family>(registered()).when(reopen.clone()).then_err(FamilyError::NotClosed);
    assert_eq!(closed.when(reopen).and().state().status, FamilyStatus::Active);
}

/// The erasure of a family registered in error, asked for and approved by a second person.
fn approved(family: &Given<Family>) -> Given<Family> {
    family.when(request_erasure(ErasureGround::Unlawful, Retention::default())).and().when(approve()).and()
}

fn request_erasure(ground: ErasureGround, retention: Retention) -> FamilyCommand {
    FamilyCommand::RequestErasure {
        erasure_id: id(70),
        ground,
        on_behalf_of: Some(guardian()),
        requested_by: luukku_domain::Code::parse("anna.contact").expect("code"),
        retention,
    }
}

fn approve() -> FamilyCommand {
    FamilyCommand::ApproveErasure {
        erasure_id: id(70),
        approved_by: luukku_domain::Code::parse("tietosuoja").expect("code"),
        retention: Retention::default(),
    }
}

#[test]
fn erasure_forgets_personal_data_and_accepts_nothing_after() {
    given::<Family>([]).when(FamilyCommand::Erase).then_err(FamilyError::NotFound);
    let consented =
        given::<Family>(registered()).when(school_consent(20, guardian(), None, date(2027, 1, 1))).and();
    consented.when(FamilyCommand::Erase).then_err(FamilyError::ErasureNotApproved);
    let erased = approved(&consented).when(FamilyCommand::Erase).and();
    assert_eq!(erased.history().last(), Some(&FamilyEvent::Erased));
    let family = erased.state();
    assert_eq!(family.status, FamilyStatus::Erased);
    assert_eq!(family.members.len(), 3, "the facts remain");
    assert!(family.members.values().all(|member| member.details.is_erased()));
    assert!(family.consents.values().all(|consent| consent.purpose.is_erased()));
    erased.when(FamilyCommand::Erase).then_err(FamilyError::Erased);
    erased.when(FamilyCommand::Reopen { note: String::new() }).then_err(FamilyError::Erased);
    erased.when(FamilyCommand::ChangeMunicipality { municipality: helsinki() }).then_err(FamilyError::Erased);
}

#[test]
fn an_erasure_lost_with_a_restore_is_applied_again_without_its_approval() {
    given::<Family>([]).when(FamilyCommand::ReapplyErasure).then_err(FamilyError::NotFound);
    // The restored stream ends before the erasure was even requested.
    let consented =
        given::<Family>(registered()).when(school_consent(20, guardian(), None, date(2027, 1, 1))).and();
    let erased = consented.when(FamilyCommand::ReapplyErasure).and();
    assert_eq!(erased.history().last(), Some(&FamilyEvent::Erased));
    let family = erased.state();
    assert_eq!(family.status, FamilyStatus::Erased);
    assert!(family.members.values().all(|member| member.details.is_erased()));
    erased.when(FamilyCommand::ReapplyErasure).then_err(FamilyError::Erased);
}

#[test]
fn commands_on_an_unknown_family_are_not_found() {
    given::<Family>([])
        .when(FamilyCommand::ChangeMunicipality { municipality: helsinki() })
        .then_err(FamilyError::NotFound);
}

#[test]
fn events_round_trip_through_the_codec_once_sealed() {
    use luukku_domain::DomainEvent;
    use luukku_domain::sealing::{FamilyKey, HasPersonal};
    let key = FamilyKey::generate();
    let mut events = given::<Family>(registered())
        .when(school_consent(20, guardian(), None, date(2027, 1, 1)))
        .and()
        .history()
        .to_vec();
    events.extend([
        FamilyEvent::Closed(Closed { reason: CloseReason::MovedAway, note: Personal::Plain("x".into()) }),
        FamilyEvent::Erased,
    ]);
    for original in events {
        assert!(
            original.clone().personal_fields().is_empty() || original.encode().is_err(),
            "plain must not encode"
        );
        let mut sealed = original.clone();
        sealed.seal(&key, b"family").expect("seal");
        let bytes = sealed.encode().expect("encode");
        let mut decoded =
            FamilyEvent::decode(original.event_type(), original.schema_version(), &bytes).expect("decode");
        decoded.open(Some(&key), b"family").expect("open");
        assert_eq!(decoded, original);
    }
}

#[test]
fn a_consent_covers_its_sectors_for_the_family_or_the_child_it_names() {
    let family = given::<Family>(registered())
        .when(school_consent(20, teen(), Some(teen()), date(2027, 6, 30)))
        .and()
        .state();
    assert_eq!(family.consent_covering(Sector::School, Some(teen()), TODAY), Some(id(20)));
    assert_eq!(family.consent_covering(Sector::School, Some(toddler()), TODAY), None, "another child");
    assert_eq!(family.consent_covering(Sector::School, None, TODAY), None, "the whole family");
    assert_eq!(family.consent_covering(Sector::MentalHealth, Some(teen()), TODAY), None, "another sector");
    assert_eq!(family.consent_covering(Sector::School, Some(teen()), date(2027, 7, 1)), None, "ended");
    let whole = given::<Family>(registered())
        .when(school_consent(21, guardian(), None, date(2027, 6, 30)))
        .and()
        .state();
    assert_eq!(whole.consent_covering(Sector::School, Some(toddler()), TODAY), Some(id(21)));
}

#[test]
fn a_consent_stops_being_in_force_when_it_ends_or_is_revoked() {
    let family =
        given::<Family>(registered()).when(school_consent(20, teen(), Some(teen()), date(2027, 6, 30))).and();
    assert!(family.state().consent_in_force(id(20), TODAY));
    assert!(!family.state().consent_in_force(id(20), date(2027, 7, 1)), "ended");
    assert!(!family.state().consent_in_force(id(99), TODAY), "not the family's");
    let revoked = family.when(FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: teen() }).and();
    assert!(!revoked.state().consent_in_force(id(20), TODAY), "revoked");
}

#[test]
fn other_contexts_check_that_a_family_is_open_and_names_its_members() {
    assert_eq!(Family::default().check_exists(), Err(FamilyError::NotFound));
    assert_eq!(Family::default().check_open(), Err(FamilyError::NotFound));
    let open = given::<Family>(registered());
    assert_eq!(open.state().check_open(), Ok(()));
    assert!(open.state().check_member(teen()).is_ok());
    assert_eq!(open.state().check_member(id(99)).err(), Some(FamilyError::MemberNotFound(id(99))));
    let closed = open.when(FamilyCommand::Close { reason: CloseReason::Other, note: String::new() }).and();
    assert_eq!(closed.state().check_exists(), Ok(()));
    assert_eq!(closed.state().check_open(), Err(FamilyError::Closed));
    let erased = approved(&closed).when(FamilyCommand::Erase).and();
    assert_eq!(erased.state().check_open(), Err(FamilyError::Erased));
}

#[test]
fn the_history_tells_names_only_when_asked() {
    use luukku_domain::{Narrate, Telling};
    let events = registered();
    let with = events[0].narrate(Telling::WithPersonal);
    let facts = events[0].narrate(Telling::FactsOnly);
    assert!(with.contains("guardian Maria Virtanen") && with.contains("child Eero Virtanen"), "{with}");
    assert_eq!(facts, "family registered with 3 members in municipality 091");

    use luukku_domain::sealing::{FamilyKey, HasPersonal};
    let mut forgotten = events[0].clone();
    forgotten.seal(&FamilyKey::generate(), b"family").expect("seal");
    forgotten.open(None, b"family").expect("without a key the data is erased");
    let told = forgotten.narrate(Telling::WithPersonal);
    assert_eq!(
        told,
        "family registered with 3 members in municipality 091: guardian [erased], child [erased], child [erased]"
    );
}

#[test]
fn an_erasure_is_requested_checked_against_retention_approved_by_a_second_person_then_carried_out() {
    let family = given::<Family>(registered());
    family.when(FamilyCommand::Erase).then_err(FamilyError::ErasureNotApproved);
    family.when(approve()).then_err(FamilyError::NoSuchErasure(id(70)));
    let requested = family.when(request_erasure(ErasureGround::Unlawful, Retention::default())).and();
    requested.when(FamilyCommand::Erase).then_err(FamilyError::ErasureNotApproved);
    let by_requester = FamilyCommand::ApproveErasure {
        erasure_id: id(70),
        approved_by: luukku_domain::Code::parse("anna.contact").expect("code"),
        retention: Retention::default(),
    };
    requested.when(by_requester).then_err(FamilyError::ErasureNeedsSecondPerson);
    let mut other = request_erasure(ErasureGround::Unlawful, Retention::default());
    if let FamilyCommand::RequestErasure { erasure_id, .. } = &mut other {
        *erasure_id = id(71);
    }
    requested.when(other).then_err(FamilyError::ErasurePending(id(70)));
    let approved = requested.when(approve()).and();
    assert_eq!(
        approved.history().iter().rev().take(2).map(|event| event.event_type()).collect::<Vec<_>>(),
        ["ErasureApproved", "ErasureRequested"]
    );
    assert_eq!(approved.when(FamilyCommand::Erase).events().last(), Some(&FamilyEvent::Erased));
}

#[test]
fn statutory_retention_keeps_what_was_recorded_lawfully() {
    let family = given::<Family>(registered());
    let in_force = |ground, retention| match family.when(request_erasure(ground, retention)).result() {
        Err(FamilyError::InRetention(why)) => Some(why),
        _ => None,
    };
    let open = Retention::default();
    assert!(in_force(ErasureGround::NoLongerNeeded, open).is_some_and(|why| why.contains("open")));
    let protected = Retention { child_protection: true, closed_on: Some(date(2000, 1, 1)) };
    assert!(in_force(ErasureGround::ConsentWithdrawn, protected).is_some_and(|why| why.contains("child")));
    let recent = Retention { child_protection: false, closed_on: Some(date(2015, 1, 1)) };
    assert!(in_force(ErasureGround::Objection, recent).is_some_and(|why| why.contains("2027-01-01")));
    let long_ago = Retention { child_protection: false, closed_on: Some(date(2014, 11, 23)) };
    assert_eq!(in_force(ErasureGround::NoLongerNeeded, long_ago), None, "12 years have passed");
    assert_eq!(in_force(ErasureGround::Unlawful, protected), None, "recorded without a basis: erased");
    assert_eq!(check_retention(ErasureGround::NoLongerNeeded, long_ago, TODAY), Ok(()));
}

fn link(member_id: MemberId, subject: &str) -> FamilyCommand {
    FamilyCommand::LinkMember {
        member_id,
        subject: subject.to_owned(),
        subject_key: format!("key-{subject}"),
    }
}

#[test]
fn a_member_signs_in_as_one_subject_and_the_link_ends_with_the_member_or_the_family() {
    use luukku_domain::DomainEvent;
    let linked = given::<Family>(registered()).when(link(teen(), "idp|eero-42")).and();
    assert_eq!(linked.state().links.get(&teen()).map(String::as_str), Some("key-idp|eero-42"));
    let events = linked.when(link(teen(), "idp|eero-42")).events();
    assert!(events.is_empty(), "linking the same subject again changes nothing");

    let relinked = linked.when(link(teen(), "idp|eero-43")).events();
    assert_eq!(
        relinked.iter().map(|event| event.event_type()).collect::<Vec<_>>(),
        ["MemberUnlinked", "MemberLinked"],
        "a new subject replaces the old"
    );
    let removed =
        linked.when(FamilyCommand::RemoveMember { member_id: teen(), reason: String::new() }).events();
    assert_eq!(
        removed.first(),
        Some(&FamilyEvent::MemberUnlinked(MemberUnlinked {
            member_id: teen(),
            subject_key: "key-idp|eero-42".into()
        }))
    );
    let erased = approved(&linked).when(FamilyCommand::Erase).events();
    assert_eq!(
        erased.iter().map(|event| event.event_type()).collect::<Vec<_>>(),
        ["MemberUnlinked", "FamilyErased"]
    );

    // A closed family's member can still be stopped from signing in, but not linked anew.
    let closed = linked.when(FamilyCommand::Close { reason: CloseReason::Other, note: String::new() }).and();
    assert_eq!(closed.when(FamilyCommand::UnlinkMember { member_id: teen() }).events().len(), 1);
    closed.when(link(guardian(), "idp|maria")).then_err(FamilyError::Closed);
}

#[test]
fn a_subject_is_an_opaque_id_of_a_member_never_an_identity_code() {
    assert_eq!(
        given::<Family>(registered()).when(link(guardian(), "131052-308T")).then_invalid(),
        ["subject"]
    );
    assert_eq!(given::<Family>(registered()).when(link(guardian(), "  ")).then_invalid(), ["subject"]);
    given::<Family>(registered()).when(link(id(99), "idp|x")).then_err(FamilyError::MemberNotFound(id(99)));
}

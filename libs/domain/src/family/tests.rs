//! Given events, when a command, then events or a refusal.

use jiff::civil::{Date, date};

use super::*;
use crate::identity_code::IdentityCode;
use crate::sealing::Personal;
use crate::{Aggregate, Context, Sector, Timestamp};

const TODAY: Date = date(2026, 11, 23);

fn context() -> Context {
    Context { now: Timestamp::from_millis(1_795_000_000_000), today: TODAY }
}

fn id<T: std::str::FromStr>(n: u8) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("01J{n:0>23}").parse().expect("test id")
}

fn details(given: &str, born: Option<Date>) -> MemberDetails {
    MemberDetails {
        given_names: given.to_owned(),
        family_name: "Virtanen".to_owned(),
        birth_date: born,
        identity_code: None,
        languages: vec!["fi".to_owned()],
    }
}

fn guardian() -> MemberId {
    id(1)
}
fn teen() -> MemberId {
    id(2)
}
fn toddler() -> MemberId {
    id(3)
}

fn new_member(member_id: MemberId, role: MemberRole, details: MemberDetails) -> NewMember {
    NewMember { member_id, role, details }
}

fn helsinki() -> Municipality {
    Municipality::parse("091").expect("code")
}

fn register_command() -> FamilyCommand {
    FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![
            new_member(guardian(), MemberRole::Guardian, details("Maria", None)),
            new_member(teen(), MemberRole::Child, details("Eero", Some(date(2010, 5, 1)))),
            new_member(toddler(), MemberRole::Child, details("Aino", Some(date(2023, 2, 14)))),
        ],
    }
}

fn registered() -> Vec<FamilyEvent> {
    when(&[], register_command()).expect("registers")
}

fn when(given: &[FamilyEvent], command: FamilyCommand) -> Result<Vec<FamilyEvent>, FamilyError> {
    Family::replay(given).decide(&command, &context())
}

fn then_after(given: &[FamilyEvent], command: FamilyCommand) -> Vec<FamilyEvent> {
    let mut events = given.to_vec();
    events.extend(when(given, command).expect("accepted"));
    events
}

fn grant(consent: u8, by: MemberId, concerns: Option<MemberId>, until: Date) -> FamilyCommand {
    FamilyCommand::GrantConsent {
        consent_id: id(consent),
        given_by: by,
        concerns,
        sectors: vec![Sector::School, Sector::ChildHealthClinic, Sector::School],
        purpose: "coordinating school support".to_owned(),
        valid_from: TODAY,
        valid_until: until,
    }
}

fn violations(result: Result<Vec<FamilyEvent>, FamilyError>) -> Vec<String> {
    match result {
        Err(FamilyError::Invalid(violations)) => violations.into_iter().map(|v| v.field).collect(),
        other => panic!("expected field violations, got {other:?}"),
    }
}

#[test]
fn register_records_members_in_the_clear_for_sealing() {
    let events = registered();
    let [FamilyEvent::Registered(registered)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(registered.municipality, helsinki());
    assert_eq!(registered.members.len(), 3);
    assert_eq!(registered.members[1].details.plain().map(|d| d.given_names.as_str()), Some("Eero"));
    let family = Family::replay(&events);
    assert_eq!(family.status, FamilyStatus::Active);
}

#[test]
fn a_family_may_start_with_one_member() {
    let command = FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![new_member(guardian(), MemberRole::Guardian, details("Maria", None))],
    };
    assert_eq!(Family::replay(&when(&[], command).expect("accepted")).members.len(), 1);
}

#[test]
fn register_twice_is_refused() {
    assert_eq!(when(&registered(), register_command()), Err(FamilyError::AlreadyRegistered));
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
        violations(when(&[], command)),
        [
            "members[0].details.given_names",
            "members[1].details.birth_date",
            "members[2].details.birth_date",
            "members[3].member_id",
        ]
    );
    let empty = FamilyCommand::Register { municipality: helsinki(), members: vec![] };
    assert_eq!(violations(when(&[], empty)), ["members"]);
}

#[test]
fn identity_code_must_match_the_birth_date_and_fills_a_missing_one() {
    let mut with_code = details("Maria", Some(date(1952, 10, 14)));
    with_code.identity_code = Some(IdentityCode::parse("131052-308T").expect("valid"));
    let command = FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, with_code.clone()));
    assert_eq!(violations(when(&registered(), command)), ["member.details.identity_code"]);

    with_code.birth_date = None;
    let command = FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, with_code));
    let events = then_after(&registered(), command);
    assert_eq!(Family::replay(&events).members[&id(9)].birth_date(), Some(date(1952, 10, 13)));
}

#[test]
fn add_update_and_remove_members() {
    let baby = new_member(id(9), MemberRole::Child, details("Onni", Some(date(2026, 11, 20))));
    let events = then_after(&registered(), FamilyCommand::AddMember(baby.clone()));
    assert_eq!(when(&events, FamilyCommand::AddMember(baby)), Err(FamilyError::MemberExists(id(9))));

    let renamed = FamilyCommand::UpdateMember {
        member_id: id(9),
        role: None,
        details: details("Onni Juhani", Some(date(2026, 11, 20))),
    };
    let events = then_after(&events, renamed);
    let member = &Family::replay(&events).members[&id(9)];
    assert_eq!(member.role, MemberRole::Child);
    assert_eq!(member.details.plain().map(|d| d.given_names.as_str()), Some("Onni Juhani"));

    let moved_out = FamilyCommand::RemoveMember { member_id: guardian(), reason: "moved out".to_owned() };
    let events = then_after(&events, moved_out.clone());
    assert!(!Family::replay(&events).members.contains_key(&guardian()));
    assert_eq!(when(&events, moved_out), Err(FamilyError::MemberNotFound(guardian())));
}

#[test]
fn update_checks_the_details() {
    let command = FamilyCommand::UpdateMember { member_id: teen(), role: None, details: details("", None) };
    assert_eq!(violations(when(&registered(), command)), ["details.given_names", "details.birth_date"]);
    let unknown = FamilyCommand::UpdateMember { member_id: id(77), role: None, details: details("X", None) };
    assert_eq!(when(&registered(), unknown), Err(FamilyError::MemberNotFound(id(77))));
}

#[test]
fn the_last_member_cannot_be_removed() {
    let command = FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![new_member(guardian(), MemberRole::Guardian, details("Maria", None))],
    };
    let events = when(&[], command).expect("registers");
    let remove = FamilyCommand::RemoveMember { member_id: guardian(), reason: String::new() };
    assert_eq!(when(&events, remove), Err(FamilyError::LastMember));
}

#[test]
fn municipality_change_records_only_a_real_change() {
    let tampere = Municipality::parse("837").expect("code");
    let events =
        then_after(&registered(), FamilyCommand::ChangeMunicipality { municipality: tampere.clone() });
    assert_eq!(Family::replay(&events).municipality, Some(tampere.clone()));
    assert_eq!(when(&events, FamilyCommand::ChangeMunicipality { municipality: tampere }), Ok(vec![]));
}

#[test]
fn a_guardian_consents_for_the_family() {
    let events = then_after(&registered(), grant(20, guardian(), None, date(2027, 6, 30)));
    let family = Family::replay(&events);
    let consent = &family.consents[&id(20)];
    assert_eq!(consent.sectors, [Sector::ChildHealthClinic, Sector::School], "sorted, no repeats");
    assert!(consent.in_force(TODAY));
    assert_eq!(family.consented_sectors(TODAY), [Sector::ChildHealthClinic, Sector::School]);
    assert_eq!(
        when(&events, grant(20, guardian(), None, date(2027, 6, 30))),
        Err(FamilyError::ConsentExists(id(20)))
    );
}

#[test]
fn a_consent_past_its_end_date_no_longer_counts() {
    let events = then_after(&registered(), grant(20, guardian(), None, date(2026, 12, 31)));
    let family = Family::replay(&events);
    assert!(family.consents[&id(20)].in_force(date(2026, 12, 31)));
    assert!(!family.consents[&id(20)].in_force(date(2027, 1, 1)));
    assert!(family.consented_sectors(date(2027, 1, 1)).is_empty());
}

#[test]
fn a_child_of_15_consents_for_themself_only() {
    let events = then_after(&registered(), grant(20, teen(), Some(teen()), date(2027, 6, 30)));
    assert_eq!(Family::replay(&events).consents[&id(20)].concerns, Some(teen()));

    let for_family = when(&registered(), grant(21, teen(), None, date(2027, 6, 30)));
    assert!(matches!(for_family, Err(FamilyError::NotEntitledToConsent(_))), "{for_family:?}");
    let for_sibling = when(&registered(), grant(21, teen(), Some(toddler()), date(2027, 6, 30)));
    assert!(matches!(for_sibling, Err(FamilyError::NotEntitledToConsent(_))), "{for_sibling:?}");
}

#[test]
fn a_younger_child_cannot_consent() {
    let young = when(&registered(), grant(20, toddler(), Some(toddler()), date(2027, 6, 30)));
    assert!(matches!(young, Err(FamilyError::NotEntitledToConsent(reason)) if reason.contains("aged 3")));
    // Born 2011-11-24, Eero turns 15 tomorrow: today he cannot yet.
    let mut day_before = registered();
    day_before.push(FamilyEvent::MemberUpdated(MemberUpdated {
        member_id: teen(),
        role: MemberRole::Child,
        details: Personal::Plain(details("Eero", Some(date(2011, 11, 24)))),
    }));
    let refused = when(&day_before, grant(20, teen(), Some(teen()), date(2027, 6, 30)));
    assert!(matches!(refused, Err(FamilyError::NotEntitledToConsent(reason)) if reason.contains("aged 14")));
}

#[test]
fn consent_input_is_checked() {
    let mut command = grant(20, guardian(), None, date(2026, 1, 1));
    if let FamilyCommand::GrantConsent { sectors, purpose, valid_from, .. } = &mut command {
        sectors.clear();
        purpose.clear();
        *valid_from = date(2026, 2, 1);
    }
    assert_eq!(violations(when(&registered(), command)), ["sectors", "purpose", "valid_until"]);
    let ended = grant(20, guardian(), None, date(2026, 11, 22));
    assert_eq!(violations(when(&registered(), ended)), ["valid_until"]);
    let stranger = grant(20, id(99), None, date(2027, 1, 1));
    assert_eq!(when(&registered(), stranger), Err(FamilyError::MemberNotFound(id(99))));
}

#[test]
fn consent_revocation() {
    let events = then_after(&registered(), grant(20, teen(), Some(teen()), date(2027, 6, 30)));
    let by_sibling = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: toddler() };
    assert_eq!(when(&events, by_sibling), Err(FamilyError::NotEntitledToRevoke(toddler())));
    let unknown = FamilyCommand::RevokeConsent { consent_id: id(21), revoked_by: guardian() };
    assert_eq!(when(&events, unknown), Err(FamilyError::ConsentNotFound(id(21))));

    let by_giver = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: teen() };
    let revoked = then_after(&events, by_giver.clone());
    assert!(!Family::replay(&revoked).consents[&id(20)].in_force(TODAY));
    assert_eq!(when(&revoked, by_giver), Err(FamilyError::ConsentAlreadyRevoked(id(20))));

    let by_guardian = FamilyCommand::RevokeConsent { consent_id: id(20), revoked_by: guardian() };
    assert!(when(&events, by_guardian).is_ok());
}

#[test]
fn a_closed_family_accepts_no_change_until_reopened() {
    let close = FamilyCommand::Close { reason: CloseReason::NeedsMet, note: "all good".to_owned() };
    let closed = then_after(&registered(), close.clone());
    assert_eq!(Family::replay(&closed).status, FamilyStatus::Closed(CloseReason::NeedsMet));
    assert_eq!(when(&closed, close), Err(FamilyError::Closed));
    for command in [
        FamilyCommand::AddMember(new_member(id(9), MemberRole::Guardian, details("Pekka", None))),
        FamilyCommand::ChangeMunicipality { municipality: helsinki() },
        grant(20, guardian(), None, date(2027, 1, 1)),
    ] {
        assert_eq!(when(&closed, command), Err(FamilyError::Closed));
    }
    let reopen = FamilyCommand::Reopen { note: String::new() };
    assert_eq!(when(&registered(), reopen.clone()), Err(FamilyError::NotClosed));
    let reopened = then_after(&closed, reopen);
    assert_eq!(Family::replay(&reopened).status, FamilyStatus::Active);
}

#[test]
fn erasure_forgets_personal_data_and_accepts_nothing_after() {
    let events = then_after(&registered(), grant(20, guardian(), None, date(2027, 1, 1)));
    assert_eq!(when(&[], FamilyCommand::Erase), Err(FamilyError::NotFound));
    let erased = then_after(&events, FamilyCommand::Erase);
    assert_eq!(erased.last(), Some(&FamilyEvent::Erased));
    let family = Family::replay(&erased);
    assert_eq!(family.status, FamilyStatus::Erased);
    assert_eq!(family.members.len(), 3, "the facts remain");
    assert!(family.members.values().all(|member| member.details.is_erased()));
    assert!(family.consents.values().all(|consent| consent.purpose.is_erased()));
    assert_eq!(when(&erased, FamilyCommand::Erase), Err(FamilyError::Erased));
    assert_eq!(when(&erased, FamilyCommand::Reopen { note: String::new() }), Err(FamilyError::Erased));
    assert_eq!(
        when(&erased, FamilyCommand::ChangeMunicipality { municipality: helsinki() }),
        Err(FamilyError::Erased)
    );
}

#[test]
fn commands_on_an_unknown_family_are_not_found() {
    assert_eq!(
        when(&[], FamilyCommand::ChangeMunicipality { municipality: helsinki() }),
        Err(FamilyError::NotFound)
    );
}

#[test]
fn events_round_trip_through_the_codec_once_sealed() {
    use crate::DomainEvent;
    use crate::sealing::{FamilyKey, HasPersonal};
    let key = FamilyKey::generate();
    let mut events = then_after(&registered(), grant(20, guardian(), None, date(2027, 1, 1)));
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
    let events = then_after(&registered(), grant(20, teen(), Some(teen()), date(2027, 6, 30)));
    let family = Family::replay(&events);
    assert_eq!(family.consent_covering(Sector::School, Some(teen()), TODAY), Some(id(20)));
    assert_eq!(family.consent_covering(Sector::School, Some(toddler()), TODAY), None, "another child");
    assert_eq!(family.consent_covering(Sector::School, None, TODAY), None, "the whole family");
    assert_eq!(family.consent_covering(Sector::MentalHealth, Some(teen()), TODAY), None, "another sector");
    assert_eq!(family.consent_covering(Sector::School, Some(teen()), date(2027, 7, 1)), None, "ended");
    let whole = then_after(&registered(), grant(21, guardian(), None, date(2027, 6, 30)));
    assert_eq!(Family::replay(&whole).consent_covering(Sector::School, Some(toddler()), TODAY), Some(id(21)));
}

//! Golden fixtures of every family event version, sealed with a fixture key: they must keep
//! decoding and opening as long as the log may hold them.

use std::path::Path;

use jiff::civil::date;
use luukku_domain::Sector;
use luukku_domain::family::*;
use luukku_domain::identity_code::IdentityCode;
use luukku_domain::sealing::Personal;
use luukku_testkit::golden::check_sealed;

const FAMILY: &[u8] = b"01KAQ8S0V3M7Y9ZQ0W2X4B6C8D";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("fixture id")
}

fn examples() -> Vec<FamilyEvent> {
    let details = MemberDetails {
        given_names: "Maria Kaarina".to_owned(),
        family_name: "Virtanen".to_owned(),
        birth_date: Some(date(1952, 10, 13)),
        identity_code: Some(IdentityCode::parse("131052-308T").expect("valid")),
        languages: vec!["fi".to_owned(), "sv".to_owned()],
    };
    let guardian: MemberId = id("01KAQ8S0V3M7Y9ZQ0W2X4B6C81");
    let joined = MemberJoined {
        member_id: guardian,
        role: MemberRole::Guardian,
        details: Personal::Plain(details.clone()),
    };
    vec![
        FamilyEvent::Registered(Registered {
            municipality: Municipality::parse("091").expect("code"),
            members: vec![joined.clone()],
        }),
        FamilyEvent::MemberAdded(joined),
        FamilyEvent::MemberUpdated(MemberUpdated {
            member_id: guardian,
            role: MemberRole::Guardian,
            details: Personal::Plain(details),
        }),
        FamilyEvent::MemberRemoved(MemberRemoved {
            member_id: guardian,
            reason: Personal::Plain("moved out".into()),
        }),
        FamilyEvent::MunicipalityChanged(MunicipalityChanged {
            municipality: Municipality::parse("837").expect("code"),
        }),
        FamilyEvent::ConsentGranted(ConsentGranted {
            consent_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6C82"),
            given_by: guardian,
            concerns: None,
            sectors: vec![Sector::School, Sector::StudentWelfare],
            purpose: Personal::Plain("support at school".into()),
            valid_from: date(2026, 11, 23),
            valid_until: date(2027, 6, 30),
        }),
        FamilyEvent::ConsentRevoked(ConsentRevoked {
            consent_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6C82"),
            revoked_by: guardian,
        }),
        FamilyEvent::Closed(Closed { reason: CloseReason::NeedsMet, note: Personal::Plain("done".into()) }),
        FamilyEvent::Reopened(Reopened { note: Personal::Plain(String::new()) }),
        FamilyEvent::Erased,
        FamilyEvent::MemberLinked(MemberLinked {
            member_id: guardian,
            subject: Personal::Plain("idp:maria-7".to_owned()),
            subject_key: "5f1c".to_owned(),
        }),
        FamilyEvent::MemberUnlinked(MemberUnlinked { member_id: guardian, subject_key: "5f1c".to_owned() }),
        FamilyEvent::ErasureRequested(ErasureRequested {
            erasure_id: "01KAQ8S0V3M7Y9ZQ0W2X4B6C9E".parse().expect("id"),
            ground: ErasureGround::Unlawful,
            on_behalf_of: Some(guardian),
            requested_by: luukku_domain::Code::parse("anna.contact").expect("code"),
        }),
        FamilyEvent::ErasureApproved(ErasureApproved {
            erasure_id: "01KAQ8S0V3M7Y9ZQ0W2X4B6C9E".parse().expect("id"),
            approved_by: luukku_domain::Code::parse("tietosuoja").expect("code"),
        }),
    ]
}

#[test]
fn every_family_event_version_keeps_decoding() {
    check_sealed(&Path::new(env!("CARGO_MANIFEST_DIR")).join("families/fixtures"), examples(), FAMILY);
}

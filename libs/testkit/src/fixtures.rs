//! The one family every test registers: a guardian, a teenager and a toddler in Helsinki, as a
//! domain command for deciding and as a request for the families service.

use jiff::civil::{Date, date};
use luukku_domain::Sector;
use luukku_domain::family::{
    ConsentId, FamilyCommand, FamilyEvent, MemberDetails, MemberId, MemberRole, Municipality, NewMember,
};
use luukku_proto::families::v1 as pb;

use crate::given::{TODAY, given, id};

pub fn guardian() -> MemberId {
    id(1)
}

/// Eero, born 2010-05-01: old enough to consent for himself.
pub fn teen() -> MemberId {
    id(2)
}

/// Aino, born 2023-02-14.
pub fn toddler() -> MemberId {
    id(3)
}

pub fn helsinki() -> Municipality {
    Municipality::parse("091").expect("a municipality code")
}

pub fn details(given_names: &str, born: Option<Date>) -> MemberDetails {
    MemberDetails {
        given_names: given_names.to_owned(),
        family_name: "Virtanen".to_owned(),
        birth_date: born,
        identity_code: None,
        languages: vec!["fi".to_owned()],
    }
}

pub fn new_member(member_id: MemberId, role: MemberRole, details: MemberDetails) -> NewMember {
    NewMember { member_id, role, details }
}

/// Registers Maria (guardian), Eero (16) and Aino (3) in Helsinki.
pub fn registration() -> FamilyCommand {
    FamilyCommand::Register {
        municipality: helsinki(),
        members: vec![
            new_member(guardian(), MemberRole::Guardian, details("Maria", None)),
            new_member(teen(), MemberRole::Child, details("Eero", Some(date(2010, 5, 1)))),
            new_member(toddler(), MemberRole::Child, details("Aino", Some(date(2023, 2, 14)))),
        ],
    }
}

/// The events of [`registration`].
pub fn registered() -> Vec<FamilyEvent> {
    given::<luukku_domain::family::Family>([]).when(registration()).events()
}

/// A consent numbered `consent` by `by` for `sectors`, from today until `until`.
pub fn consent(
    consent: u32,
    by: MemberId,
    concerns: Option<MemberId>,
    sectors: &[Sector],
    until: Date,
) -> FamilyCommand {
    FamilyCommand::GrantConsent {
        consent_id: id::<ConsentId>(consent),
        given_by: by,
        concerns,
        sectors: sectors.to_vec(),
        purpose: "coordinating support".to_owned(),
        valid_from: TODAY,
        valid_until: until,
    }
}

/// The same family as a `RegisterFamilyRequest`, the guardian with an identity code, and
/// `family_name` as everyone's family name.
pub fn registration_request(request_id: &str, family_name: &str) -> pb::RegisterFamilyRequest {
    let member = |role: pb::MemberRole, given: &str, born: &str, code: &str| pb::NewMember {
        member_id: String::new(),
        details: Some(pb::MemberInput {
            role: role as i32,
            given_names: given.to_owned(),
            family_name: family_name.to_owned(),
            birth_date: born.to_owned(),
            identity_code: code.to_owned(),
            languages: vec!["fi".to_owned(), "sv".to_owned()],
        }),
    };
    pb::RegisterFamilyRequest {
        request_id: request_id.to_owned(),
        family_id: String::new(),
        municipality: "091".to_owned(),
        members: vec![
            member(pb::MemberRole::Guardian, "Maria Kaarina", "", "131052-308T"),
            member(pb::MemberRole::Child, "Eero", "2010-05-01", ""),
            member(pb::MemberRole::Child, "Aino", "2023-02-14", ""),
        ],
    }
}

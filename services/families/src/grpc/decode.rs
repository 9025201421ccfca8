//! Families requests into commands, and the domain's field names into request paths.

use jiff::civil::Date;
use luukku_app::{Caller, Write};
use luukku_domain::Field;
use luukku_domain::family::{
    CloseReason, ConsentId, ErasureGround, ErasureId, FamilyCommand, FamilyId, MemberDetails, MemberId,
    MemberRole, NewMember, parse_language,
};
use luukku_domain::identity_code::IdentityCode;
use luukku_grpc::Decoder;
use luukku_proto::families::v1 as pb;
use tonic::Status;

pub fn family_id(value: &str) -> Result<FamilyId, Status> {
    let mut decoder = Decoder::new();
    let family_id = decoder.id("family_id", value, FamilyId::parse);
    decoder.finish(|| family_id)
}

fn role(decoder: &mut Decoder, field: &str, value: i32, optional: bool) -> Option<Option<MemberRole>> {
    match pb::MemberRole::try_from(value) {
        Ok(pb::MemberRole::Guardian) => Some(Some(MemberRole::Guardian)),
        Ok(pb::MemberRole::Child) => Some(Some(MemberRole::Child)),
        Ok(pb::MemberRole::Unspecified) if optional => Some(None),
        _ => {
            decoder.bad(field, "must be MEMBER_ROLE_GUARDIAN or MEMBER_ROLE_CHILD");
            None
        }
    }
}

/// The role (`None` when optional and unspecified) and details of a `MemberInput` at `field`.
fn member_input(
    decoder: &mut Decoder,
    field: &str,
    input: Option<&pb::MemberInput>,
    role_optional: bool,
) -> Option<(Option<MemberRole>, MemberDetails)> {
    let Some(input) = input else {
        decoder.bad(field, "is required");
        return None;
    };
    let role = role(decoder, &format!("{field}.role"), input.role, role_optional);
    let birth_date = decoder.optional_date(&format!("{field}.birth_date"), &input.birth_date);
    let identity_code = if input.identity_code.is_empty() {
        Some(None)
    } else {
        decoder.field(&format!("{field}.identity_code"), IdentityCode::parse(&input.identity_code)).map(Some)
    };
    let languages = decoder.list(&format!("{field}.languages"), &input.languages, parse_language);
    let details = MemberDetails {
        given_names: input.given_names.clone(),
        family_name: input.family_name.clone(),
        birth_date: birth_date?,
        identity_code: identity_code?,
        languages,
    };
    Some((role?, details))
}

fn new_member(decoder: &mut Decoder, field: &str, member: Option<&pb::NewMember>) -> Option<NewMember> {
    let Some(member) = member else {
        decoder.bad(field, "is required");
        return None;
    };
    let member_id = decoder.id_or_new(
        &format!("{field}.member_id"),
        &member.member_id,
        MemberId::parse,
        MemberId::generate,
    );
    let (role, details) = member_input(decoder, &format!("{field}.details"), member.details.as_ref(), false)?;
    Some(NewMember { member_id: member_id?, role: role?, details })
}

/// The request id, family id and expected version of a change of an existing family.
fn change<M: prost::Message + prost::Name>(
    decoder: &mut Decoder,
    message: &M,
    request_id: &str,
    family_id: &str,
    expected: Option<u64>,
) -> (Option<Write>, Option<FamilyId>) {
    (decoder.write(message, request_id, expected), decoder.id("family_id", family_id, FamilyId::parse))
}

type Decoded = (Write, FamilyId, FamilyCommand);

pub fn register(message: &pb::RegisterFamilyRequest, caller: &Caller) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let write = decoder.write(message, &message.request_id, None);
    let family_id = decoder.creates(
        "family_id",
        &message.family_id,
        FamilyId::parse,
        FamilyId::from_ulid,
        write.as_ref(),
        caller,
        "family",
    );
    let municipality = decoder.municipality("municipality", &message.municipality);
    let members: Vec<Option<NewMember>> = message
        .members
        .iter()
        .enumerate()
        .map(|(index, member)| new_member(&mut decoder, &format!("members[{index}]"), Some(member)))
        .collect();
    decoder.finish(|| {
        let members = members.into_iter().collect::<Option<Vec<_>>>()?;
        Some((write?, family_id?, FamilyCommand::Register { municipality: municipality?, members }))
    })
}

pub fn register_paths(field: &Field) -> String {
    match (field.item, field.name) {
        (Some((_, index)), "member_id") => format!("members[{index}].member_id"),
        (Some((_, index)), "") => format!("members[{index}]"),
        (Some((_, index)), name) => format!("members[{index}].details.{name}"),
        (None, name) => name.to_owned(),
    }
}

pub fn add_member(message: &pb::AddMemberRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let member = new_member(&mut decoder, "member", message.member.as_ref());
    decoder.finish(|| Some((write?, family_id?, FamilyCommand::AddMember(member?))))
}

pub fn add_member_paths(field: &Field) -> String {
    match field.name {
        "member_id" => "member.member_id".to_owned(),
        name => format!("member.details.{name}"),
    }
}

pub fn update_member(message: &pb::UpdateMemberRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let member_id = decoder.id("member_id", &message.member_id, MemberId::parse);
    let input = member_input(&mut decoder, "details", message.details.as_ref(), true);
    decoder.finish(|| {
        let (role, details) = input?;
        Some((write?, family_id?, FamilyCommand::UpdateMember { member_id: member_id?, role, details }))
    })
}

pub fn update_member_paths(field: &Field) -> String {
    format!("details.{}", field.name)
}

pub fn remove_member(message: &pb::RemoveMemberRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let member_id = decoder.id("member_id", &message.member_id, MemberId::parse);
    decoder.finish(|| {
        let command = FamilyCommand::RemoveMember { member_id: member_id?, reason: message.reason.clone() };
        Some((write?, family_id?, command))
    })
}

pub fn change_municipality(message: &pb::ChangeMunicipalityRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let municipality = decoder.municipality("municipality", &message.municipality);
    decoder.finish(|| {
        Some((write?, family_id?, FamilyCommand::ChangeMunicipality { municipality: municipality? }))
    })
}

/// A consent from `today` unless the request names a start.
pub fn grant_consent(message: &pb::GrantConsentRequest, today: Date) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let consent_id =
        decoder.id_or_new("consent_id", &message.consent_id, ConsentId::parse, ConsentId::generate);
    let given_by = decoder.id("given_by", &message.given_by, MemberId::parse);
    let concerns = decoder.optional_id("concerns_member_id", &message.concerns_member_id, MemberId::parse);
    let sectors = decoder.codes("sectors", &message.sectors);
    let valid_from =
        decoder.optional_date("valid_from", &message.valid_from).map(|date| date.unwrap_or(today));
    let valid_until = decoder.date("valid_until", &message.valid_until);
    decoder.finish(|| {
        let command = FamilyCommand::GrantConsent {
            consent_id: consent_id?,
            given_by: given_by?,
            concerns: concerns?,
            sectors,
            purpose: message.purpose.clone(),
            valid_from: valid_from?,
            valid_until: valid_until?,
        };
        Some((write?, family_id?, command))
    })
}

pub fn revoke_consent(message: &pb::RevokeConsentRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let consent_id = decoder.id("consent_id", &message.consent_id, ConsentId::parse);
    let revoked_by = decoder.id("revoked_by", &message.revoked_by, MemberId::parse);
    decoder.finish(|| {
        Some((
            write?,
            family_id?,
            FamilyCommand::RevokeConsent { consent_id: consent_id?, revoked_by: revoked_by? },
        ))
    })
}

pub fn link_member(message: &pb::LinkMemberRequest) -> Result<(Write, FamilyId, MemberId, String), Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let member_id = decoder.id("member_id", &message.member_id, MemberId::parse);
    decoder.finish(|| Some((write?, family_id?, member_id?, message.subject.clone())))
}

pub fn unlink_member(message: &pb::UnlinkMemberRequest) -> Result<(Write, FamilyId, MemberId), Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let member_id = decoder.id("member_id", &message.member_id, MemberId::parse);
    decoder.finish(|| Some((write?, family_id?, member_id?)))
}

fn close_reason(decoder: &mut Decoder, value: i32) -> Option<CloseReason> {
    match pb::CloseReason::try_from(value) {
        Ok(pb::CloseReason::NeedsMet) => Some(CloseReason::NeedsMet),
        Ok(pb::CloseReason::MovedAway) => Some(CloseReason::MovedAway),
        Ok(pb::CloseReason::FamilyDeclined) => Some(CloseReason::FamilyDeclined),
        Ok(pb::CloseReason::Transferred) => Some(CloseReason::Transferred),
        Ok(pb::CloseReason::Other) => Some(CloseReason::Other),
        _ => {
            decoder.bad("reason", "name the reason for closing");
            None
        }
    }
}

pub fn close(message: &pb::CloseFamilyRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let reason = close_reason(&mut decoder, message.reason);
    decoder.finish(|| {
        Some((write?, family_id?, FamilyCommand::Close { reason: reason?, note: message.note.clone() }))
    })
}

pub fn reopen(message: &pb::ReopenFamilyRequest) -> Result<Decoded, Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    decoder.finish(|| Some((write?, family_id?, FamilyCommand::Reopen { note: message.note.clone() })))
}

pub fn erase(message: &pb::EraseFamilyRequest) -> Result<(Write, FamilyId), Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    decoder.finish(|| Some((write?, family_id?)))
}

/// A request to erase: the write, the family, the erasure's id, the ground, and the member it
/// is asked for.
pub fn request_erasure(
    message: &pb::RequestErasureRequest,
) -> Result<(Write, FamilyId, ErasureId, ErasureGround, Option<MemberId>), Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let erasure_id =
        decoder.id_or_new("erasure_id", &message.erasure_id, ErasureId::parse, ErasureId::generate);
    let ground = decoder.code("ground", &message.ground);
    let on_behalf_of =
        decoder.optional_id("on_behalf_of_member_id", &message.on_behalf_of_member_id, MemberId::parse);
    decoder.finish(|| Some((write?, family_id?, erasure_id?, ground?, on_behalf_of?)))
}

pub fn approve_erasure(message: &pb::ApproveErasureRequest) -> Result<(Write, FamilyId, ErasureId), Status> {
    let mut decoder = Decoder::new();
    let (write, family_id) =
        change(&mut decoder, message, &message.request_id, &message.family_id, message.expected_version);
    let erasure_id = decoder.id("erasure_id", &message.erasure_id, ErasureId::parse);
    decoder.finish(|| Some((write?, family_id?, erasure_id?)))
}

//! Family members sign in: a member linked to an identity provider's subject is who a
//! family_member token with that subject stands for, until the link ends.

use luukku_auth::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, Verifier};
use luukku_domain::Role;
use luukku_domain::family::MemberRef;
use luukku_eventstore::MemberLinks;
use luukku_grpc::{Authenticator, with_token};
use luukku_proto::families::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

/// Whom a family member's token for `subject`, naming no member, stands for.
async fn signs_in_as(authenticator: &Authenticator, subject: &str) -> anyhow::Result<Option<MemberRef>> {
    let actor = luukku_domain::Actor {
        person_id: luukku_domain::Code::parse(subject)?,
        role: Role::FamilyMember,
        sector: None,
        ..luukku_testkit::actor()
    };
    let request = with_token((), &luukku_testkit::auth::token(&actor));
    Ok(authenticator.authenticate(&request).await?.member)
}

fn link(family_id: &str, member_id: &str, subject: &str) -> pb::LinkMemberRequest {
    pb::LinkMemberRequest {
        request_id: request_id(),
        family_id: family_id.to_owned(),
        expected_version: None,
        member_id: member_id.to_owned(),
        subject: subject.to_owned(),
    }
}

#[tokio::test]
async fn a_linked_member_signs_in_until_unlinked_or_erased() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let keys = luukku_testkit::auth::dev_issuer().key_set()?;
    let authenticator = Authenticator::new(Verifier::new(AuthConfig::new(DEV_ISSUER, DEV_AUDIENCE), keys))
        .with_member_links(MemberLinks::open(&harness.store).await?);
    let family = harness.register(virtanen_family()).await?;
    let teen = family.member_ids[1].clone();
    let subject = "idp:eero-42";
    assert_eq!(signs_in_as(&authenticator, subject).await?, None);

    // Nobody links themself: a family member's own token may not claim a member.
    let member = luukku_domain::Actor {
        person_id: luukku_domain::Code::parse(subject)?,
        role: Role::FamilyMember,
        sector: None,
        ..luukku_testkit::actor()
    };
    let claimed = harness
        .client
        .link_member(luukku_testkit::auth::with_identity(link(&family.family_id, &teen, subject), &member))
        .await;
    // Unrelated to the family, they are told what anyone asking after no such family is.
    let status = expect_code(claimed, Code::NotFound);
    assert_eq!(status.get_details_error_info().map(|info| info.reason), Some("FAMILY_NOT_FOUND".to_owned()));
    assert_eq!(signs_in_as(&authenticator, subject).await?, None);

    harness.client.link_member(harness.call(link(&family.family_id, &teen, subject))).await?;
    let expected = MemberRef { family_id: family.family_id.parse()?, member_id: teen.parse()? };
    assert_eq!(signs_in_as(&authenticator, subject).await?, Some(expected));

    // One subject stands for one member; an identity code is never a subject.
    let other = harness.register(virtanen_family()).await?;
    let taken =
        harness.client.link_member(harness.call(link(&other.family_id, &other.member_ids[1], subject))).await;
    let status = expect_code(taken, Code::AlreadyExists);
    assert_eq!(status.get_details_error_info().map(|info| info.reason), Some("SUBJECT_LINKED".to_owned()));
    let code = harness
        .client
        .link_member(harness.call(link(&other.family_id, &other.member_ids[0], "131052-308T")))
        .await;
    assert_eq!(bad_fields(&expect_code(code, Code::InvalidArgument)), ["subject"]);

    let unlink = pb::UnlinkMemberRequest {
        request_id: request_id(),
        family_id: family.family_id.clone(),
        expected_version: None,
        member_id: teen.clone(),
    };
    harness.client.unlink_member(harness.call(unlink)).await?;
    assert_eq!(signs_in_as(&authenticator, subject).await?, None, "unlinked");

    harness.client.link_member(harness.call(link(&family.family_id, &teen, subject))).await?;
    assert!(signs_in_as(&authenticator, subject).await?.is_some());
    let erase = pb::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family.family_id.clone(),
        ..Default::default()
    };
    luukku_testkit::grpc::erase_family(&mut harness.client, &harness.actor, erase).await?;
    assert_eq!(signs_in_as(&authenticator, subject).await?, None, "nobody signs in to an erased family");
    Ok(())
}

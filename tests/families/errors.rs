//! Bad input gets a clear error and loses nothing.

use luukku_proto::families::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated_and_the_server_keeps_serving() -> anyhow::Result<()>
{
    use luukku_testkit::auth::{bad_tokens, check_refused, with_bad_token};
    let mut harness = Harness::start().await?;
    for bad in bad_tokens(&harness.actor) {
        let status = harness
            .client
            .register_family(with_bad_token(virtanen_family(), &bad))
            .await
            .expect_err(bad.case);
        check_refused(&bad, &status).map_err(anyhow::Error::msg)?;
        let read = pb::GetFamilyRequest { family_id: "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned() };
        let status = harness.client.get_family(with_bad_token(read, &bad)).await.expect_err(bad.case);
        check_refused(&bad, &status).map_err(anyhow::Error::msg)?;
    }
    // The headers that named the caller before identify no one.
    let mut request = tonic::Request::new(virtanen_family());
    for (header, value) in [
        ("x-luukku-person", "mallory"),
        ("x-luukku-role", "operator"),
        ("x-luukku-organisation", "0201256-6"),
        ("x-luukku-system", "luukku-cli"),
    ] {
        request.metadata_mut().insert(header, value.parse()?);
    }
    let status = harness.client.register_family(request).await.expect_err("headers are no identity");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(harness.messages().await?, 0, "nothing was written");

    let registered = harness.client.register_family(harness.call(virtanen_family())).await?.into_inner();
    let history = harness
        .client
        .list_family_history(
            harness
                .call(pb::ListFamilyHistoryRequest { family_id: registered.family_id, ..Default::default() }),
        )
        .await?
        .into_inner();
    let actor = history.entries[0].actor.clone().expect("the actor is recorded");
    let expected = &harness.actor;
    assert_eq!(
        (actor.person_id.as_str(), actor.role.as_str(), actor.organisation.as_str(), actor.system.as_str()),
        (
            expected.person_id.as_str(),
            "contact_person",
            expected.organisation.as_str(),
            expected.system.as_str()
        ),
        "the actor recorded is the token's"
    );
    Ok(())
}

#[tokio::test]
async fn every_bad_field_is_named() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let mut request = virtanen_family();
    request.request_id = "not a request id!".to_owned();
    request.municipality = "Helsinki".to_owned();
    request.members[0] = member(pb::MemberRole::Guardian, "Maria", "", "131052-308A");
    request.members[1] = member(pb::MemberRole::Unspecified, "Eero", "1.5.2010", "");
    request.members[2].details.as_mut().expect("details").languages.push("finnish".to_owned());
    let status = harness.client.register_family(harness.call(request)).await.expect_err("refused");
    assert_eq!(
        bad_fields(&status),
        [
            "request_id",
            "municipality",
            "members[0].details.identity_code",
            "members[1].details.role",
            "members[1].details.birth_date",
            "members[2].details.languages[2]",
        ]
    );

    // Rules that need the domain: an empty name, a birth date in the future.
    let mut request = virtanen_family();
    request.members[1] = member(pb::MemberRole::Child, " ", "2099-01-01", "");
    let status = harness.client.register_family(harness.call(request)).await.expect_err("refused");
    assert_eq!(bad_fields(&status), ["members[1].details.given_names", "members[1].details.birth_date"]);
    assert_eq!(harness.messages().await?, 0, "nothing was written");
    Ok(())
}

#[tokio::test]
async fn consent_input_is_checked_field_by_field() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let request = pb::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: registered.family_id.clone(),
        given_by: registered.member_ids[0].clone(),
        sectors: vec!["school".to_owned(), "police".to_owned()],
        purpose: "support".to_owned(),
        valid_from: in_days(30),
        valid_until: in_days(29),
        ..Default::default()
    };
    let status = harness.client.grant_consent(harness.call(request.clone())).await.expect_err("refused");
    assert_eq!(bad_fields(&status), ["sectors[1]"]);
    let fixed = pb::GrantConsentRequest { sectors: vec!["school".to_owned()], ..request };
    let status = harness.client.grant_consent(harness.call(fixed)).await.expect_err("refused");
    assert_eq!(bad_fields(&status), ["valid_until"], "the end date is before the start");
    assert_eq!(harness.messages().await?, 1);
    Ok(())
}

#[tokio::test]
async fn unknown_things_are_not_found() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let unknown = "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned();
    let status = harness.family(&unknown).await.expect_err("unknown family");
    let status = status.downcast::<tonic::Status>()?;
    assert_eq!(status.code(), Code::NotFound);

    let add = pb::AddMemberRequest {
        request_id: request_id(),
        family_id: unknown.clone(),
        expected_version: None,
        member: Some(member(pb::MemberRole::Child, "Onni", "2024-01-01", "")),
    };
    expect_code(harness.client.add_member(harness.call(add)).await, Code::NotFound);

    let family_id = harness.register(virtanen_family()).await?.family_id;
    let remove = pb::RemoveMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        member_id: unknown.clone(),
        ..Default::default()
    };
    expect_code(harness.client.remove_member(harness.call(remove)).await, Code::NotFound);
    let revoke = pb::RevokeConsentRequest {
        request_id: request_id(),
        family_id,
        consent_id: unknown.clone(),
        revoked_by: unknown,
        ..Default::default()
    };
    expect_code(harness.client.revoke_consent(harness.call(revoke)).await, Code::NotFound);
    assert_eq!(harness.messages().await?, 1);
    Ok(())
}

#[tokio::test]
async fn taken_ids_already_exist() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let first = harness.register(virtanen_family()).await?;
    let mut again = virtanen_family();
    again.family_id = first.family_id.clone();
    expect_code(harness.client.register_family(harness.call(again)).await, Code::AlreadyExists);

    // A request id used for one family cannot be reused for another command.
    let mut reused = virtanen_family();
    reused.request_id = request_id();
    let other = harness.register(reused.clone()).await?;
    let add = pb::AddMemberRequest {
        request_id: reused.request_id,
        family_id: first.family_id,
        expected_version: None,
        member: Some(member(pb::MemberRole::Child, "Onni", "2024-01-01", "")),
    };
    let status = expect_code(harness.client.add_member(harness.call(add)).await, Code::AlreadyExists);
    assert!(status.message().contains(&other.family_id), "{}", status.message());
    assert_eq!(harness.messages().await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted_with_the_current_one() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let version = registered.result.expect("result").version;
    let change = |expected_version| pb::ChangeMunicipalityRequest {
        request_id: request_id(),
        family_id: registered.family_id.clone(),
        expected_version: Some(expected_version),
        municipality: "837".to_owned(),
    };
    let moved = harness.client.change_municipality(harness.call(change(version))).await?.into_inner();
    let current = moved.result.expect("result").version;
    let status =
        expect_code(harness.client.change_municipality(harness.call(change(version))).await, Code::Aborted);
    let info = status.get_details_error_info().expect("ErrorInfo details");
    assert_eq!(info.metadata.get("current_version"), Some(&current.to_string()));
    assert_eq!(harness.messages().await?, 2);
    Ok(())
}

#[tokio::test]
async fn broken_rules_are_named() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let family_id = registered.family_id.clone();
    let toddler = registered.member_ids[2].clone();

    let by_toddler = pb::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: family_id.clone(),
        given_by: toddler.clone(),
        concerns_member_id: toddler,
        sectors: vec!["school".to_owned()],
        purpose: "support".to_owned(),
        valid_until: "2099-01-01".to_owned(),
        ..Default::default()
    };
    let status = harness.client.grant_consent(harness.call(by_toddler)).await.expect_err("refused");
    assert_eq!(broken_rule(&status), "NOT_ENTITLED_TO_CONSENT");
    assert!(status.message().contains("aged 3"), "{}", status.message());

    let close = pb::CloseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        reason: pb::CloseReason::MovedAway as i32,
        ..Default::default()
    };
    harness.client.close_family(harness.call(close)).await?;
    let add = pb::AddMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        member: Some(member(pb::MemberRole::Child, "Onni", "2024-01-01", "")),
    };
    let status = harness.client.add_member(harness.call(add)).await.expect_err("closed");
    assert_eq!(broken_rule(&status), "FAMILY_CLOSED");

    let close_again = pb::CloseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        reason: pb::CloseReason::Unspecified as i32,
        ..Default::default()
    };
    let status = harness.client.close_family(harness.call(close_again)).await.expect_err("no reason");
    assert_eq!(bad_fields(&status), ["reason"]);
    assert_eq!(harness.messages().await?, 2);
    Ok(())
}

#[tokio::test]
async fn every_input_has_a_limit_and_a_call_over_one_writes_nothing() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let mut request = virtanen_family();
    request.members[0].details.as_mut().expect("details").given_names = "Maria ".repeat(40);
    let extra = request.members[1].clone();
    request.members.extend(std::iter::repeat_n(extra, 20));
    let status =
        expect_code(harness.client.register_family(harness.call(request)).await, Code::InvalidArgument);
    let fields = bad_fields(&status);
    assert!(fields.contains(&"members".to_owned()), "{fields:?}");
    assert!(fields.contains(&"members[0].details.given_names".to_owned()), "{fields:?}");
    assert_eq!(harness.messages().await?, 0);

    // Free text may be longer than a name, up to its own limit.
    let family_id = harness.register(virtanen_family()).await?.family_id;
    let close = pb::CloseFamilyRequest {
        request_id: request_id(),
        family_id,
        note: "x".repeat(4_001),
        ..Default::default()
    };
    let status = expect_code(harness.client.close_family(harness.call(close)).await, Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["note".to_owned()]);
    assert_eq!(harness.messages().await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_stream_that_does_not_answer_is_asked_again_within_the_calls_deadline() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let mut harness = Harness::start().await?;
    // JetStream answers nothing for FAMILIES, as while it restarts or elects a leader.
    harness.store.jetstream().delete_stream("FAMILIES").await?;

    // A call whose deadline passes first is UNAVAILABLE, before the caller gives up.
    let mut short = harness.call(virtanen_family());
    short.set_timeout(Duration::from_secs(3));
    let started = Instant::now();
    let status = expect_code(harness.client.register_family(short).await, Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(3), "answered within the deadline");
    assert!(status.message().contains("no responder"), "{}", status.message());

    // A call with time to spare gets through once the stream answers again, seconds later.
    let mut long = harness.call(virtanen_family());
    long.set_timeout(Duration::from_secs(20));
    let mut client = harness.client.clone();
    let call = tokio::spawn(async move { client.register_family(long).await });
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!call.is_finished(), "still asking");
    luukku_eventstore::provision(&harness.store).await?;
    let registered = call.await??.into_inner();
    assert!(!registered.family_id.is_empty());
    assert_eq!(harness.messages().await?, 1);
    Ok(())
}

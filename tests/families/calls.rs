//! Each call of the families service doing what it says.

use futures::StreamExt;
use luukku_proto::families::v1 as pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::*;

#[tokio::test]
async fn register_then_read_the_family_back() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let result = registered.result.expect("a write result");
    assert!(!result.replayed);
    assert_eq!(registered.member_ids.len(), 3);

    let family = harness.family(&registered.family_id).await?;
    assert_eq!(family.status(), pb::FamilyStatus::Active);
    assert_eq!(family.municipality, "091");
    assert_eq!(family.version, result.version);
    assert!(family.registered_at_ms > 0);
    let guardian = family.members.iter().find(|m| m.given_names == "Maria Kaarina").expect("guardian");
    assert_eq!(guardian.role(), pb::MemberRole::Guardian);
    assert_eq!(guardian.identity_code, "131052-308T");
    assert_eq!(guardian.birth_date, "1952-10-13", "taken from the identity code");
    assert_eq!(guardian.languages, ["fi", "sv"]);
    assert!(family.members.iter().all(|member| member.readable));

    let history = harness
        .client
        .list_family_history(harness.call(pb::ListFamilyHistoryRequest {
            family_id: registered.family_id.clone(),
            ..Default::default()
        }))
        .await?
        .into_inner();
    assert_eq!(history.entries.len(), 1);
    let entry = &history.entries[0];
    assert_eq!(entry.events[0].event_type, "FamilyRegistered");
    assert!(entry.events[0].summary.contains("Maria Kaarina Virtanen"), "{}", entry.events[0].summary);
    let actor = entry.actor.as_ref().expect("the actor is recorded");
    assert_eq!((actor.person_id.as_str(), actor.role.as_str()), ("test.contact", "contact_person"));
    Ok(())
}

#[tokio::test]
async fn a_retried_registration_returns_the_first_answer_and_appends_nothing() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    // Without a family id the service picks one; the retry still finds the first.
    let request = virtanen_family();
    let first = harness.register(request.clone()).await?;
    let again = harness.register(request).await?;
    assert_eq!(again.family_id, first.family_id);
    assert_eq!(again.member_ids, first.member_ids);
    assert_eq!(again.result.as_ref().map(|r| r.version), first.result.as_ref().map(|r| r.version));
    assert!(again.result.is_some_and(|result| result.replayed));
    assert_eq!(harness.messages().await?, 1);

    // With a caller-chosen family id.
    let mut request = virtanen_family();
    request.family_id = "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned();
    let first = harness.register(request.clone()).await?;
    let again = harness.register(request).await?;
    assert_eq!((again.family_id.as_str(), &again.member_ids), (first.family_id.as_str(), &first.member_ids));
    assert_eq!(harness.messages().await?, 2);
    Ok(())
}

#[tokio::test]
async fn members_change_and_each_retry_is_answered_once() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family_id = harness.register(virtanen_family()).await?.family_id;

    let add = pb::AddMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        member: Some(member(pb::MemberRole::Child, "Onni", "2026-11-01", "")),
    };
    let added = harness.client.add_member(harness.call(add.clone())).await?.into_inner();
    let retried = harness.client.add_member(harness.call(add)).await?.into_inner();
    assert_eq!(retried.member_id, added.member_id, "the retry answers with the first member id");
    assert!(retried.result.as_ref().is_some_and(|result| result.replayed));
    assert_eq!(harness.messages().await?, 2);

    let update = pb::UpdateMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: added.result.as_ref().map(|result| result.version),
        member_id: added.member_id.clone(),
        details: member(pb::MemberRole::Unspecified, "Onni Juhani", "2026-11-01", "").details,
    };
    harness.client.update_member(harness.call(update)).await?;
    let family = harness.family(&family_id).await?;
    let onni = family.members.iter().find(|m| m.member_id == added.member_id).expect("added member");
    assert_eq!((onni.given_names.as_str(), onni.role()), ("Onni Juhani", pb::MemberRole::Child));

    let remove = pb::RemoveMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        member_id: family.members[0].member_id.clone(),
        reason: "moved out".to_owned(),
    };
    harness.client.remove_member(harness.call(remove.clone())).await?;
    harness.client.remove_member(harness.call(remove)).await?;
    assert_eq!(harness.family(&family_id).await?.members.len(), 3);

    let change = |municipality: &str| pb::ChangeMunicipalityRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        municipality: municipality.to_owned(),
    };
    let moved = harness.client.change_municipality(harness.call(change("837"))).await?.into_inner();
    assert!(moved.result.as_ref().is_some_and(|result| result.position.is_some()));
    let same = harness.client.change_municipality(harness.call(change("837"))).await?.into_inner();
    assert!(same.result.as_ref().is_some_and(|result| result.position.is_none()), "no change, no event");
    assert_eq!(harness.family(&family_id).await?.municipality, "837");
    assert_eq!(harness.messages().await?, 5);
    Ok(())
}

#[tokio::test]
async fn consents_are_granted_in_force_and_revoked() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let (guardian, teen) = (registered.member_ids[0].clone(), registered.member_ids[1].clone());
    let grant = |given_by: &str, concerns: &str| pb::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: registered.family_id.clone(),
        given_by: given_by.to_owned(),
        concerns_member_id: concerns.to_owned(),
        sectors: vec!["school".to_owned(), "student_welfare".to_owned()],
        purpose: "support at school".to_owned(),
        valid_until: "2099-12-31".to_owned(),
        ..Default::default()
    };
    let by_guardian = harness.client.grant_consent(harness.call(grant(&guardian, ""))).await?.into_inner();
    let by_teen = harness.client.grant_consent(harness.call(grant(&teen, &teen))).await?.into_inner();

    let family = harness.family(&registered.family_id).await?;
    assert_eq!(family.consents.len(), 2);
    assert!(family.consents.iter().all(|consent| consent.in_force && !consent.revoked));
    let teen_consent = family.consents.iter().find(|c| c.consent_id == by_teen.consent_id).expect("consent");
    assert_eq!(teen_consent.concerns_member_id, teen);
    assert_eq!(teen_consent.sectors, ["school", "student_welfare"]);
    assert_eq!(teen_consent.purpose, "support at school");

    let revoke = pb::RevokeConsentRequest {
        request_id: request_id(),
        family_id: registered.family_id.clone(),
        consent_id: by_guardian.consent_id.clone(),
        revoked_by: guardian,
        ..Default::default()
    };
    harness.client.revoke_consent(harness.call(revoke)).await?;
    let family = harness.family(&registered.family_id).await?;
    let revoked = family.consents.iter().find(|c| c.consent_id == by_guardian.consent_id).expect("consent");
    assert!(revoked.revoked && !revoked.in_force);
    Ok(())
}

#[tokio::test]
async fn close_and_reopen() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family_id = harness.register(virtanen_family()).await?.family_id;
    let close = pb::CloseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        reason: pb::CloseReason::NeedsMet as i32,
        note: "school support in place".to_owned(),
        ..Default::default()
    };
    harness.client.close_family(harness.call(close)).await?;
    let family = harness.family(&family_id).await?;
    assert_eq!(
        (family.status(), family.close_reason()),
        (pb::FamilyStatus::Closed, pb::CloseReason::NeedsMet)
    );

    let reopen = pb::ReopenFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    harness.client.reopen_family(harness.call(reopen)).await?;
    assert_eq!(harness.family(&family_id).await?.status(), pb::FamilyStatus::Active);
    Ok(())
}

#[tokio::test]
async fn history_pages_through_every_change() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family_id = harness.register(virtanen_family()).await?.family_id;
    for municipality in ["837", "091", "837", "049"] {
        let change = pb::ChangeMunicipalityRequest {
            request_id: request_id(),
            family_id: family_id.clone(),
            expected_version: None,
            municipality: municipality.to_owned(),
        };
        harness.client.change_municipality(harness.call(change)).await?;
    }
    let mut after_version = 0;
    let mut summaries = Vec::new();
    loop {
        let page = harness
            .client
            .list_family_history(harness.call(pb::ListFamilyHistoryRequest {
                family_id: family_id.clone(),
                after_version,
                page_size: 2,
            }))
            .await?
            .into_inner();
        assert!(page.entries.len() <= 2);
        summaries.extend(page.entries.iter().map(|entry| entry.events[0].summary.clone()));
        if page.next_after_version == 0 {
            break;
        }
        after_version = page.next_after_version;
    }
    assert_eq!(summaries.len(), 5);
    assert_eq!(summaries[4], "moved to municipality 049");
    Ok(())
}

#[tokio::test]
async fn concurrent_changes_without_expected_version_all_land() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family_id = harness.register(virtanen_family()).await?.family_id;
    let calls = (0..8).map(|index| {
        let mut client = harness.client.clone();
        let request = harness.call(pb::AddMemberRequest {
            request_id: request_id(),
            family_id: family_id.clone(),
            expected_version: None,
            member: Some(member(pb::MemberRole::Child, &format!("Child {index}"), "2020-01-01", "")),
        });
        async move { client.add_member(request).await }
    });
    for result in futures::future::join_all(calls).await {
        result?;
    }
    assert_eq!(harness.family(&family_id).await?.members.len(), 11);
    assert_eq!(harness.messages().await?, 9);
    Ok(())
}

/// A service stopped in a process that goes on (a test's, a benchmark's) lets go of its read
/// models: its health stops following them, rather than keep them and set their gauges for good.
#[tokio::test]
async fn a_service_stopped_in_a_process_that_goes_on_lets_go_of_its_read_models() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let guard = luukku_app::Guard::start(harness.store.clone());
    let relations = std::sync::Arc::downgrade(guard.relations().standing());
    let routes = luukku_families::routes(harness.store.clone(), harness.keys.clone(), guard).await;
    let served = luukku_testkit::grpc::serve_routes(routes).await?;
    drop(served);
    let gone = luukku_testkit::eventually(10, || {
        let gone = relations.strong_count() == 0;
        async move { Ok(gone) }
    })
    .await?;
    assert!(gone, "the stopped service's relations model is still held");
    Ok(())
}

/// A read model that cannot write to its folder is not read, and the health of the service
/// reading it says `NOT_SERVING` until its writes succeed again; then it holds what was
/// written meanwhile.
#[tokio::test]
async fn a_read_model_that_cannot_write_makes_its_service_not_serving_until_it_can() -> anyhow::Result<()> {
    const SERVICE: &str = "luukku.families.v1.FamilyService";
    let mut harness = Harness::start().await?;
    let guard = luukku_app::Guard::start(harness.store.clone());
    let relations = std::sync::Arc::clone(guard.relations());
    let routes = luukku_families::routes(harness.store.clone(), harness.keys.clone(), guard).await;
    let served = luukku_testkit::grpc::serve_routes(routes).await?;
    let channel = tonic::transport::Endpoint::from_shared(served.url())?.connect().await?;
    let mut client = pb::family_service_client::FamilyServiceClient::new(channel.clone());
    let health = HealthClient::new(channel);
    let status = || {
        let mut health = health.clone();
        async move {
            let request = HealthCheckRequest { service: SERVICE.to_owned() };
            anyhow::Ok(health.check(request).await?.into_inner().status())
        }
    };
    let serving =
        luukku_testkit::eventually(10, || async { Ok(status().await? == ServingStatus::Serving) }).await?;
    assert!(serving, "serving once its relations model is ready");

    // As when its folder cannot be written: the chunk with the next registration fails, and
    // so does every try after it.
    relations.fail_next_chunks(usize::MAX);
    let registered = harness.register(virtanen_family()).await?.family_id;
    let not_serving =
        luukku_testkit::eventually(10, || async { Ok(status().await? == ServingStatus::NotServing) }).await?;
    assert!(not_serving, "a read model that cannot write makes its service NOT_SERVING");
    let get = || pb::GetFamilyRequest { family_id: registered.clone() };
    let refused = client.get_family(harness.call(get())).await;
    expect_code(refused, tonic::Code::Unavailable);

    // Writable again: it applies what it missed, and serves.
    relations.fail_next_chunks(0);
    let serving =
        luukku_testkit::eventually(10, || async { Ok(status().await? == ServingStatus::Serving) }).await?;
    assert!(serving, "serving again once its writes succeed");
    let family = client.get_family(harness.call(get())).await?.into_inner().family;
    assert_eq!(family.map(|family| family.family_id), Some(registered), "the family written meanwhile");
    Ok(())
}

#[tokio::test]
async fn health_of_a_service_whose_read_models_are_gone_is_not_serving() -> anyhow::Result<()> {
    use tonic_health::pb::health_server::Health;
    let harness = Harness::start().await?;
    let standing = luukku_app::Standing::start(&harness.store, "health test model");
    let entry = luukku_grpc::health::read_model_entry(standing.name());
    let (reporter, _) = tonic_health::server::health_reporter();
    let health = tonic_health::server::HealthService::from_health_reporter(reporter.clone());
    let held = [std::sync::Arc::downgrade(&standing)];
    let service = "luukku.test.v1.TestService";
    luukku_grpc::health::follow_read_models(reporter, vec![service], move || {
        luukku_grpc::health::upgraded(&held)
    })
    .await;
    let statuses = || {
        let health = &health;
        let entries = [String::new(), service.to_owned(), entry.clone()];
        async move {
            let mut statuses = Vec::new();
            for entry in entries {
                let request = tonic::Request::new(HealthCheckRequest { service: entry });
                statuses.push(health.check(request).await?.into_inner().status());
            }
            anyhow::Ok(statuses)
        }
    };
    assert_eq!(statuses().await?, [ServingStatus::Serving; 3], "serving while its model is held");

    drop(standing);
    let not_serving = luukku_testkit::eventually(10, || {
        let statuses = statuses();
        async move { Ok(statuses.await? == [ServingStatus::NotServing; 3]) }
    })
    .await?;
    assert!(not_serving, "the service, its own entry and its model's are NOT_SERVING once the model is gone");
    Ok(())
}

#[tokio::test]
async fn health_is_served_and_reflection_when_asked() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let channel = tonic::transport::Endpoint::from_shared(harness.url())?.connect().await?;
    let health = HealthClient::new(channel.clone());
    // Not serving until its read models hold what was written before its start: on a busy
    // machine that takes a moment, which a readiness probe waits out.
    let serving = luukku_testkit::eventually(10, || {
        let mut health = health.clone();
        async move {
            let request = HealthCheckRequest { service: "luukku.families.v1.FamilyService".to_owned() };
            Ok(health.check(request).await?.into_inner().status() == ServingStatus::Serving)
        }
    })
    .await?;
    assert!(serving, "the families service reports serving");

    // Reflection only where the server is told to serve it.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut without = ServerReflectionClient::new(channel);
    let refused = without
        .server_reflection_info(futures::stream::iter([request.clone()]))
        .await
        .expect_err("no reflection by default");
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    let routes = luukku_families::routes(
        harness.store.clone(),
        harness.keys.clone(),
        luukku_app::Guard::start(harness.store.clone()),
    )
    .await;
    let reflecting = luukku_testkit::grpc::serve_routes(luukku_grpc::serve::with_reflection(routes)?).await?;
    let channel = tonic::transport::Endpoint::from_shared(reflecting.url())?.connect().await?;
    let mut reflection = ServerReflectionClient::new(channel);
    let mut responses =
        reflection.server_reflection_info(futures::stream::iter([request])).await?.into_inner();
    let Some(Ok(response)) = responses.next().await else { panic!("no reflection answer") };
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}")
    };
    let names: Vec<_> = list.service.into_iter().map(|service| service.name).collect();
    assert!(names.contains(&"luukku.families.v1.FamilyService".to_owned()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
    Ok(())
}

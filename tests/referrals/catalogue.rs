//! The service catalogue: register, search, pause, retire.

use luukku_proto::referrals::v1 as pb;

use crate::support::*;

fn search(sector: &str, need: &str, age: Option<u32>, taking: bool) -> pb::SearchServicesRequest {
    pb::SearchServicesRequest {
        sector: sector.to_owned(),
        need: need.to_owned(),
        age,
        municipality: "091".to_owned(),
        taking_referrals: taking,
        ..Default::default()
    }
}

#[tokio::test]
async fn services_are_found_by_sector_need_age_and_place() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let clinic = harness.service("mental_health", "Youth mental health clinic").await?;
    let mut club = info("ngo_or_parish", "Tuesday club");
    club.low_threshold = true;
    club.needs = vec!["loneliness".to_owned()];
    club.max_age = 12;
    let register =
        pb::RegisterServiceRequest { request_id: request_id(), service_id: String::new(), info: Some(club) };
    let club =
        harness.referrals.register_service(harness.as_supervisor(register)).await?.into_inner().service_id;

    let found =
        |r: pb::SearchServicesResponse| r.services.into_iter().map(|s| s.service_id).collect::<Vec<_>>();
    let all =
        harness.referrals.search_services(harness.call(search("", "", None, false))).await?.into_inner();
    assert_eq!(all.services.len(), 2);
    let lonely =
        harness.referrals.search_services(harness.call(search("", "loneliness", Some(9), false))).await?;
    assert_eq!(found(lonely.into_inner()), std::slice::from_ref(&club));
    let teen = harness.referrals.search_services(harness.call(search("", "", Some(15), false))).await?;
    assert_eq!(found(teen.into_inner()), std::slice::from_ref(&clinic));

    let pause = pb::ServiceStatusRequest {
        request_id: request_id(),
        service_id: clinic.clone(),
        expected_version: None,
        reason: "queue full".into(),
    };
    harness.referrals.pause_service(harness.as_supervisor(pause)).await?;
    let taking =
        harness.referrals.search_services(harness.call(search("mental_health", "", None, true))).await?;
    assert!(taking.into_inner().services.is_empty(), "a paused service takes no referrals");
    let (family, _) = harness.family(&["mental_health"]).await?;
    assert_eq!(broken_rule(harness.refer(&family, &clinic).await), "SERVICE_PAUSED");

    let resume = pb::ServiceStatusRequest {
        request_id: request_id(),
        service_id: clinic.clone(),
        expected_version: None,
        reason: String::new(),
    };
    harness.referrals.resume_service(harness.as_supervisor(resume)).await?;
    harness.refer(&family, &clinic).await?;
    let retire = pb::ServiceStatusRequest {
        request_id: request_id(),
        service_id: club.clone(),
        expected_version: None,
        reason: "ended".into(),
    };
    harness.referrals.retire_service(harness.as_supervisor(retire.clone())).await?;
    let retired_again = pb::ServiceStatusRequest { request_id: request_id(), ..retire };
    assert_eq!(
        broken_rule(harness.referrals.retire_service(harness.as_supervisor(retired_again)).await),
        "SERVICE_RETIRED"
    );
    let after = harness.referrals.search_services(harness.call(search("", "", None, false))).await?;
    assert_eq!(found(after.into_inner()), [clinic]);
    Ok(())
}

#[tokio::test]
async fn bad_services_are_refused_field_by_field() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let mut bad = info("police", "");
    bad.needs = vec!["boredom".to_owned()];
    bad.min_age = 300;
    let register =
        pb::RegisterServiceRequest { request_id: request_id(), service_id: String::new(), info: Some(bad) };
    assert_eq!(
        bad_fields(harness.referrals.register_service(harness.as_supervisor(register)).await),
        ["info.sector", "info.min_age", "info.needs[0]"]
    );
    let mut empty = info("school", "");
    empty.needs.clear();
    let register =
        pb::RegisterServiceRequest { request_id: request_id(), service_id: String::new(), info: Some(empty) };
    assert_eq!(
        bad_fields(harness.referrals.register_service(harness.as_supervisor(register)).await),
        ["info.name", "info.needs"]
    );
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated_and_the_server_keeps_serving() -> anyhow::Result<()>
{
    use luukku_testkit::auth::{refuses_every_bad_token, with_bad_token};
    let harness = Harness::start().await?;
    let client = harness.referrals.clone();
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::CreateReferralRequest::default(), bad);
        async move { client.create_referral(request).await }
    })
    .await?;
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::SearchServicesRequest::default(), bad);
        async move { client.search_services(request).await }
    })
    .await?;
    let mut client = client.clone();
    client.search_services(harness.call(pb::SearchServicesRequest::default())).await?;
    Ok(())
}

#[tokio::test]
async fn one_request_id_cannot_pause_and_then_retire_a_service() -> anyhow::Result<()> {
    // Pause, resume and retire share one request message: the id still belongs to one method.
    let mut harness = Harness::start().await?;
    let clinic = harness.service("mental_health", "Youth mental health clinic").await?;
    let request = pb::ServiceStatusRequest {
        request_id: request_id(),
        service_id: clinic.clone(),
        expected_version: None,
        reason: "queue full".into(),
    };
    harness.referrals.pause_service(harness.as_supervisor(request.clone())).await?;
    let again = harness.referrals.pause_service(harness.as_supervisor(request.clone())).await?.into_inner();
    assert!(again.result.is_some_and(|result| result.replayed), "the same call again is a retry");
    let status = harness
        .referrals
        .retire_service(harness.as_supervisor(request))
        .await
        .expect_err("the id was used for a pause");
    assert_eq!(status.code(), tonic::Code::AlreadyExists);
    assert!(status.message().contains("PauseService"), "{}", status.message());
    let taking =
        harness.referrals.search_services(harness.call(search("mental_health", "", None, false))).await?;
    assert_eq!(taking.into_inner().services.len(), 1, "the service is not retired");
    Ok(())
}

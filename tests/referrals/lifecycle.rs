//! Referrals: consent, the lifecycle, duplicates, inboxes and erasure.

use luukku_proto::families::v1 as families;
use luukku_proto::referrals::v1 as pb;
use luukku_proto::referrals::v1::update_referral_request::Step;
use tonic::Code;

use crate::support::*;

fn note(text: &str) -> pb::WithNote {
    pb::WithNote { note: text.to_owned() }
}

#[tokio::test]
async fn a_referral_goes_from_request_to_help() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, consent_id) = harness.family(&["mental_health"]).await?;
    let contact_person = harness.contact_person(&family.id).await?;
    let service = harness.service("mental_health", "Youth clinic").await?;
    let request = referral(&family, &service);
    let created = harness.referrals.create_referral(harness.call(request.clone())).await?.into_inner();
    let again = harness.referrals.create_referral(harness.call(request)).await?.into_inner();
    assert_eq!(again.referral_id, created.referral_id, "one request id, one referral");
    assert_eq!(created.consent_id, consent_id, "rests on the family's consent");
    let now = jiff::Timestamp::now().as_millisecond();
    let week = 7 * 24 * 3_600_000;
    assert!((created.deadline_ms - now - week).abs() < 2 * 3_600_000, "about a week for a normal referral");

    let id = created.referral_id.clone();
    assert_eq!(harness.step(&id, Step::Receive(pb::Empty {})).await?, "received");
    assert_eq!(broken_rule(harness.step(&id, Step::Start(pb::Empty {})).await), "ILLEGAL_TRANSITION");
    assert_eq!(harness.step(&id, Step::Accept(pb::Empty {})).await?, "accepted");
    assert_eq!(harness.step(&id, Step::Hold(note("summer break"))).await?, "on_hold");
    assert_eq!(harness.step(&id, Step::Resume(pb::Empty {})).await?, "accepted");
    assert_eq!(harness.step(&id, Step::Start(pb::Empty {})).await?, "in_progress");
    assert_eq!(harness.step(&id, Step::Complete(note("weekly sessions helped"))).await?, "completed");
    let status = expect_code(harness.step(&id, Step::Cancel(note("late"))).await, Code::FailedPrecondition);
    assert!(status.message().contains("completed"), "names the current state: {}", status.message());

    let got = harness.get(&id).await?;
    let referral = got.referral.expect("referral");
    assert_eq!((referral.state.as_str(), referral.sector.as_str()), ("completed", "mental_health"));
    assert_eq!(referral.reason, "Eero has panic attacks before school");
    assert_eq!(referral.contact_person_id, contact_person);
    assert!(referral.waiting_ms >= 0);
    assert_eq!(got.history.len(), 7);
    let actors: Vec<_> = got
        .history
        .iter()
        .map(|entry| entry.actor.as_ref().map(|a| a.person_id.as_str()).unwrap_or(""))
        .collect();
    assert_eq!(actors[0], "anna.contact", "the contact person sends it");
    assert!(
        actors[1..].iter().all(|actor| *actor == "sector.worker"),
        "the receiving sector takes its steps"
    );
    Ok(())
}

#[tokio::test]
async fn a_referral_needs_a_consent_or_a_statutory_basis() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, _) = harness.family(&["school"]).await?;
    let service = harness.service("child_protection", "Child protection investigation").await?;
    assert_eq!(broken_rule(harness.refer(&family, &service).await), "NO_CONSENT");
    let mut statutory = referral(&family, &service);
    statutory.urgency = "urgent".to_owned();
    statutory.statutory_basis = Some(pb::StatutoryBasis {
        basis: "child_protection_notification".into(),
        note: "notification 41/2026".into(),
    });
    let created = harness.referrals.create_referral(harness.call(statutory)).await?.into_inner();
    let got = harness.get(&created.referral_id).await?.referral.expect("referral");
    assert_eq!(
        (got.statutory_basis.as_str(), got.consent_id.as_str()),
        ("child_protection_notification", "")
    );

    let mut bad = referral(&family, &service);
    bad.urgency = "whenever".into();
    bad.needs = vec!["boredom".into()];
    bad.child_member_id = family.guardian.clone();
    assert_eq!(
        bad_fields(harness.referrals.create_referral(harness.call(bad)).await),
        ["needs[0]", "urgency"]
    );
    let mut guardian = referral(&family, &service);
    guardian.statutory_basis = Some(pb::StatutoryBasis { basis: "emergency".into(), note: "x".into() });
    guardian.child_member_id = family.guardian.clone();
    assert_eq!(
        bad_fields(harness.referrals.create_referral(harness.call(guardian)).await),
        ["child_member_id"]
    );
    let mut unknown = referral(&family, "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D");
    unknown.statutory_basis = Some(pb::StatutoryBasis { basis: "emergency".into(), note: "x".into() });
    expect_code(harness.referrals.create_referral(harness.call(unknown)).await, Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn a_repeated_referral_is_reported_and_a_redirect_keeps_history() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, _) = harness.family(&["mental_health", "family_counselling"]).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let counselling = harness.service("family_counselling", "Family counselling").await?;
    let first = harness.refer(&family, &clinic).await?;
    assert!(first.possible_duplicates.is_empty());
    let second = harness.refer(&family, &clinic).await?;
    assert_eq!(second.possible_duplicates, std::slice::from_ref(&first.referral_id));

    let redirect =
        Step::Redirect(pb::Redirect { service_id: counselling.clone(), note: "a better fit".into() });
    assert_eq!(harness.step(&second.referral_id, redirect).await?, "requested");
    let got = harness.get(&second.referral_id).await?;
    let referral = got.referral.expect("referral");
    assert_eq!(
        (referral.service_id.as_str(), referral.sector.as_str()),
        (counselling.as_str(), "family_counselling")
    );
    assert_eq!(got.history.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_sectors_inbox_pages_oldest_first() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, _) = harness.family(&["mental_health"]).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(harness.refer(&family, &clinic).await?.referral_id);
    }
    harness.step(&sent[4], Step::Receive(pb::Empty {})).await?;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListReferralsRequest {
            sector: "mental_health".into(),
            states: vec!["requested".into()],
            page_size: 2,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page =
            harness.referrals.list_referrals(harness.as_sector("mental_health", request)).await?.into_inner();
        assert!(page.referrals.len() <= 2);
        seen.extend(page.referrals.into_iter().map(|r| r.referral_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, sent[..4], "oldest first, the received one left out");
    let none = pb::ListReferralsRequest::default();
    let none = harness.as_sector("mental_health", none);
    assert_eq!(bad_fields(harness.referrals.list_referrals(none).await), ["sector"]);
    Ok(())
}

#[tokio::test]
async fn an_erased_familys_referrals_keep_their_facts_only() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, _) = harness.family(&["mental_health"]).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let created = harness.refer(&family, &clinic).await?;
    let erase = families::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        ..Default::default()
    };
    luukku_testkit::grpc::erase_family(&mut harness.families, &harness.actor, erase).await?;
    let referral = harness.get(&created.referral_id).await?.referral.expect("referral");
    assert_eq!((referral.state.as_str(), referral.reason.as_str()), ("requested", ""));
    let stream = harness.store.stream(luukku_eventstore::Stream::Referrals).await?;
    let last = stream.get_info().await?.state.last_sequence;
    for sequence in 1..=last {
        let message = stream.direct_get(sequence).await?;
        assert!(!message.payload.windows(5).any(|w| w == b"panic"), "message {sequence} holds the reason");
    }
    Ok(())
}

/// The reason a refusal names in its `ErrorInfo`.
fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

#[tokio::test]
async fn steps_belong_to_the_receiving_sector_and_cancelling_to_the_sender() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family, _) = harness.family(&["mental_health", "school"]).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let created = harness.refer(&family, &clinic).await?;
    let step = |step: Step| pb::UpdateReferralRequest {
        request_id: request_id(),
        referral_id: created.referral_id.clone(),
        expected_version: None,
        step: Some(step),
    };

    // The school sees the family by consent, but the referral's steps are not its own.
    let by_school = harness.as_sector("school", step(Step::Receive(pb::Empty {})));
    let status = expect_code(harness.referrals.update_referral(by_school).await, Code::PermissionDenied);
    assert_eq!(reason(&status), "NOT_THE_RECEIVING_SECTOR");
    let cancel_by_school = harness.as_sector("school", step(Step::Cancel(note("not needed"))));
    let status =
        expect_code(harness.referrals.update_referral(cancel_by_school).await, Code::PermissionDenied);
    assert_eq!(reason(&status), "NOT_THE_SENDER");
    // Nor is the contact person's, who sent it.
    let by_sender = harness.call(step(Step::Accept(pb::Empty {})));
    let status = expect_code(harness.referrals.update_referral(by_sender).await, Code::PermissionDenied);
    assert_eq!(reason(&status), "NOT_THE_RECEIVING_SECTOR");
    // A sector with no relationship to the family is told there is no such referral.
    let stranger = luukku_testkit::professional("ope", luukku_domain::Sector::EarlyEducation);
    let by_stranger = harness.call_as(&stranger, step(Step::Receive(pb::Empty {})));
    let status = expect_code(harness.referrals.update_referral(by_stranger).await, Code::NotFound);
    assert_eq!(reason(&status), "REFERRAL_NOT_FOUND");

    let received = harness
        .referrals
        .update_referral(harness.as_sector("mental_health", step(Step::Receive(pb::Empty {}))));
    assert_eq!(received.await?.into_inner().state, "received");
    let cancelled = harness.referrals.update_referral(harness.call(step(Step::Cancel(note("moved away")))));
    assert_eq!(cancelled.await?.into_inner().state, "cancelled", "the sender cancels");
    Ok(())
}

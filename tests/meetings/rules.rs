//! Refusals, and one open meeting per family and purpose under concurrency.

use luukku_proto::meetings::v1 as pb;
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn sixteen_simultaneous_proposals_make_one_meeting() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.family().await?;
    let calls = (0..16).map(|_| {
        let mut client = harness.meetings.clone();
        let request = harness.call(proposal(&family, "support_planning"));
        async move { client.propose_meeting(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let winners: Vec<_> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            assert!(
                status.message().contains(&winners[0].get_ref().meeting_id),
                "names the open one: {status:?}"
            );
        }
    }
    assert_eq!(harness.messages().await?, 1);
    Ok(())
}

#[tokio::test]
async fn bad_proposals_are_refused_field_by_field() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.family().await?;
    let mut request = proposal(&family, "gossip");
    request.slots = vec![slot(-2)];
    request.participants.push(pb::Participant { who: None });
    request.participants.push(sector("police"));
    assert_eq!(
        bad_fields(harness.meetings.propose_meeting(harness.call(request)).await),
        ["purpose", "participants[4]", "participants[5].sector"]
    );
    let mut past = proposal(&family, "crisis");
    past.slots = vec![slot(-2)];
    assert_eq!(
        bad_fields(harness.meetings.propose_meeting(harness.call(past)).await),
        ["slots[0].starts_at_ms"]
    );
    let mut stranger = proposal(&family, "crisis");
    stranger.participants = vec![member("01KAQ8S0V3M7Y9ZQ0W2X4B6C8D")];
    assert_eq!(
        bad_fields(harness.meetings.propose_meeting(harness.call(stranger)).await),
        ["participants[0]"]
    );
    let mut unknown_family = proposal(&family, "crisis");
    unknown_family.family_id = "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned();
    unknown_family.participants = vec![person("teacher.1")];
    expect_code(harness.meetings.propose_meeting(harness.call(unknown_family)).await, Code::NotFound);
    assert_eq!(harness.messages().await?, 0);
    Ok(())
}

#[tokio::test]
async fn status_rules_are_named() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.family().await?;
    let meeting_id = harness
        .meetings
        .propose_meeting(harness.call(proposal(&family, "crisis")))
        .await?
        .into_inner()
        .meeting_id;
    let hold = pb::HoldMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        meeting_id: meeting_id.clone(),
        summary: "met".to_owned(),
        child_views: vec![pb::ChildView { member_id: family.guardian.clone(), view: "fine".to_owned() }],
        ..Default::default()
    };
    assert_eq!(
        bad_fields(harness.meetings.hold_meeting(harness.call(hold.clone())).await),
        ["child_views[0].member_id"]
    );
    let hold = pb::HoldMeetingRequest { child_views: vec![], ..hold };
    assert_eq!(broken_rule(harness.meetings.hold_meeting(harness.call(hold)).await), "MEETING_STATUS");

    let answer = pb::AnswerInvitationRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        meeting_id: meeting_id.clone(),
        participant: Some(sector("child_protection")),
        answers: vec![pb::SlotAnswer { slot: 0, answer: pb::Answer::Accept as i32 }],
        ..Default::default()
    };
    assert_eq!(broken_rule(harness.meetings.answer_invitation(harness.call(answer)).await), "NOT_INVITED");

    let unknown = pb::GetMeetingRequest { meeting_id: "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned() };
    expect_code(harness.meetings.get_meeting(harness.call(unknown.clone())).await, Code::NotFound);
    expect_code(harness.meetings.get_meeting(unknown).await, Code::Unauthenticated);

    let stale = pb::CancelMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        expected_version: Some(1),
        meeting_id,
        reason: "x".to_owned(),
    };
    let schedule = pb::ScheduleMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        expected_version: None,
        meeting_id: stale.meeting_id.clone(),
        slot: 0,
    };
    harness.meetings.schedule_meeting(harness.call(schedule)).await?;
    expect_code(harness.meetings.cancel_meeting(harness.call(stale)).await, Code::Aborted);
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated_and_the_server_keeps_serving() -> anyhow::Result<()>
{
    use luukku_testkit::auth::{refuses_every_bad_token, with_bad_token};
    let harness = Harness::start().await?;
    let client = harness.meetings.clone();
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::ProposeMeetingRequest::default(), bad);
        async move { client.propose_meeting(request).await }
    })
    .await?;
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::ListOpenActionsRequest::default(), bad);
        async move { client.list_open_actions(request).await }
    })
    .await?;
    let mut client = client.clone();
    let request = pb::ListOpenActionsRequest {
        person_id: String::new(),
        sector: "student_welfare".into(),
        ..Default::default()
    };
    client.list_open_actions(harness.call_as(&school_welfare(), request)).await?;
    Ok(())
}

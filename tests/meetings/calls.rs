//! A meeting from proposal to done actions, and the queries across families.

use luukku_proto::meetings::v1 as pb;

use crate::support::*;

#[tokio::test]
async fn a_meeting_from_proposal_to_agreed_actions() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.family().await?;
    let request = proposal(&family, "school_support");
    let proposed = harness.meetings.propose_meeting(harness.call(request.clone())).await?.into_inner();
    let again = harness.meetings.propose_meeting(harness.call(request)).await?.into_inner();
    assert_eq!(again.meeting_id, proposed.meeting_id, "one request id, one meeting");
    assert_eq!(harness.messages().await?, 1);
    let meeting_id = proposed.meeting_id.clone();
    let change = |request_id: String| (request_id, family.id.clone(), meeting_id.clone());

    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let answer = pb::AnswerInvitationRequest {
        request_id,
        family_id,
        expected_version: None,
        meeting_id,
        participant: Some(person("teacher.1")),
        answers: vec![
            pb::SlotAnswer { slot: 0, answer: pb::Answer::Decline as i32 },
            pb::SlotAnswer { slot: 1, answer: pb::Answer::Accept as i32 },
        ],
    };
    harness.meetings.answer_invitation(harness.call(answer)).await?;
    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let schedule =
        pb::ScheduleMeetingRequest { request_id, family_id, expected_version: None, meeting_id, slot: 1 };
    harness.meetings.schedule_meeting(harness.call(schedule)).await?;
    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let nurse = pb::ParticipantRequest {
        request_id,
        family_id,
        expected_version: None,
        meeting_id,
        participant: Some(sector("child_health_clinic")),
    };
    harness.meetings.add_participant(harness.call(nurse)).await?;

    let meeting = harness.meeting(&proposed.meeting_id).await?;
    assert_eq!(meeting.status(), pb::MeetingStatus::Scheduled);
    assert_eq!(
        meeting.scheduled.as_ref().map(|s| s.starts_at_ms),
        meeting.proposed_slots.get(1).map(|s| s.starts_at_ms)
    );
    assert_eq!(meeting.invitations.len(), 5);
    assert_eq!(
        (meeting.place.as_str(), meeting.description.as_str()),
        ("Kallio school, room 12", "Eero's school absences")
    );

    let upcoming = harness
        .meetings
        .list_upcoming_meetings(harness.call_as(
            &teacher(),
            pb::ListUpcomingMeetingsRequest {
                person_id: "teacher.1".into(),
                sector: String::new(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(
        upcoming.meetings.iter().map(|m| m.meeting_id.as_str()).collect::<Vec<_>>(),
        [proposed.meeting_id.as_str()]
    );

    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let hold = pb::HoldMeetingRequest {
        request_id,
        family_id,
        expected_version: None,
        meeting_id,
        held_at_ms: 0,
        attended: vec![member(&family.guardian), member(&family.child), person("teacher.1")],
        summary: "A morning routine and a talk with the school nurse".to_owned(),
        child_views: vec![pb::ChildView {
            member_id: family.child.clone(),
            view: "Mornings are too early".to_owned(),
        }],
        actions: vec![
            pb::NewAction {
                action_id: String::new(),
                what: "Book the school nurse".into(),
                owner: Some(sector("student_welfare")),
                due: in_days(7),
            },
            pb::NewAction {
                action_id: String::new(),
                what: "Try the routine".into(),
                owner: Some(member(&family.guardian)),
                due: in_days(14),
            },
        ],
    };
    let held = harness.meetings.hold_meeting(harness.call(hold)).await?.into_inner();
    assert_eq!(held.action_ids.len(), 2);

    let meeting = harness.meeting(&proposed.meeting_id).await?;
    assert_eq!(meeting.status(), pb::MeetingStatus::Held);
    assert_eq!(meeting.child_views[0].view, "Mornings are too early");
    assert_eq!(meeting.attended.len(), 3);

    let open = |harness: &Harness| {
        harness.call_as(
            &school_welfare(),
            pb::ListOpenActionsRequest {
                person_id: String::new(),
                sector: "student_welfare".into(),
                ..Default::default()
            },
        )
    };
    let actions = harness.meetings.list_open_actions(open(&harness)).await?.into_inner().actions;
    assert_eq!(actions.len(), 1);
    assert_eq!((actions[0].what.as_str(), actions[0].overdue), ("Book the school nurse", false));

    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let reassign = pb::ReassignActionRequest {
        request_id,
        family_id,
        expected_version: None,
        meeting_id,
        action_id: held.action_ids[1].clone(),
        owner: Some(sector("student_welfare")),
    };
    harness.meetings.reassign_action(harness.call(reassign)).await?;
    let (request_id, family_id, meeting_id) = change(crate::support::request_id());
    let done = pb::CompleteActionRequest {
        request_id,
        family_id,
        expected_version: None,
        meeting_id,
        action_id: actions[0].action_id.clone(),
        note: "booked for Monday".to_owned(),
    };
    harness.meetings.complete_action(harness.call(done)).await?;
    let actions = harness.meetings.list_open_actions(open(&harness)).await?.into_inner().actions;
    assert_eq!(actions.iter().map(|a| a.what.as_str()).collect::<Vec<_>>(), ["Try the routine"]);

    let listed = harness
        .meetings
        .list_family_meetings(
            harness
                .call(pb::ListFamilyMeetingsRequest { family_id: family.id.clone(), ..Default::default() }),
        )
        .await?
        .into_inner();
    assert_eq!(listed.meetings.len(), 1);
    Ok(())
}

#[tokio::test]
async fn reschedule_and_cancel() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.family().await?;
    let meeting_id = harness
        .meetings
        .propose_meeting(harness.call(proposal(&family, "transition")))
        .await?
        .into_inner()
        .meeting_id;
    harness.schedule_first_slot(&family.id, &meeting_id).await?;
    let reschedule = pb::RescheduleMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        expected_version: None,
        meeting_id: meeting_id.clone(),
        slot: Some(slot(200)),
        reason: "the teacher is ill".to_owned(),
    };
    harness.meetings.reschedule_meeting(harness.call(reschedule)).await?;
    let meeting = harness.meeting(&meeting_id).await?;
    assert_eq!(
        meeting.scheduled.map(|s| s.starts_at_ms / 3_600_000),
        Some(slot(200).starts_at_ms / 3_600_000)
    );

    let cancel = pb::CancelMeetingRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        expected_version: None,
        meeting_id: meeting_id.clone(),
        reason: "the family moved".to_owned(),
    };
    harness.meetings.cancel_meeting(harness.call(cancel)).await?;
    assert_eq!(harness.meeting(&meeting_id).await?.status(), pb::MeetingStatus::Cancelled);
    let upcoming = harness
        .meetings
        .list_upcoming_meetings(harness.call_as(
            &teacher(),
            pb::ListUpcomingMeetingsRequest {
                person_id: "teacher.1".into(),
                sector: String::new(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert!(upcoming.meetings.is_empty());
    Ok(())
}

#[tokio::test]
async fn upcoming_meetings_page_by_a_cursor_that_a_cancelled_meeting_does_not_shift() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let mut scheduled = Vec::new();
    for hours in [48, 72, 96] {
        let family = harness.family().await?;
        let mut request = proposal(&family, "school_support");
        request.slots = vec![slot(hours)];
        let meeting_id =
            harness.meetings.propose_meeting(harness.call(request)).await?.into_inner().meeting_id;
        harness.schedule_first_slot(&family.id, &meeting_id).await?;
        scheduled.push((family.id, meeting_id));
    }
    let page = |harness: &Harness, token: String| {
        harness.call_as(
            &teacher(),
            pb::ListUpcomingMeetingsRequest {
                person_id: "teacher.1".into(),
                page_size: 1,
                page_token: token,
                ..Default::default()
            },
        )
    };
    let first = harness.meetings.list_upcoming_meetings(page(&harness, String::new())).await?.into_inner();
    assert_eq!(
        first.meetings.iter().map(|m| m.meeting_id.clone()).collect::<Vec<_>>(),
        [scheduled[0].1.clone()]
    );
    assert!(!first.next_page_token.is_empty());

    // The next one is cancelled between the pages: the cursor does not skip the one after it.
    let cancel = pb::CancelMeetingRequest {
        request_id: request_id(),
        family_id: scheduled[1].0.clone(),
        expected_version: None,
        meeting_id: scheduled[1].1.clone(),
        reason: "the teacher is ill".into(),
    };
    harness.meetings.cancel_meeting(harness.call(cancel)).await?;
    let second =
        harness.meetings.list_upcoming_meetings(page(&harness, first.next_page_token)).await?.into_inner();
    assert_eq!(
        second.meetings.iter().map(|m| m.meeting_id.clone()).collect::<Vec<_>>(),
        [scheduled[2].1.clone()]
    );
    assert!(second.next_page_token.is_empty(), "the last page");

    let bad = harness.meetings.list_upcoming_meetings(page(&harness, "not-a-token".into())).await;
    assert_eq!(bad_fields(bad), vec!["page_token".to_owned()]);
    Ok(())
}

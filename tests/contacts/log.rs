//! The contact log: contacts, follow-ups, and what erasure leaves of them.

use luukku_proto::contacts::v1 as pb;
use luukku_proto::families::v1 as families;
use tonic::Code;

use crate::support::*;

/// A date `days` from today.
fn in_days(days: i64) -> String {
    let today = luukku_app::context_now().today;
    today.checked_add(jiff::Span::new().days(days)).expect("date in range").to_string()
}

fn contact(family_id: &str, member_id: &str, follow_up: &str) -> pb::RecordContactRequest {
    pb::RecordContactRequest {
        request_id: request_id(),
        family_id: family_id.to_owned(),
        direction: pb::Direction::Inbound as i32,
        member_id: member_id.to_owned(),
        channel: "phone".to_owned(),
        needs: vec!["parenting".to_owned(), "learning".to_owned()],
        summary: "Maria called about Eero's school absences".to_owned(),
        guidance: vec!["student_welfare".to_owned()],
        follow_up: follow_up.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn contacts_and_follow_ups_are_logged() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, members) = harness.family().await?;
    let anna = harness.person("anna.contact", 10).await?;
    harness.assign(&family_id, &anna, "").await?;

    let record = contact(&family_id, &members[0], &in_days(2));
    let recorded = harness
        .contacts
        .record_contact(harness.call_as(&contact_actor("anna.contact"), record.clone()))
        .await?
        .into_inner();
    let retried = harness
        .contacts
        .record_contact(harness.call_as(&contact_actor("anna.contact"), record))
        .await?
        .into_inner();
    assert_eq!(retried.contact_id, recorded.contact_id);
    let professional = pb::RecordContactRequest {
        member_id: String::new(),
        professional_sector: "school".to_owned(),
        follow_up: String::new(),
        ..contact(&family_id, "", "")
    };
    harness.contacts.record_contact(harness.call_as(&contact_actor("anna.contact"), professional)).await?;

    let listed = harness
        .contacts
        .list_family_contacts(harness.call_as(
            &contact_actor("anna.contact"),
            pb::ListFamilyContactsRequest { family_id: family_id.clone(), ..Default::default() },
        ))
        .await?
        .into_inner();
    assert_eq!(listed.contacts.len(), 2);
    assert!(listed.contacts.iter().all(|c| c.summary == "Maria called about Eero's school absences"));

    let due = |by: &str| pb::ListFollowUpsDueRequest {
        contact_person_id: anna.clone(),
        due_by: by.to_owned(),
        ..Default::default()
    };
    let none = harness
        .contacts
        .list_follow_ups_due(harness.call_as(&contact_actor("anna.contact"), due(&in_days(1))))
        .await?
        .into_inner();
    assert!(none.follow_ups.is_empty());
    let some = harness
        .contacts
        .list_follow_ups_due(harness.call_as(&contact_actor("anna.contact"), due(&in_days(7))))
        .await?
        .into_inner();
    assert_eq!(some.follow_ups.len(), 1);
    assert_eq!(some.follow_ups[0].contact_id, recorded.contact_id);

    let complete = pb::CompleteFollowUpRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        contact_id: recorded.contact_id.clone(),
        note: "called back".to_owned(),
        ..Default::default()
    };
    harness
        .contacts
        .complete_follow_up(harness.call_as(&contact_actor("anna.contact"), complete.clone()))
        .await?;
    let again = pb::CompleteFollowUpRequest { request_id: request_id(), ..complete };
    assert_eq!(
        broken_rule(
            harness.contacts.complete_follow_up(harness.call_as(&contact_actor("anna.contact"), again)).await
        ),
        "FOLLOW_UP_DONE"
    );
    let none = harness
        .contacts
        .list_follow_ups_due(harness.call_as(&contact_actor("anna.contact"), due(&in_days(7))))
        .await?
        .into_inner();
    assert!(none.follow_ups.is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_contacts_are_refused_field_by_field() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, members) = harness.family().await?;
    let mut bad = contact(&family_id, &members[0], "23.11.2026");
    bad.channel = "pigeon".to_owned();
    bad.needs.push("boredom".to_owned());
    bad.direction = 0;
    assert_eq!(
        bad_fields(harness.contacts.record_contact(harness.call(bad)).await),
        ["direction", "channel", "needs[2]", "follow_up"]
    );
    let empty = pb::RecordContactRequest { summary: " ".to_owned(), ..contact(&family_id, &members[0], "") };
    assert_eq!(bad_fields(harness.contacts.record_contact(harness.call(empty)).await), ["summary"]);
    let stranger = contact(&family_id, "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D", "");
    expect_code(harness.contacts.record_contact(harness.call(stranger)).await, Code::NotFound);
    assert_eq!(harness.messages("contacts.log.>").await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_erased_familys_contacts_cannot_be_read() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, members) = harness.family().await?;
    harness.contacts.record_contact(harness.call(contact(&family_id, &members[0], ""))).await?;
    let list = pb::ListFamilyContactsRequest { family_id: family_id.clone(), ..Default::default() };
    let before = harness.contacts.list_family_contacts(harness.call(list.clone())).await?.into_inner();
    assert!(!before.contacts[0].summary.is_empty());

    let erase = families::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    luukku_testkit::grpc::erase_family(&mut harness.families, &harness.actor, erase).await?;
    let after = harness.contacts.list_family_contacts(harness.call(list)).await?.into_inner();
    assert_eq!(after.contacts.len(), 1, "the fact of the contact remains");
    assert!(after.contacts[0].summary.is_empty());
    assert_eq!(after.contacts[0].needs, ["parenting", "learning"]);
    let more = contact(&family_id, &members[0], "");
    assert_eq!(broken_rule(harness.contacts.record_contact(harness.call(more)).await), "FAMILY_ERASED");

    // The stored bytes never held the summary.
    let stream = harness.store.stream(luukku_eventstore::Stream::Contacts).await?;
    let message = stream.direct_get(1).await?;
    assert!(!message.payload.windows(5).any(|window| window == b"Maria"));
    Ok(())
}

#[tokio::test]
async fn a_familys_contacts_page_by_a_cursor_that_a_new_contact_does_not_shift() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, members) = harness.family().await?;
    let anna = harness.person("anna.contact", 10).await?;
    harness.assign(&family_id, &anna, "").await?;
    let anna_actor = contact_actor("anna.contact");
    let hour = 3_600_000;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut recorded = Vec::new();
    for hours_ago in [3, 2, 1] {
        let record = pb::RecordContactRequest {
            occurred_at_ms: now - hours_ago * hour,
            ..contact(&family_id, &members[0], "")
        };
        recorded.push(
            harness
                .contacts
                .record_contact(harness.call_as(&anna_actor, record))
                .await?
                .into_inner()
                .contact_id,
        );
    }
    let list = |token: String| pb::ListFamilyContactsRequest {
        family_id: family_id.clone(),
        page_size: 2,
        page_token: token,
    };
    let first = harness
        .contacts
        .list_family_contacts(harness.call_as(&anna_actor, list(String::new())))
        .await?
        .into_inner();
    let ids = |page: &pb::ListFamilyContactsResponse| {
        page.contacts.iter().map(|c| c.contact_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), [recorded[2].clone(), recorded[1].clone()], "newest first");

    // A contact logged between the pages is newer than the cursor: the next page is unchanged.
    harness
        .contacts
        .record_contact(harness.call_as(&anna_actor, contact(&family_id, &members[0], "")))
        .await?;
    let second = harness
        .contacts
        .list_family_contacts(harness.call_as(&anna_actor, list(first.next_page_token)))
        .await?
        .into_inner();
    assert_eq!(ids(&second), [recorded[0].clone()]);
    assert!(second.next_page_token.is_empty());
    Ok(())
}

//! One contact person per family: assignment, handovers, caseload limits and transfer.

use luukku_proto::contacts::v1 as pb;
use luukku_proto::families::v1 as families;
use tonic::Code;

use crate::support::*;

fn decision(family_id: &str, handover_id: &str, reason: &str) -> pb::HandoverDecisionRequest {
    pb::HandoverDecisionRequest {
        request_id: request_id(),
        family_id: family_id.to_owned(),
        expected_version: None,
        handover_id: handover_id.to_owned(),
        reason: reason.to_owned(),
    }
}

#[tokio::test]
async fn a_handover_completes_only_when_the_new_person_accepts() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let anna = harness.person("anna.contact", 10).await?;
    let ben = harness.person("ben.contact", 10).await?;

    let assigned = harness.assign(&family_id, &anna, "").await?;
    assert!(assigned.assigned && assigned.handover_id.is_empty());
    assert_eq!(harness.assignment(&family_id).await?.contact_person_id, anna);
    assert_eq!(harness.caseload(&anna).await?, std::slice::from_ref(&family_id));
    // Which families Anna coordinates is for her and her supervisor, not for another contact
    // person, nor for Ben looking her up by her user id.
    let by_id = pb::GetContactPersonRequest { contact_person_id: anna.clone(), ..Default::default() };
    let seen = harness.contacts.get_contact_person(harness.call(by_id)).await?.into_inner();
    assert!(
        seen.contact_person.is_some_and(|person| person.caseload.is_empty() && person.reserved.is_empty())
    );
    let by_person =
        pb::GetContactPersonRequest { person_id: "anna.contact".to_owned(), ..Default::default() };
    let ben_actor = contact_actor("ben.contact");
    let seen = harness.contacts.get_contact_person(harness.call_as(&ben_actor, by_person.clone())).await?;
    assert!(seen.into_inner().contact_person.is_some_and(|person| person.caseload.is_empty()));
    let anna_actor = contact_actor("anna.contact");
    let own = harness.contacts.get_contact_person(harness.call_as(&anna_actor, by_person)).await?;
    assert_eq!(own.into_inner().contact_person.map(|person| person.caseload), Some(vec![family_id.clone()]));

    assert_eq!(broken_rule(harness.assign(&family_id, &anna, "").await), "ALREADY_ASSIGNED");
    assert_eq!(broken_rule(harness.assign(&family_id, &ben, "").await), "HANDOVER_NEEDS_REASON");
    let proposed = harness.assign(&family_id, &ben, "Anna moves to the north team").await?;
    assert!(!proposed.assigned);
    let assignment = harness.assignment(&family_id).await?;
    assert_eq!(assignment.contact_person_id, anna, "Anna stays responsible until Ben accepts");
    let pending = assignment.pending_handover.expect("pending handover");
    assert_eq!(
        (pending.to_contact_person_id.as_str(), pending.reason.as_str()),
        (ben.as_str(), "Anna moves to the north team")
    );
    assert_eq!(broken_rule(harness.assign(&family_id, &ben, "again").await), "HANDOVER_PENDING");
    // Ben finds the family offered to him; Anna does not see what is offered to him.
    assert_eq!(
        offered_to(&mut harness, "ben.contact", "ben.contact", 1).await?,
        std::slice::from_ref(&family_id)
    );
    assert_eq!(offered_to(&mut harness, "anna.contact", "ben.contact", 0).await?, Vec::<String>::new());

    // Only Ben (or an operator) accepts.
    let by_anna =
        harness.call_as(&contact_actor("anna.contact"), decision(&family_id, &proposed.handover_id, ""));
    expect_code(harness.contacts.accept_handover(by_anna).await, Code::PermissionDenied);
    let accept = decision(&family_id, &proposed.handover_id, "");
    let by_ben = harness.call_as(&contact_actor("ben.contact"), accept.clone());
    harness.contacts.accept_handover(by_ben).await?;
    let retried =
        harness.contacts.accept_handover(harness.call_as(&contact_actor("ben.contact"), accept)).await?;
    assert!(retried.into_inner().result.is_some_and(|result| result.replayed));

    let assignment = harness.assignment(&family_id).await?;
    assert_eq!(assignment.contact_person_id, ben);
    assert!(assignment.pending_handover.is_none());
    let summaries: Vec<_> =
        assignment.history.iter().map(|entry| entry.events[0].event_type.clone()).collect();
    assert_eq!(summaries, ["ContactPersonAssigned", "HandoverProposed", "HandoverAccepted"]);
    assert_eq!(harness.caseload(&ben).await?, std::slice::from_ref(&family_id));
    assert!(harness.caseload(&anna).await?.is_empty());
    // Accepted, it is offered no longer.
    assert_eq!(offered_to(&mut harness, "ben.contact", "ben.contact", 0).await?, Vec::<String>::new());
    Ok(())
}

/// The families offered to the contact person `person` signs in as, as `caller` sees them,
/// once there are `expected` of them (the relationships model follows the streams; 5 s at most).
async fn offered_to(
    harness: &mut Harness,
    caller: &str,
    person: &str,
    expected: usize,
) -> anyhow::Result<Vec<String>> {
    let request = pb::GetContactPersonRequest { person_id: person.to_owned(), ..Default::default() };
    let mut offered = Vec::new();
    for _ in 0..50 {
        let answer = harness
            .contacts
            .get_contact_person(harness.call_as(&contact_actor(caller), request.clone()))
            .await?;
        offered = answer.into_inner().contact_person.map(|person| person.offered).unwrap_or_default();
        if offered.len() == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(offered)
}

#[tokio::test]
async fn declined_or_withdrawn_handovers_change_nothing() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let anna = harness.person("anna.contact", 10).await?;
    let ben = harness.person("ben.contact", 10).await?;
    harness.assign(&family_id, &anna, "").await?;

    let proposed = harness.assign(&family_id, &ben, "team change").await?;
    let decline = harness
        .call_as(&contact_actor("ben.contact"), decision(&family_id, &proposed.handover_id, "full week"));
    harness.contacts.decline_handover(decline).await?;
    let proposed = harness.assign(&family_id, &ben, "team change").await?;
    harness
        .contacts
        .withdraw_handover(harness.as_supervisor(decision(&family_id, &proposed.handover_id, "")))
        .await?;
    let unknown = decision(&family_id, &proposed.handover_id, "");
    assert_eq!(
        broken_rule(harness.contacts.withdraw_handover(harness.as_supervisor(unknown)).await),
        "NO_SUCH_HANDOVER"
    );

    let assignment = harness.assignment(&family_id).await?;
    assert_eq!(assignment.contact_person_id, anna);
    assert!(assignment.pending_handover.is_none());
    assert_eq!(assignment.history.len(), 5, "the whole history stays");
    assert_eq!(harness.caseload(&anna).await?, [family_id]);
    assert!(harness.caseload(&ben).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn assignments_that_break_a_rule_are_refused() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let (other_family, _) = harness.family().await?;
    let anna = harness.person("anna.contact", 1).await?;
    let unknown = "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D";

    expect_code(harness.assign(unknown, &anna, "").await, Code::NotFound);
    expect_code(harness.assign(&family_id, unknown, "").await, Code::NotFound);
    harness.assign(&family_id, &anna, "").await?;
    assert_eq!(broken_rule(harness.assign(&other_family, &anna, "").await), "CASELOAD_FULL");
    assert!(harness.assignment(&other_family).await?.contact_person_id.is_empty());
    assert_eq!(harness.caseload(&anna).await?, std::slice::from_ref(&family_id));

    let deactivate = pb::DeactivateContactPersonRequest {
        request_id: request_id(),
        contact_person_id: anna.clone(),
        reason: "leaves".to_owned(),
        ..Default::default()
    };
    assert_eq!(
        broken_rule(harness.contacts.deactivate_contact_person(harness.as_supervisor(deactivate)).await),
        "HAS_CASELOAD"
    );

    let ben = harness.person("ben.contact", 5).await?;
    let deactivate_ben = pb::DeactivateContactPersonRequest {
        request_id: request_id(),
        contact_person_id: ben.clone(),
        reason: "leaves".to_owned(),
        ..Default::default()
    };
    harness.contacts.deactivate_contact_person(harness.as_supervisor(deactivate_ben)).await?;
    assert_eq!(broken_rule(harness.assign(&other_family, &ben, "").await), "CONTACT_PERSON_INACTIVE");

    let close = families::CloseFamilyRequest {
        request_id: request_id(),
        family_id: other_family.clone(),
        reason: families::CloseReason::MovedAway as i32,
        ..Default::default()
    };
    harness.families.close_family(harness.call(close)).await?;
    let carl = harness.person("carl.contact", 5).await?;
    assert_eq!(broken_rule(harness.assign(&other_family, &carl, "").await), "FAMILY_CLOSED");
    assert!(harness.caseload(&carl).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn thirty_two_simultaneous_assignments_have_one_winner() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let mut persons = Vec::new();
    for index in 0..32 {
        persons.push(harness.person(&format!("contact.{index}"), 10).await?);
    }
    let calls = persons.iter().map(|person| {
        let mut client = harness.contacts.clone();
        let request = harness.as_supervisor(pb::AssignContactPersonRequest {
            request_id: request_id(),
            family_id: family_id.clone(),
            expected_version: None,
            contact_person_id: person.clone(),
            reason: String::new(),
        });
        async move { client.assign_contact_person(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let winners: Vec<_> = results.iter().filter(|result| result.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        }
    }
    let winner = harness.assignment(&family_id).await?.contact_person_id;
    assert_eq!(harness.messages(&format!("contacts.assignment.{family_id}")).await?, 1);
    let mut holding = Vec::new();
    for person in &persons {
        if harness.caseload(person).await?.contains(&family_id) {
            holding.push(person.clone());
        }
    }
    assert_eq!(holding, [winner], "only the winner keeps the family in its caseload");
    Ok(())
}

#[tokio::test]
async fn a_leaving_persons_caseload_is_handed_over_by_rule() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let leaving = harness.person("leaving.contact", 100).await?;
    let receivers = [harness.person("r1.contact", 100).await?, harness.person("r2.contact", 100).await?];
    let mut family_ids = Vec::new();
    for _ in 0..12 {
        let (family_id, _) = harness.family().await?;
        harness.assign(&family_id, &leaving, "").await?;
        family_ids.push(family_id);
    }
    let transfer = pb::TransferCaseloadRequest {
        request_id: request_id(),
        from_contact_person_id: leaving.clone(),
        to_contact_person_ids: receivers.to_vec(),
        rule: pb::SpreadRule::RoundRobin as i32,
        reason: "retirement".to_owned(),
    };
    let response =
        harness.contacts.transfer_caseload(harness.as_supervisor(transfer.clone())).await?.into_inner();
    assert_eq!(response.proposed.len(), 12, "{:?}", response.skipped);
    let to_first = response.proposed.iter().filter(|p| p.to_contact_person_id == receivers[0]).count();
    assert_eq!(to_first, 6);
    let again = harness.contacts.transfer_caseload(harness.as_supervisor(transfer)).await?.into_inner();
    let handovers = |r: &pb::TransferCaseloadResponse| {
        let mut ids: Vec<_> = r
            .proposed
            .iter()
            .map(|p| (p.family_id.clone(), p.handover_id.clone(), p.to_contact_person_id.clone()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(handovers(&again), handovers(&response), "a retry answers as the first time, receivers too");
    assert_eq!(harness.messages("contacts.assignment.>").await?, 24);

    let first = &response.proposed[0];
    let pending = harness.assignment(&first.family_id).await?.pending_handover.expect("pending");
    assert_eq!(pending.reason, "retirement");
    let receiver_actor =
        contact_actor(if first.to_contact_person_id == receivers[0] { "r1.contact" } else { "r2.contact" });
    let accept = decision(&first.family_id, &first.handover_id, "");
    let accepted = harness.contacts.accept_handover(harness.call_as(&receiver_actor, accept.clone())).await?;
    assert_eq!(harness.caseload(&leaving).await?.len(), 11);
    let retried = harness.contacts.accept_handover(harness.call_as(&receiver_actor, accept)).await?;
    let (accepted, retried) = (accepted.into_inner().result, retried.into_inner().result);
    assert_eq!(
        retried.as_ref().map(|r| (r.version, &r.position)),
        accepted.as_ref().map(|r| (r.version, &r.position))
    );
    assert!(retried.is_some_and(|r| r.replayed), "a retried acceptance replays the first answer");
    assert_eq!(harness.caseload(&leaving).await?.len(), 11);
    assert_eq!(harness.caseload(&first.to_contact_person_id).await?, std::slice::from_ref(&first.family_id));

    let bad = pb::TransferCaseloadRequest {
        request_id: request_id(),
        from_contact_person_id: leaving.clone(),
        to_contact_person_ids: vec![leaving],
        rule: 0,
        reason: String::new(),
    };
    assert_eq!(
        bad_fields(harness.contacts.transfer_caseload(harness.as_supervisor(bad)).await),
        ["to_contact_person_ids", "rule", "reason"]
    );
    Ok(())
}

//! Caseloads stay true to the assignments: under simultaneous and repeated requests, after a
//! request that stopped between its writes, and when an assignment ends.

use std::time::Duration;

use luukku_domain::contacts::{
    CaseloadChange, ContactPerson, ContactPersonEvent, PlaceReserved, ReservationId,
};
use luukku_domain::{Aggregate, AggregateId, RequestId, Timestamp};
use luukku_eventstore::{AggregateRef, Expected, Stream};
use luukku_proto::contacts::v1 as pb;
use luukku_proto::families::v1 as families;
use tonic::Code;

use crate::support::*;

/// A caseload process that looks every 100 ms and repairs what has stood for 300 ms.
fn quick() -> luukku_contacts::Config {
    luukku_contacts::Config {
        reservation_time: Duration::from_secs(10),
        tick: Duration::from_millis(100),
        grace: Duration::from_millis(300),
    }
}

fn assign_request(family_id: &str, person: &str) -> pb::AssignContactPersonRequest {
    pb::AssignContactPersonRequest {
        request_id: request_id(),
        family_id: family_id.to_owned(),
        expected_version: None,
        contact_person_id: person.to_owned(),
        reason: String::new(),
    }
}

fn end_request(family_id: &str, reason: pb::EndReason, note: &str) -> pb::EndAssignmentRequest {
    pb::EndAssignmentRequest {
        request_id: request_id(),
        family_id: family_id.to_owned(),
        expected_version: None,
        reason: reason as i32,
        note: note.to_owned(),
    }
}

impl Harness {
    async fn person_record(&mut self, person: &str) -> anyhow::Result<pb::ContactPerson> {
        let request =
            pb::GetContactPersonRequest { contact_person_id: person.to_owned(), ..Default::default() };
        let response = self.contacts.get_contact_person(self.as_supervisor(request)).await?.into_inner();
        response.contact_person.ok_or_else(|| anyhow::anyhow!("no contact person in the answer"))
    }

    /// Records `events` on a contact person straight in the stream, as a request that
    /// stopped between its writes would have left them.
    async fn record_on_person(&self, person: &str, events: &[ContactPersonEvent]) -> anyhow::Result<()> {
        let id: AggregateId = person.parse()?;
        let aggregate = AggregateRef::new(Stream::Contacts, ContactPerson::TYPE, id);
        let version = self.store.version(&aggregate).await?;
        let request = RequestId::generate();
        self.store
            .append_events(&aggregate, Expected::Version(version), events, &request, &self.actor)
            .await?;
        Ok(())
    }

    /// Waits (at most 15 s) until `check` holds of the contact person.
    async fn until_person(
        &mut self,
        person: &str,
        what: &str,
        check: impl Fn(&pb::ContactPerson) -> bool,
    ) -> anyhow::Result<pb::ContactPerson> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let record = self.person_record(person).await?;
            if check(&record) {
                return Ok(record);
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "{what} never happened: {record:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn simultaneous_assignments_to_the_same_person_keep_the_family_in_their_caseload() -> anyhow::Result<()>
{
    let mut harness = Harness::start().await?;
    let anna = harness.person("anna.contact", 10).await?;
    for _ in 0..3 {
        let (family_id, _) = harness.family().await?;
        let calls = (0..6).map(|_| {
            let mut client = harness.contacts.clone();
            let request = harness.as_supervisor(assign_request(&family_id, &anna));
            async move { client.assign_contact_person(request).await }
        });
        let results = futures::future::join_all(calls).await;
        let assigned = results.iter().filter(|result| result.as_ref().is_ok_and(|r| r.get_ref().assigned));
        assert_eq!(assigned.count(), 1, "{results:?}");
        for status in results.iter().filter_map(|result| result.as_ref().err()) {
            // The losers are told the family is assigned, or that another request is assigning it.
            assert!(matches!(status.code(), Code::FailedPrecondition | Code::Aborted), "{status:?}");
        }
        let anna_now = harness.person_record(&anna).await?;
        assert!(anna_now.caseload.contains(&family_id), "the winner keeps the family: {anna_now:?}");
        assert!(anna_now.reserved.is_empty(), "no place is left held: {anna_now:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_double_clicked_acceptance_keeps_the_family_with_its_receiver() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let anna = harness.person("anna.contact", 10).await?;
    let ben = harness.person("ben.contact", 10).await?;
    harness.assign(&family_id, &anna, "").await?;
    let proposed = harness.assign(&family_id, &ben, "Anna moves to the north team").await?;

    let calls = (0..4).map(|_| {
        let mut client = harness.contacts.clone();
        let accept = pb::HandoverDecisionRequest {
            request_id: request_id(),
            family_id: family_id.clone(),
            expected_version: None,
            handover_id: proposed.handover_id.clone(),
            reason: String::new(),
        };
        let request = harness.call_as(&contact_actor("ben.contact"), accept);
        async move { client.accept_handover(request).await }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1, "{results:?}");
    assert_eq!(harness.assignment(&family_id).await?.contact_person_id, ben);
    let ben_now = harness.person_record(&ben).await?;
    assert_eq!((ben_now.caseload, ben_now.reserved), (vec![family_id], vec![]));
    assert!(harness.caseload(&anna).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_place_whose_assignment_never_came_is_released_when_its_time_runs_out() -> anyhow::Result<()> {
    let mut harness = Harness::start_with(quick()).await?;
    let anna = harness.person("anna.contact", 1).await?;
    let (family_id, _) = harness.family().await?;
    let (other_family, _) = harness.family().await?;

    // A request held a place for the family and stopped before the assignment.
    let until = Timestamp::from_millis(Timestamp::now().as_millis() + 1_500);
    let held =
        PlaceReserved { family_id: family_id.parse()?, reservation_id: ReservationId::generate(), until };
    harness.record_on_person(&anna, &[ContactPersonEvent::PlaceReserved(held)]).await?;
    let anna_now = harness.person_record(&anna).await?;
    assert_eq!(anna_now.reserved.len(), 1, "{anna_now:?}");
    assert_eq!(
        broken_rule(harness.assign(&other_family, &anna, "").await),
        "CASELOAD_FULL",
        "a held place counts against the limit"
    );

    let released = harness.until_person(&anna, "the release", |person| person.reserved.is_empty()).await?;
    assert!(released.caseload.is_empty(), "{released:?}");
    assert!(Timestamp::now() >= until, "released only once its time ran out");
    assert!(harness.assign(&other_family, &anna, "").await?.assigned);
    assert_eq!(harness.caseload(&anna).await?, [other_family]);
    Ok(())
}

#[tokio::test]
async fn a_held_place_whose_assignment_did_happen_is_taken_when_its_time_runs_out() -> anyhow::Result<()> {
    let mut harness = Harness::start_with(quick()).await?;
    let anna = harness.person("anna.contact", 5).await?;
    let (family_id, _) = harness.family().await?;
    harness.assign(&family_id, &anna, "").await?;
    // The request stopped after the assignment, before it took its place: simulated by taking
    // the family out again and holding a place for it.
    let family: luukku_domain::family::FamilyId = family_id.parse()?;
    let held = PlaceReserved {
        family_id: family,
        reservation_id: ReservationId::generate(),
        until: Timestamp::from_millis(Timestamp::now().as_millis() + 500),
    };
    harness
        .record_on_person(
            &anna,
            &[
                ContactPersonEvent::CaseloadLeft(CaseloadChange { family_id: family }),
                ContactPersonEvent::PlaceReserved(held),
            ],
        )
        .await?;
    let taken = harness
        .until_person(&anna, "taking the place", |person| {
            person.reserved.is_empty() && !person.caseload.is_empty()
        })
        .await?;
    assert_eq!(taken.caseload, [family_id]);
    Ok(())
}

#[tokio::test]
async fn an_assignment_ends_with_a_reason_and_the_person_can_then_be_deactivated() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let (family_id, _) = harness.family().await?;
    let anna = harness.person("anna.contact", 5).await?;
    let ben = harness.person("ben.contact", 5).await?;
    harness.assign(&family_id, &anna, "").await?;
    harness.assign(&family_id, &ben, "Anna moves").await?;

    let anna_actor = contact_actor("anna.contact");
    let bad = end_request(&family_id, pb::EndReason::FamilyClosed, "");
    assert_eq!(
        bad_fields(harness.contacts.end_assignment(harness.call_as(&anna_actor, bad)).await),
        ["reason"]
    );
    let unnamed = end_request(&family_id, pb::EndReason::Unspecified, "");
    assert_eq!(
        bad_fields(harness.contacts.end_assignment(harness.call_as(&anna_actor, unnamed)).await),
        ["reason"]
    );
    let by_ben = end_request(&family_id, pb::EndReason::NeedsMet, "");
    expect_code(
        harness.contacts.end_assignment(harness.call_as(&contact_actor("ben.contact"), by_ben)).await,
        Code::PermissionDenied,
    );

    let end = end_request(&family_id, pb::EndReason::ResponsibilityMoved, "child protection takes over");
    let ended =
        harness.contacts.end_assignment(harness.call_as(&anna_actor, end.clone())).await?.into_inner();
    let retried = harness.contacts.end_assignment(harness.call_as(&anna_actor, end)).await?.into_inner();
    assert!(retried.result.as_ref().is_some_and(|result| result.replayed));
    assert_eq!(retried.result.map(|r| r.position), ended.result.map(|r| r.position));

    let assignment = harness.assignment(&family_id).await?;
    assert!(assignment.contact_person_id.is_empty() && assignment.pending_handover.is_none());
    let events: Vec<_> =
        assignment.history.iter().flat_map(|entry| &entry.events).map(|e| e.event_type.as_str()).collect();
    assert_eq!(events[events.len() - 2..], ["HandoverWithdrawn", "AssignmentEnded"]);
    assert!(harness.caseload(&anna).await?.is_empty());
    let again = end_request(&family_id, pb::EndReason::NeedsMet, "");
    assert_eq!(
        broken_rule(harness.contacts.end_assignment(harness.as_supervisor(again)).await),
        "NOT_ASSIGNED"
    );

    let deactivate = pb::DeactivateContactPersonRequest {
        request_id: request_id(),
        contact_person_id: anna.clone(),
        reason: "leaves".to_owned(),
        ..Default::default()
    };
    harness.contacts.deactivate_contact_person(harness.as_supervisor(deactivate)).await?;
    assert!(!harness.person_record(&anna).await?.active);
    // The family can have a contact person again.
    assert!(harness.assign(&family_id, &ben, "").await?.assigned);
    Ok(())
}

#[tokio::test]
async fn closing_or_erasing_a_family_ends_its_assignment() -> anyhow::Result<()> {
    let mut harness = Harness::start_with(quick()).await?;
    let anna = harness.person("anna.contact", 5).await?;
    let (closed, _) = harness.family().await?;
    let (erased, _) = harness.family().await?;
    let (open, _) = harness.family().await?;
    for family in [&closed, &erased, &open] {
        harness.assign(family, &anna, "").await?;
    }
    let anna_actor = contact_actor("anna.contact");
    let close = families::CloseFamilyRequest {
        request_id: request_id(),
        family_id: closed.clone(),
        reason: families::CloseReason::NeedsMet as i32,
        ..Default::default()
    };
    harness.families.close_family(harness.call_as(&anna_actor, close)).await?;
    let erase = families::EraseFamilyRequest {
        request_id: request_id(),
        family_id: erased.clone(),
        ..Default::default()
    };
    luukku_testkit::grpc::erase_family(&mut harness.families, &anna_actor, erase).await?;

    let anna_now = harness.until_person(&anna, "ending both", |person| person.caseload.len() == 1).await?;
    assert_eq!(anna_now.caseload, [open]);
    let assignment = harness.assignment(&closed).await?;
    assert!(assignment.contact_person_id.is_empty());
    let last =
        assignment.history.last().and_then(|entry| entry.events.last()).map(|event| event.event_type.clone());
    assert_eq!(last.as_deref(), Some("AssignmentEnded"));
    assert_eq!(harness.messages(&format!("contacts.assignment.{erased}")).await?, 2, "assigned, then ended");
    Ok(())
}

#[tokio::test]
async fn a_transfer_skips_closed_families_and_says_where_each_proposal_landed() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let leaving = harness.person("leaving.contact", 10).await?;
    let receiver = harness.person("r1.contact", 10).await?;
    let (open, _) = harness.family().await?;
    let (closed, _) = harness.family().await?;
    harness.assign(&open, &leaving, "").await?;
    harness.assign(&closed, &leaving, "").await?;
    let close = families::CloseFamilyRequest {
        request_id: request_id(),
        family_id: closed.clone(),
        reason: families::CloseReason::MovedAway as i32,
        ..Default::default()
    };
    harness.families.close_family(harness.call_as(&contact_actor("leaving.contact"), close)).await?;

    let transfer = pb::TransferCaseloadRequest {
        request_id: request_id(),
        from_contact_person_id: leaving.clone(),
        to_contact_person_ids: vec![receiver],
        rule: pb::SpreadRule::RoundRobin as i32,
        reason: "retirement".to_owned(),
    };
    let response = harness.contacts.transfer_caseload(harness.as_supervisor(transfer)).await?.into_inner();
    assert_eq!(response.proposed.len(), 1, "{response:?}");
    assert_eq!(response.proposed[0].family_id, open);
    let result = response.proposed[0].result.clone().expect("a write result");
    let position = result.position.expect("a position");
    assert!(position.sequence > 0 && position.stream == "CONTACTS", "{position:?}");
    let skipped: Vec<_> =
        response.skipped.iter().map(|s| (s.family_id.as_str(), s.reason.as_str())).collect();
    assert_eq!(skipped, [(closed.as_str(), "the family is closed")]);
    Ok(())
}

#[tokio::test]
async fn reconciling_reports_every_difference_and_repairs_it() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let anna = harness.person("anna.contact", 5).await?;
    let ben = harness.person("ben.contact", 5).await?;
    let (assigned, _) = harness.family().await?;
    let (stray, _) = harness.family().await?;
    harness.assign(&assigned, &anna, "").await?;
    // A crash between the writes: Anna's caseload lost the family she is assigned, and Ben's
    // holds one nobody assigned him.
    let family =
        |id: &str| -> anyhow::Result<CaseloadChange> { Ok(CaseloadChange { family_id: id.parse()? }) };
    harness.record_on_person(&anna, &[ContactPersonEvent::CaseloadLeft(family(&assigned)?)]).await?;
    harness.record_on_person(&ben, &[ContactPersonEvent::CaseloadJoined(family(&stray)?)]).await?;

    let keys = luukku_eventstore::NatsKeyStore::open(&harness.store, luukku_testkit::key_ring()).await?;
    let contacts =
        luukku_contacts::Contacts::new(&luukku_app::Folder::temporary(), harness.store.clone(), keys);
    let operator = luukku_contacts::app::process_caller();
    let report = contacts.reconcile(&operator, false, 0).await?;
    let mut found: Vec<_> =
        report.found.iter().map(|f| (f.difference.kind(), f.difference.family().to_string())).collect();
    found.sort();
    assert_eq!(found, [("missing", assigned.clone()), ("stale", stray.clone())]);
    assert!(report.repaired.is_empty(), "a report repairs nothing");
    // Anna's caseload lost the family, but its assignment still names her: she stays.
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
    assert_eq!(harness.caseload(&anna).await?, Vec::<String>::new());

    let repaired = contacts.reconcile(&operator, true, 0).await?;
    assert_eq!(repaired.repaired.len(), 2);
    assert!(repaired.repaired.iter().all(|r| r.outcome.is_ok()), "{:?}", repaired.repaired);
    assert_eq!(harness.caseload(&anna).await?, [assigned]);
    assert!(harness.caseload(&ben).await?.is_empty());
    assert!(contacts.reconcile(&operator, false, 0).await?.found.is_empty());
    Ok(())
}

//! Watching a caseload: the whole caseload first, then every change once and in order,
//! families leaving included; a resync instead of silent drops; watches capped per caller,
//! cleaned up when the caller goes, and ended after their lifetime.

use std::time::Duration;

use futures::StreamExt;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::coordination::v1 as pb;
use luukku_proto::coordination::v1::caseload_change::Change;
use tonic::Code;

use crate::support::{Harness, request_id};

type Changes = tonic::Streaming<pb::CaseloadChange>;

async fn next(watch: &mut Changes) -> anyhow::Result<Change> {
    let message = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the watch ended"))??;
    message.change.ok_or_else(|| anyhow::anyhow!("a change without content"))
}

fn families(change: &Change) -> Vec<String> {
    match change {
        Change::Resync(resync) => resync.families.iter().map(|entry| entry.family_id.clone()).collect(),
        other => panic!("expected a resync, got {other:?}"),
    }
}

async fn watch(h: &mut Harness, person: &str) -> anyhow::Result<Changes> {
    let request = pb::WatchCaseloadRequest { contact_person_id: person.to_owned(), from_positions: vec![] };
    Ok(h.coordination.watch_caseload(h.call(request)).await?.into_inner())
}

#[tokio::test]
async fn a_caseload_watch_sends_joins_changes_and_leaves_each_once_in_order() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let anna = h.contact_person("anna.contact", "Anna").await?;
    let bert = h.contact_person("bert.contact", "Bert").await?;
    let (first, _, _) = h.family("Salo").await?;
    let assigned = h.assign(&first, &anna).await?;
    let request =
        pb::WatchCaseloadRequest { contact_person_id: anna.clone(), from_positions: vec![assigned] };
    let mut changes = h.coordination.watch_caseload(h.call(request)).await?.into_inner();
    assert_eq!(families(&next(&mut changes).await?), vec![first.clone()], "the whole caseload first");

    // A family joins.
    let (second, _, _) = h.family("Virta").await?;
    let supervisor = luukku_testkit::supervisor();
    let assign = |family: &str, to: &str| contacts::AssignContactPersonRequest {
        request_id: request_id(),
        family_id: family.to_owned(),
        expected_version: None,
        contact_person_id: to.to_owned(),
        reason: "caseload".to_owned(),
    };
    h.contacts.assign_contact_person(h.call_as(&supervisor, assign(&second, &anna))).await?;
    match next(&mut changes).await? {
        Change::Upserted(entry) => assert_eq!(entry.family_id, second),
        other => panic!("expected the second family to join, got {other:?}"),
    }

    // A family's entry changes, once.
    h.move_family(&first, "837").await?;
    match next(&mut changes).await? {
        Change::Upserted(entry) => {
            assert_eq!((entry.family_id.as_str(), entry.municipality.as_str()), (first.as_str(), "837"))
        }
        other => panic!("expected the first family's new entry, got {other:?}"),
    }

    // A family leaves: handed over to Bert, who accepts.
    h.hand_over(&first, &bert).await?;
    let mut seen = Vec::new();
    loop {
        let change = next(&mut changes).await?;
        let left = matches!(&change, Change::LeftFamilyId(family) if *family == first);
        seen.push(change);
        if left {
            break;
        }
    }
    // Before it left, at most its entry changed once (the pending handover); nothing twice.
    assert!(seen.len() <= 2, "{seen:?}");
    assert!(
        seen.iter().all(|change| !matches!(change, Change::Upserted(entry) if entry.family_id == second)),
        "the unchanged family is not sent again: {seen:?}"
    );
    Ok(())
}

#[tokio::test]
async fn watches_are_capped_per_caller_freed_when_the_caller_goes_and_end_after_their_lifetime()
-> anyhow::Result<()> {
    let limits = luukku_coordination::WatchLimits { per_caller: 2, lifetime: Duration::from_secs(2) };
    let mut h = Harness::start_with(limits).await?;
    let anna = h.contact_person("anna.contact", "Anna").await?;
    let (family, _, _) = h.family("Salo").await?;
    let assigned = h.assign(&family, &anna).await?;
    h.coordination
        .get_family_view(
            h.call(pb::GetFamilyViewRequest { family_id: family.clone(), min_positions: vec![assigned] }),
        )
        .await?;

    let mut one = watch(&mut h, &anna).await?;
    let mut two = watch(&mut h, &anna).await?;
    next(&mut one).await?;
    next(&mut two).await?;
    let third = h
        .coordination
        .watch_caseload(
            h.call(pb::WatchCaseloadRequest { contact_person_id: anna.clone(), from_positions: vec![] }),
        )
        .await;
    assert_eq!(third.expect_err("over the cap").code(), Code::ResourceExhausted);
    assert_eq!((h.open_watches)(), 2);

    // A caller that goes frees its place at once, with nothing changing meanwhile.
    drop(one);
    let freed = luukku_testkit::eventually(5, || {
        let open = h.open_watches.clone();
        async move { Ok(open() == 1) }
    })
    .await?;
    assert!(freed, "the watch of a caller who went is closed");
    let mut three = watch(&mut h, &anna).await?;
    next(&mut three).await?;

    // After its lifetime a watch ends, and the caller watches again.
    let ended = tokio::time::timeout(Duration::from_secs(10), two.next()).await?;
    assert!(ended.is_none() || ended.is_some_and(|item| item.is_err()), "the watch ended");
    let mut again = watch(&mut h, &anna).await?;
    assert_eq!(families(&next(&mut again).await?), vec![family]);
    Ok(())
}

#[tokio::test]
async fn a_watcher_that_falls_behind_gets_the_whole_caseload_again_instead_of_losing_changes()
-> anyhow::Result<()> {
    use luukku_coordination::app::{CaseloadChange, Wait};
    let mut h = Harness::start().await?;
    let anna = h.contact_person("anna.contact", "Anna").await?;
    let (family, _, _) = h.family("Salo").await?;
    let assigned = h.assign(&family, &anna).await?;
    let keys = luukku_eventstore::NatsKeyStore::open(&h.store, luukku_testkit::key_ring()).await?;
    let app = luukku_coordination::Coordination::new(h.projection.clone(), keys);
    let caller = luukku_app::Caller::new(luukku_testkit::actor_named("anna.contact"));
    let person = luukku_domain::contacts::ContactPersonId::parse(&anna)?;
    let mut targets = luukku_eventstore::Checkpoints::default();
    targets.set(luukku_eventstore::Stream::Contacts, assigned.sequence);
    let from = Wait { targets, limit: Duration::from_secs(5) };
    let mut changes = app.watch_caseload(&caller, person, from).await?;

    // Far more changes than the watcher's buffer (64) holds, while it reads nothing: enough that
    // they overflow it even when a loaded machine projects several in one batch (a family
    // changed twice in a batch is one change).
    let municipalities = ["837", "091"];
    let mut last = None;
    for round in 0..400 {
        last = Some(h.move_family(&family, municipalities[round % 2]).await?);
    }
    let last = last.expect("moved");
    h.coordination
        .get_family_view(
            h.call(pb::GetFamilyViewRequest { family_id: family.clone(), min_positions: vec![last] }),
        )
        .await?;

    let mut received = Vec::new();
    loop {
        let change = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await?.expect("open")?;
        let done = matches!(&change.change, CaseloadChange::Resync(_) | CaseloadChange::Upserted(_))
            && change.positions.get(luukku_eventstore::Stream::Families) >= last_sequence(&h).await?;
        received.push(change.change);
        if done {
            break;
        }
    }
    let resyncs =
        received.iter().skip(1).filter(|change| matches!(change, CaseloadChange::Resync(_))).count();
    assert!(resyncs >= 1, "it fell behind and was told so with the whole caseload");
    assert!(received.len() < 150, "the changes it could not take were not queued up: {}", received.len());
    let final_entry = match received.last() {
        Some(CaseloadChange::Resync(entries)) => entries[0].clone(),
        Some(CaseloadChange::Upserted(entry)) => entry.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(final_entry.municipality, "091", "and it ends where the caseload is");
    Ok(())
}

async fn last_sequence(h: &Harness) -> anyhow::Result<u64> {
    Ok(h.store.last_sequence(luukku_eventstore::Stream::Families).await?)
}

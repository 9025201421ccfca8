//! The right to erasure on an immutable log.

use futures::TryStreamExt;
use luukku_domain::Narrate;
use luukku_domain::family::FamilyEvent;
use luukku_domain::sealing::HasPersonal;
use luukku_eventstore::{KeyStore, ReadOptions};
use luukku_proto::families::v1 as pb;
use tonic::Code;

use crate::support::*;

/// Every personal value the test family's events hold.
const PERSONAL: &[&str] = &[
    "Virtanen",
    "Maria Kaarina",
    "Eero",
    "Aino",
    "131052-308T",
    "2010-05-01",
    "support at school",
    "moved out",
];

/// Every byte of every message (subject, headers and payload) of the FAMILIES stream.
async fn raw_stream(harness: &Harness) -> anyhow::Result<Vec<u8>> {
    let stream = harness.store.stream(luukku_eventstore::Stream::Families).await?;
    let last = stream.get_info().await?.state.last_sequence;
    let mut bytes = Vec::new();
    for sequence in 1..=last {
        let message = stream.direct_get(sequence).await?;
        bytes.extend_from_slice(message.subject.as_bytes());
        for (name, values) in message.headers.iter() {
            bytes.extend_from_slice(name.to_string().as_bytes());
            for value in values {
                bytes.extend_from_slice(value.as_str().as_bytes());
            }
        }
        bytes.extend_from_slice(&message.payload);
    }
    Ok(bytes)
}

fn revealed(bytes: &[u8]) -> Vec<&'static str> {
    PERSONAL
        .iter()
        .copied()
        .filter(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .collect()
}

/// Every summary of the family's history, as the service tells it.
async fn history_text(harness: &mut Harness, family_id: &str) -> anyhow::Result<String> {
    let request = pb::ListFamilyHistoryRequest { family_id: family_id.to_owned(), ..Default::default() };
    let history = harness.client.list_family_history(harness.call(request)).await?.into_inner();
    Ok(history.entries.iter().flat_map(|e| &e.events).map(|e| e.summary.clone()).collect())
}

#[tokio::test]
async fn erased_family_reveals_no_personal_data_anywhere() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let family_id = registered.family_id.clone();
    let grant = pb::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: family_id.clone(),
        given_by: registered.member_ids[0].clone(),
        sectors: vec!["school".to_owned()],
        purpose: "support at school".to_owned(),
        valid_until: "2099-01-01".to_owned(),
        ..Default::default()
    };
    harness.client.grant_consent(harness.call(grant)).await?;
    let remove = pb::RemoveMemberRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        member_id: registered.member_ids[2].clone(),
        reason: "moved out".to_owned(),
        ..Default::default()
    };
    harness.client.remove_member(harness.call(remove)).await?;
    assert!(revealed(&raw_stream(&harness).await?).is_empty(), "sealed from the start");
    assert_eq!(harness.family(&family_id).await?.members[0].family_name, "Virtanen");

    // A second instance of the service, which has the family's state cached before the erasure.
    let (_other, mut other_client) = second_instance(&harness).await?;
    let actor = harness.actor.clone();
    let get =
        || luukku_testkit::auth::with_identity(pb::GetFamilyRequest { family_id: family_id.clone() }, &actor);
    let before = other_client.get_family(get()).await?.into_inner().family.expect("family");
    assert!(before.members.iter().all(|member| member.readable));

    // Only contact persons and operators erase.
    let erase = pb::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    let mut by_nurse = harness.call(erase.clone());
    *by_nurse.metadata_mut() =
        luukku_testkit::auth::with_identity((), &sector_professional()).metadata().clone();
    // A nurse with no relationship to the family is told there is no such family.
    expect_code(harness.client.erase_family(by_nurse).await, Code::NotFound);

    luukku_testkit::grpc::erase_family(&mut harness.client, &harness.actor, erase.clone()).await?;
    let retried = harness.client.erase_family(harness.call(erase)).await?.into_inner();
    assert!(retried.result.is_some_and(|result| result.replayed));

    // The other instance forgets what it had cached.
    let after = other_client.get_family(get()).await?.into_inner().family.expect("family");
    assert_eq!(after.status(), pb::FamilyStatus::Erased);
    assert!(after.members.iter().all(|member| !member.readable && member.given_names.is_empty()));

    // A fresh load: the facts remain, the personal data is gone.
    let family = harness.family(&family_id).await?;
    assert_eq!(family.status(), pb::FamilyStatus::Erased);
    assert_eq!(family.members.len(), 2);
    assert!(
        family.members.iter().all(|m| !m.readable && m.given_names.is_empty() && m.identity_code.is_empty())
    );
    assert!(family.consents.iter().all(|consent| consent.purpose.is_empty()));
    let text = history_text(&mut harness, &family_id).await?;
    assert!(revealed(text.as_bytes()).is_empty(), "{text}");
    assert!(text.contains("[erased]"));

    // The key is gone from the key store.
    assert!(harness.keys.get(&family_id).await?.is_none());

    // A replay of the stream, as any projection would do it, opens nothing.
    let mut replay = harness.store.read(luukku_eventstore::Stream::Families, ReadOptions::default()).await?;
    let mut opened = 0;
    while let Some(recorded) = replay.try_next().await? {
        let family = recorded.aggregate_id().expect("family subject").to_string();
        let key = harness.keys.get(&family).await?;
        for mut event in recorded.decode_events::<FamilyEvent>()? {
            event.open(key.as_ref(), family.as_bytes())?;
            assert!(
                revealed(
                    format!("{event:?} {}", event.narrate(luukku_domain::Telling::WithPersonal)).as_bytes()
                )
                .is_empty()
            );
            opened += 1;
        }
    }
    assert_eq!(opened, 6, "every event of the family, the erasure's request and approval included");

    // The raw bytes never held it.
    assert!(revealed(&raw_stream(&harness).await?).is_empty());

    // And the family accepts nothing more.
    let reopen = pb::ReopenFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    let status = harness.client.reopen_family(harness.call(reopen)).await.expect_err("erased");
    assert_eq!(broken_rule(&status), "FAMILY_ERASED");
    let mut again = virtanen_family();
    again.family_id = family_id;
    expect_code(harness.client.register_family(harness.call(again)).await, Code::AlreadyExists);
    Ok(())
}

#[tokio::test]
async fn erasure_needs_a_ground_outside_retention_and_a_second_persons_approval() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let family = harness.register(virtanen_family()).await?;
    let family_id = family.family_id.clone();
    let erase = pb::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    assert_eq!(
        broken_rule(&expect_code(
            harness.client.erase_family(harness.call(erase.clone())).await,
            Code::FailedPrecondition
        )),
        "ERASURE_NOT_APPROVED"
    );

    // Coordination is open: its social welfare records are kept, so only data recorded
    // without a basis may be erased.
    let ask = |ground: &str| pb::RequestErasureRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ground: ground.to_owned(),
        on_behalf_of_member_id: family.member_ids[0].clone(),
        ..Default::default()
    };
    let refused = harness.client.request_erasure(harness.call(ask("no_longer_needed"))).await;
    assert_eq!(broken_rule(&expect_code(refused, Code::FailedPrecondition)), "RETENTION_PERIOD");
    let requested = harness.client.request_erasure(harness.call(ask("unlawful"))).await?.into_inner();

    // Only the data-protection role approves.
    let approve = pb::ApproveErasureRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        erasure_id: requested.erasure_id.clone(),
    };
    let by_requester = harness.client.approve_erasure(harness.call(approve.clone())).await;
    expect_code(by_requester, Code::PermissionDenied);
    let officer = luukku_testkit::grpc::data_protection_officer();
    let request = luukku_testkit::auth::with_identity(approve, &officer);
    harness.client.approve_erasure(request).await?;
    harness.client.erase_family(harness.call(erase)).await?;

    // The requester, the approver and the executor are each recorded.
    let history = pb::ListFamilyHistoryRequest { family_id: family_id.clone(), ..Default::default() };
    let erasure_steps: Vec<(String, String)> = harness
        .client
        .list_family_history(harness.call(history))
        .await?
        .into_inner()
        .entries
        .iter()
        .filter(|entry| {
            entry
                .events
                .iter()
                .any(|event| event.event_type.starts_with("Erasure") || event.event_type == "FamilyErased")
        })
        .map(|entry| {
            let actor = entry.actor.clone().unwrap_or_default();
            (entry.events.last().map(|e| e.event_type.clone()).unwrap_or_default(), actor.person_id)
        })
        .collect();
    assert_eq!(
        erasure_steps,
        [
            ("ErasureRequested".to_owned(), "test.contact".to_owned()),
            ("ErasureApproved".to_owned(), "test.tietosuoja".to_owned()),
            ("FamilyErased".to_owned(), "test.contact".to_owned()),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_erasure_whose_key_deletion_failed_is_finished_by_the_service() -> anyhow::Result<()> {
    use luukku_eventstore::KeyStore;
    let mut harness = Harness::start().await?;
    let family = harness.register(virtanen_family()).await?;
    let stored = luukku_testkit::stored_key(&harness.store, &family.family_id).await?;
    let erase = pb::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family.family_id.clone(),
        ..Default::default()
    };
    let actor = harness.actor.clone();
    luukku_testkit::grpc::erase_family(&mut harness.client, &actor, erase).await?;
    settle_erasures().await;
    // As if the deletion had failed: the key is there again.
    luukku_testkit::put_back_key(&harness.store, &family.family_id, stored).await?;
    let erased = vec![family.family_id.clone()];
    assert_eq!(luukku_eventstore::keys::leftover_keys(&harness.store, &erased).await?, erased);

    // A service starting follows the stream and finishes the erasure.
    let guard = luukku_app::Guard::start(harness.store.clone());
    let _routes = luukku_families::routes(harness.store.clone(), harness.keys.clone(), guard).await;
    let finished = luukku_testkit::eventually(10, || {
        let (store, erased) = (harness.store.clone(), erased.clone());
        async move { Ok(luukku_eventstore::keys::leftover_keys(&store, &erased).await?.is_empty()) }
    })
    .await?;
    assert!(finished, "the key is gone");
    assert!(harness.keys.get(&family.family_id).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn an_erased_familys_data_is_not_opened_even_when_its_key_is_restored() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let family_id = registered.family_id.clone();
    assert!(harness.family(&family_id).await?.members.iter().all(|member| member.readable));
    // The stored key, as a backup holds it.
    let bucket = harness.store.jetstream().get_key_value(luukku_eventstore::keys::KEY_BUCKET).await?;
    let backup = bucket.get(&family_id).await?.expect("the family's key is stored");

    let erase = pb::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    luukku_testkit::grpc::erase_family(&mut harness.client, &harness.actor, erase).await?;
    settle_erasures().await;
    // The key comes back: restored from the backup, or a deletion that failed.
    bucket.put(&family_id, backup).await?;
    assert!(harness.keys.get(&family_id).await?.is_some(), "the key exists again");

    let family = harness.family(&family_id).await?;
    assert_eq!(family.status(), pb::FamilyStatus::Erased);
    assert!(
        family.members.iter().all(|m| !m.readable && m.given_names.is_empty() && m.identity_code.is_empty())
    );
    let text = history_text(&mut harness, &family_id).await?;
    assert!(revealed(text.as_bytes()).is_empty(), "{text}");

    // Another instance of the service answers the same.
    let (_other, mut other_client) = second_instance(&harness).await?;
    let get = luukku_testkit::auth::with_identity(pb::GetFamilyRequest { family_id }, &harness.actor);
    let seen = other_client.get_family(get).await?.into_inner().family.expect("family");
    assert!(seen.members.iter().all(|member| !member.readable && member.given_names.is_empty()));
    Ok(())
}

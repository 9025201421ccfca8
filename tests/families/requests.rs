//! A request id belongs to its caller and its request (AIP-155): another caller's id never
//! answers for them, the same id for another request is refused, and a retry is answered once
//! however late it comes.

use std::time::Duration;

use luukku_domain::{Actor, Code as ActorCode};
use luukku_proto::families::v1 as pb;
use tonic::Code;

use crate::support::{Harness, expect_code, request_id, virtanen_family};

/// The harness's actor, calling through another system.
fn through(system: &str, actor: &Actor) -> Actor {
    Actor { system: ActorCode::parse(system).expect("code"), ..actor.clone() }
}

#[tokio::test]
async fn two_systems_with_the_same_request_id_each_register_their_own_family() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let system_a = through("system-a", &harness.actor);
    let system_b = through("system-b", &harness.actor);
    let mut request = virtanen_family();
    request.request_id = "reg-0001".to_owned();

    let first = harness.client.register_family(with(&system_a, request.clone())).await?.into_inner();
    let mut other = luukku_testkit::fixtures::registration_request("reg-0001", "Korhonen");
    other.municipality = request.municipality.clone();
    let second = harness.client.register_family(with(&system_b, other)).await?.into_inner();

    assert_ne!(second.family_id, first.family_id, "system B got its own family");
    assert!(second.result.is_some_and(|result| !result.replayed), "system B's registration was not a replay");
    assert_eq!(harness.messages().await?, 2);
    // And each system's retry still finds its own.
    let again = harness.client.register_family(with(&system_a, request)).await?.into_inner();
    assert_eq!(again.family_id, first.family_id);
    assert!(again.result.is_some_and(|result| result.replayed));
    assert_eq!(harness.messages().await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_same_id_for_another_request_on_the_same_family_is_already_exists_naming_the_first_method()
-> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let registered = harness.register(virtanen_family()).await?;
    let family_id = registered.family_id.clone();
    let guardian = registered.member_ids[0].clone();
    let reused = request_id();
    let grant = pb::GrantConsentRequest {
        request_id: reused.clone(),
        family_id: family_id.clone(),
        given_by: guardian.clone(),
        sectors: vec!["school".to_owned()],
        purpose: "oppimisen tuki".to_owned(),
        valid_until: "2099-12-31".to_owned(),
        signed_form: "form-1".to_owned(),
        ..Default::default()
    };
    let granted = harness.client.grant_consent(harness.call(grant.clone())).await?.into_inner();
    let before = harness.messages().await?;

    let revoke = pb::RevokeConsentRequest {
        request_id: reused.clone(),
        family_id: family_id.clone(),
        consent_id: granted.consent_id.clone(),
        revoked_by: guardian,
        ..Default::default()
    };
    let status = expect_code(harness.client.revoke_consent(harness.call(revoke)).await, Code::AlreadyExists);
    assert!(
        status.message().contains("GrantConsent"),
        "names the first request's method: {}",
        status.message()
    );
    assert_eq!(harness.messages().await?, before, "nothing was written");
    let family = harness.family(&family_id).await?;
    assert!(
        family.consents.iter().any(|consent| consent.consent_id == granted.consent_id && consent.in_force),
        "the consent is still in force"
    );

    // The grant itself, sent again, is a retry.
    let again = harness.client.grant_consent(harness.call(grant.clone())).await?.into_inner();
    assert_eq!(again.consent_id, granted.consent_id);
    assert!(again.result.is_some_and(|result| result.replayed));

    // The same id on the same call with other content is also another request.
    let mut changed = grant;
    changed.purpose = "toinen tarkoitus".to_owned();
    let status = expect_code(harness.client.grant_consent(harness.call(changed)).await, Code::AlreadyExists);
    assert!(status.message().contains("GrantConsent"), "{}", status.message());
    assert_eq!(harness.messages().await?, before);
    Ok(())
}

#[tokio::test]
async fn a_registration_retried_after_the_duplicate_window_returns_the_first_family() -> anyhow::Result<()> {
    // The store forgets message ids after its duplicate window (24 hours in production, one
    // second here); a retry after it must still find the first family.
    let settings =
        luukku_eventstore::StoreSettings { duplicate_window: Duration::from_secs(1), ..Default::default() };
    let mut harness = Harness::start_with(settings).await?;
    let request = virtanen_family();
    let first = harness.register(request.clone()).await?;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let again = harness.register(request).await?;
    assert_eq!(again.family_id, first.family_id);
    assert_eq!(again.member_ids, first.member_ids);
    assert!(again.result.is_some_and(|result| result.replayed));
    assert_eq!(harness.messages().await?, 1, "no second family");
    Ok(())
}

fn with<T>(actor: &Actor, message: T) -> tonic::Request<T> {
    luukku_testkit::auth::with_identity(message, actor)
}

#[tokio::test]
async fn a_stored_fingerprint_is_keyed_with_the_familys_key_and_tells_nothing_once_it_is_erased()
-> anyhow::Result<()> {
    use futures::TryStreamExt;
    use prost::Message as _;
    let mut harness = Harness::start().await?;
    let request = virtanen_family();
    harness.register(request.clone()).await?;
    let stored: Vec<luukku_eventstore::Recorded> = harness
        .store
        .read(luukku_eventstore::Stream::Families, luukku_eventstore::ReadOptions::default())
        .await?
        .try_collect()
        .await?;
    let kept = stored[0].envelope.fingerprint.clone().expect("a fingerprint is kept");
    let plain = luukku_eventstore::Fingerprint::of("RegisterFamily", &request.encode_to_vec());
    assert_eq!(kept.method, "RegisterFamily");
    assert_ne!(
        kept.digest, plain.digest,
        "the plain digest of the request, names and codes in it, is not kept"
    );
    Ok(())
}

#[tokio::test]
async fn a_retry_at_an_instance_that_saw_the_family_absent_makes_no_key_for_it_once_erased()
-> anyhow::Result<()> {
    use luukku_app::{Caller, Keys, Repository, Write};
    use luukku_domain::AggregateId;
    use luukku_domain::family::{Family, FamilyCommand};
    use luukku_eventstore::{KeyStore, NatsKeyStore, Stream};

    // No service runs here, so no read model of this process learns of the erasure: only the
    // family's own subject tells the second instance. Past the duplicate window, only the
    // family's version tells a retry from a first registration.
    let nats = luukku_testkit::TestNats::start().await?;
    let settings =
        luukku_eventstore::StoreSettings { duplicate_window: Duration::from_secs(1), ..Default::default() };
    let store = nats.store_with(settings).await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let instance = || {
        Repository::<Family, _>::new(store.clone(), keys.clone(), Stream::Families, Keys::CreatesFamilyKey)
    };
    let (first, second) = (instance(), instance());
    let caller = Caller::new(luukku_testkit::actor());
    let write = Write::new(luukku_domain::RequestId::parse("reg-late-0001")?);
    let family = AggregateId::from_ulid(write.new_id(&caller, "family"));
    let failed = |error| anyhow::anyhow!("{error:?}");

    // The second instance looks first, and finds no family.
    assert_eq!(second.load(family).await.map_err(failed)?.version, 0);
    let registration = luukku_testkit::fixtures::registration();
    let registered = first.execute(family, &caller, &write, &registration).await.map_err(failed)?;
    let erase = Write::new(luukku_domain::RequestId::parse("erase-0001")?);
    // The erasure as a restore reapplies it: the events of an approved erasure, without the
    // approval's own commands.
    first.execute(family, &caller, &erase, &FamilyCommand::ReapplyErasure).await.map_err(failed)?;
    keys.erase(&family.to_string()).await?;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    // The registration's retry reaches the second instance: answered as the first
    // registration was, with no key made again for the erased family.
    let retried = second.execute(family, &caller, &write, &registration).await.map_err(failed)?;
    assert!(retried.written.replayed, "answered as a retry");
    assert_eq!(retried.written.position, registered.written.position);
    assert_eq!(keys.get(&family.to_string()).await?, None, "no key for the erased family");
    let messages = store.stream(Stream::Families).await?.info().await?.state.messages;
    assert_eq!(messages, 2, "the registration and the erasure, nothing more");

    // A family whose key was erased but whose stream holds none of its events (a stream
    // restored from a backup older than its registration): its registration is refused, and
    // no key is made for it.
    let lost = Write::new(luukku_domain::RequestId::parse("reg-lost-0001")?);
    let lost_family = AggregateId::from_ulid(lost.new_id(&caller, "family"));
    keys.erase(&lost_family.to_string()).await?;
    let refused = second.execute(lost_family, &caller, &lost, &registration).await.err();
    assert!(matches!(refused, Some(luukku_app::RepositoryError::FamilyErased { .. })), "{refused:?}");
    assert_eq!(keys.get(&lost_family.to_string()).await?, None, "no key made");
    let messages = store.stream(Stream::Families).await?.info().await?.state.messages;
    assert_eq!(messages, 2, "nothing written");
    Ok(())
}

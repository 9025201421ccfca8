//! Family keys at rest: wrapped under a key-encryption key that NATS never sees.

use std::sync::Arc;

use bytes::Bytes;
use luukku_eventstore::keys::KEY_BUCKET;
use luukku_eventstore::{Kek, KeyRing, KeyStore, NatsKeyStore};
use luukku_testkit::TestNats;

#[tokio::test]
async fn the_bucket_holds_no_usable_key_and_a_rotation_rewraps_them_all() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let old = Kek::generate();
    let keys = NatsKeyStore::open(&store, Arc::new(KeyRing::new(old.clone(), vec![]))).await?;
    let key = keys.get_or_create("family-1").await?;
    keys.get_or_create("family-2").await?;

    // What NATS stores is not the key, and no other key-encryption key opens it.
    let bucket = store.jetstream().get_key_value(KEY_BUCKET).await?;
    let stored = bucket.get("family-1").await?.expect("stored");
    assert!(!stored.windows(32).any(|window| window == key.as_bytes()), "the key is not in the bucket");
    let stranger = NatsKeyStore::open(&store, Arc::new(KeyRing::new(Kek::generate(), vec![]))).await?;
    let refused = stranger.get("family-1").await.expect_err("another key-encryption key opens nothing");
    assert!(refused.to_string().contains("was not given"), "{refused}");

    // A key stored unwrapped by an earlier release is refused until rewrapped.
    bucket
        .put("family-3", Bytes::copy_from_slice(luukku_domain::sealing::FamilyKey::generate().as_bytes()))
        .await?;
    let refused = keys.get("family-3").await.expect_err("unwrapped");
    assert!(refused.to_string().contains("rewrap-keys"), "{refused}");

    // Rotation: the new key wraps, the old one still opens, and a rewrap moves every key.
    let rotated = NatsKeyStore::open(&store, Arc::new(KeyRing::new(Kek::generate(), vec![old]))).await?;
    assert_eq!(rotated.get("family-1").await?, Some(key.clone()));
    let done = rotated.rewrap(true).await?;
    assert_eq!((done.rewrapped, done.current), (3, 0));
    assert_eq!(rotated.rewrap(true).await?.current, 3, "a second run finds nothing to do");
    assert!(keys.get("family-1").await.is_err(), "the old key alone opens nothing now");
    assert_eq!(rotated.get("family-1").await?, Some(key));
    assert!(rotated.get("family-3").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn an_erased_familys_key_left_behind_is_found() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    keys.get_or_create("family-1").await?;
    keys.get_or_create("family-2").await?;
    keys.erase("family-2").await?;
    let erased = vec!["family-1".to_owned(), "family-2".to_owned(), "family-3".to_owned()];
    let left = luukku_eventstore::keys::leftover_keys(&store, &erased).await?;
    assert_eq!(left, ["family-1"], "the key whose deletion never happened");

    // No key is made for an erased family again, through the bucket or kept keys.
    let cached = another_process(&nats).await?;
    for (store, refused) in [
        ("the bucket", keys.get_or_create("family-2").await),
        ("kept keys", cached.get_or_create("family-2").await),
    ] {
        assert!(
            matches!(&refused, Err(luukku_eventstore::Error::KeyErased { family }) if family == "family-2"),
            "{store}: {refused:?}"
        );
    }
    assert_eq!(
        luukku_eventstore::keys::leftover_keys(&store, &erased).await?,
        left,
        "none made over the marker"
    );
    // A family that never had a key still gets one, the same for every caller.
    let made = cached.get_or_create("family-3").await?;
    assert_eq!(keys.get_or_create("family-3").await?, made);
    Ok(())
}

#[tokio::test]
async fn a_cached_key_is_forgotten_when_another_process_erases_it_and_never_served_again()
-> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let writer = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let cached = another_process(&nats).await?;
    let key = writer.get_or_create("family-1").await?;
    assert_eq!(cached.get("family-1").await?, Some(key.clone()));
    assert_eq!(cached.get("family-1").await?, Some(key.clone()), "from memory now");
    let stored = luukku_testkit::stored_key(&store, "family-1").await?;

    writer.erase("family-1").await?;
    served_until_gone(&cached, "family-1").await?;
    assert_eq!(cached.get("family-1").await?, None, "and stays gone");

    // The same key is back in the bucket (a failed deletion, a restored backup, a replica
    // behind the purge): the bucket serves it, the process that saw the erasure does not.
    luukku_testkit::put_back_key(&store, "family-1", stored).await?;
    assert_eq!(writer.get("family-1").await?, Some(key), "the bucket holds it again");
    assert_eq!(cached.get("family-1").await?, None);
    let families = vec!["family-1".to_owned()];
    assert_eq!(cached.get_many(&families).await?.get("family-1"), Some(&None));
    assert!(matches!(
        cached.get_or_create("family-1").await,
        Err(luukku_eventstore::Error::KeyErased { .. })
    ));

    // A key the caching process makes itself (a family registered there) is forgotten too.
    let made = cached.get_or_create("family-2").await?;
    assert_eq!(writer.get("family-2").await?, Some(made.clone()), "stored in the bucket");
    assert_eq!(cached.get_or_create("family-2").await?, made, "the same key again");
    writer.erase("family-2").await?;
    served_until_gone(&cached, "family-2").await?;
    Ok(())
}

/// Another process's kept keys: its own connection, its own cache, its erasure watch running.
async fn another_process(nats: &TestNats) -> anyhow::Result<luukku_eventstore::CachedKeys> {
    let store = nats.store().await?;
    let cached = luukku_eventstore::CachedKeys::new(
        NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?,
        std::num::NonZeroUsize::new(16).expect("non-zero"),
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cached.caching() {
        assert!(tokio::time::Instant::now() < deadline, "the erasure watch never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(cached)
}

/// Waits until `cached` no longer serves the erased key of `family`: at most 5 s.
async fn served_until_gone(cached: &luukku_eventstore::CachedKeys, family: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while cached.get(family).await?.is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the erased key of {family} is still served");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

#[tokio::test]
async fn keys_read_together_are_the_keys_read_one_by_one() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    // More families than one batched read asks for, some erased, some never given a key.
    let families: Vec<String> = (0..600).map(|index| format!("family-{index}")).collect();
    for family in families.iter().step_by(2) {
        keys.get_or_create(family).await?;
    }
    for family in families.iter().step_by(6) {
        keys.erase(family).await?;
    }
    let together = keys.get_many(&families).await?;
    assert_eq!(together.len(), families.len());
    let mut present = 0;
    for family in &families {
        let alone = keys.get(family).await?;
        assert_eq!(together[family], alone, "{family}");
        present += usize::from(alone.is_some());
    }
    assert_eq!(present, 200, "every other one has a key, and a third of those were erased");
    let cached =
        luukku_eventstore::CachedKeys::new(keys.clone(), std::num::NonZeroUsize::new(100).expect("100"));
    assert_eq!(cached.get_many(&families).await?, together, "through the cache too");
    assert_eq!(keys.get_many(&[]).await?.len(), 0);
    // A batch in which no family has a key.
    let none: Vec<String> = families.iter().skip(1).step_by(2).take(10).cloned().collect();
    let read = keys.get_many(&none).await?;
    assert_eq!(read.len(), 10);
    assert!(read.values().all(Option::is_none));
    Ok(())
}

//! NATS, locked down: each service signs in as its own user and may do only its part.

use std::sync::Arc;
use std::time::Duration;

use luukku_eventstore::access::NatsUser;
use luukku_eventstore::keys::KEY_BUCKET;
use luukku_eventstore::{Expected, KeyStore, NatsKeyStore, StoreSettings, Stream};
use luukku_testkit::TestNats;

use crate::support::{message_count, new_aggregate, noted};

/// Refusals come as missing answers: give up on them soon.
fn impatient() -> StoreSettings {
    StoreSettings { publish_timeout: Duration::from_secs(1), publish_retries: 0, ..Default::default() }
}

#[tokio::test]
async fn each_user_does_its_part_and_nothing_more() -> anyhow::Result<()> {
    let nats = TestNats::start_locked().await?;
    let admin = nats.store_as(NatsUser::Admin, StoreSettings::default()).await?;

    // Without credentials there is no connection at all.
    let anonymous = async_nats::ConnectOptions::new().connect(nats.url()).await;
    assert!(anonymous.is_err(), "a client without credentials is refused");

    // The families service writes its stream and the family keys.
    let families = nats.store_as(NatsUser::Families, impatient()).await?;
    let aggregate = new_aggregate();
    let actor = luukku_testkit::actor();
    let request = luukku_domain::RequestId::generate();
    families.append_events(&aggregate, Expected::New, &[noted("written")], &request, &actor).await?;
    assert_eq!(families.load(&aggregate).await?.messages.len(), 1);
    let family_keys = NatsKeyStore::open(&families, luukku_testkit::key_ring()).await?;
    let key = family_keys.get_or_create("family-1").await?;

    // Coordination reads everything, keys included, and writes nothing.
    let coordination = nats.store_as(NatsUser::Coordination, impatient()).await?;
    assert_eq!(coordination.load(&aggregate).await?.messages.len(), 1);
    assert_eq!(coordination.last_sequence(Stream::Families).await?, 1);
    let readable = NatsKeyStore::open(&coordination, luukku_testkit::key_ring()).await?;
    assert_eq!(readable.get("family-1").await?, Some(key));
    let forged = coordination
        .append_events(&new_aggregate(), Expected::New, &[noted("forged")], &request, &actor)
        .await;
    assert!(forged.is_err(), "coordination may not publish to families.>");
    assert!(readable.get_or_create("family-2").await.is_err(), "only families writes keys");

    // A service writes only its own stream.
    let contacts = nats.store_as(NatsUser::Contacts, impatient()).await?;
    let other =
        contacts.append_events(&new_aggregate(), Expected::New, &[noted("x")], &request, &actor).await;
    assert!(other.is_err(), "contacts may not publish to families.>");
    assert_eq!(message_count(&admin, Stream::Families).await?, 1, "nothing forged was stored");

    // No service user manages streams or buckets: that is the admin's.
    for user in NatsUser::SERVICES.into_iter().chain([NatsUser::Ops]) {
        let store = nats.store_as(user, impatient()).await?;
        let jetstream = store.jetstream();
        assert!(jetstream.delete_stream(Stream::Families.name()).await.is_err(), "{user:?} deleted a stream");
        let keys_stream = format!("KV_{KEY_BUCKET}");
        let purged = match jetstream.get_stream(&keys_stream).await {
            Ok(stream) => stream.purge().await.map(|_| ()).map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        assert!(purged.is_err(), "{user:?} purged the key bucket");
        assert!(jetstream.delete_key_value(KEY_BUCKET).await.is_err(), "{user:?} deleted the key bucket");
        assert!(store.provision(&[Stream::Meetings]).await.is_err(), "{user:?} reconfigured a stream");
    }
    let keys_left = NatsKeyStore::open(&admin, Arc::clone(&luukku_testkit::key_ring())).await?;
    assert!(keys_left.get("family-1").await?.is_some(), "the key bucket is intact");
    assert_eq!(message_count(&admin, Stream::Families).await?, 1, "the stream is intact");
    Ok(())
}

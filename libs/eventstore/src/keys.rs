//! Where the families' data keys live. Erasing a family deletes its key, after which nothing
//! sealed with it can be opened again, in any service, projection, replay or export.
//!
//! [`KeyStore`] is the seam: the default is a NATS key-value bucket ([`NatsKeyStore`]); a key
//! management service can implement the trait later. Keys are not cached: an erasure must take
//! effect in every process at once.

use std::future::Future;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use luukku_domain::sealing::FamilyKey;

use crate::{Error, EventStore, Result};

/// The bucket holding the family keys in the default setup.
pub const KEY_BUCKET: &str = "LUUKKU_FAMILY_KEYS";

pub trait KeyStore: Send + Sync + 'static {
    /// The key of `family`, created when it has none. Concurrent calls get the same key.
    fn get_or_create(&self, family: &str) -> impl Future<Output = Result<FamilyKey>> + Send;

    /// The key of `family`, `None` when it never had one or it was erased.
    fn get(&self, family: &str) -> impl Future<Output = Result<Option<FamilyKey>>> + Send;

    /// Deletes the key of `family` for good. Deleting a missing key succeeds.
    fn erase(&self, family: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Family keys in a JetStream key-value bucket with history 1; erasing purges the key, so no
/// earlier revision remains to read.
#[derive(Clone, Debug)]
pub struct NatsKeyStore {
    bucket: kv::Store,
}

impl NatsKeyStore {
    /// Opens the bucket, creating it when missing.
    pub async fn open(store: &EventStore) -> Result<Self> {
        Self::open_on(store.jetstream(), store.settings().replicas).await
    }

    pub async fn open_on(jetstream: &jetstream::Context, replicas: usize) -> Result<Self> {
        let bucket = jetstream
            .create_or_update_key_value(kv::Config {
                bucket: KEY_BUCKET.to_owned(),
                description: "luukku: one data key per family; erasure deletes it".to_owned(),
                history: 1,
                max_value_size: 1024,
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(Error::nats)?;
        Ok(Self { bucket })
    }

    fn decode(family: &str, bytes: &[u8]) -> Result<FamilyKey> {
        FamilyKey::from_bytes(bytes)
            .map_err(|error| Error::Nats(format!("the stored key of family {family} is unusable: {error}")))
    }
}

impl KeyStore for NatsKeyStore {
    async fn get_or_create(&self, family: &str) -> Result<FamilyKey> {
        let key = FamilyKey::generate();
        match self.bucket.create(family, Bytes::copy_from_slice(key.as_bytes())).await {
            Ok(_) => Ok(key),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => self
                .get(family)
                .await?
                .ok_or_else(|| Error::Nats(format!("the key of family {family} vanished while created"))),
            Err(error) => Err(Error::Unavailable(format!("creating the key of family {family}: {error}"))),
        }
    }

    async fn get(&self, family: &str) -> Result<Option<FamilyKey>> {
        let value =
            self.bucket.get(family).await.map_err(|error| {
                Error::Unavailable(format!("reading the key of family {family}: {error}"))
            })?;
        value.map(|bytes| Self::decode(family, &bytes)).transpose()
    }

    async fn erase(&self, family: &str) -> Result<()> {
        self.bucket
            .purge(family)
            .await
            .map_err(|error| Error::Unavailable(format!("erasing the key of family {family}: {error}")))
    }
}

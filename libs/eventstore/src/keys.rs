//! Where the families' data keys live. Erasing a family deletes its key, after which nothing
//! sealed with it can be opened again, in any service, projection, replay or export.
//!
//! [`KeyStore`] is the seam: the default is a NATS key-value bucket ([`NatsKeyStore`]); a key
//! management service can implement the trait later. [`CachedKeys`] keeps keys in memory and
//! forgets one as soon as the bucket reports it purged, in every process that watches it.

mod cached;
mod wrap;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::StreamExt;
use luukku_domain::sealing::FamilyKey;

use crate::{Error, EventStore, Result};

pub use cached::CachedKeys;
pub use wrap::{Kek, KeyRing, KeyWrapper, WrapError};

/// The bucket holding the family keys in the default setup.
pub const KEY_BUCKET: &str = "LUUKKU_FAMILY_KEYS";

/// The one key in the bucket that is no family's: the coordination service's search index
/// key, one per deployment, wrapped like the family keys and rotated with them. The families
/// service makes it (only it may write the bucket); coordination services read it.
pub const SEARCH_INDEX_KEY: &str = "search-index";

pub trait KeyStore: Send + Sync + 'static {
    /// The key of `family`, created when it never had one. Concurrent calls get the same key;
    /// a family whose key was erased gets [`Error::KeyErased`], never a new key.
    fn get_or_create(&self, family: &str) -> impl Future<Output = Result<FamilyKey>> + Send;

    /// The key of `family`, `None` when it never had one or it was erased.
    fn get(&self, family: &str) -> impl Future<Output = Result<Option<FamilyKey>>> + Send;

    /// The keys of `families`, each as [`KeyStore::get`] gives it; a store may read them
    /// together.
    fn get_many(
        &self,
        families: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Option<FamilyKey>>>> + Send {
        async move {
            let mut keys = HashMap::with_capacity(families.len());
            for family in families {
                keys.insert(family.clone(), self.get(family).await?);
            }
            Ok(keys)
        }
    }

    /// Deletes the key of `family` for good. Deleting a missing key succeeds.
    fn erase(&self, family: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Family keys in a JetStream key-value bucket with history 1, each wrapped under a
/// key-encryption key; erasing purges the key, so no earlier revision remains to read.
#[derive(Clone)]
pub struct NatsKeyStore {
    bucket: kv::Store,
    wrapper: Arc<dyn KeyWrapper>,
    client: async_nats::Client,
    store: EventStore,
}

/// How many keys one batched read asks for.
const BATCH_GET: usize = 256;

impl std::fmt::Debug for NatsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsKeyStore").field("bucket", &KEY_BUCKET).finish_non_exhaustive()
    }
}

/// What `rewrap` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    /// Keys now wrapped under the current key-encryption key that were not before.
    pub rewrapped: usize,
    /// Keys already wrapped under it.
    pub current: usize,
}

impl NatsKeyStore {
    /// Opens the bucket, which must exist (see [`NatsKeyStore::provision`]); keys are wrapped
    /// by `wrapper`.
    pub async fn open(store: &EventStore, wrapper: Arc<dyn KeyWrapper>) -> Result<Self> {
        let bucket = store.open_bucket(KEY_BUCKET, "the family key bucket").await?;
        Ok(Self { bucket, wrapper, client: store.client().clone(), store: store.clone() })
    }

    /// Up to [`BATCH_GET`] keys in one direct get of the last message of each subject (a
    /// batched get, nats-server 2.11 and newer): the answers come one message each, then an
    /// end-of-batch status. A subject with no message is left out of the answers; a purged
    /// one answers with its purge marker. A batch left unanswered (a replica that stopped) is
    /// asked of the bucket's leader, key by key.
    async fn get_batch(
        &self,
        families: &[String],
        keys: &mut HashMap<String, Option<FamilyKey>>,
    ) -> Result<()> {
        let unavailable = |what: String| Error::Unavailable(format!("reading family keys: {what}"));
        let subjects: Vec<String> =
            families.iter().map(|family| format!("{}{family}", self.bucket.prefix)).collect();
        let request = serde_json::json!({ "multi_last": subjects, "batch": families.len() });
        let request = serde_json::to_vec(&request).map_err(|error| unavailable(error.to_string()))?;
        let inbox = self.client.new_inbox();
        let mut answers =
            self.client.subscribe(inbox.clone()).await.map_err(|error| unavailable(error.to_string()))?;
        let subject = format!("$JS.API.DIRECT.GET.{}", self.bucket.stream_name);
        self.client
            .publish_with_reply(subject.clone(), inbox, request.into())
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        // A replica that stopped never sends the first answer; one that sent it answers.
        let first = crate::deadline::first_answer(&self.bucket.stream_name, &subject, answers.next()).await?;
        let Some(mut next) = first else {
            for family in families {
                keys.insert(family.clone(), self.leader_key(family).await?);
            }
            return Ok(());
        };
        loop {
            let answer = next.ok_or_else(|| unavailable("the answers ended".into()))?;
            if let Some(status) = answer.status {
                match status.as_u16() {
                    // End of the batch, or none of the subjects has a message.
                    204 | 404 => return Ok(()),
                    code => return Err(unavailable(format!("status {code} {:?}", answer.description))),
                }
            }
            let headers = answer.headers.as_ref();
            let header =
                |name: &str| headers.and_then(|headers| headers.get(name)).map(|value| value.as_str());
            let Some(family) =
                header("Nats-Subject").and_then(|subject| subject.strip_prefix(&self.bucket.prefix))
            else {
                return Err(unavailable("an answer without its subject".into()));
            };
            let key = match header("KV-Operation") {
                Some("DEL" | "PURGE") => None,
                _ => Some(self.decode(family, &answer.payload)?),
            };
            keys.insert(family.to_owned(), key);
            next = crate::deadline::later_answer(&subject, answers.next()).await?;
        }
    }

    /// The family's key as the bucket's leader holds it: `None` for none or an erasure's marker
    /// (which is empty).
    async fn leader_key(&self, family: &str) -> Result<Option<FamilyKey>> {
        match leader_entry(&self.store, family).await? {
            Some(bytes) if !bytes.is_empty() => self.decode(family, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    /// Creates the bucket, or brings it to its settings (admin only).
    pub async fn provision(store: &EventStore) -> Result<()> {
        store
            .provision_bucket(kv::Config {
                bucket: KEY_BUCKET.to_owned(),
                description: "luukku: one data key per family; erasure deletes it".to_owned(),
                history: 1,
                max_value_size: 1024,
                max_bytes: 256 * 1024 * 1024,
                storage: jetstream::stream::StorageType::File,
                num_replicas: store.settings().replicas,
                ..Default::default()
            })
            .await
    }

    fn decode(&self, family: &str, bytes: &[u8]) -> Result<FamilyKey> {
        self.wrapper
            .unwrap(family, bytes)
            .map_err(|error| Error::Nats(format!("the stored key of family {family} is unusable: {error}")))
    }

    fn wrapped(&self, family: &str, key: &FamilyKey) -> Result<Bytes> {
        self.wrapper
            .wrap(family, key)
            .map(Bytes::from)
            .map_err(|error| Error::Nats(format!("wrapping the key of family {family}: {error}")))
    }

    /// Wraps every key under the current key-encryption key: after a rotation, and for keys
    /// stored before wrapping (given as `unwrapped_allowed`). A key changed meanwhile is left
    /// for the next run.
    pub async fn rewrap(&self, unwrapped_allowed: bool) -> Result<Rewrapped> {
        let mut done = Rewrapped::default();
        let mut families = self.bucket.keys().await.map_err(Error::nats)?;
        while let Some(family) = families.next().await {
            let family = family.map_err(Error::nats)?;
            let Some(entry) = self.bucket.entry(&family).await.map_err(Error::nats)? else {
                continue;
            };
            if entry.operation != kv::Operation::Put || self.wrapper.is_current(&entry.value) {
                done.current += usize::from(entry.operation == kv::Operation::Put);
                continue;
            }
            let key = match self.wrapper.unwrap(&family, &entry.value) {
                Ok(key) => key,
                Err(WrapError::Unwrapped) if unwrapped_allowed => FamilyKey::from_bytes(&entry.value)
                    .map_err(|error| Error::Nats(format!("family {family}: {error}")))?,
                Err(error) => return Err(Error::Nats(format!("family {family}: {error}"))),
            };
            let wrapped = self.wrapped(&family, &key)?;
            match self.bucket.update(&family, wrapped, entry.revision).await {
                Ok(_) => done.rewrapped += 1,
                Err(error) => tracing::warn!(%error, "a key changed while it was rewrapped; run again"),
            }
        }
        Ok(done)
    }
}

impl KeyStore for NatsKeyStore {
    async fn get_or_create(&self, family: &str) -> Result<FamilyKey> {
        let key = FamilyKey::generate();
        // Written only where the family's subject holds nothing: not over another process's new
        // key, and not over the marker an erasure leaves (which `kv::Store::create` would take
        // as room for a new key).
        match self.bucket.update(family, self.wrapped(family, &key)?, 0).await {
            Ok(_) => Ok(key),
            // Another process's key, or the erasure's marker: asked of the bucket's leader, since
            // a replica behind the purge could still answer the old key.
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.leader_key(family).await?.ok_or_else(|| Error::KeyErased { family: family.to_owned() })
            }
            Err(error) => Err(Error::Unavailable(format!("creating the key of family {family}: {error}"))),
        }
    }

    async fn get(&self, family: &str) -> Result<Option<FamilyKey>> {
        let subject = format!("{}{family}", self.bucket.prefix);
        let first =
            crate::deadline::first_answer(&self.bucket.stream_name, &subject, self.bucket.get(family));
        let Some(value) = first.await? else {
            return self.leader_key(family).await;
        };
        let value = value
            .map_err(|error| Error::Unavailable(format!("reading the key of family {family}: {error}")))?;
        if let Some(bytes) = value {
            return self.decode(family, &bytes).map(Some);
        }
        // A direct get may come from a replica that lags behind a key made a moment ago: none is
        // answered only when the bucket's leader has none either (a purge leaves an empty marker).
        // A bucket of one replica is its own leader.
        if !self.store.replicated_named(&format!("KV_{KEY_BUCKET}")).await {
            return Ok(None);
        }
        self.leader_key(family).await
    }

    async fn get_many(&self, families: &[String]) -> Result<HashMap<String, Option<FamilyKey>>> {
        let mut keys = HashMap::with_capacity(families.len());
        for batch in families.chunks(BATCH_GET) {
            self.get_batch(batch, &mut keys).await?;
        }
        // A family the batches did not answer for has no key, unless the server cut a batch
        // short: asked alone, it is certain (erased families are few).
        for family in families {
            if !keys.contains_key(family) {
                let key = self.get(family).await?;
                keys.insert(family.clone(), key);
            }
        }
        Ok(keys)
    }

    async fn erase(&self, family: &str) -> Result<()> {
        self.bucket
            .purge(family)
            .await
            .map_err(|error| Error::Unavailable(format!("erasing the key of family {family}: {error}")))
    }
}

/// What the bucket holds on a family's key subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Key,
    /// The marker an erasure's purge leaves (or a deletion's): no key is made over it.
    ErasureMarker,
    /// Nothing: never a key, or a bucket restored from a backup older than the key. A key
    /// could be made for the family (again).
    Nothing,
}

/// The last entry of `family`'s key subject as the bucket's leader holds it (a replica may be
/// behind an erasure): a key, or an erasure's empty marker.
async fn leader_entry(store: &EventStore, family: &str) -> Result<Option<Bytes>> {
    let subject = format!("$KV.{KEY_BUCKET}.{family}");
    Ok(store.leader_last(&format!("KV_{KEY_BUCKET}"), &subject).await?.map(|(_, bytes)| bytes))
}

/// What the bucket holds for each of `families`, in their order, as its leader holds it: a
/// replica behind a purge, or behind a key put back, would misreport the family.
pub async fn key_states(store: &EventStore, families: &[String]) -> Result<Vec<KeyState>> {
    let mut states = Vec::with_capacity(families.len());
    for family in families {
        states.push(match leader_entry(store, family).await? {
            // A key is never empty; a deletion's or a purge's marker is.
            Some(bytes) if !bytes.is_empty() => KeyState::Key,
            Some(_) => KeyState::ErasureMarker,
            None => KeyState::Nothing,
        });
    }
    Ok(states)
}

/// Which of `families` (erased ones) still have a key in the bucket: an erasure whose key
/// deletion failed and was not retried.
pub async fn leftover_keys(store: &EventStore, families: &[String]) -> Result<Vec<String>> {
    let states = key_states(store, families).await?;
    Ok(families
        .iter()
        .zip(states)
        .filter(|(_, state)| *state == KeyState::Key)
        .map(|(family, _)| family.clone())
        .collect())
}

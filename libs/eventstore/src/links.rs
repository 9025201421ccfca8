//! Which family member an identity provider's subject signs in as. The families service records
//! a link as an event and then writes it here, keyed by a hash of the subject, so that any
//! service can resolve a family member's token with one read; the bucket holds no subject in
//! the clear and is rebuilt from the events if lost.

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use luukku_domain::family::MemberRef;
use sha2::{Digest, Sha256};

use crate::{Error, EventStore, Result};

/// The bucket of member links.
pub const LINK_BUCKET: &str = "LUUKKU_MEMBER_LINKS";

/// The key a subject's link is stored under: a hash, so the bucket names no one.
pub fn subject_key(subject: &str) -> String {
    Sha256::digest(format!("luukku member link\0{subject}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates the link bucket, or brings it to its settings (admin only).
pub async fn provision(store: &EventStore) -> Result<()> {
    store.provision_bucket(bucket_config(store.settings().replicas)).await
}

/// The configuration of the link bucket, for provisioning.
pub fn bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: LINK_BUCKET.to_owned(),
        description: "luukku: the family member an identity provider's subject signs in as".to_owned(),
        history: 1,
        max_value_size: 128,
        max_bytes: 64 * 1024 * 1024,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// The member links in their bucket.
#[derive(Clone, Debug)]
pub struct MemberLinks {
    bucket: kv::Store,
}

impl MemberLinks {
    /// Opens the provisioned bucket.
    pub async fn open(store: &EventStore) -> Result<Self> {
        let bucket = store.open_bucket(LINK_BUCKET, "the member link bucket").await?;
        Ok(Self { bucket })
    }

    /// The member `subject` signs in as, if linked.
    pub async fn member_of(&self, subject: &str) -> Result<Option<MemberRef>> {
        self.member_under(&subject_key(subject)).await
    }

    /// The member linked under `key`, if any.
    pub async fn member_under(&self, key: &str) -> Result<Option<MemberRef>> {
        let value = self
            .bucket
            .get(key)
            .await
            .map_err(|error| Error::Unavailable(format!("reading a member link: {error}")))?;
        Ok(value.and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok()))
    }

    /// Links the subject whose key is `key` to `member`.
    pub async fn put(&self, key: &str, member: MemberRef) -> Result<()> {
        self.bucket
            .put(key, Bytes::from(member.to_string()))
            .await
            .map(|_| ())
            .map_err(|error| Error::Unavailable(format!("writing a member link: {error}")))
    }

    /// Removes the link under `key`; removing a missing one succeeds.
    pub async fn remove(&self, key: &str) -> Result<()> {
        self.bucket
            .purge(key)
            .await
            .map_err(|error| Error::Unavailable(format!("removing a member link: {error}")))
    }
}

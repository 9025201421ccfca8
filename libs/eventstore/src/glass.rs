//! Break-glass access: an operator's time-limited access to one family's personal data, given
//! with a reason. Each grant is kept in a bucket, keyed by a hash of the operator and the
//! family, until it ends; the access log records the grant and every use.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use luukku_domain::access::BreakGlass;
use luukku_domain::family::FamilyId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, EventStore, Result};

/// The bucket of break-glass grants.
pub const GLASS_BUCKET: &str = "LUUKKU_BREAK_GLASS";
/// The longest a grant lasts.
pub const MAX_GLASS: Duration = Duration::from_secs(60 * 60);

fn key(person: &str, family: FamilyId) -> String {
    Sha256::digest(format!("luukku break glass\0{person}\0{family}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    family: FamilyId,
    reason: String,
    until_ms: i64,
}

/// The bucket's configuration: grants are forgotten a day after they were given.
pub fn bucket_config(replicas: usize) -> kv::Config {
    kv::Config {
        bucket: GLASS_BUCKET.to_owned(),
        description: "luukku: operators' break-glass access, each until it ends".to_owned(),
        history: 1,
        max_age: Duration::from_secs(24 * 60 * 60),
        max_value_size: 4096,
        max_bytes: 16 * 1024 * 1024,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// Creates the bucket, or brings it to its settings (admin only).
pub async fn provision(store: &EventStore) -> Result<()> {
    store.provision_bucket(bucket_config(store.settings().replicas)).await
}

/// The grants in their bucket.
#[derive(Clone, Debug)]
pub struct Glass {
    bucket: kv::Store,
}

impl Glass {
    pub async fn open(store: &EventStore) -> Result<Self> {
        let bucket = store.open_bucket(GLASS_BUCKET, "the break-glass bucket").await?;
        Ok(Self { bucket })
    }

    /// Gives `person` access to `family` until `until_ms`, for `reason`.
    pub async fn grant(&self, person: &str, family: FamilyId, reason: &str, until_ms: i64) -> Result<()> {
        let grant = Grant { family, reason: reason.to_owned(), until_ms };
        let bytes = postcard::to_stdvec(&grant).map_err(|error| Error::Nats(error.to_string()))?;
        self.bucket
            .put(key(person, family), bytes.into())
            .await
            .map(|_| ())
            .map_err(|error| Error::Unavailable(format!("storing a break-glass grant: {error}")))
    }

    /// The grant `person` holds for `family`, if any (it may have ended: the policy checks).
    pub async fn grant_of(&self, person: &str, family: FamilyId) -> Result<Option<BreakGlass>> {
        let value = self
            .bucket
            .get(key(person, family))
            .await
            .map_err(|error| Error::Unavailable(format!("reading a break-glass grant: {error}")))?;
        Ok(value
            .and_then(|bytes| postcard::from_bytes::<Grant>(&bytes).ok())
            .filter(|grant| grant.family == family)
            .map(|grant| BreakGlass {
                family_id: grant.family,
                reason: grant.reason,
                until_ms: grant.until_ms,
            }))
    }
}

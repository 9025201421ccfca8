//! The projection's keys in one sled tree, and a transaction that applies a batch of messages
//! and the streams' checkpoints in one atomic `apply_batch`.

use std::collections::{BTreeMap, BTreeSet};

use luukku_domain::family::FamilyId;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The projected streams, in the order of their checkpoints.
pub const STREAMS: [&str; 4] = ["FAMILIES", "CONTACTS", "REFERRALS", "MEETINGS"];

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value does not decode: {0}")]
    Codec(String),
    #[error("the event store: {0}")]
    Store(#[from] luukku_eventstore::Error),
}

pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;

pub fn stream_index(name: &str) -> Option<usize> {
    STREAMS.iter().position(|stream| *stream == name)
}

/// Key layouts: a one-byte kind, then big-endian ids and numbers, so prefixes scan in order.
pub mod key {
    use luukku_domain::family::FamilyId;

    fn with(kind: u8, ulid: ulid::Ulid) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(kind);
        key.extend_from_slice(&ulid.to_bytes());
        key
    }

    pub fn checkpoint(stream: usize) -> Vec<u8> {
        vec![b'c', u8::try_from(stream).unwrap_or(u8::MAX)]
    }

    pub fn family(id: FamilyId) -> Vec<u8> {
        with(b'f', id.as_ulid())
    }

    pub const FAMILY_PREFIX: &[u8] = b"f";

    pub fn erased(id: FamilyId) -> Vec<u8> {
        with(b'x', id.as_ulid())
    }

    pub fn person(id: ulid::Ulid) -> Vec<u8> {
        with(b'p', id)
    }

    pub fn service(id: ulid::Ulid) -> Vec<u8> {
        with(b's', id)
    }

    pub fn referral_family(id: ulid::Ulid) -> Vec<u8> {
        with(b'r', id)
    }

    pub fn consultation(id: ulid::Ulid) -> Vec<u8> {
        with(b'k', id)
    }

    pub const CONSULTATION_PREFIX: &[u8] = b"k";

    pub fn timeline_prefix(family: FamilyId) -> Vec<u8> {
        with(b't', family.as_ulid())
    }

    /// Ordered by time, then stream and sequence.
    pub fn timeline(family: FamilyId, at_ms: i64, stream: usize, sequence: u64) -> Vec<u8> {
        let mut key = timeline_prefix(family);
        // Flip the sign bit so negative times sort before positive ones.
        key.extend_from_slice(&((at_ms as u64) ^ (1 << 63)).to_be_bytes());
        key.push(u8::try_from(stream).unwrap_or(u8::MAX));
        key.extend_from_slice(&sequence.to_be_bytes());
        key
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| ProjectionError::Codec(error.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|error| ProjectionError::Codec(error.to_string()))
}

pub fn checkpoints(tree: &sled::Tree) -> Result<[u64; 4]> {
    let mut positions = [0; 4];
    for (stream, position) in positions.iter_mut().enumerate() {
        if let Some(value) = tree.get(key::checkpoint(stream))? {
            *position = u64::from_be_bytes(
                value.as_ref().try_into().map_err(|_| ProjectionError::Codec("checkpoint".into()))?,
            );
        }
    }
    Ok(positions)
}

/// Changes to the tree, read back before they are written, applied at once by `commit`.
pub struct Txn<'a> {
    tree: &'a sled::Tree,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub changed: BTreeSet<FamilyId>,
}

impl<'a> Txn<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Self { tree, overlay: BTreeMap::new(), changed: BTreeSet::new() }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.overlay.get(key) {
            Some(Some(bytes)) => decode(bytes).map(Some),
            Some(None) => Ok(None),
            None => self.tree.get(key)?.map(|bytes| decode(&bytes)).transpose(),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        match self.overlay.get(key) {
            Some(value) => Ok(value.is_some()),
            None => Ok(self.tree.contains_key(key)?),
        }
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        self.overlay.insert(key, Some(encode(value)?));
        Ok(())
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }

    /// Removes every key under `prefix`, in the tree and in this transaction.
    pub fn remove_prefix(&mut self, prefix: &[u8]) -> Result<()> {
        for entry in self.tree.scan_prefix(prefix).keys() {
            self.overlay.insert(entry?.to_vec(), None);
        }
        for (key, value) in self.overlay.iter_mut() {
            if key.starts_with(prefix) {
                *value = None;
            }
        }
        Ok(())
    }

    pub fn checkpoint(&mut self, stream: usize, sequence: u64) {
        self.overlay.insert(key::checkpoint(stream), Some(sequence.to_be_bytes().to_vec()));
    }

    /// Writes everything at once; a crash keeps all of it or none.
    pub fn commit(self) -> Result<BTreeSet<FamilyId>> {
        let mut batch = sled::Batch::default();
        for (key, value) in self.overlay {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(self.changed)
    }
}

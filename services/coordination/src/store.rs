//! The projection's keys in one sled tree, and a transaction that applies a batch of messages
//! and the streams' checkpoints in one atomic `apply_batch`.

use std::collections::{BTreeMap, BTreeSet};

use luukku_domain::family::FamilyId;
use serde::Serialize;

use crate::doc::FamilyDoc;
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
/// One timeline entry, told without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    pub at_ms: i64,
    pub stream: usize,
    pub sequence: u64,
    /// Which entry of its message.
    pub part: usize,
    pub event_type: &'static str,
    pub text: String,
    pub actor: String,
}

pub struct Txn<'a> {
    /// `None`: a scratch transaction over nothing, for telling a family's history.
    tree: Option<&'a sled::Tree>,
    /// Collected when telling a history; the projection does not store timelines.
    pub timeline: Option<Vec<TimelineItem>>,
    overlay: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Family documents decoded once per batch and encoded once at commit; `None` removes.
    families: BTreeMap<FamilyId, Option<FamilyDoc>>,
    pub changed: BTreeSet<FamilyId>,
}

impl<'a> Txn<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree: Some(tree),
            timeline: None,
            overlay: BTreeMap::new(),
            families: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }

    /// A transaction over an empty projection that collects timeline entries and is never
    /// committed.
    pub fn scratch() -> Txn<'static> {
        Txn {
            tree: None,
            timeline: Some(Vec::new()),
            overlay: BTreeMap::new(),
            families: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }

    fn stored(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        match self.tree {
            Some(tree) => Ok(tree.get(key)?),
            None => Ok(None),
        }
    }

    /// The family's document for changing, a new one when it has none.
    pub fn family_mut(&mut self, family: FamilyId) -> Result<&mut FamilyDoc> {
        if !self.families.contains_key(&family) {
            let stored = self.stored(&key::family(family))?.map(|bytes| decode(&bytes)).transpose()?;
            self.families.insert(family, stored);
        }
        let slot = self.families.entry(family).or_insert(None);
        Ok(slot.get_or_insert_with(FamilyDoc::default))
    }

    /// The family's document as it stands in this batch.
    pub fn family(&mut self, family: FamilyId) -> Result<Option<FamilyDoc>> {
        match self.families.get(&family) {
            Some(doc) => Ok(doc.clone()),
            None => self.stored(&key::family(family))?.map(|bytes| decode(&bytes)).transpose(),
        }
    }

    pub fn remove_family(&mut self, family: FamilyId) {
        self.families.insert(family, None);
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.overlay.get(key) {
            Some(bytes) => decode(bytes).map(Some),
            None => self.stored(key)?.map(|bytes| decode(&bytes)).transpose(),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.overlay.contains_key(key) || self.stored(key)?.is_some())
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        self.overlay.insert(key, encode(value)?);
        Ok(())
    }

    pub fn checkpoint(&mut self, stream: usize, sequence: u64) {
        self.overlay.insert(key::checkpoint(stream), sequence.to_be_bytes().to_vec());
    }

    /// Writes everything at once; a crash keeps all of it or none.
    pub fn commit(self) -> Result<BTreeSet<FamilyId>> {
        let mut batch = sled::Batch::default();
        for (family, doc) in &self.families {
            match doc {
                Some(doc) => batch.insert(key::family(*family), encode(doc)?),
                None => batch.remove(key::family(*family)),
            }
        }
        for (key, value) in self.overlay {
            batch.insert(key, value);
        }
        if let Some(tree) = self.tree {
            tree.apply_batch(batch)?;
        }
        Ok(self.changed)
    }
}

//! The projection's keys in one sled tree: the only module that knows them. Writes go through
//! a [`Txn`] that applies a batch of messages and the streams' checkpoints at once; reads go
//! through a [`ProjectionTree`].

use std::collections::{BTreeMap, BTreeSet};

use luukku_domain::contacts::{ConsultationId, ContactPersonId};
use luukku_domain::family::FamilyId;
use luukku_domain::referrals::{ReferralId, ServiceId};
use luukku_eventstore::{Checkpoints, Stream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::doc::{ConsultationDoc, FamilyDoc, PersonDoc, ServiceDoc};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value does not decode: {0}")]
    Codec(String),
    #[error("the event store: {0}")]
    Store(#[from] luukku_eventstore::Error),
    /// A message's events do not decode: the projection stops at it.
    #[error("a message's events do not decode: {0}")]
    Events(#[from] luukku_app::EventsError),
}

pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;

/// Key layouts: a one-byte kind, then big-endian ids and numbers, so prefixes scan in order.
mod key {
    use luukku_eventstore::Stream;

    pub const FAMILY: u8 = b'f';
    pub const ERASED: u8 = b'x';
    pub const PERSON: u8 = b'p';
    pub const SERVICE: u8 = b's';
    pub const REFERRAL_FAMILY: u8 = b'r';
    pub const CONSULTATION: u8 = b'k';

    pub fn of(kind: u8, ulid: ulid::Ulid) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(kind);
        key.extend_from_slice(&ulid.to_bytes());
        key
    }

    pub fn checkpoint(stream: Stream) -> Vec<u8> {
        let index = Stream::ALL.iter().position(|each| *each == stream).unwrap_or(usize::MAX);
        vec![b'c', u8::try_from(index).unwrap_or(u8::MAX)]
    }

    /// The id in a key of `kind`.
    pub fn id(key: &[u8]) -> Option<ulid::Ulid> {
        key.get(1..17).and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()).map(ulid::Ulid::from_bytes)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| ProjectionError::Codec(error.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|error| ProjectionError::Codec(error.to_string()))
}

/// Reads of one generation of the projection.
#[derive(Clone)]
pub struct ProjectionTree(pub(super) sled::Tree);

impl ProjectionTree {
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.0.get(key)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Where this generation stands in each stream.
    pub fn checkpoints(&self) -> Result<Checkpoints> {
        let mut checkpoints = Checkpoints::default();
        for stream in Stream::ALL {
            if let Some(value) = self.0.get(key::checkpoint(stream))? {
                let bytes =
                    value.as_ref().try_into().map_err(|_| ProjectionError::Codec("checkpoint".into()))?;
                checkpoints.set(stream, u64::from_be_bytes(bytes));
            }
        }
        Ok(checkpoints)
    }

    /// The family's document, sealed as stored.
    pub fn family(&self, family: FamilyId) -> Result<Option<FamilyDoc>> {
        self.get(&key::of(key::FAMILY, family.as_ulid()))
    }

    pub fn person(&self, person: ContactPersonId) -> Result<Option<PersonDoc>> {
        self.get(&key::of(key::PERSON, person.as_ulid()))
    }

    pub fn service(&self, service: ServiceId) -> Result<Option<ServiceDoc>> {
        self.get(&key::of(key::SERVICE, service.as_ulid()))
    }

    /// Every family's document, sealed as stored, in id order.
    pub fn families(&self) -> impl Iterator<Item = Result<(FamilyId, FamilyDoc)>> + '_ {
        self.0.scan_prefix([key::FAMILY]).map(|item| {
            let (key, value) = item?;
            let id = key::id(&key).ok_or_else(|| ProjectionError::Codec("a family key".into()))?;
            Ok((FamilyId::from_ulid(id), decode(&value)?))
        })
    }

    /// Every key and value, as stored: for comparing two projections and for checking what
    /// the files hold.
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.0
            .iter()
            .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(Into::into))
            .collect()
    }

    /// Every consultation's document.
    pub fn consultations(&self) -> impl Iterator<Item = Result<ConsultationDoc>> + '_ {
        self.0.scan_prefix([key::CONSULTATION]).values().map(|value| decode(&value?))
    }
}

/// Changes to the tree, read back before they are written, applied at once by `commit`.
pub struct Txn<'a> {
    tree: &'a sled::Tree,
    overlay: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Family documents decoded once per batch and encoded once at commit; `None` removes.
    families: BTreeMap<FamilyId, Option<FamilyDoc>>,
    /// The families whose documents changed, for watchers.
    pub changed: BTreeSet<FamilyId>,
}

impl<'a> Txn<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Self { tree, overlay: BTreeMap::new(), families: BTreeMap::new(), changed: BTreeSet::new() }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.overlay.get(key) {
            Some(bytes) => decode(bytes).map(Some),
            None => self.tree.get(key)?.map(|bytes| decode(&bytes)).transpose(),
        }
    }

    fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        self.overlay.insert(key, encode(value)?);
        Ok(())
    }

    /// The family's document for changing, a new one when it has none.
    pub fn family_mut(&mut self, family: FamilyId) -> Result<&mut FamilyDoc> {
        if !self.families.contains_key(&family) {
            let stored = self.get(&key::of(key::FAMILY, family.as_ulid()))?;
            self.families.insert(family, stored);
        }
        let slot = self.families.entry(family).or_insert(None);
        Ok(slot.get_or_insert_with(FamilyDoc::default))
    }

    /// The family's document as it stands in this batch.
    pub fn family(&self, family: FamilyId) -> Result<Option<FamilyDoc>> {
        match self.families.get(&family) {
            Some(doc) => Ok(doc.clone()),
            None => self.get(&key::of(key::FAMILY, family.as_ulid())),
        }
    }

    /// Forgets the family for good: its document goes, and a marker keeps later events of
    /// other streams from bringing it back.
    pub fn erase_family(&mut self, family: FamilyId) -> Result<()> {
        self.families.insert(family, None);
        self.put(key::of(key::ERASED, family.as_ulid()), &())
    }

    pub fn is_erased(&self, family: FamilyId) -> Result<bool> {
        let key = key::of(key::ERASED, family.as_ulid());
        Ok(self.overlay.contains_key(&key) || self.tree.get(&key)?.is_some())
    }

    /// Changes a contact person's document, a new one when they have none.
    pub fn update_person(
        &mut self,
        person: ContactPersonId,
        change: impl FnOnce(&mut PersonDoc),
    ) -> Result<()> {
        let key = key::of(key::PERSON, person.as_ulid());
        let mut doc: PersonDoc = self.get(&key)?.unwrap_or_default();
        change(&mut doc);
        self.put(key, &doc)
    }

    pub fn put_service(&mut self, service: ServiceId, doc: &ServiceDoc) -> Result<()> {
        self.put(key::of(key::SERVICE, service.as_ulid()), doc)
    }

    pub fn put_consultation(&mut self, consultation: ConsultationId, doc: &ConsultationDoc) -> Result<()> {
        self.put(key::of(key::CONSULTATION, consultation.as_ulid()), doc)
    }

    /// The family a referral is about, known from its creation.
    pub fn referral_family(&self, referral: ReferralId) -> Result<Option<FamilyId>> {
        self.get(&key::of(key::REFERRAL_FAMILY, referral.as_ulid()))
    }

    pub fn set_referral_family(&mut self, referral: ReferralId, family: FamilyId) -> Result<()> {
        self.put(key::of(key::REFERRAL_FAMILY, referral.as_ulid()), &family)
    }

    pub fn checkpoint(&mut self, stream: Stream, sequence: u64) {
        self.overlay.insert(key::checkpoint(stream), sequence.to_be_bytes().to_vec());
    }

    /// Writes everything at once; a crash keeps all of it or none.
    pub fn commit(self) -> Result<BTreeSet<FamilyId>> {
        let mut batch = sled::Batch::default();
        for (family, doc) in &self.families {
            match doc {
                Some(doc) => batch.insert(key::of(key::FAMILY, family.as_ulid()), encode(doc)?),
                None => batch.remove(key::of(key::FAMILY, family.as_ulid())),
            }
        }
        for (key, value) in self.overlay {
            batch.insert(key, value);
        }
        self.tree.apply_batch(batch)?;
        Ok(self.changed)
    }
}

//! The projection's keys in one sled tree: the only module that knows them. Writes go through
//! a [`Txn`] that applies a batch of messages and the streams' checkpoints at once; reads go
//! through a [`ProjectionTree`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use luukku_app::writes::{LoggedTree, Writes};
use luukku_domain::contacts::{ConsultationId, ContactPersonId};
use luukku_domain::family::{FamilyId, MemberDetails};
use luukku_domain::referrals::{ReferralId, ServiceId};
use luukku_eventstore::{Checkpoints, Stream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::doc::{ConsultationDoc, FamilyDoc, PersonDoc, ServiceDoc, TimelineDoc};
use super::search::{Entries, Hash, SearchKey};
use luukku_domain::sealing::{FamilyKey, PersonalField as _};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value does not decode: {0}")]
    Codec(String),
    #[error("the event store: {0}")]
    Store(#[from] luukku_eventstore::Error),
    /// A projection's applier has ended, which only a fault in it does.
    #[error("the projection's applier has ended: {0}")]
    Ended(String),
}

pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;

/// Where an event stands in a family's timeline: its time, then its stream, sequence and place
/// in its message. A page of a timeline ends at one; the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimelineCursor {
    pub at_ms: i64,
    pub stream: Stream,
    pub sequence: u64,
    /// Which event of its message.
    pub part: u32,
}

/// Key layouts: a one-byte kind, then big-endian ids and numbers, so prefixes scan in order.
mod key {
    use luukku_eventstore::Stream;

    pub const FAMILY: u8 = b'f';
    pub const ERASED: u8 = b'x';
    pub const PERSON: u8 = b'p';
    pub const SERVICE: u8 = b's';
    pub const REFERRAL_FAMILY: u8 = b'r';
    pub const CONSULTATION: u8 = b'k';
    pub const TIMELINE: u8 = b't';
    /// The search index of identity codes: a hash, then a family.
    pub const INDEX: u8 = b'h';
    /// A family's entries in the search index.
    pub const INDEXED: u8 = b'n';
    /// The check of the key the search index was made with.
    pub const SEARCH_CHECK: &[u8] = b"v";
    /// A family whose names are to be indexed again.
    pub const PENDING: u8 = b'w';
    /// A caseload's name hashes: the contact person, then the family, so that a search in a
    /// caseload reads one key range rather than one record per family.
    pub const CASELOAD_NAMES: u8 = b'm';

    pub fn of(kind: u8, ulid: ulid::Ulid) -> Vec<u8> {
        let mut key = Vec::with_capacity(17);
        key.push(kind);
        key.extend_from_slice(&ulid.to_bytes());
        key
    }

    pub fn checkpoint(stream: Stream) -> Vec<u8> {
        vec![b'c', stream_index(stream)]
    }

    pub fn stream_index(stream: Stream) -> u8 {
        let index = Stream::ALL.iter().position(|each| *each == stream).unwrap_or(usize::MAX);
        u8::try_from(index).unwrap_or(u8::MAX)
    }

    /// One chunk of a family's timeline: the family, then the chunk's number.
    pub fn timeline_chunk(family: ulid::Ulid, chunk: u32) -> Vec<u8> {
        let mut key = of(TIMELINE, family);
        key.extend_from_slice(&chunk.to_be_bytes());
        key
    }

    /// One entry of the search index.
    pub fn index(hash: super::Hash, family: ulid::Ulid) -> Vec<u8> {
        let mut key = index_prefix(hash);
        key.extend_from_slice(&family.to_bytes());
        key
    }

    pub fn index_prefix(hash: super::Hash) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + hash.len() + 16);
        key.push(INDEX);
        key.extend_from_slice(&hash);
        key
    }

    /// The name hashes of `family` in the caseload of `person`.
    pub fn caseload_names(person: ulid::Ulid, family: ulid::Ulid) -> Vec<u8> {
        let mut key = of(CASELOAD_NAMES, person);
        key.extend_from_slice(&family.to_bytes());
        key
    }

    /// The family of a caseload's name-hash key.
    pub fn caseload_family(key: &[u8]) -> Option<ulid::Ulid> {
        key.get(17..33).and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()).map(ulid::Ulid::from_bytes)
    }

    /// The family of an index entry's key.
    pub fn indexed_family(key: &[u8]) -> Option<ulid::Ulid> {
        let start = 1 + std::mem::size_of::<super::Hash>();
        key.get(start..start + 16)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(ulid::Ulid::from_bytes)
    }

    /// The number of a timeline chunk's key.
    pub fn chunk_number(key: &[u8]) -> Option<u32> {
        key.get(17..21).and_then(|bytes| bytes.try_into().ok()).map(u32::from_be_bytes)
    }

    /// The id in a key of `kind`.
    pub fn id(key: &[u8]) -> Option<ulid::Ulid> {
        key.get(1..17).and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()).map(ulid::Ulid::from_bytes)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| ProjectionError::Codec(error.to_string()))
}

fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|error| ProjectionError::Codec(error.to_string()))
}

/// A timeline entry as a chunk stores it ([`StoredRef`] reads it).
#[derive(Debug, Clone, Serialize)]
struct Stored {
    at_ms: i64,
    stream: u8,
    sequence: u64,
    part: u32,
    doc: TimelineDoc,
}

impl Stored {
    fn of((at, doc): &(TimelineCursor, TimelineDoc)) -> Self {
        let stream = key::stream_index(at.stream);
        Self { at_ms: at.at_ms, stream, sequence: at.sequence, part: at.part, doc: doc.clone() }
    }
}

/// A timeline entry as a chunk stores it, read in place: only the entries a read returns are
/// copied out of the chunk.
#[derive(serde::Deserialize)]
struct StoredRef<'a> {
    at_ms: i64,
    stream: u8,
    sequence: u64,
    part: u32,
    #[serde(borrow)]
    doc: TimelineDocRef<'a>,
}

#[derive(serde::Deserialize)]
struct TimelineDocRef<'a> {
    event_type: &'a str,
    text: &'a str,
    actor: &'a str,
}

impl<'a> StoredRef<'a> {
    fn at(&self) -> Result<TimelineCursor> {
        let stream = *Stream::ALL
            .get(usize::from(self.stream))
            .ok_or_else(|| ProjectionError::Codec("a timeline entry's stream".into()))?;
        Ok(TimelineCursor { at_ms: self.at_ms, stream, sequence: self.sequence, part: self.part })
    }
}

impl TimelineDocRef<'_> {
    fn to_owned(&self) -> TimelineDoc {
        TimelineDoc {
            event_type: self.event_type.to_owned(),
            text: self.text.to_owned(),
            actor: self.actor.to_owned(),
        }
    }
}

/// How many chunks a family's timeline may have before they are merged into one.
const CHUNKS: u32 = 16;

/// The numbers of the family's timeline chunks, in order.
fn chunk_numbers(tree: &sled::Tree, family: ulid::Ulid) -> Result<Vec<u32>> {
    tree.scan_prefix(key::of(key::TIMELINE, family))
        .keys()
        .map(|key| key::chunk_number(&key?).ok_or_else(|| ProjectionError::Codec("a timeline key".into())))
        .collect()
}

/// Every entry of the family's timeline, newest first.
fn timeline_of(tree: &sled::Tree, family: FamilyId) -> Result<Vec<(TimelineCursor, TimelineDoc)>> {
    timeline_before(tree, family, None, usize::MAX)
}

/// Up to `limit` entries of the family's timeline before `before`, newest first. The chunks
/// are read in place and sorted by position; only the entries returned are copied out.
fn timeline_before(
    tree: &sled::Tree,
    family: FamilyId,
    before: Option<TimelineCursor>,
    limit: usize,
) -> Result<Vec<(TimelineCursor, TimelineDoc)>> {
    let chunks = tree
        .scan_prefix(key::of(key::TIMELINE, family.as_ulid()))
        .values()
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut entries = Vec::new();
    for chunk in &chunks {
        for stored in decode::<Vec<StoredRef<'_>>>(chunk)? {
            let at = stored.at()?;
            if before.is_none_or(|before| at < before) {
                entries.push((at, stored.doc));
            }
        }
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    // A scan that met a merge sees some entries in the old chunks and in the merged one.
    entries.dedup_by_key(|entry| entry.0);
    Ok(entries.iter().take(limit).map(|(at, doc)| (*at, doc.to_owned())).collect())
}

/// Reads of one generation of the projection.
#[derive(Clone)]
pub struct ProjectionTree(pub(super) LoggedTree);

impl ProjectionTree {
    /// Opens the tree `name` of `db`, a projection's folder, finishing a commit a stop
    /// interrupted (for inspecting one that is not running, and for the projection itself).
    pub fn open(db: &sled::Db, name: impl AsRef<[u8]>) -> Result<Self> {
        Ok(Self(LoggedTree::open(db, name)?))
    }

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

    /// Up to `limit` of the family's timeline entries before `before` (all, without it),
    /// newest first.
    pub fn timeline(
        &self,
        family: FamilyId,
        before: Option<TimelineCursor>,
        limit: usize,
    ) -> Result<Vec<(TimelineCursor, TimelineDoc)>> {
        timeline_before(&self.0, family, before, limit)
    }

    /// The families with the identity code of `hash` in the search index.
    pub fn with_code(&self, hash: Hash) -> Result<Vec<FamilyId>> {
        self.0
            .scan_prefix(key::index_prefix(hash))
            .keys()
            .map(|entry| {
                key::indexed_family(&entry?)
                    .map(FamilyId::from_ulid)
                    .ok_or_else(|| ProjectionError::Codec("a search index key".into()))
            })
            .collect()
    }

    /// The name hashes of each family in the caseload of `person` that has any: one key range.
    pub fn caseload_names(&self, person: ContactPersonId) -> Result<Vec<(FamilyId, BTreeSet<Hash>)>> {
        self.0
            .scan_prefix(key::of(key::CASELOAD_NAMES, person.as_ulid()))
            .map(|entry| {
                let (key, value) = entry?;
                let family = key::caseload_family(&key)
                    .ok_or_else(|| ProjectionError::Codec("a caseload name key".into()))?;
                Ok((FamilyId::from_ulid(family), decode(&value)?))
            })
            .collect()
    }

    /// Up to `limit` families marked to be indexed again.
    pub fn pending_index(&self, limit: usize) -> Result<Vec<FamilyId>> {
        self.0
            .scan_prefix([key::PENDING])
            .keys()
            .take(limit)
            .map(|entry| {
                key::id(&entry?)
                    .map(FamilyId::from_ulid)
                    .ok_or_else(|| ProjectionError::Codec("a pending key".into()))
            })
            .collect()
    }

    /// The check of the search key the index was made with, once it has entries.
    pub fn search_check(&self) -> Result<Option<Hash>> {
        self.get(key::SEARCH_CHECK)
    }

    /// The family's entries in the search index.
    pub fn entries(&self, family: FamilyId) -> Result<Entries> {
        Ok(self.get(&key::of(key::INDEXED, family.as_ulid()))?.unwrap_or_default())
    }

    /// Every key and value, for comparing two projections and for checking what the files
    /// hold: as stored, except that each family's timeline chunks (which depend on how the
    /// messages fell into batches) are given as one value of every entry in order.
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut dump = Vec::new();
        for item in self.0.iter() {
            let (key, value) = item?;
            if key.first() != Some(&key::TIMELINE) {
                dump.push((key.to_vec(), value.to_vec()));
                continue;
            }
            let family = key::id(&key).ok_or_else(|| ProjectionError::Codec("a timeline key".into()))?;
            if key::chunk_number(&key) == chunk_numbers(&self.0, family)?.first().copied() {
                let entries: Vec<Stored> =
                    timeline_of(&self.0, FamilyId::from_ulid(family))?.iter().map(Stored::of).collect();
                dump.push((key::of(key::TIMELINE, family), encode(&entries)?));
            }
        }
        Ok(dump)
    }

    /// Every consultation's document.
    pub fn consultations(&self) -> impl Iterator<Item = Result<ConsultationDoc>> + '_ {
        self.0.scan_prefix([key::CONSULTATION]).values().map(|value| decode(&value?))
    }
}

/// Changes to the tree, read back before they are written, applied at once by `commit`.
pub struct Txn<'a> {
    tree: &'a LoggedTree,
    overlay: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Family documents decoded once per batch and encoded once at commit; `None` removes.
    families: BTreeMap<FamilyId, Option<FamilyDoc>>,
    /// Timeline entries to add, per family: one chunk per family per batch.
    timelines: BTreeMap<FamilyId, Vec<(TimelineCursor, TimelineDoc)>>,
    /// Key prefixes whose stored entries go at commit (an erased family's timeline).
    removed: Vec<Vec<u8>>,
    /// Keys that go at commit, before the new ones are written.
    deleted: Vec<Vec<u8>>,
    /// The families whose members changed, or which were erased: their index entries change.
    renamed: BTreeSet<FamilyId>,
    /// The families whose documents changed, for watchers.
    pub changed: BTreeSet<FamilyId>,
    /// Whether each family looked up in this batch is erased: every message of a family asks,
    /// and a lookup of a marker that is not there costs a descent of the tree.
    erased: HashMap<FamilyId, bool>,
}

impl<'a> Txn<'a> {
    pub fn new(tree: &'a LoggedTree) -> Self {
        Self {
            tree,
            overlay: BTreeMap::new(),
            families: BTreeMap::new(),
            timelines: BTreeMap::new(),
            removed: Vec::new(),
            deleted: Vec::new(),
            renamed: BTreeSet::new(),
            changed: BTreeSet::new(),
            erased: HashMap::new(),
        }
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

    /// Removes the key, whether it is stored or only written in this batch.
    fn delete(&mut self, key: Vec<u8>) {
        self.overlay.remove(&key);
        self.deleted.push(key);
    }

    /// Keeps the family's name hashes in the caseload of `person`, or none when `names` is
    /// empty.
    fn put_caseload_names(
        &mut self,
        person: ContactPersonId,
        family: FamilyId,
        names: &BTreeSet<Hash>,
    ) -> Result<()> {
        let key = key::caseload_names(person.as_ulid(), family.as_ulid());
        if names.is_empty() {
            self.delete(key);
            Ok(())
        } else {
            self.put(key, names)
        }
    }

    /// Moves the family's name hashes from one caseload to another, as its contact person
    /// changes (either may be none).
    pub fn move_caseload_names(
        &mut self,
        family: FamilyId,
        from: Option<ContactPersonId>,
        to: Option<ContactPersonId>,
    ) -> Result<()> {
        if let Some(from) = from {
            self.delete(key::caseload_names(from.as_ulid(), family.as_ulid()));
        }
        if let Some(to) = to {
            let entries: Entries = self.get(&key::of(key::INDEXED, family.as_ulid()))?.unwrap_or_default();
            self.put_caseload_names(to, family, &entries.names)?;
        }
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
        self.timelines.remove(&family);
        self.removed.push(key::of(key::TIMELINE, family.as_ulid()));
        self.renamed.insert(family);
        self.erased.insert(family, true);
        self.put(key::of(key::ERASED, family.as_ulid()), &())
    }

    pub fn is_erased(&mut self, family: FamilyId) -> Result<bool> {
        if let Some(erased) = self.erased.get(&family) {
            return Ok(*erased);
        }
        let key = key::of(key::ERASED, family.as_ulid());
        let erased = self.overlay.contains_key(&key) || self.tree.get(&key)?.is_some();
        self.erased.insert(family, erased);
        Ok(erased)
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

    /// Adds an entry to the family's timeline.
    pub fn put_timeline(&mut self, family: FamilyId, at: TimelineCursor, doc: TimelineDoc) {
        self.timelines.entry(family).or_default().push((at, doc));
    }

    /// Loads the family's document into the batch as it is stored, if it is.
    pub fn load_family(&mut self, family: FamilyId) -> Result<()> {
        if !self.families.contains_key(&family) {
            let stored = self.get(&key::of(key::FAMILY, family.as_ulid()))?;
            self.families.insert(family, stored);
        }
        Ok(())
    }

    /// Marks the family's members as changed: its index entries are made again.
    pub fn rename(&mut self, family: FamilyId) {
        self.renamed.insert(family);
    }

    /// Makes the index entries of the families whose members changed in this batch, from
    /// their documents as the batch leaves them, opened with `keys`; an erased family's all go.
    /// A family whose names cannot be opened now (no key read, or none in the bucket while its
    /// document lives, or no search key yet) keeps the entries it had, and is marked to be
    /// indexed again later; whether any was.
    pub fn index_names(&mut self, search: Option<&SearchKey>, keys: &super::FamilyKeys) -> Result<bool> {
        let mut marked = false;
        if let Some(search) = search
            && !self.renamed.is_empty()
        {
            match self.get::<Hash>(key::SEARCH_CHECK)? {
                None => self.put(key::SEARCH_CHECK.to_vec(), &search.check())?,
                Some(check) if check != search.check() => tracing::error!(
                    "projection: the search index was made with another search key; searches fail until the projection is rebuilt"
                ),
                Some(_) => {}
            }
        }
        for family in std::mem::take(&mut self.renamed) {
            let new = match self.families.get(&family) {
                Some(Some(doc)) => {
                    let opened = match (search, keys.get(&family)) {
                        (Some(search), Some(Some(key))) => {
                            opened_members(doc, family, key).map(|members| search.entries(family, &members))
                        }
                        (None, _) => Err("the search index key has not been read"),
                        (_, Some(None)) => Err("the family has no key"),
                        (_, None) => Err("the family's key could not be read"),
                    };
                    match opened {
                        Ok(entries) => entries,
                        Err(why) => {
                            tracing::warn!(%family, why, "projection: a family's names are not indexed now; its entries stay, and it is tried again later");
                            self.put(key::of(key::PENDING, family.as_ulid()), &())?;
                            marked = true;
                            continue;
                        }
                    }
                }
                // Erased, or never projected.
                _ => Entries::default(),
            };
            self.delete(key::of(key::PENDING, family.as_ulid()));
            let listed = key::of(key::INDEXED, family.as_ulid());
            let old: Entries = self.get(&listed)?.unwrap_or_default();
            // A living family's caseload record follows its names; an erased family's left its
            // contact person's caseload when it was erased (`apply::erase`).
            if let Some(Some(FamilyDoc { contact_person: Some(person), .. })) = self.families.get(&family)
                && new.names != old.names
            {
                self.put_caseload_names(*person, family, &new.names)?;
            }
            for gone in old.codes.difference(&new.codes) {
                self.deleted.push(key::index(*gone, family.as_ulid()));
            }
            for added in new.codes.difference(&old.codes) {
                self.overlay.insert(key::index(*added, family.as_ulid()), Vec::new());
            }
            if new.is_empty() {
                self.delete(listed);
            } else if new != old {
                self.put(listed, &new)?;
            }
        }
        Ok(marked)
    }

    pub fn checkpoint(&mut self, stream: Stream, sequence: u64) {
        self.overlay.insert(key::checkpoint(stream), sequence.to_be_bytes().to_vec());
    }

    /// Writes everything; a crash keeps all of it or none. Readers may meanwhile see some of
    /// it before the rest ([`luukku_app::writes`]).
    pub fn commit(self) -> Result<BTreeSet<FamilyId>> {
        let mut batch = Writes::default();
        for prefix in &self.removed {
            for key in self.tree.scan_prefix(prefix).keys() {
                batch.remove(key?);
            }
        }
        for key in self.deleted {
            batch.remove(key);
        }
        for (family, entries) in &self.timelines {
            let numbers = chunk_numbers(self.tree, family.as_ulid())?;
            let mut stored: Vec<Stored> = entries.iter().map(Stored::of).collect();
            let next = numbers.last().map_or(0, |last| last + 1);
            if numbers.len() < CHUNKS as usize {
                batch.insert(key::timeline_chunk(family.as_ulid(), next), encode(&stored)?);
                continue;
            }
            // Merged into one chunk, so that a read stays a few gets. It goes under a number
            // above every chunk it replaces, and before they go: a reader meanwhile (a sled
            // scan is no snapshot, and a commit's writes show one by one) still meets every
            // entry, some twice, and drops the repeats.
            let mut all: Vec<Stored> = timeline_of(self.tree, *family)?.iter().map(Stored::of).collect();
            all.append(&mut stored);
            batch.insert(key::timeline_chunk(family.as_ulid(), next), encode(&all)?);
            for number in numbers {
                batch.remove(key::timeline_chunk(family.as_ulid(), number));
            }
        }
        for (family, doc) in &self.families {
            match doc {
                Some(doc) => batch.insert(key::of(key::FAMILY, family.as_ulid()), encode(doc)?),
                None => batch.remove(key::of(key::FAMILY, family.as_ulid())),
            }
        }
        for (key, value) in self.overlay {
            batch.insert(key, value);
        }
        self.tree.commit(batch)?;
        Ok(self.changed)
    }
}

/// The members' details of the family's document, opened with its key.
fn opened_members(
    doc: &FamilyDoc,
    family: FamilyId,
    key: &FamilyKey,
) -> Result<Vec<MemberDetails>, &'static str> {
    let aad = family.to_string();
    let mut opened = Vec::with_capacity(doc.members.len());
    for member in doc.members.values() {
        let mut details = member.details.clone();
        details
            .open(Some(key), aad.as_bytes())
            .map_err(|_| "a member's details do not open with the family's key")?;
        opened.extend(details.plain().cloned());
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(at_ms: i64, stream: Stream, sequence: u64) -> (TimelineCursor, TimelineDoc) {
        let doc = TimelineDoc { event_type: "E".into(), text: format!("{sequence}"), actor: "a".into() };
        (TimelineCursor { at_ms, stream, sequence, part: 0 }, doc)
    }

    /// Adds a guardian, Aino Salo, sealed with `key`, to the family in `txn`.
    fn add_aino_salo(txn: &mut Txn<'_>, family: FamilyId, key: &FamilyKey) -> Result<()> {
        use luukku_domain::family::{MemberId, MemberRole};
        use luukku_domain::sealing::Personal;
        let mut details = Personal::Plain(MemberDetails {
            given_names: "Aino".into(),
            family_name: "Salo".into(),
            birth_date: None,
            identity_code: None,
            languages: vec![],
        });
        details.seal(key, family.to_string().as_bytes()).expect("sealed");
        let member = super::super::doc::MemberDoc { role: MemberRole::Guardian, details };
        txn.family_mut(family)?.members.insert(MemberId::generate(), member);
        Ok(())
    }

    #[test]
    fn a_family_erased_in_a_batch_is_erased_for_the_rest_of_it_and_after() -> Result<()> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = LoggedTree::open(&db, "t")?;
        let family = FamilyId::from_ulid(ulid::Ulid::new());
        let mut txn = Txn::new(&tree);
        txn.family_mut(family)?;
        assert!(!txn.is_erased(family)?, "a living family");
        txn.erase_family(family)?;
        assert!(txn.is_erased(family)?, "erased by a message earlier in the same batch");
        txn.commit()?;
        let read = ProjectionTree(tree.clone());
        assert!(read.family(family)?.is_none());
        assert!(Txn::new(&tree).is_erased(family)?, "and in later batches");
        Ok(())
    }

    #[test]
    fn a_family_not_indexable_now_is_marked_and_indexed_later() -> Result<()> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = LoggedTree::open(&db, "t")?;
        let family = FamilyId::from_ulid(ulid::Ulid::new());
        let key = FamilyKey::generate();
        // The family is projected while the search key is not read yet.
        let mut txn = Txn::new(&tree);
        add_aino_salo(&mut txn, family, &key)?;
        txn.rename(family);
        let keys = HashMap::from([(family, Some(key))]);
        assert!(txn.index_names(None, &keys)?, "marked");
        txn.commit()?;
        let read = ProjectionTree(tree.clone());
        assert_eq!(read.pending_index(10)?, [family]);
        assert!(read.entries(family)?.is_empty());

        // Once it is read, the family is indexed and no longer marked.
        let search = SearchKey::new(&FamilyKey::generate());
        let mut txn = Txn::new(&tree);
        txn.load_family(family)?;
        txn.rename(family);
        assert!(!txn.index_names(Some(&search), &keys)?);
        txn.commit()?;
        assert!(read.pending_index(10)?.is_empty());
        assert!(read.entries(family)?.holds(&[search.lookup(family, "sal"), search.lookup(family, "aino")]));
        Ok(())
    }

    #[test]
    fn a_familys_name_hashes_follow_its_contact_person_within_a_batch_and_across() -> Result<()> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = LoggedTree::open(&db, "t")?;
        let read = ProjectionTree(tree.clone());
        let family = FamilyId::from_ulid(ulid::Ulid::new());
        let key = FamilyKey::generate();
        let keys = HashMap::from([(family, Some(key.clone()))]);
        let search = SearchKey::new(&FamilyKey::generate());
        let [anna, bert, cay] = [(); 3].map(|()| ContactPersonId::from_ulid(ulid::Ulid::new()));
        let names_of = |person| -> Result<Vec<(FamilyId, bool)>> {
            Ok(read
                .caseload_names(person)?
                .into_iter()
                .map(|(found, names)| (found, names.contains(&search.lookup(family, "sal"))))
                .collect())
        };
        let assign = |txn: &mut Txn<'_>, to: Option<ContactPersonId>| -> Result<()> {
            let doc = txn.family_mut(family)?;
            let from = std::mem::replace(&mut doc.contact_person, to);
            txn.move_caseload_names(family, from, to)
        };

        // Assigned to Anna before its names are indexed, in the same batch.
        let mut txn = Txn::new(&tree);
        add_aino_salo(&mut txn, family, &key)?;
        assign(&mut txn, Some(anna))?;
        txn.rename(family);
        txn.index_names(Some(&search), &keys)?;
        txn.commit()?;
        assert_eq!(names_of(anna)?, [(family, true)]);

        // To Bert, then to Cay, in one batch: only Cay's caseload holds them.
        let mut txn = Txn::new(&tree);
        assign(&mut txn, Some(bert))?;
        assign(&mut txn, Some(cay))?;
        txn.commit()?;
        assert!(names_of(anna)?.is_empty() && names_of(bert)?.is_empty());
        assert_eq!(names_of(cay)?, [(family, true)]);

        // The assignment ends: no caseload holds them, the family's own entries stay.
        let mut txn = Txn::new(&tree);
        assign(&mut txn, None)?;
        txn.commit()?;
        assert!(names_of(cay)?.is_empty());
        assert!(read.entries(family)?.holds(&[search.lookup(family, "sal")]));

        // Assigned again, they come back from the family's entries.
        let mut txn = Txn::new(&tree);
        assign(&mut txn, Some(bert))?;
        txn.commit()?;
        assert_eq!(names_of(bert)?, [(family, true)]);
        Ok(())
    }

    #[test]
    fn the_index_keeps_the_check_of_the_key_it_was_made_with() -> Result<()> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = LoggedTree::open(&db, "t")?;
        let (first, second) =
            (SearchKey::new(&FamilyKey::generate()), SearchKey::new(&FamilyKey::generate()));
        for search in [&first, &second] {
            let mut txn = Txn::new(&tree);
            txn.rename(FamilyId::from_ulid(ulid::Ulid::new()));
            txn.index_names(Some(search), &HashMap::new())?;
            txn.commit()?;
        }
        let read = ProjectionTree(tree.clone());
        assert_eq!(read.search_check()?, Some(first.check()), "the first key's, kept");
        assert_ne!(read.search_check()?, Some(second.check()));
        Ok(())
    }

    #[test]
    fn a_timeline_reads_back_newest_first_across_batches_and_merged_chunks() -> Result<()> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = LoggedTree::open(&db, "t")?;
        let family = FamilyId::from_ulid(ulid::Ulid::new());
        let mut written = Vec::new();
        // More batches than chunks, with times out of order across streams.
        for batch in 0..(u64::from(CHUNKS) + 5) {
            let mut txn = Txn::new(&tree);
            for (at, stream) in
                [(10 * batch as i64, Stream::Families), (10 * batch as i64 - 15, Stream::Meetings)]
            {
                let (cursor, doc) = entry(at, stream, batch + 1);
                txn.put_timeline(family, cursor, doc.clone());
                written.push((cursor, doc));
            }
            txn.commit()?;
        }
        assert!(chunk_numbers(&tree, family.as_ulid())?.len() <= CHUNKS as usize);
        written.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let read = ProjectionTree(tree.clone());
        assert_eq!(read.timeline(family, None, usize::MAX)?, written);
        let page = read.timeline(family, Some(written[3].0), 2)?;
        assert_eq!(page, written[4..6]);

        // What a scan meeting a merge sees: an old chunk and the merged one holding it too.
        let numbers = chunk_numbers(&tree, family.as_ulid())?;
        let merged = tree.get(key::timeline_chunk(family.as_ulid(), numbers[0]))?.expect("a chunk");
        tree.insert(key::timeline_chunk(family.as_ulid(), numbers[0] + 1_000), merged)?;
        assert_eq!(read.timeline(family, None, usize::MAX)?, written, "each entry once");

        let mut txn = Txn::new(&tree);
        txn.erase_family(family)?;
        txn.commit()?;
        assert!(read.timeline(family, None, usize::MAX)?.is_empty());
        Ok(())
    }
}

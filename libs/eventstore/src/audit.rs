//! The access log: the stream `AUDIT`, one record per access to a family's data. A record
//! stored alone is on the subject `audit.<family id>.<kind>` (`audit.none.<kind>` when no
//! family is concerned). Records waiting for the writer together are stored in as few
//! [`Block`]s on `audit.block` as can be: one JetStream message, acknowledgement and delivery
//! for many calls. A block holds at most one record of each family (so a family's records
//! keep one stream sequence each) and at most 256 KiB of records.
//!
//! Records hold ids and codes only, so they survive erasure. Each writer keeps its own hash
//! chain: every record carries its chain's id, its place in it and the SHA-256 of the record
//! before it (of its own bytes, also inside a block), so that a changed, inserted or missing
//! record shows in [`verify`].

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use luukku_domain::family::{FamilyId, MemberId};
use luukku_domain::{Actor, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::{Error, EventStore, Result, StoreSettings};

pub const AUDIT_STREAM: &str = "AUDIT";
pub const AUDIT_ROOT: &str = "audit";
/// The family token of records that concern no family.
pub const NO_FAMILY: &str = "none";

/// The most records written in one batch.
const BATCH: usize = 1024;
/// The most bytes of records in one block, well below nats-server's smallest usual
/// `max_payload` (1 MiB): a record that would pass it starts the next message. (A search's
/// records carry its purpose, up to 4,000 characters, once per family found.)
const BLOCK_BYTES: usize = 256 * 1024;
/// The block format written and read. Readers of this release take a block of another
/// format for one that cannot be read: a new format needs a release that reads it everywhere
/// first, and a new checkpoint key of the reports' copy, so that it reads the log again.
const BLOCK_VERSION: u16 = 1;

/// What one access was: who, when, what, on which basis, and whether it was allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub at: Timestamp,
    pub actor: Actor,
    /// The RPC, e.g. `/luukku.families.v1.FamilyService/GetFamily`.
    pub rpc: String,
    /// `read`, `write`, `search`, `export`, `watch` or `admin`.
    pub kind: String,
    pub family: Option<FamilyId>,
    pub member: Option<MemberId>,
    /// The parts touched, e.g. `whole`, `consent:<id>`, `referral:<id>`.
    pub parts: Vec<String>,
    /// The basis, e.g. `contact_person`, `consent:<id>`, `break_glass`.
    pub basis: String,
    /// A break-glass reason or a search's stated purpose.
    pub reason: Option<String>,
    pub allowed: bool,
    /// The rule a denial names.
    pub rule: Option<String>,
}

/// A record as stored: the access and its place in its writer's hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    pub version: u16,
    /// The writer's chain: a ULID made when the writer started.
    pub chain: String,
    /// 1 for the chain's first record.
    pub seq: u64,
    /// SHA-256 of the chain's previous record as stored; zeros for the first.
    pub prev: [u8; 32],
    pub access: Access,
}

impl AccessRecord {
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self, "an access record")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode(bytes, "an access record")
    }

    /// The subject the record is stored on.
    pub fn subject(&self) -> String {
        subject(self.access.family, &self.access.kind)
    }
}

/// Records stored as one message, each as its own bytes, in the order of their chain; no two
/// of the same family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub version: u16,
    pub records: Vec<Vec<u8>>,
}

impl Block {
    /// Under [`AUDIT_ROOT`], beside the families' ids and [`NO_FAMILY`].
    pub const SUBJECT: &str = "audit.block";

    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self, "a block of access records")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode(bytes, "a block of access records")
    }
}

fn encode(value: &impl Serialize, what: &str) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|error| {
        Error::Codec(luukku_domain::CodecError::Encode { what: what.into(), reason: error.to_string() })
    })
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|error| {
        Error::Codec(luukku_domain::CodecError::Malformed { what: what.into(), reason: error.to_string() })
    })
}

/// Each record a message holds, as stored: the message itself when it is on a record's
/// subject, the block's records when on `audit.block`, or `None` for a block that cannot be
/// read (malformed, or of a newer format).
fn records_of(subject: &str, payload: &bytes::Bytes) -> Option<Vec<bytes::Bytes>> {
    if subject != Block::SUBJECT {
        return Some(vec![payload.clone()]);
    }
    Block::decode(payload)
        .ok()
        .filter(|block| block.version == BLOCK_VERSION)
        .map(|block| block.records.into_iter().map(bytes::Bytes::from).collect())
}

pub fn subject(family: Option<FamilyId>, kind: &str) -> String {
    match family {
        Some(family) => format!("{AUDIT_ROOT}.{family}.{kind}"),
        None => format!("{AUDIT_ROOT}.{NO_FAMILY}.{kind}"),
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The stream's configuration: kept for good, never deleted or purged.
pub fn config(settings: &StoreSettings) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: AUDIT_STREAM.to_owned(),
        description: Some("luukku: the access log".to_owned()),
        subjects: vec![format!("{AUDIT_ROOT}.>")],
        storage: jetstream::stream::StorageType::File,
        retention: jetstream::stream::RetentionPolicy::Limits,
        discard: jetstream::stream::DiscardPolicy::New,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        num_replicas: settings.replicas,
        duplicate_window: Duration::from_secs(120),
        max_age: Duration::ZERO,
        max_bytes: settings.max_audit_bytes,
        ..Default::default()
    }
}

struct Pending {
    access: Access,
    done: oneshot::Sender<Result<()>>,
}

/// Writes access records, batched: a caller's record is stored before [`AccessLog::record`]
/// returns, so an answer never leaves without its record.
#[derive(Clone)]
pub struct AccessLog {
    sender: mpsc::Sender<Pending>,
}

struct Chain {
    id: String,
    seq: u64,
    prev: [u8; 32],
}

impl Chain {
    fn new() -> Self {
        Self { id: ulid::Ulid::new().to_string(), seq: 0, prev: [0; 32] }
    }
}

impl AccessLog {
    /// Starts the writer; it stops when every handle is dropped.
    pub fn start(store: EventStore) -> Self {
        let (sender, receiver) = mpsc::channel(4 * BATCH);
        tokio::spawn(write(store, receiver));
        Self { sender }
    }

    /// Stores `access`: `Err` when it could not be stored, and then nothing may be answered.
    pub async fn record(&self, access: Access) -> Result<()> {
        let started = std::time::Instant::now();
        let labels = [("kind", kind_label(&access.kind)), ("basis", basis_label(&access))];
        let (done, stored) = oneshot::channel();
        self.sender
            .send(Pending { access, done })
            .await
            .map_err(|_| Error::Unavailable("the access log writer has stopped".to_owned()))?;
        let stored =
            stored.await.map_err(|_| Error::Unavailable("the access log writer has stopped".to_owned()))?;
        metrics::histogram!("luukku_access_log_write_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if stored.is_ok() {
            metrics::counter!("luukku_access_records_total", &labels).increment(1);
        }
        stored
    }
}

/// An access kind as a metric label: one of a few words.
fn kind_label(kind: &str) -> &'static str {
    ["read", "write", "search", "export", "watch", "admin"]
        .into_iter()
        .find(|known| *known == kind)
        .unwrap_or("other")
}

/// A record's basis as a metric label: its kind only (never the id it names), or `denied`.
fn basis_label(access: &Access) -> &'static str {
    if !access.allowed {
        return "denied";
    }
    let kind = access.basis.split(':').next().unwrap_or_default();
    [
        "contact_person",
        "registrant",
        "pending_receiver",
        "former_contact_person",
        "consent",
        "referral",
        "meeting",
        "family_member",
        "statutory",
        "break_glass",
        "purpose",
        "role",
        "own",
    ]
    .into_iter()
    .find(|known| *known == kind)
    .unwrap_or("other")
}

/// Records on their way to one message: their bytes, and who waits for each.
#[derive(Default)]
struct Message {
    subject: String,
    /// The chain's place of the first record, for the message's id.
    first: u64,
    records: Vec<Vec<u8>>,
    bytes: usize,
    families: std::collections::HashSet<FamilyId>,
    waiting: Vec<oneshot::Sender<Result<()>>>,
}

impl Message {
    /// The message's subject and bytes: the record itself when alone, else a block.
    fn payload(&mut self) -> Result<(String, Vec<u8>)> {
        if self.records.len() == 1 {
            return Ok((std::mem::take(&mut self.subject), self.records.pop().unwrap_or_default()));
        }
        let block = Block { version: BLOCK_VERSION, records: std::mem::take(&mut self.records) };
        Ok((Block::SUBJECT.to_owned(), block.encode()?))
    }
}

/// Parts a batch into messages, in chain order: a message takes records until the next one
/// is of a family it already holds, or would take it past [`BLOCK_BYTES`].
fn messages(chain: &mut Chain, batch: Vec<Pending>) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    for pending in batch {
        chain.seq += 1;
        let record = AccessRecord {
            version: 1,
            chain: chain.id.clone(),
            seq: chain.seq,
            prev: chain.prev,
            access: pending.access,
        };
        let bytes = match record.encode() {
            Ok(bytes) => bytes,
            Err(error) => {
                // Never stored: the chain goes on without it.
                chain.seq -= 1;
                let _ = pending.done.send(Err(error));
                continue;
            }
        };
        chain.prev = digest(&bytes);
        let family = record.access.family;
        let joins = messages.last().is_some_and(|message| {
            message.bytes + bytes.len() <= BLOCK_BYTES
                && family.is_none_or(|family| !message.families.contains(&family))
        });
        if !joins {
            messages.push(Message { subject: record.subject(), first: record.seq, ..Message::default() });
        }
        let message = messages.last_mut().expect("a message was just pushed");
        message.bytes += bytes.len();
        message.records.push(bytes);
        message.families.extend(family);
        message.waiting.push(pending.done);
    }
    messages
}

async fn write(store: EventStore, mut receiver: mpsc::Receiver<Pending>) {
    let mut chain = Chain::new();
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let mut acks = Vec::new();
        for mut message in messages(&mut chain, std::mem::take(&mut batch)) {
            metrics::histogram!("luukku_access_log_records_per_message").record(message.records.len() as f64);
            let published = match message.payload() {
                Ok((subject, bytes)) => {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", format!("{}-{}", chain.id, message.first).as_str());
                    store
                        .jetstream()
                        .publish_with_headers(subject, headers, bytes.into())
                        .await
                        .map_err(|error| Error::Unavailable(format!("the access log: {error}")))
                }
                Err(error) => Err(error),
            };
            acks.push((published, message.waiting));
        }
        let mut broken = false;
        for (published, waiting) in acks {
            let stored = match published {
                Ok(ack) => ack.await.map(|_| ()).map_err(|error| format!("the access log: {error}")),
                Err(Error::Unavailable(reason)) => Err(reason),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = &stored {
                tracing::error!(%error, records = waiting.len(), "access records were not stored; their calls are refused");
                broken = true;
            }
            for done in waiting {
                let _ = done.send(stored.clone().map_err(Error::Unavailable));
            }
        }
        if broken {
            // The chain now has a gap where the lost records were; later records start a new one.
            chain = Chain::new();
        }
    }
}

/// One stored record, and where: its message's stream sequence and its place in the message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub sequence: u64,
    /// Whether the record is one of a block's (its place in it is `index`); not so for a
    /// block that cannot be read, listed as one message.
    pub block: bool,
    pub index: usize,
    /// `None` when the stored bytes are not a record, or the message a block that cannot be
    /// read (then listed once, with the hash of the whole message).
    pub record: Option<AccessRecord>,
    /// SHA-256 of the record's bytes.
    pub hash: [u8; 32],
}

impl Stored {
    /// Where the record is, for a report: `AUDIT <sequence>`, and `.<index>` in a block.
    pub fn place(&self) -> String {
        if self.block {
            format!("AUDIT {}.{}", self.sequence, self.index)
        } else {
            format!("AUDIT {}", self.sequence)
        }
    }
}

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub family: Option<FamilyId>,
    /// After this stream sequence (a page token); 0 from the start.
    pub after_sequence: u64,
    /// At most this many records (0: all), or more to finish the last message read (up to a
    /// block's), so that the next read may start after its sequence.
    pub limit: usize,
}

impl EventStore {
    /// Creates the access log stream, or brings it to the configured settings (admin only).
    pub async fn provision_audit(&self) -> Result<()> {
        self.jetstream
            .create_or_update_stream(config(&self.settings))
            .await
            .map_err(|error| Error::Nats(format!("cannot provision stream {AUDIT_STREAM}: {error}")))?;
        Ok(())
    }

    /// Reads stored access records in order, up to the stream's end at the time of the call.
    pub async fn read_audit(&self, query: &AuditQuery) -> Result<Vec<Stored>> {
        let stream = self.jetstream.get_stream(AUDIT_STREAM).await.map_err(Error::nats)?;
        let deliver_policy = match query.after_sequence {
            0 => DeliverPolicy::All,
            after => DeliverPolicy::ByStartSequence { start_sequence: after + 1 },
        };
        // A family's records: those stored alone on its subjects, and any in a block.
        let filter_subjects = match query.family {
            Some(family) => vec![format!("{AUDIT_ROOT}.{family}.>"), Block::SUBJECT.to_owned()],
            None => Vec::new(),
        };
        let mut consumer = stream
            .create_consumer(OrderedConfig { deliver_policy, filter_subjects, ..Default::default() })
            .await
            .map_err(Error::nats)?;
        let pending = consumer.info().await.map_err(Error::nats)?.num_pending;
        let mut records = Vec::new();
        if pending == 0 {
            return Ok(records);
        }
        let mut messages = crate::ordered::messages(consumer).await.map_err(Error::nats)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(Error::nats)?;
            let info = message.info().map_err(|error| Error::Nats(error.to_string()))?;
            let (sequence, left) = (info.stream_sequence, info.pending);
            let block = message.subject.as_str() == Block::SUBJECT;
            // Writers never store an empty block: listed as unreadable, to be found by `verify`.
            match records_of(&message.subject, &message.payload).filter(|held| !held.is_empty()) {
                Some(held) => {
                    for (index, bytes) in held.iter().enumerate() {
                        let record = AccessRecord::decode(bytes).ok();
                        // A family's read keeps what it cannot read too: it may be the family's.
                        let concerned = query.family.is_none()
                            || record.as_ref().is_none_or(|record| record.access.family == query.family);
                        if concerned {
                            records.push(Stored { sequence, block, index, record, hash: digest(bytes) });
                        }
                    }
                }
                None => records.push(Stored {
                    sequence,
                    block: false,
                    index: 0,
                    record: None,
                    hash: digest(&message.payload),
                }),
            }
            if left == 0 || (query.limit > 0 && records.len() >= query.limit) {
                break;
            }
        }
        Ok(records)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub records: u64,
    pub chains: usize,
    /// Each broken link, unreadable record or forged one, by stream sequence.
    pub problems: Vec<String>,
}

/// The block being checked: its sequence, how many records it holds and their families.
#[derive(Default)]
struct Checked {
    sequence: u64,
    records: usize,
    families: std::collections::HashSet<FamilyId>,
}

impl Checked {
    /// A block of one record was not written by a writer, which stores a lone record alone.
    fn finish(&self, report: &mut AuditReport) {
        if self.records == 1 {
            report.problems.push(format!("AUDIT {}: a block of one record", self.sequence));
        }
    }
}

/// Checks every chain of the access log: each record follows the one before it in its chain,
/// with no gap, and carries that record's hash; and each block is as writers make them, of
/// two records or more and at most one of each family.
pub async fn verify(store: &EventStore) -> Result<AuditReport> {
    let mut report = AuditReport::default();
    let mut chains: std::collections::HashMap<String, (u64, [u8; 32])> = std::collections::HashMap::new();
    let mut block = Checked::default();
    let mut after = 0;
    loop {
        let page = store
            .read_audit(&AuditQuery { after_sequence: after, limit: 10_000, ..Default::default() })
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.sequence;
        for stored in page {
            report.records += 1;
            if stored.block {
                if stored.sequence != block.sequence {
                    block.finish(&mut report);
                    block = Checked { sequence: stored.sequence, ..Checked::default() };
                }
                block.records += 1;
            }
            let Some(record) = &stored.record else {
                report.problems.push(format!(
                    "{}: not an access record, or a block that cannot be read",
                    stored.place()
                ));
                continue;
            };
            if stored.block
                && let Some(family) = record.access.family
                && !block.families.insert(family)
            {
                report
                    .problems
                    .push(format!("{}: a second record of family {family} in one block", stored.place()));
            }
            let (seq, prev) = chains.get(&record.chain).copied().unwrap_or((0, [0; 32]));
            if record.seq != seq + 1 {
                report.problems.push(format!(
                    "{}: chain {} record {} follows record {seq}: {}",
                    stored.place(),
                    record.chain,
                    record.seq,
                    if record.seq <= seq {
                        "a record was inserted or repeated"
                    } else {
                        "records are missing"
                    }
                ));
            } else if record.prev != prev {
                report.problems.push(format!(
                    "{}: chain {} record {} does not carry the hash of the record before it: changed or forged",
                    stored.place(),
                    record.chain,
                    record.seq
                ));
            }
            chains.insert(record.chain.clone(), (record.seq, stored.hash));
        }
    }
    block.finish(&mut report);
    report.chains = chains.len();
    Ok(report)
}

/// Which of a family's records a log report lists.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub family: FamilyId,
    /// Only records about these members or about the whole family; `None` lists all.
    pub members: Option<Vec<MemberId>>,
    /// Inclusive bounds, in milliseconds since the epoch.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// After this stream sequence (the page token); 0 from the start.
    pub after_sequence: u64,
    pub page_size: usize,
}

/// One page of a family's log report, oldest first, and the sequence the next page starts
/// after (0: no more).
#[derive(Debug, Clone, Default)]
pub struct ReportPage {
    pub records: Vec<(u64, AccessRecord)>,
    pub next_after: u64,
    /// The sequences of messages read for the page that could not be read (a record, or a
    /// block that may have held the family's): the page may be short of them.
    pub unreadable: Vec<u64>,
}

impl ReportQuery {
    /// Every record of `family`, from the start, `page_size` at a time.
    pub fn whole(family: FamilyId, page_size: usize) -> Self {
        Self { family, members: None, from_ms: None, to_ms: None, after_sequence: 0, page_size }
    }

    /// Whether the report lists `record`: one about the query's family (whatever subject it
    /// was stored under) that the query selects.
    pub fn selects(&self, record: &AccessRecord) -> bool {
        let access = &record.access;
        let at = access.at.as_millis();
        access.family == Some(self.family)
            && self.from_ms.is_none_or(|from| at >= from)
            && self.to_ms.is_none_or(|to| at <= to)
            && match (&self.members, access.member) {
                (None, _) | (Some(_), None) => true,
                (Some(members), Some(member)) => members.contains(&member),
            }
    }

    /// The page of `stored`, the family's records after the query's sequence in stream order
    /// (each `None` when its bytes are not a record): those it selects, up to its page size.
    pub fn page(&self, stored: impl IntoIterator<Item = (u64, Option<AccessRecord>)>) -> ReportPage {
        let mut page = ReportPage::default();
        let size = self.page_size.max(1);
        for (sequence, record) in stored {
            let Some(record) = record else {
                page.unreadable.push(sequence);
                continue;
            };
            if self.selects(&record) {
                page.records.push((sequence, record));
                if page.records.len() == size {
                    // More may follow; the next page says (it may be empty).
                    page.next_after = sequence;
                    break;
                }
            }
        }
        page
    }
}

/// A page of the family's log report, read from the stream itself (for operators' tools; the
/// coordination service answers from its own copy).
pub async fn report(store: &EventStore, query: &ReportQuery) -> Result<ReportPage> {
    let mut page = ReportPage::default();
    let mut after = query.after_sequence;
    loop {
        let chunk = AuditQuery { family: Some(query.family), after_sequence: after, limit: 1000 };
        let read = store.read_audit(&chunk).await?;
        let Some(last) = read.last().map(|stored| stored.sequence) else {
            return Ok(page);
        };
        let rest = ReportQuery { page_size: query.page_size.max(1) - page.records.len(), ..query.clone() };
        let mut found = rest.page(read.into_iter().map(|stored| (stored.sequence, stored.record)));
        page.records.append(&mut found.records);
        page.unreadable.append(&mut found.unreadable);
        if found.next_after != 0 {
            page.next_after = found.next_after;
            return Ok(page);
        }
        after = last;
    }
}

/// One message of the access log as followed: its stream sequence and the records it holds.
#[derive(Debug, Clone)]
pub struct FollowedMessage {
    pub sequence: u64,
    /// Empty for a block that cannot be read.
    pub records: Vec<FollowedRecord>,
}

/// One record as followed: the family it concerns and its bytes as stored.
#[derive(Debug, Clone)]
pub struct FollowedRecord {
    pub family: Option<FamilyId>,
    pub bytes: bytes::Bytes,
}

impl FollowedMessage {
    /// The message as followed; what cannot be read is counted and logged: it is left out of
    /// the reports' copy (the stream keeps it, and `luukku ops verify` lists it).
    fn of(subject: &str, payload: &bytes::Bytes, sequence: u64) -> Self {
        let (message, unreadable) = Self::read(subject, payload, sequence);
        match unreadable {
            Unreadable::None => {}
            Unreadable::Block => {
                metrics::counter!("luukku_access_log_unreadable_total").increment(1);
                tracing::error!(
                    sequence,
                    "an access log block that cannot be read is left out of the reports' copy"
                );
            }
            Unreadable::Records(count) => {
                metrics::counter!("luukku_access_log_unreadable_total").increment(count);
                tracing::error!(
                    sequence,
                    count,
                    "access records in a block cannot be read; they are left out of the reports' copy"
                );
            }
        }
        message
    }

    /// The message, and what of it cannot be read.
    fn read(subject: &str, payload: &bytes::Bytes, sequence: u64) -> (Self, Unreadable) {
        let Some(held) = records_of(subject, payload) else {
            return (Self { sequence, records: Vec::new() }, Unreadable::Block);
        };
        let alone = subject != Block::SUBJECT;
        let mut unreadable = 0;
        let records = held
            .into_iter()
            .map(|bytes| {
                let family = if alone {
                    subject.split('.').nth(1).and_then(|id| FamilyId::parse(id).ok())
                } else {
                    let record = AccessRecord::decode(&bytes).ok();
                    unreadable += u64::from(record.is_none());
                    record.and_then(|record| record.access.family)
                };
                FollowedRecord { family, bytes }
            })
            .collect();
        let unreadable = if unreadable == 0 { Unreadable::None } else { Unreadable::Records(unreadable) };
        (Self { sequence, records }, unreadable)
    }
}

/// What of a followed message cannot be read.
enum Unreadable {
    None,
    /// The block as a whole.
    Block,
    /// This many of a block's records.
    Records(u64),
}

/// The access log stream there is, and how far it reaches. A stream deleted and made anew has
/// another `created` time, and its sequences start again from 1: a copy of the old one's
/// records says nothing of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEnd {
    /// When the stream was made, in nanoseconds since the epoch.
    pub created: i128,
    /// Its last sequence (0 when it has no message).
    pub last_sequence: u64,
}

type Live = std::pin::Pin<
    Box<dyn futures::Stream<Item = std::result::Result<jetstream::Message, async_nats::Error>> + Send>,
>;

impl EventStore {
    /// The sequence of the access log's last record (0 when it has none).
    pub async fn audit_last_sequence(&self) -> Result<u64> {
        Ok(self.audit_end().await?.last_sequence)
    }

    /// Which access log stream there is, and its last sequence, in one question.
    pub async fn audit_end(&self) -> Result<AuditEnd> {
        let stream = self.audit_stream().await?;
        let info = stream.cached_info();
        Ok(AuditEnd { created: info.created.unix_timestamp_nanos(), last_sequence: info.state.last_sequence })
    }

    /// The access log's message at `sequence`, as followed (what cannot be read is left out,
    /// not counted); `None` when the stream does not hold it.
    pub async fn audit_message(&self, sequence: u64) -> Result<Option<FollowedMessage>> {
        // A missing stream does not answer, and is `Unavailable`.
        let message = self.message_at(AUDIT_STREAM, sequence).await?;
        Ok(message.map(|message| FollowedMessage::read(&message.subject, &message.payload, sequence).0))
    }

    /// The access log's stream: missing (not provisioned, or deleted) or not answering is
    /// [`Error::Unavailable`], as every call waits until it can be written again.
    async fn audit_stream(&self) -> Result<jetstream::stream::Stream> {
        use jetstream::context::GetStreamErrorKind;
        self.jetstream.get_stream(AUDIT_STREAM).await.map_err(|error| match error.kind() {
            GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Error::Unavailable(format!("the access log's stream {AUDIT_STREAM} does not exist"))
            }
            // Not answered, or not now (no leader, a cluster unavailable): asked again later.
            GetStreamErrorKind::Request | GetStreamErrorKind::JetStream(_) => {
                Error::Unavailable(format!("the access log's stream: {error}"))
            }
            _ => Error::nats(error),
        })
    }

    /// Every message of the access log from sequence `from` on, then each new one, for as long
    /// as the returned stream is polled; after a failure it reads again from the message after
    /// the last one delivered, so nothing is skipped or delivered twice.
    pub fn follow_audit(&self, from: u64) -> impl futures::Stream<Item = FollowedMessage> + Send + 'static {
        let state = (self.clone(), from.max(1), None::<Live>, Duration::ZERO);
        futures::stream::unfold(state, |(store, mut next, mut live, mut backoff)| async move {
            loop {
                let Some(messages) = live.as_mut() else {
                    match store.audit_from(next).await {
                        Ok(messages) => live = Some(messages),
                        Err(error) => {
                            backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                            tracing::warn!(%error, from = next, "following the access log again");
                            tokio::time::sleep(backoff).await;
                        }
                    }
                    continue;
                };
                match messages.next().await {
                    Some(Ok(message)) => {
                        let Ok(info) = message.info() else {
                            // Not skipped: read again from the one after the last delivered.
                            live = None;
                            tracing::warn!(
                                from = next,
                                "an access log message without its position; reading again"
                            );
                            continue;
                        };
                        let sequence = info.stream_sequence;
                        next = sequence + 1;
                        backoff = Duration::ZERO;
                        let followed = FollowedMessage::of(&message.subject, &message.payload, sequence);
                        return Some((followed, (store, next, live, backoff)));
                    }
                    failed => {
                        live = None;
                        backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                        let error = failed.and_then(Result::err).map(|error| error.to_string());
                        tracing::warn!(error, from = next, "following the access log again");
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
        })
    }

    async fn audit_from(&self, from: u64) -> Result<Live> {
        let stream = self.jetstream.get_stream(AUDIT_STREAM).await.map_err(Error::nats)?;
        let config = OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from },
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(Error::nats)?;
        let messages = crate::ordered::messages(consumer).await.map_err(Error::nats)?;
        Ok(Box::pin(messages.map(|message| message.map_err(async_nats::Error::from))))
    }
}

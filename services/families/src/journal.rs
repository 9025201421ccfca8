//! The erasure journal: one line for every family erased, kept apart from the backups of the
//! streams and the key bucket. A restore from a backup brings back the keys of the families
//! erased after it, and loses their `FamilyErased` events; [`restore`] erases each of them
//! again from the journal (`luukku ops erasures`). The journal names no member of a family: a
//! line holds the family id, when and by whom it was erased, and where the erasure stood.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use luukku_app::{Caller, Write};
use luukku_domain::family::{FamilyId, FamilyStatus};
use luukku_domain::{RequestId, Timestamp};
use luukku_eventstore::audit::{Access, AccessLog};
use luukku_eventstore::keys::KeyState;
use luukku_eventstore::{EventStore, KeyStore, Stream};
use serde::{Deserialize, Serialize};

use crate::Families;

/// How often a following journal checks that the stream still holds what it read.
pub const REPLACED_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// The RPC an access record of a re-applied erasure names.
pub const RESTORE_RPC: &str = "luukku ops erasures restore";

/// One erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub family: String,
    /// When the erasure was recorded, in milliseconds since the Unix epoch.
    pub erased_at: i64,
    /// The same, readable (UTC).
    pub erased_at_utc: String,
    /// The sequence of the erasure's message in `FAMILIES` when it was journalled.
    pub sequence: u64,
    /// Who carried it out: the staff person id of the call.
    pub erased_by: String,
    pub request_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the erasure journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the erasure journal {path}, line {line}: {reason}")]
    Malformed { path: PathBuf, line: usize, reason: String },
    #[error("FAMILIES {sequence} was written by a newer release; upgrade before journalling on")]
    Newer { sequence: u64 },
    #[error(transparent)]
    Store(#[from] luukku_eventstore::Error),
    #[error("{0}")]
    App(#[from] luukku_app::AppError),
}

type Result<T, E = JournalError> = std::result::Result<T, E>;

/// The journal file: its entries, and, for the one process that adds to it, the file locked.
pub struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
    families: HashSet<String>,
    /// Held (and locked) by the process that adds to the journal; `None` when only read.
    writer: Option<std::fs::File>,
}

/// How a journal's text ends.
enum Tail {
    /// With a whole line.
    Whole,
    /// With a whole entry that lacks its newline.
    Unterminated,
    /// With a line cut short, from this byte on.
    Torn(usize),
}

impl Entry {
    /// Refuses a line that could not have been journalled: every field is checked, so that no
    /// line carries what a terminal would act on.
    fn check(&self) -> std::result::Result<(), String> {
        self.family.parse::<FamilyId>().map_err(|error| format!("family {:?}: {error}", self.family))?;
        luukku_domain::Code::parse(&self.erased_by).map_err(|error| format!("erased_by: {error}"))?;
        RequestId::parse(&self.request_id).map_err(|error| format!("request_id: {error}"))?;
        if self.erased_at_utc.chars().any(char::is_control) {
            return Err("erased_at_utc holds a control character".to_owned());
        }
        Ok(())
    }
}

/// The entries of a journal's `text`, and how it ends.
fn parse(path: &Path, text: &str) -> Result<(Vec<Entry>, Tail)> {
    let mut entries = Vec::new();
    let mut at = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let malformed =
            |reason: String| JournalError::Malformed { path: path.to_owned(), line: index + 1, reason };
        let parsed = serde_json::from_str::<Entry>(line.trim_end()).map_err(|error| error.to_string());
        if !line.ends_with('\n') {
            return Ok(match parsed {
                Ok(entry) => {
                    entry.check().map_err(malformed)?;
                    entries.push(entry);
                    (entries, Tail::Unterminated)
                }
                Err(_) => (entries, Tail::Torn(at)),
            });
        }
        let entry = parsed.map_err(malformed)?;
        entry.check().map_err(malformed)?;
        entries.push(entry);
        at += line.len();
    }
    Ok((entries, Tail::Whole))
}

impl Journal {
    fn with(path: &Path, entries: Vec<Entry>, writer: Option<std::fs::File>) -> Self {
        let families = entries.iter().map(|entry| entry.family.clone()).collect();
        Self { path: path.to_owned(), entries, families, writer }
    }

    /// Reads the journal at `path`, to restore from: it must exist. A last line cut short (a
    /// write in progress) is left out; the file is not changed.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| JournalError::Io { path: path.to_owned(), source })?;
        let (entries, _) = parse(path, &text)?;
        Ok(Self::with(path, entries, None))
    }

    /// Opens the journal at `path` to add to it, making it if missing, and locks it: one
    /// process adds to a journal at a time. A last line cut short (a stop in the middle of a
    /// write) is dropped from the file.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| JournalError::Io { path: path.to_owned(), source };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).read(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.try_lock()
            .map_err(|_| io(std::io::Error::other("another process adds to this journal; one at a time")))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text).map_err(io)?;
        let (entries, tail) = parse(path, &text)?;
        match tail {
            Tail::Whole => {}
            Tail::Unterminated => {
                file.write_all(b"\n").map_err(io)?;
                file.sync_data().map_err(io)?;
            }
            Tail::Torn(at) => {
                tracing::warn!(path = %path.display(), bytes = text.len() - at, "the erasure journal's last line was cut short; dropping it");
                file.set_len(at as u64).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
        }
        Ok(Self::with(path, entries, Some(file)))
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Adds `entry`, on disk before it returns.
    fn append(&mut self, entry: Entry) -> Result<()> {
        let path = self.path.clone();
        let io = |source| JournalError::Io { path: path.clone(), source };
        let file = self
            .writer
            .as_mut()
            .ok_or_else(|| io(std::io::Error::other("the journal was opened to read only")))?;
        let mut line = serde_json::to_string(&entry).map_err(|error| JournalError::Malformed {
            path: path.clone(),
            line: self.entries.len() + 1,
            reason: error.to_string(),
        })?;
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.families.insert(entry.family.clone());
        self.entries.push(entry);
        Ok(())
    }

    /// Where reading `FAMILIES` goes on: after the last entry's message, when the stream still
    /// holds it there; from the start otherwise (a new journal, or a stream restored since).
    async fn resume_from(&self, store: &EventStore) -> Result<u64> {
        let Some(last) = self.entries.last() else {
            return Ok(1);
        };
        let there = store.recorded_at(Stream::Families, last.sequence).await?;
        Ok(if there == Some(Timestamp::from_millis(last.erased_at)) { last.sequence + 1 } else { 1 })
    }

    /// Adds every erasure in `FAMILIES` that the journal does not hold yet: to the stream's end
    /// as it is now, or, with `follow`, on as new ones are appended, until the future is
    /// dropped. Each new entry is handed to `added` once it is on disk. Following, it notices
    /// a stream replaced under it (a restore) within [`REPLACED_CHECK`] and reads it again
    /// from its start.
    pub async fn catch_up(
        &mut self,
        store: &EventStore,
        follow: bool,
        mut added: impl FnMut(&Entry),
    ) -> Result<usize> {
        let from = self.resume_from(store).await?;
        let end = if follow { u64::MAX } else { store.last_sequence(Stream::Families).await? };
        if from > end {
            return Ok(0);
        }
        let mut count = 0;
        let mut messages = Box::pin(store.follow(Stream::Families, from));
        // The last message read, and when it was recorded: a stream replaced under the
        // follower no longer holds it there.
        let mut passed: Option<(u64, Timestamp)> = self
            .entries
            .last()
            .filter(|last| last.sequence + 1 == from)
            .map(|last| (last.sequence, Timestamp::from_millis(last.erased_at)));
        let mut check = tokio::time::interval(REPLACED_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.reset();
        loop {
            let item = tokio::select! {
                item = messages.next() => item,
                _ = check.tick(), if follow => {
                    let Some((sequence, recorded_at)) = passed else { continue };
                    let there = match store.recorded_at(Stream::Families, sequence).await {
                        Ok(there) => there,
                        Err(error) => {
                            tracing::warn!(%error, "the journal cannot check FAMILIES now; checking again later");
                            continue;
                        }
                    };
                    if there != Some(recorded_at) {
                        tracing::warn!(sequence, "FAMILIES no longer holds the message the journal read last: the stream was replaced; reading it again from its start");
                        messages = Box::pin(store.follow(Stream::Families, 1));
                        passed = None;
                    }
                    continue;
                }
            };
            let Some(item) = item else { break };
            let recorded = match item {
                Ok(recorded) => recorded,
                Err(undecodable) if matches!(undecodable.error, luukku_eventstore::Error::Newer { .. }) => {
                    return Err(JournalError::Newer { sequence: undecodable.position.sequence });
                }
                // Not a luukku envelope: it holds no erasure.
                Err(undecodable) if undecodable.position.sequence >= end => break,
                Err(_) => continue,
            };
            let sequence = recorded.position.sequence;
            passed = Some((sequence, recorded.envelope.recorded_at));
            let erased = recorded.envelope.events.iter().any(|event| event.event_type == "FamilyErased");
            if let Some(family) = recorded.aggregate_id().filter(|_| erased)
                && !self.families.contains(&family.to_string())
            {
                let envelope = &recorded.envelope;
                let erased_at = envelope.recorded_at.as_millis();
                let entry = Entry {
                    family: family.to_string(),
                    erased_at,
                    erased_at_utc: jiff::Timestamp::from_millisecond(erased_at)
                        .map(|at| at.to_string())
                        .unwrap_or_default(),
                    sequence,
                    erased_by: envelope.actor.person_id.to_string(),
                    request_id: envelope.request_id.to_string(),
                };
                self.append(entry)?;
                count += 1;
                if let Some(entry) = self.entries.last() {
                    added(entry);
                }
            }
            if sequence >= end {
                break;
            }
        }
        Ok(count)
    }
}

/// Where a journalled erasure stands in the restored streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The restored stream holds the erasure.
    Erased,
    /// The restored stream does not hold the family: it was registered after the backup.
    Absent,
    /// The family stands in the restored stream: the erasure is to be made again.
    Standing,
    /// The family stands, but the restored stream holds messages of it recorded after the
    /// erasure, or the erasure is dated in the future: the line cannot be an erasure lost
    /// with the restore, and nothing is done for it. An operator looks into it.
    Suspect,
}

/// One journal entry against the restored streams and key bucket.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub family: FamilyId,
    pub found: Found,
    /// The family's key is in the restored bucket.
    pub key_left: bool,
    /// The restored bucket holds neither its key nor its erasure's marker, which refuses a key
    /// made for it again (a late retry of its registration).
    pub unmarked: bool,
}

impl Planned {
    /// Nothing is left to do for it (a suspect line is never acted on).
    pub fn done(&self) -> bool {
        match self.found {
            Found::Standing => false,
            Found::Suspect => true,
            Found::Erased | Found::Absent => !self.key_left && !self.unmarked,
        }
    }
}

/// How far in the future an erasure may seem dated (clocks differ) before its line is suspect.
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// What a restore finds of each journal entry in the streams and the key bucket.
pub async fn plan<K: KeyStore>(
    families: &Families<K>,
    store: &EventStore,
    journal: &Journal,
) -> Result<Vec<Planned>> {
    let ids: Vec<String> = journal.entries.iter().map(|entry| entry.family.clone()).collect();
    let states = luukku_eventstore::keys::key_states(store, &ids).await?;
    let mut planned = Vec::with_capacity(journal.entries.len());
    for (index, (entry, state)) in journal.entries.iter().zip(states).enumerate() {
        // Checked when read; a second look costs nothing.
        let family: FamilyId = entry.family.parse().map_err(|error| JournalError::Malformed {
            path: journal.path.clone(),
            line: index + 1,
            reason: format!("family {:?}: {error}", entry.family),
        })?;
        let found = match families.status(family).await? {
            None => Found::Absent,
            Some((FamilyStatus::Erased, _)) => Found::Erased,
            // The backup predates the erasure, so everything of the family in it does too.
            Some((_, last)) if last.as_millis() >= entry.erased_at => Found::Suspect,
            Some(_) if entry.erased_at > Timestamp::now().as_millis() + CLOCK_SKEW_MS => Found::Suspect,
            Some(_) => Found::Standing,
        };
        planned.push(Planned {
            entry: entry.clone(),
            family,
            found,
            key_left: state == KeyState::Key,
            unmarked: state == KeyState::Nothing,
        });
    }
    Ok(planned)
}

/// Carries out what `planned` found undone: each standing family is erased again, and its
/// erasure recorded in the access log on `caller`; each key left is deleted, and each missing
/// marker written. Running it again finds nothing to do.
pub async fn restore<K: KeyStore>(
    families: &Families<K>,
    access_log: &AccessLog,
    caller: &Caller,
    planned: &[Planned],
) -> Result<usize> {
    let mut done = 0;
    for planned in planned.iter().filter(|planned| !planned.done()) {
        let (entry, family) = (&planned.entry, planned.family);
        if planned.found == Found::Standing {
            // The record comes first: an erasure is never made without its record.
            access_log
                .record(Access {
                    at: Timestamp::now(),
                    actor: caller.actor.clone(),
                    rpc: RESTORE_RPC.to_owned(),
                    kind: "admin".to_owned(),
                    family: Some(family),
                    member: None,
                    parts: vec!["whole".to_owned()],
                    basis: "erasure_journal".to_owned(),
                    reason: Some(format!(
                        "erased at {} by {} (request {}), lost with a restore from a backup",
                        entry.erased_at_utc, entry.erased_by, entry.request_id
                    )),
                    allowed: true,
                    rule: None,
                })
                .await?;
            // One request id per family: a second run answers as the first.
            let request_id = RequestId::parse(&format!("reerase-{family}")).map_err(|error| {
                JournalError::Malformed { path: PathBuf::new(), line: 0, reason: error.to_string() }
            })?;
            families.reapply_erasure(caller, &Write::new(request_id), family).await?;
        } else {
            families.keys().erase(&entry.family).await?;
        }
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"family":"01KB0000000000000000000000","erased_at":1,"erased_at_utc":"1970-01-01T00:00:00.001Z","sequence":7,"erased_by":"test.contact","request_id":"r1"}"#;

    #[test]
    fn a_line_cut_short_is_dropped_and_a_malformed_one_refused() -> Result<(), Box<dyn std::error::Error>> {
        let folder = tempfile::tempdir()?;
        let path = folder.path().join("erasures.jsonl");
        std::fs::write(&path, format!("{LINE}\n{}", &LINE[..40]))?;
        let journal = Journal::open(&path)?;
        assert_eq!(journal.entries().len(), 1);
        assert_eq!(journal.entries()[0].sequence, 7);
        assert_eq!(std::fs::read_to_string(&path)?, format!("{LINE}\n"), "the cut line is gone");
        drop(journal);

        // A whole entry that lacks only its newline is kept.
        std::fs::write(&path, format!("{LINE}\n{LINE}"))?;
        assert_eq!(Journal::read(&path)?.entries().len(), 2);
        assert_eq!(Journal::open(&path)?.entries().len(), 2);
        assert_eq!(std::fs::read_to_string(&path)?, format!("{LINE}\n{LINE}\n"));

        std::fs::write(&path, format!("{LINE}\nnot json\n"))?;
        let refused = Journal::open(&path).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(refused.contains("line 2"), "{refused}");
        // Nothing a terminal would act on gets through.
        let escaped = LINE.replace("test.contact", "\\u001b[2J");
        std::fs::write(&path, format!("{escaped}\n"))?;
        assert!(Journal::read(&path).is_err());
        assert!(Journal::read(&folder.path().join("missing.jsonl")).is_err(), "a restore needs its journal");
        Ok(())
    }
}

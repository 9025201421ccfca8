//! The erasure journal: one line for every family erased, kept apart from the backups of the
//! streams and the key bucket. A restore from a backup brings back the keys of the families
//! erased after it, and loses their `FamilyErased` events; [`restore`] erases each of them
//! again from the journal (`luukku ops erasures`). The journal names no member of a family: a
//! line holds the family id, when and by whom it was erased, and where the erasure stood.

use std::collections::HashSet;
use std::io::{BufRead as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use luukku_app::{Caller, Write};
use luukku_domain::family::{FamilyId, FamilyStatus};
use luukku_domain::{RequestId, Timestamp};
use luukku_eventstore::audit::{Access, AccessLog};
use luukku_eventstore::{EventStore, KeyStore, Stream};
use serde::{Deserialize, Serialize};

use crate::Families;

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

/// The journal file: its entries, and the file open for appending.
pub struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
    families: HashSet<String>,
}

impl Journal {
    /// Reads the journal at `path`; a missing file is an empty journal. A last line cut short
    /// (a stop in the middle of a write) is dropped from the file.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| JournalError::Io { path: path.to_owned(), source };
        let mut journal = Self { path: path.to_owned(), entries: Vec::new(), families: HashSet::new() };
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(journal),
            Err(error) => return Err(io(error)),
        };
        let mut reader = std::io::BufReader::new(file);
        let mut whole = 0u64;
        let mut line = String::new();
        for number in 1.. {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io)?;
            if read == 0 {
                break;
            }
            if !line.ends_with('\n') {
                tracing::warn!(path = %path.display(), line = number, "the erasure journal's last line was cut short; dropping it");
                let file = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
                file.set_len(whole).map_err(io)?;
                file.sync_all().map_err(io)?;
                break;
            }
            whole += read as u64;
            let entry: Entry = serde_json::from_str(line.trim_end()).map_err(|error| {
                JournalError::Malformed { path: path.to_owned(), line: number, reason: error.to_string() }
            })?;
            journal.families.insert(entry.family.clone());
            journal.entries.push(entry);
        }
        Ok(journal)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Adds `entry`, on disk before it returns.
    fn append(&mut self, entry: Entry) -> Result<()> {
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(io)?;
        let mut line = serde_json::to_string(&entry).map_err(|error| JournalError::Malformed {
            path: self.path.clone(),
            line: self.entries.len() + 1,
            reason: error.to_string(),
        })?;
        line.push('\n');
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
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
    /// dropped. Each new entry is handed to `added` once it is on disk.
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
        let mut messages = std::pin::pin!(store.follow(Stream::Families, from));
        while let Some(item) = messages.next().await {
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
}

/// One journal entry against the restored streams and key bucket.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub family: FamilyId,
    pub found: Found,
    /// The family's key is in the restored bucket.
    pub key_left: bool,
}

impl Planned {
    /// Nothing is left to do for it.
    pub fn done(&self) -> bool {
        self.found != Found::Standing && !self.key_left
    }
}

/// What a restore finds of each journal entry in the streams and the key bucket.
pub async fn plan<K: KeyStore>(
    families: &Families<K>,
    store: &EventStore,
    journal: &Journal,
) -> Result<Vec<Planned>> {
    let ids: Vec<String> = journal.entries.iter().map(|entry| entry.family.clone()).collect();
    let left: HashSet<String> =
        luukku_eventstore::keys::leftover_keys(store, &ids).await?.into_iter().collect();
    let mut planned = Vec::with_capacity(journal.entries.len());
    for (index, entry) in journal.entries.iter().enumerate() {
        let family: FamilyId = entry.family.parse().map_err(|error| JournalError::Malformed {
            path: journal.path.clone(),
            line: index + 1,
            reason: format!("family {:?}: {error}", entry.family),
        })?;
        let found = match families.status(family).await? {
            None => Found::Absent,
            Some(FamilyStatus::Erased) => Found::Erased,
            Some(_) => Found::Standing,
        };
        planned.push(Planned { entry: entry.clone(), family, found, key_left: left.contains(&entry.family) });
    }
    Ok(planned)
}

/// Carries out what `planned` found undone: each standing family is erased again, and its
/// erasure recorded in the access log on `caller`; each key left is deleted. Running it again
/// finds nothing to do.
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

        std::fs::write(&path, format!("{LINE}\nnot json\n"))?;
        let refused = Journal::open(&path).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(refused.contains("line 2"), "{refused}");
        Ok(())
    }
}

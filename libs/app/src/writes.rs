//! Several writes to one sled tree that a crash keeps all of or none of, without holding
//! every other sled operation of the process while they are made.
//!
//! sled makes a batch atomic with one lock shared by every tree of every database in the
//! process: `apply_batch` waits until no other operation is under way and holds all of them
//! off until it is done. A read model's small live batch then waits for whatever reads or
//! writes run at that moment, and stops them meanwhile; on two busy cores that added
//! milliseconds to the time between a write's acknowledgement and its projection.
//!
//! A small [`Writes`] is instead kept first as one record in a tree of its own, `redo/<tree>`
//! (a single insert, atomic), then written key by key, and its record removed. sled recovers its
//! log as a prefix (it stops at the first write not made whole), so after a crash the record
//! is there whenever some of its writes may be missing, and [`LoggedTree::open`] makes them
//! again: each write sets a key to a value or removes it, so making it twice is harmless.
//! A large one (a model catching up or being rebuilt) takes sled's batch, as the lock's cost
//! is small beside its own and the record would write everything twice. A single write (a
//! chunk that moved only a checkpoint) is atomic in sled by itself, and is made without a
//! record.
//!
//! Readers meanwhile may see some of a small commit's writes before the rest, in the order
//! they were added, unless they read through [`LoggedTree::whole`]: a reader whose answer
//! combines several keys (the access policy) reads them that way. A commit that fails midway
//! (a sled error) leaves its writes half made until [`LoggedTree::finish`] makes them.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock, Weak};

/// From a record of this many bytes on, a commit takes sled's batch. Well below the
/// size from which sled stores a value in a file of its own (a quarter of its 512 KiB
/// segment), which it does not sync and whose loss its recovery passes over: the record must
/// stay in the log that recovery reads as a prefix.
const LARGE: usize = 64 * 1024;
/// Each tree's commit under way is kept, under [`RECORD`], in a tree of its own named this
/// followed by the tree's name: alone in its tree, the record is alone in the pages sled
/// writes, which stay below the size sled stores in files of their own.
pub const REDO_PREFIX: &str = "redo/";
const RECORD: &[u8] = b"r";

fn redo_name(name: &[u8]) -> Vec<u8> {
    [REDO_PREFIX.as_bytes(), name].concat()
}

/// Writes to one tree, made in the order they were added: a later write of a key wins.
#[derive(Default)]
pub struct Writes {
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The length of its record.
    bytes: usize,
}

impl Writes {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (key, value) = (key.as_ref().to_vec(), value.as_ref().to_vec());
        self.bytes += 9 + key.len() + value.len();
        self.changes.push((key, Some(value)));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        let key = key.as_ref().to_vec();
        self.bytes += 5 + key.len();
        self.changes.push((key, None));
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The keys written or removed, in order (tests).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> Vec<&[u8]> {
        self.changes.iter().map(|(key, _)| key.as_slice()).collect()
    }

    /// The record kept while the writes are made: for each, the key's length and bytes, then
    /// 0 for a removal or 1, the value's length and bytes. Lengths are 4 bytes, big-endian.
    fn encode(&self) -> Vec<u8> {
        let mut record = Vec::with_capacity(self.bytes);
        for (key, value) in &self.changes {
            record.extend_from_slice(&length(key));
            record.extend_from_slice(key);
            match value {
                None => record.push(0),
                Some(value) => {
                    record.push(1);
                    record.extend_from_slice(&length(value));
                    record.extend_from_slice(value);
                }
            }
        }
        record
    }

    fn decode(mut record: &[u8]) -> Option<Self> {
        fn take<'a>(record: &mut &'a [u8], count: usize) -> Option<&'a [u8]> {
            let (taken, rest) = record.split_at_checked(count)?;
            *record = rest;
            Some(taken)
        }
        fn bytes(record: &mut &[u8]) -> Option<Vec<u8>> {
            let count = u32::from_be_bytes(take(record, 4)?.try_into().ok()?);
            Some(take(record, usize::try_from(count).ok()?)?.to_vec())
        }
        let mut writes = Self::default();
        while !record.is_empty() {
            let key = bytes(&mut record)?;
            match take(&mut record, 1)? {
                [0] => writes.remove(key),
                [1] => {
                    let value = bytes(&mut record)?;
                    writes.insert(key, value);
                }
                _ => return None,
            }
        }
        Some(writes)
    }

    /// Makes the writes one by one.
    fn make(self, tree: &sled::Tree) -> sled::Result<()> {
        for (key, value) in self.changes {
            match value {
                Some(value) => drop(tree.insert(key, value)?),
                None => drop(tree.remove(key)?),
            }
        }
        Ok(())
    }

    fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in self.changes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch
    }
}

fn length(bytes: &[u8]) -> [u8; 4] {
    // A record is below `LARGE`, and so is each of its parts.
    u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes()
}

/// A tree whose [`Writes`] are committed whole; reads go to the tree itself. Every handle of
/// one tree, however many times it was opened, shares its commit lock and its state.
#[derive(Clone)]
pub struct LoggedTree {
    tree: sled::Tree,
    redo: sled::Tree,
    shared: Arc<Shared>,
}

/// What the handles of one tree share.
struct Shared {
    /// Whether a commit failed after its record was stored: its writes may be half made.
    unfinished: AtomicBool,
    /// Held by a commit (one at a time per tree), and by readers that must see commits whole.
    whole: RwLock<()>,
}

/// The shared state of each tree opened as a [`LoggedTree`] in the process, by the address of
/// sled's own tree: the same for every `open_tree` of a name in one database while any handle
/// holds it (and so not reused by another tree meanwhile). A second opening of a tree gets
/// the first's lock: with a lock of its own, its commits could interleave with the first's and
/// overwrite their record.
static OPEN: LazyLock<Mutex<HashMap<usize, Weak<Shared>>>> = LazyLock::new(Mutex::default);

impl Deref for LoggedTree {
    type Target = sled::Tree;
    fn deref(&self) -> &sled::Tree {
        &self.tree
    }
}

impl LoggedTree {
    /// Opens (or makes) the tree `name` of `db`, first finishing a commit a crash interrupted.
    /// An opening of a tree that is open already shares its state: it waits for a commit of it
    /// under way to end, so it must not be made inside [`LoggedTree::whole`] of the same tree.
    pub fn open(db: &sled::Db, name: impl AsRef<[u8]>) -> sled::Result<Self> {
        let name = name.as_ref();
        let tree = db.open_tree(name)?;
        let redo = db.open_tree(redo_name(name))?;
        let shared = {
            let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
            open.retain(|_, shared| shared.strong_count() > 0);
            let address = std::ptr::from_ref(&*tree).addr();
            match open.get(&address).and_then(Weak::upgrade) {
                Some(shared) => shared,
                None => {
                    let shared =
                        Arc::new(Shared { unfinished: AtomicBool::new(true), whole: RwLock::new(()) });
                    open.insert(address, Arc::downgrade(&shared));
                    shared
                }
            }
        };
        let tree = Self { tree, redo, shared };
        tree.finish()?;
        Ok(tree)
    }

    /// Makes the writes of a commit that a stop or a failure interrupted, if there is one.
    /// Whoever reads the tree again after a failed commit (to apply its messages again) calls
    /// this first, so that it never applies them over half of their writes.
    pub fn finish(&self) -> sled::Result<()> {
        if !self.shared.unfinished.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.shared.whole.write().unwrap_or_else(PoisonError::into_inner);
        self.finish_alone()
    }

    /// Reads with no commit of this tree under way: what `read` sees of the tree is as every
    /// commit left it, whole. It holds commits off meanwhile; keep it to a few gets.
    pub fn whole<R>(&self, read: impl FnOnce(&sled::Tree) -> R) -> R {
        let _no_commit = self.shared.whole.read().unwrap_or_else(PoisonError::into_inner);
        read(&self.tree)
    }

    /// [`LoggedTree::finish`], with the commit lock held.
    fn finish_alone(&self) -> sled::Result<()> {
        if !self.shared.unfinished.load(Ordering::Acquire) {
            return Ok(());
        }
        let name = self.tree.name();
        if let Some(record) = self.redo.get(RECORD)? {
            let writes = Writes::decode(&record).ok_or_else(|| {
                sled::Error::Unsupported(format!(
                    "the interrupted writes of tree {} cannot be read",
                    String::from_utf8_lossy(&name)
                ))
            })?;
            tracing::info!(
                tree = %String::from_utf8_lossy(&name),
                writes = writes.changes.len(),
                "finishing writes that were interrupted"
            );
            writes.make(&self.tree)?;
            self.redo.remove(RECORD)?;
        }
        self.shared.unfinished.store(false, Ordering::Release);
        Ok(())
    }

    /// Drops the tree `name` of `db` and any commit of it left unfinished (that first, so
    /// that a stop in between leaves no record of a tree that is gone).
    pub fn drop_tree(db: &sled::Db, name: impl AsRef<[u8]>) -> sled::Result<bool> {
        let name = name.as_ref();
        db.drop_tree(redo_name(name))?;
        db.drop_tree(name)
    }

    /// Makes `writes`: a crash keeps all of them or none (once the tree is opened again).
    pub fn commit(&self, writes: Writes) -> sled::Result<()> {
        // One commit at a time per tree (the record is kept under the tree's name), and none
        // while a reader reads the tree whole.
        let _one = self.shared.whole.write().unwrap_or_else(PoisonError::into_inner);
        self.finish_alone()?;
        if writes.is_empty() {
            return Ok(());
        }
        // One write is whole by itself (sled makes each insert and removal atomic): no record.
        // A read model's chunk that changed nothing but its checkpoint is one.
        if let [_] = writes.changes.as_slice() {
            return writes.make(&self.tree);
        }
        if writes.bytes >= LARGE {
            return self.tree.apply_batch(writes.into_batch());
        }
        self.redo.insert(RECORD, writes.encode())?;
        // From here until the record is gone, a failure leaves the writes to `finish`.
        self.shared.unfinished.store(true, Ordering::Release);
        writes.make(&self.tree)?;
        self.redo.remove(RECORD)?;
        self.shared.unfinished.store(false, Ordering::Release);
        Ok(())
    }

    /// Keeps `writes` as if a stop had interrupted them after their record was stored.
    #[cfg(test)]
    fn interrupted(&self, writes: &Writes) -> sled::Result<()> {
        self.redo.insert(RECORD, writes.encode()).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_record(db: &sled::Db, name: &str) -> bool {
        db.open_tree(redo_name(name.as_bytes())).expect("opens").is_empty()
    }

    fn temporary() -> sled::Db {
        sled::Config::new().temporary(true).open().expect("a temporary database")
    }

    fn some_writes() -> Writes {
        let mut writes = Writes::default();
        writes.insert(b"a", b"1");
        writes.insert(b"b", vec![7; 300]);
        writes.remove(b"c");
        writes.insert(b"", b"");
        writes.insert(b"a", b"2");
        writes
    }

    /// What [`some_writes`] leave, over a tree holding `c`.
    fn made_by_some_writes() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![(b"".to_vec(), b"".to_vec()), (b"a".to_vec(), b"2".to_vec()), (b"b".to_vec(), vec![7; 300])]
    }

    fn contents(tree: &sled::Tree) -> Vec<(Vec<u8>, Vec<u8>)> {
        tree.iter()
            .map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())))
            .collect::<sled::Result<_>>()
            .expect("the tree reads")
    }

    #[test]
    fn a_commit_makes_every_write_in_order_and_leaves_no_record() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        tree.insert(b"c", b"old").expect("inserts");
        tree.commit(some_writes()).expect("commits");
        assert_eq!(contents(&tree), made_by_some_writes());
        assert!(no_record(&db, "t"));
    }

    #[test]
    fn a_single_write_is_made_without_a_record_and_more_than_one_with_one() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        let mut records = db.open_tree(redo_name(b"t")).expect("opens").watch_prefix(RECORD);
        let mut record_kept = || records.next_timeout(std::time::Duration::ZERO).is_ok();
        let mut one = Writes::default();
        one.insert(b"checkpoint", b"7");
        tree.commit(one).expect("commits");
        assert_eq!(tree.get(b"checkpoint").expect("reads").as_deref(), Some(&b"7"[..]));
        assert!(!record_kept(), "one write needs no record");
        let mut two = Writes::default();
        two.insert(b"a", b"1");
        two.insert(b"checkpoint", b"8");
        tree.commit(two).expect("commits");
        assert_eq!(
            contents(&tree),
            vec![(b"a".to_vec(), b"1".to_vec()), (b"checkpoint".to_vec(), b"8".to_vec())]
        );
        assert!(record_kept(), "two writes are made under a record");
        assert!(no_record(&db, "t"));
    }

    #[test]
    fn a_large_commit_is_made_whole_too() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        let mut writes = Writes::default();
        for key in 0u32..300 {
            writes.insert(key.to_be_bytes(), vec![1; 1024]);
        }
        assert!(writes.bytes >= LARGE);
        tree.commit(writes).expect("commits");
        assert_eq!(tree.len(), 300);
        assert!(no_record(&db, "t"));
    }

    /// The database in `folder`, just dropped in this process: sled's background threads may
    /// hold the folder's lock for a moment after the drop, so a refused lock is asked again,
    /// for up to 10 s (sled's own tests wait for it).
    fn open_again(folder: &std::path::Path) -> sled::Db {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match sled::open(folder) {
                Err(sled::Error::Io(error))
                    if error.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => return opened.expect("opens again"),
            }
        }
    }

    #[test]
    fn writes_a_stop_interrupted_are_finished_when_the_tree_is_opened_again() {
        let folder = tempfile::tempdir().expect("a folder");
        {
            let db = sled::open(folder.path()).expect("opens");
            let tree = LoggedTree::open(&db, "t").expect("opens");
            tree.insert(b"c", b"old").expect("inserts");
            // Its record stored, and only the first of its writes made.
            let writes = some_writes();
            tree.interrupted(&writes).expect("stored");
            tree.insert(b"a", b"1").expect("inserts");
            db.flush().expect("flushed");
        }
        let db = open_again(folder.path());
        // Another tree's opening leaves it as it is.
        LoggedTree::open(&db, "other").expect("opens");
        assert!(!no_record(&db, "t"));
        let tree = LoggedTree::open(&db, "t").expect("opens");
        assert_eq!(contents(&tree), made_by_some_writes());
        assert!(no_record(&db, "t"));
    }

    #[test]
    fn writes_a_failure_interrupted_are_finished_before_the_tree_is_read_again() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        tree.insert(b"c", b"old").expect("inserts");
        // As a commit that failed after its record was stored and its first write made.
        tree.interrupted(&some_writes()).expect("stored");
        tree.shared.unfinished.store(true, Ordering::Release);
        tree.insert(b"a", b"1").expect("inserts");
        tree.finish().expect("finished");
        assert_eq!(contents(&tree), made_by_some_writes());
        assert!(no_record(&db, "t"));
        // The next commit goes on from there.
        let mut more = Writes::default();
        more.remove(b"a");
        tree.commit(more).expect("commits");
        assert_eq!(tree.get(b"a").expect("reads"), None);
    }

    /// Whether a commit through `committer` (of a tree without `a`) waited while `reader` read
    /// its tree whole.
    fn commit_waited_for_reader(reader: &LoggedTree, committer: LoggedTree) -> bool {
        let probe = committer.clone();
        assert_eq!(probe.get(b"a").expect("reads"), None);
        let (seen, commit) = reader.whole(|_| {
            let commit = std::thread::spawn(move || committer.commit(some_writes()));
            std::thread::sleep(std::time::Duration::from_millis(100));
            (probe.get(b"a").expect("reads"), commit)
        });
        commit.join().expect("the commit ran").expect("commits");
        seen.is_none()
    }

    #[test]
    fn a_commit_waits_for_a_reader_that_reads_the_tree_whole() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        assert!(
            commit_waited_for_reader(&tree, tree.clone()),
            "a commit was made while the reader held the tree"
        );
        assert_eq!(contents(&tree), made_by_some_writes());
    }

    #[test]
    fn a_tree_opened_twice_has_one_commit_lock_and_one_state() {
        let db = temporary();
        let first = LoggedTree::open(&db, "t").expect("opens");
        let second = LoggedTree::open(&db, "t").expect("opens again");
        assert!(
            commit_waited_for_reader(&first, second.clone()),
            "the second opening committed past the first's reader"
        );
        assert_eq!(contents(&first), made_by_some_writes());
        // A commit that failed through one handle is finished through the other.
        first.interrupted(&some_writes()).expect("stored");
        first.shared.unfinished.store(true, Ordering::Release);
        first.remove(b"a").expect("removes");
        second.finish().expect("finished");
        assert_eq!(contents(&first), made_by_some_writes());
        assert!(no_record(&db, "t"));
        assert!(Arc::ptr_eq(&first.shared, &second.shared));
        // Another tree, and the same name in another database, have locks of their own.
        let other = LoggedTree::open(&db, "u").expect("opens");
        assert!(!Arc::ptr_eq(&first.shared, &other.shared), "another tree shares this one's lock");
        let elsewhere = LoggedTree::open(&temporary(), "t").expect("opens");
        assert!(!Arc::ptr_eq(&first.shared, &elsewhere.shared), "another database's tree shares it");
    }

    #[test]
    fn an_unreadable_record_stops_the_opening_rather_than_leave_the_writes_half_made() {
        let db = temporary();
        db.open_tree(redo_name(b"t")).expect("opens").insert(RECORD, &[0, 0, 0, 9, 1][..]).expect("inserts");
        let refused = LoggedTree::open(&db, "t").err().expect("refused");
        assert!(refused.to_string().contains("cannot be read"), "{refused}");
    }

    #[test]
    fn dropping_a_tree_drops_its_unfinished_writes() {
        let db = temporary();
        let tree = LoggedTree::open(&db, "t").expect("opens");
        tree.interrupted(&some_writes()).expect("stored");
        assert!(LoggedTree::drop_tree(&db, "t").expect("drops"));
        let made_anew = LoggedTree::open(&db, "t").expect("opens");
        assert!(made_anew.is_empty());
        assert!(
            !Arc::ptr_eq(&tree.shared, &made_anew.shared),
            "a tree made anew shares the dropped one's lock"
        );
    }

    #[test]
    fn a_record_decodes_to_the_same_writes() {
        let writes = some_writes();
        let decoded = Writes::decode(&writes.encode()).expect("decodes");
        assert_eq!(decoded.changes, writes.changes);
        assert_eq!(decoded.bytes, writes.bytes);
        let encoded = writes.encode();
        assert!(Writes::decode(&encoded[..encoded.len() - 1]).is_none());
    }
}

//! The storage engine under the read models, at a county's scale and beyond: sled 0.34 (what
//! they use) against redb (a B-tree in one file, its cache bounded), on the same records,
//! shaped like the coordination projection's: per family a document of 0.6–2.4 KB, one to four
//! timeline chunks of 0.2–2 KB, and three search-index keys (random hashes, no value). Written
//! as a rebuild writes them (the keys of 1,000 families per commit), then opened twice, and
//! once more after a process writing to it was stopped unclosed (a crash), each time followed
//! by views (a family's document and its two newest chunks) from several threads. Each step
//! runs in a process of its own (this binary again), so that its memory is the engine's: the
//! step's time, and its resident memory at its end.
//!
//! Not the projection itself, nor its application: an experiment for the choice of engine,
//! with nothing else in the process.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::stats::{latency_histogram, millis, record};

#[derive(Debug, Clone, clap::Args)]
pub struct EnginesArgs {
    /// Families written.
    #[arg(long, default_value_t = 1_000_000)]
    families: usize,
    /// Views each reader reads after an opening.
    #[arg(long, default_value_t = 5_000)]
    views: usize,
    /// Threads reading views at once.
    #[arg(long, default_value_t = 4)]
    readers: usize,
    /// The cache each engine is given, in MiB (the projection gives sled 128).
    #[arg(long, default_value_t = 128)]
    cache_mib: u64,
    /// One step in this process: `<engine>:<write|read|crash>:<folder>` (the benchmark runs itself
    /// so).
    #[arg(long, hide = true)]
    step: Option<String>,
}

impl EnginesArgs {
    fn cache_bytes(&self) -> u64 {
        self.cache_mib * 1024 * 1024
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sled,
    Redb,
}

impl Engine {
    const ALL: [Engine; 2] = [Engine::Sled, Engine::Redb];

    fn name(self) -> &'static str {
        match self {
            Engine::Sled => "sled",
            Engine::Redb => "redb",
        }
    }

    fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|engine| engine.name() == name)
            .ok_or_else(|| anyhow::anyhow!("no engine {name}"))
    }
}

/// The table redb keeps the records in: one, keyed as sled's tree is.
const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("projection");

/// Families per commit, as a rebuild's batch.
const PER_COMMIT: usize = 1_000;

/// A family's id: in the order written, as ULIDs made at registration are.
fn id(family: usize) -> [u8; 16] {
    let mixed = (family as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (((family as u128) << 64) | u128::from(mixed)).to_be_bytes()
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![prefix];
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// The records of `family`: the same for every engine and run.
fn records(family: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut random = fastrand::Rng::with_seed(family as u64);
    let id = id(family);
    let bytes = |random: &mut fastrand::Rng, low: usize, high: usize| {
        let mut value = vec![0; random.usize(low..=high)];
        random.fill(&mut value);
        value
    };
    let mut records = vec![(key(b'f', &[&id]), bytes(&mut random, 600, 2_400))];
    for chunk in 0..random.u32(1..=4) {
        records.push((key(b'T', &[&id, &chunk.to_be_bytes()]), bytes(&mut random, 200, 2_000)));
    }
    for _ in 0..3 {
        let hash = bytes(&mut random, 32, 32);
        records.push((key(b'n', &[&hash, &id]), Vec::new()));
    }
    records
}

/// One family's view: its document and its two newest chunks, the bytes read.
trait Store: Send + Sync {
    fn view(&self, family: usize) -> anyhow::Result<usize>;
}

impl Store for sled::Db {
    fn view(&self, family: usize) -> anyhow::Result<usize> {
        let id = id(family);
        let doc = self.get(key(b'f', &[&id]))?.ok_or_else(|| anyhow::anyhow!("family {family} missing"))?;
        let mut bytes = doc.len();
        for chunk in self.scan_prefix(key(b'T', &[&id])).rev().take(2) {
            bytes += chunk?.1.len();
        }
        Ok(bytes)
    }
}

impl Store for redb::Database {
    fn view(&self, family: usize) -> anyhow::Result<usize> {
        let id = id(family);
        let read = self.begin_read()?;
        let table = read.open_table(TABLE)?;
        let doc = table
            .get(key(b'f', &[&id]).as_slice())?
            .ok_or_else(|| anyhow::anyhow!("family {family} missing"))?;
        let mut bytes = doc.value().len();
        let start = key(b'T', &[&id]);
        let end = key(b'T', &[&id, &u32::MAX.to_be_bytes()]);
        for chunk in table.range(start.as_slice()..end.as_slice())?.rev().take(2) {
            bytes += chunk?.1.value().len();
        }
        Ok(bytes)
    }
}

fn open_sled(folder: &Path, cache: u64) -> anyhow::Result<sled::Db> {
    Ok(sled::Config::new().path(folder).flush_every_ms(Some(200)).cache_capacity(cache).open()?)
}

fn open_redb(folder: &Path, cache: u64) -> anyhow::Result<redb::Database> {
    std::fs::create_dir_all(folder)?;
    Ok(redb::Builder::new().set_cache_size(cache as usize).create(folder.join("projection.redb"))?)
}

/// How often a commit is made durable at least, as sled flushes the coordination
/// projection's log: a crash loses the commits since, whole.
const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Families the crash step writes again before it stops the process, unclosed.
const CRASH_FAMILIES: usize = 20_000;

/// Writes the records of `families`, a commit per [`PER_COMMIT`] families: the records written.
/// sled's log is flushed every 200 ms by its own thread, and at the end when `close`. redb
/// commits without writing to disk (`Durability::None`) but every 200 ms, when it commits
/// durably, with the state its quick repair reads after a crash.
fn write_families(
    engine: Engine,
    folder: &Path,
    args: &EnginesArgs,
    families: std::ops::Range<usize>,
    close: bool,
) -> anyhow::Result<usize> {
    let cache = args.cache_bytes();
    let commits = || {
        let (start, end) = (families.start, families.end);
        (start..end).step_by(PER_COMMIT).map(move |first| first..(first + PER_COMMIT).min(end))
    };
    let mut written = 0usize;
    match engine {
        Engine::Sled => {
            let db = open_sled(folder, cache)?;
            for commit in commits() {
                let mut batch = sled::Batch::default();
                for (key, value) in commit.flat_map(records) {
                    batch.insert(key, value);
                    written += 1;
                }
                db.apply_batch(batch)?;
            }
            if close {
                db.flush()?;
            } else {
                std::process::abort();
            }
        }
        Engine::Redb => {
            let db = open_redb(folder, cache)?;
            let mut durable = Instant::now();
            for commit in commits() {
                let mut transaction = db.begin_write()?;
                if durable.elapsed() < DURABLE_EVERY {
                    transaction.set_durability(redb::Durability::None);
                } else {
                    transaction.set_quick_repair(true);
                    durable = Instant::now();
                }
                {
                    let mut table = transaction.open_table(TABLE)?;
                    for (key, value) in commit.flat_map(records) {
                        table.insert(key.as_slice(), value.as_slice())?;
                        written += 1;
                    }
                }
                transaction.commit()?;
            }
            if close {
                let mut last = db.begin_write()?;
                last.set_quick_repair(true);
                last.commit()?;
            } else {
                std::process::abort();
            }
        }
    }
    Ok(written)
}

/// Writes every family's records into a new folder, and closes it.
fn write(engine: Engine, folder: &Path, args: &EnginesArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let written = write_families(engine, folder, args, 0..args.families, true)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!("records={written} seconds={seconds:.2} rss={}", crate::scale::rss()?))
}

/// Opens the folder and reads views from `args.readers` threads.
fn read(engine: Engine, folder: &Path, args: &EnginesArgs) -> anyhow::Result<String> {
    let cache = args.cache_bytes();
    let started = Instant::now();
    let store: Box<dyn Store> = match engine {
        Engine::Sled => Box::new(open_sled(folder, cache)?),
        Engine::Redb => Box::new(open_redb(folder, cache)?),
    };
    let opened = started.elapsed().as_secs_f64();
    let rss_opened = crate::scale::rss()?;
    let store: &dyn Store = store.as_ref();
    let viewing = Instant::now();
    let histograms = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..args.readers)
            .map(|reader| {
                scope.spawn(move || -> anyhow::Result<hdrhistogram::Histogram<u64>> {
                    let mut random = fastrand::Rng::with_seed(1_000 + reader as u64);
                    let mut latencies = latency_histogram()?;
                    for _ in 0..args.views {
                        let began = Instant::now();
                        store.view(random.usize(0..args.families))?;
                        record(&mut latencies, began.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().map_err(|_| anyhow::anyhow!("a reader panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let rate = (args.views * args.readers) as f64 / viewing.elapsed().as_secs_f64();
    let mut latencies = latency_histogram()?;
    for histogram in &histograms {
        latencies.add(histogram)?;
    }
    Ok(format!(
        "open={opened:.2} rss_opened={rss_opened} views={rate:.0} p50={:.3} p99={:.3} rss={}",
        millis(latencies.value_at_quantile(0.50)),
        millis(latencies.value_at_quantile(0.99)),
        crate::scale::rss()?
    ))
}

/// One step, in this process: prints its figures on its last line.
fn step(spec: &str, args: &EnginesArgs) -> anyhow::Result<()> {
    let mut parts = spec.splitn(3, ':');
    let (Some(engine), Some(what), Some(folder)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("a step is <engine>:<write|read|crash>:<folder>, not {spec}");
    };
    let engine = Engine::parse(engine)?;
    let folder = PathBuf::from(folder);
    let figures = match what {
        "write" => write(engine, &folder, args)?,
        "crash" => {
            write_families(engine, &folder, args, 0..CRASH_FAMILIES.min(args.families), false)?;
            anyhow::bail!("the crash step ended without stopping the process")
        }
        "read" => read(engine, &folder, args)?,
        other => anyhow::bail!("no step {other}"),
    };
    println!("{figures}");
    Ok(())
}

/// Writes [`CRASH_FAMILIES`] families again in a process of its own, which stops unclosed
/// (aborted) right after its last commit.
fn crash(engine: Engine, folder: &Path, args: &EnginesArgs) -> anyhow::Result<()> {
    let output = step_command(engine, "crash", folder, args)?.output()?;
    anyhow::ensure!(
        !output.status.success(),
        "{} crash ended as if closed: {}",
        engine.name(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn step_command(
    engine: Engine,
    what: &str,
    folder: &Path,
    args: &EnginesArgs,
) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .arg("engines")
        .args(["--families", &args.families.to_string(), "--views", &args.views.to_string()])
        .args(["--readers", &args.readers.to_string(), "--cache-mib", &args.cache_mib.to_string()])
        .arg("--step")
        .arg(format!("{}:{what}:{}", engine.name(), folder.display()));
    Ok(command)
}

/// Runs one step in a process of its own: its figures, by name.
fn run_step(engine: Engine, what: &str, folder: &Path, args: &EnginesArgs) -> anyhow::Result<Figures> {
    let output = step_command(engine, what, folder, args)?.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "{} {what} failed: {}{}",
        engine.name(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    Ok(Figures(
        line.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    ))
}

struct Figures(Vec<(String, String)>);

impl Figures {
    fn get(&self, name: &str) -> anyhow::Result<f64> {
        let (_, value) =
            self.0.iter().find(|(key, _)| key == name).ok_or_else(|| anyhow::anyhow!("no figure {name}"))?;
        Ok(value.parse()?)
    }

    fn mib(&self, name: &str) -> anyhow::Result<f64> {
        Ok(self.get(name)? / (1024.0 * 1024.0))
    }
}

pub fn run(args: EnginesArgs) -> anyhow::Result<()> {
    if let Some(spec) = &args.step {
        return step(spec, &args);
    }
    println!(
        "luukku-bench engines: {} families of records shaped like the projection's, {} readers x {} views after each opening, a {} MiB cache",
        args.families, args.readers, args.views, args.cache_mib
    );
    for engine in Engine::ALL {
        let folder = tempfile::tempdir()?;
        let data = folder.path().join(engine.name());
        let written = run_step(engine, "write", &data, &args)?;
        let size = crate::scale::folder_bytes(&data)? as f64 / (1024.0 * 1024.0);
        println!(
            "{}: wrote {:.0} records in {:.1} s ({:.0}/s), RSS {:.0} MiB at the end; {size:.0} MiB on disk",
            engine.name(),
            written.get("records")?,
            written.get("seconds")?,
            written.get("records")? / written.get("seconds")?,
            written.mib("rss")?
        );
        for (opening, after_a_crash) in
            [("opened", false), ("opened again", false), ("opened after a crash", true)]
        {
            if after_a_crash {
                crash(engine, &data, &args)?;
            }
            let read = run_step(engine, "read", &data, &args)?;
            println!(
                "{}: {opening} in {:.2} s (RSS {:.0} MiB); {:.0} views/s, p50 {:.3} ms, p99 {:.3} ms; RSS {:.0} MiB after the views",
                engine.name(),
                read.get("open")?,
                read.mib("rss_opened")?,
                read.get("views")?,
                read.get("p50")?,
                read.get("p99")?,
                read.mib("rss")?
            );
        }
    }
    Ok(())
}

//! A read model's standing: how far it has read each stream, and whether it stopped at a
//! message it cannot read.
//!
//! A message that does not decode is never passed silently: the read model records it in the
//! quarantine, stops at it (its service's health says `NOT_SERVING`), and goes on only when an
//! operator skips it with a reason. A message of a newer release is never skipped: the read
//! model waits for its upgrade. The coordination projection says so too (`NOT_SERVING`) while
//! a write to its folder fails and it tries again, or once its applier has ended. Each read
//! model reports where it stands every few seconds, for `luukku ops streams`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use luukku_domain::{CodecError, Timestamp};
use luukku_eventstore::quarantine::{Quarantine, Quarantined, ReaderReport, Readers, Stopped};
use luukku_eventstore::{Error as StoreError, EventStore, Position, Recorded, Stream, Undecodable};
use tokio::sync::watch;

/// How often a read model reports where it stands.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How often its lag gauges are set while it is behind (otherwise with each report).
const LAG_EVERY: Duration = Duration::from_secs(1);
/// How often a stopped read model looks for an operator's skip.
const SKIP_POLL: Duration = Duration::from_secs(1);
/// How long a stop waits for its message to be recorded in the quarantine before it is told;
/// longer, and it is told at once and recorded after.
const FIRST_RECORD: Duration = Duration::from_secs(2);

/// Where a read model stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandingState {
    /// The last sequence passed in each stream.
    pub positions: BTreeMap<Stream, u64>,
    /// Where and why it stopped, per stream, while it is stopped.
    pub stops: BTreeMap<Stream, Stopped>,
}

/// One read model's standing, shared by the tasks that follow its streams.
pub struct Standing {
    name: String,
    key: String,
    store: EventStore,
    state: watch::Sender<StandingState>,
    reports: tokio::sync::OnceCell<Readers>,
    /// Whether its lag is measured: not while it rebuilds beside the live read model.
    measured: std::sync::atomic::AtomicBool,
    /// Since when it is reaching the streams' ends as they were at its start, while it is.
    starting: std::sync::Mutex<Option<std::time::Instant>>,
    /// Whether it cannot apply what it reads (its last write to its folder failed and it tries
    /// again, or it has ended): its service answers `NOT_SERVING` meanwhile.
    failing: std::sync::atomic::AtomicBool,
    /// Told when it stops, goes on, has started, or starts or stops failing: what its
    /// service's health follows.
    health: tokio::sync::Notify,
}

impl std::fmt::Debug for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standing").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A read model's name as a key or a health entry can hold it: letters and digits, the rest `_`.
pub fn token(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// The process a read model runs in, as its reports name it.
fn process() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    format!("{}@{host}", std::process::id())
}

impl Standing {
    /// A reader named `name` (e.g. `access relations`); reports where it stands while it lives.
    pub fn start(store: &EventStore, name: &str) -> Arc<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let token = token(name);
        let key = format!("{token}.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let reader = Arc::new(Self {
            name: name.to_owned(),
            key,
            store: store.clone(),
            state: watch::Sender::new(StandingState::default()),
            reports: tokio::sync::OnceCell::new(),
            measured: std::sync::atomic::AtomicBool::new(true),
            starting: std::sync::Mutex::new(None),
            failing: std::sync::atomic::AtomicBool::new(false),
            health: tokio::sync::Notify::new(),
        });
        // From zero, so that the first quarantined message is an increase an alert sees.
        metrics::counter!("luukku_quarantined_total", "read_model" => name.to_owned()).absolute(0);
        tokio::spawn(report(Arc::downgrade(&reader)));
        reader
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Says whether the reader's lag is measured (a rebuild's is not, until it is swapped in:
    /// it shares the live read model's name).
    pub fn measure_lag(&self, measured: bool) {
        self.measured.store(measured, Ordering::Relaxed);
    }

    /// Marks the reader as starting until it has passed, in each of `streams`, the end the
    /// stream has now (asked again while the store does not answer). Its service answers
    /// `NOT_SERVING` meanwhile, so that no caller is routed to it before it holds what was
    /// written before it started.
    pub fn starting_until_caught_up(self: &Arc<Self>, streams: Vec<Stream>) {
        *self.starting.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(std::time::Instant::now());
        let standing = Arc::downgrade(self);
        let store = self.store.clone();
        let mut state = self.state.subscribe();
        tokio::spawn(async move {
            // Every end first: the streams as they were at the start, not as they grew since.
            let mut ends = Vec::with_capacity(streams.len());
            let mut backoff = Duration::from_millis(100);
            for stream in streams {
                let end = loop {
                    match store.last_sequence(stream).await {
                        Ok(end) => break end,
                        Err(error) => {
                            tracing::warn!(%stream, %error, "read model: the stream's end cannot be asked yet");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                };
                ends.push((stream, end));
            }
            for (stream, end) in ends {
                let reached =
                    |state: &StandingState| state.positions.get(&stream).copied().unwrap_or(0) >= end;
                if state.wait_for(reached).await.is_err() {
                    return;
                }
            }
            if let Some(standing) = standing.upgrade() {
                *standing.starting.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                standing.health.notify_waiters();
                tracing::info!(
                    read_model = standing.name,
                    "read model caught up with the streams as they were at its start"
                );
            }
        });
    }

    /// Resolves when the reader stops, goes on after a stop, has started, or starts or stops
    /// failing; enable it before looking, so that a change meanwhile is not missed.
    pub fn health_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.health.notified()
    }

    /// How long the reader has been reaching the streams' ends as they were at its start;
    /// `None` once it has.
    pub fn starting_for(&self) -> Option<Duration> {
        self.starting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|since| since.elapsed())
    }

    /// Whether the reader is still reaching the streams' ends as they were at its start.
    pub fn starting(&self) -> bool {
        self.starting_for().is_some()
    }

    /// Records whether the reader cannot apply what it reads (see [`Standing::failing`]).
    pub fn set_failing(&self, failing: bool) {
        if self.failing.swap(failing, std::sync::atomic::Ordering::AcqRel) != failing {
            self.health.notify_waiters();
        }
    }

    /// Whether the reader cannot apply what it reads: its last write to its folder failed, or
    /// it has ended.
    pub fn failing(&self) -> bool {
        self.failing.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Follows changes of where the reader stands.
    pub fn watch(&self) -> watch::Receiver<StandingState> {
        self.state.subscribe()
    }

    pub fn state(&self) -> StandingState {
        self.state.borrow().clone()
    }

    /// Why the reader is stopped, if it is.
    pub fn stopped(&self) -> Option<Stopped> {
        self.state.borrow().stops.values().next().cloned()
    }

    /// Resolves once the reader is stopped (at once if it is): for waits that should not
    /// outlast a stop.
    pub async fn until_stopped(&self) -> Stopped {
        let mut state = self.state.subscribe();
        let stopped = state
            .wait_for(|state| !state.stops.is_empty())
            .await
            .map(|state| state.stops.values().next().cloned());
        match stopped {
            Ok(Some(stopped)) => stopped,
            // The sender lives as long as `self`, and the state was stopped.
            _ => std::future::pending().await,
        }
    }

    /// What a wait answers when the reader stopped: why, and what to do.
    pub fn stopped_error(&self, stopped: &Stopped) -> crate::AppError {
        crate::AppError::Unavailable(format!(
            "{} is stopped at message {} of {}: {}",
            self.name, stopped.sequence, stopped.stream, stopped.reason
        ))
    }

    /// Records that the reader has passed `sequence` of `stream`.
    pub fn passed(&self, stream: Stream, sequence: u64) {
        self.state.send_modify(|state| {
            state.positions.insert(stream, sequence);
        });
    }

    /// Records `undecodable` in the quarantine and stops at it until an operator skips it.
    /// Returns true when it was skipped; false when `alive` says the read model is gone, so the
    /// caller stops following. A message of a newer release is waited at until the process
    /// ends: only an upgrade goes past it.
    pub async fn stop_at(&self, undecodable: &Undecodable, alive: impl Fn() -> bool) -> bool {
        let Position { stream, sequence } = undecodable.position;
        let newer = matches!(undecodable.error, StoreError::Newer { .. });
        let reason = if newer {
            format!("written by a newer release; upgrade this service ({})", undecodable.error)
        } else {
            undecodable.error.to_string()
        };
        tracing::error!(reader = %self.name, %stream, sequence, %reason, "read model stopped at a message it cannot read");
        metrics::counter!("luukku_quarantined_total", "read_model" => self.name.clone()).increment(1);
        let found = Quarantined {
            stream,
            sequence,
            subject: undecodable.subject.clone(),
            reason: reason.clone(),
            newer,
            found_by: self.name.clone(),
            found_at_ms: Timestamp::now().as_millis(),
            skip: None,
        };
        // Recorded before the stop is told (health, answers), so that an operator who sees it
        // finds the message in the quarantine to skip; tried again below if NATS did not answer.
        let mut quarantine: Option<Quarantine> = None;
        let mut recorded = false;
        let first = async {
            let bucket = Quarantine::open(&self.store).await.ok()?;
            let stored = bucket.record(&found).await.is_ok();
            Some((bucket, stored))
        };
        if let Ok(Some((bucket, stored))) = tokio::time::timeout(FIRST_RECORD, first).await {
            quarantine = Some(bucket);
            recorded = stored;
        }
        self.state.send_modify(|state| {
            state.stops.insert(stream, Stopped { stream, sequence, reason, newer });
        });
        self.health.notify_waiters();
        self.report_now().await;
        while alive() {
            if quarantine.is_none() {
                quarantine = Quarantine::open(&self.store).await.ok();
            }
            if let Some(bucket) = &quarantine {
                if !recorded {
                    recorded = bucket.record(&found).await.is_ok();
                }
                if !newer
                    && let Ok(Some(Quarantined { skip: Some(skip), .. })) = bucket.get(stream, sequence).await
                {
                    tracing::warn!(reader = %self.name, %stream, sequence, by = %skip.by, "quarantined message skipped");
                    self.state.send_modify(|state| {
                        state.stops.remove(&stream);
                    });
                    self.health.notify_waiters();
                    self.report_now().await;
                    return true;
                }
            }
            tokio::time::sleep(SKIP_POLL).await;
        }
        false
    }

    /// Sets the lag gauges: how many messages of each stream are not read yet, and how old
    /// the oldest of them is. Says whether it is behind.
    async fn set_lag(&self, positions: &BTreeMap<Stream, u64>) -> bool {
        let mut lagging = false;
        for (stream, position) in positions {
            let Ok(last) = self.store.last_sequence(*stream).await else { continue };
            let behind = last.saturating_sub(*position);
            lagging |= behind > 0;
            let seconds = match behind {
                0 => 0.0,
                _ => match self.store.recorded_at(*stream, position + 1).await {
                    Ok(Some(at)) => (Timestamp::now().as_millis() - at.as_millis()).max(0) as f64 / 1000.0,
                    _ => continue,
                },
            };
            let labels = [("read_model", self.name.clone()), ("stream", stream.name().to_owned())];
            metrics::gauge!("luukku_read_model_lag_messages", &labels).set(behind as f64);
            metrics::gauge!("luukku_read_model_lag_seconds", &labels).set(seconds);
        }
        lagging
    }

    async fn set_lag_now(&self) -> bool {
        self.measured.load(Ordering::Relaxed) && self.set_lag(&self.state().positions).await
    }

    async fn report_now(&self) {
        let state = self.state();
        let report = ReaderReport {
            name: self.name.clone(),
            process: process(),
            positions: state.positions.into_iter().collect(),
            stopped: state.stops.into_values().next(),
            reported_at_ms: Timestamp::now().as_millis(),
        };
        match self.reports.get_or_try_init(|| Readers::open(&self.store)).await {
            Ok(readers) => {
                if let Err(error) = readers.report(&self.key, &report).await {
                    tracing::debug!(reader = %self.name, %error, "read model report not stored");
                }
            }
            Err(error) => tracing::debug!(reader = %self.name, %error, "read model report not stored"),
        }
    }
}

async fn report(reader: Weak<Standing>) {
    let mut reported: Option<tokio::time::Instant> = None;
    loop {
        let Some(this) = reader.upgrade() else { return };
        let lagging = this.set_lag_now().await;
        if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            this.report_now().await;
            reported = Some(tokio::time::Instant::now());
        }
        let unsettled = this.state().positions.is_empty() || this.starting();
        drop(this);
        tokio::time::sleep(next_turn(lagging, unsettled)).await;
    }
}

/// When the report task looks again: soon while the reader is behind, or while it has not
/// read where it stands yet or is still starting (its lag is unknown until then, and a gauge
/// first set a whole report later would say nothing of the start); otherwise with the next
/// report.
fn next_turn(lagging: bool, unsettled: bool) -> Duration {
    if lagging || unsettled { LAG_EVERY } else { REPORT_EVERY }
}

/// A message that decoded as an envelope but whose events do not: of a newer release (an
/// unknown event type or schema version), or corrupt.
pub fn undecodable_events(recorded: &Recorded, error: CodecError) -> Undecodable {
    let (stream, sequence, subject) =
        (recorded.position.stream, recorded.position.sequence, recorded.subject.clone());
    let reason = error.to_string();
    let error = match error {
        CodecError::UnknownEventType { .. }
        | CodecError::UnsupportedSchemaVersion { .. }
        | CodecError::UnsupportedEnvelopeVersion { .. } => {
            StoreError::Newer { stream, sequence, subject: subject.clone(), reason }
        }
        _ => StoreError::Corrupt { stream, sequence, subject: subject.clone(), reason },
    };
    Undecodable { position: recorded.position, subject, error }
}

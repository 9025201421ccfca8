//! The deadline of the call a store operation serves. A passing condition of JetStream ("no
//! responders" while it restarts or elects a leader) is asked again, with backoff, for as long
//! as the call's deadline allows; only then is it `UNAVAILABLE`. The gRPC edge sets the
//! deadline from the call's `grpc-timeout`; work outside a call has [`DEFAULT_BUDGET`].

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long an operation outside any call keeps asking.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(3);
/// How long before its deadline a call is answered, so that the answer reaches the caller.
pub const MARGIN: Duration = Duration::from_millis(100);
/// How long a direct get waits for each part of its answer (a few milliseconds when a replica
/// answers). A replica that stopped (paused, or cut off) stays among those that serve direct
/// gets until its routes are found dead, minutes later, and a request given to it is never
/// answered: what was asked is then asked of the stream's leader instead.
pub(crate) const NO_ANSWER: Duration = Duration::from_millis(500);
/// The first wait before asking again; each later one doubles, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_secs(1);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as its call's deadline.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The deadline of the current call, or [`DEFAULT_BUDGET`] from now.
pub fn current() -> Instant {
    DEADLINE.try_with(|deadline| *deadline).unwrap_or_else(|_| Instant::now() + DEFAULT_BUDGET)
}

/// When an answer must have come, for the current call to be answered by its deadline.
pub(crate) fn answer_by() -> Instant {
    let deadline = current();
    deadline.checked_sub(MARGIN).unwrap_or(deadline)
}

/// Waits between attempts after "no responders", within the call's deadline.
pub(crate) struct Retry {
    wait: Duration,
    until: Instant,
}

impl Retry {
    pub(crate) fn start() -> Self {
        Self { wait: FIRST_WAIT, until: current() }
    }

    /// Waits before the next attempt; false when the deadline would pass first.
    pub(crate) async fn pause(&mut self) -> bool {
        if Instant::now() + self.wait >= self.until {
            return false;
        }
        tokio::time::sleep(self.wait).await;
        self.wait = (self.wait * 2).min(MAX_WAIT);
        true
    }
}

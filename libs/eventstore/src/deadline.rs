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
/// How long a direct get waits for the first part of its answer (a few milliseconds when a
/// replica answers). A replica that stopped (paused, or cut off) stays among those that serve direct
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

/// When an answer must have come, for the current call to be answered by its deadline. Outside
/// a call, [`DEFAULT_BUDGET`] from now, each time it is asked.
pub(crate) fn answer_by() -> Instant {
    let deadline = current();
    deadline.checked_sub(MARGIN).unwrap_or(deadline)
}

/// When the first part of a direct get's answer must have come: [`NO_ANSWER`] from now, or
/// [`answer_by`] if that is sooner.
fn first_answer_by() -> Instant {
    (Instant::now() + NO_ANSWER).min(answer_by())
}

/// Whether the call's time for answers is up: a wait that ended then ended for that reason, not
/// for a replica that does not answer.
fn time_is_up() -> bool {
    Instant::now() >= answer_by()
}

/// Waits for the first part of the answer to a direct get of `subject` in `stream`, `asked`,
/// until [`first_answer_by`]. `None` when no replica began to answer (counted and logged): the
/// caller asks the stream's leader next. `UNAVAILABLE` when the call's time is up.
pub(crate) async fn first_answer<F: Future>(
    stream: &str,
    subject: &str,
    asked: F,
) -> crate::Result<Option<F::Output>> {
    match tokio::time::timeout_at(first_answer_by(), asked).await {
        Ok(answer) => Ok(Some(answer)),
        Err(_) if time_is_up() => Err(crate::Error::Unavailable(format!(
            "no answer for {subject} in {stream} within the call's deadline"
        ))),
        Err(_) => {
            tracing::warn!(%stream, %subject, "a direct get was not answered; asking the stream's leader");
            metrics::counter!("luukku_direct_get_unanswered_total", "stream" => stream.to_owned())
                .increment(1);
            Ok(None)
        }
    }
}

/// Waits for a later part of an answer that has begun, `asked`, until [`answer_by`].
pub(crate) async fn later_answer<F: Future>(subject: &str, asked: F) -> crate::Result<F::Output> {
    tokio::time::timeout_at(answer_by(), asked).await.map_err(|_| {
        crate::Error::Unavailable(format!("no further answer for {subject} within the call's deadline"))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_direct_get_waits_for_its_first_answer_no_longer_than_the_call_allows() {
        // Outside a call: the replica's time.
        assert_eq!(first_answer_by(), Instant::now() + NO_ANSWER);
        assert!(!time_is_up());
        // A call with more time than that: the replica's time too.
        within(Instant::now() + Duration::from_secs(4), async {
            assert_eq!(first_answer_by(), Instant::now() + NO_ANSWER);
        })
        .await;
        // A call with less: what it has, less the answer's margin.
        let deadline = Instant::now() + Duration::from_millis(300);
        within(deadline, async {
            assert_eq!(first_answer_by(), deadline - MARGIN);
            assert!(!time_is_up());
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(time_is_up(), "a wait that ends now ends for the call's deadline");
        })
        .await;
    }
}

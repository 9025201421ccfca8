//! The caseload process: every tick, repairs the differences between caseloads and
//! assignments that have stood for the grace time: places whose assignment never came, moves
//! between caseloads that stopped short, and the assignments of closed and erased families.

use std::sync::Arc;
use std::time::Duration;

use luukku_eventstore::KeyStore;
use tokio::task::JoinHandle;

use crate::app::{Contacts, process_caller};

/// Runs until dropped.
pub struct Process(JoinHandle<()>);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Process {
    /// Checks every `tick`, repairing differences older than `grace`.
    pub fn spawn<K: KeyStore>(app: Arc<Contacts<K>>, tick: Duration, grace: Duration) -> Self {
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        Self(tokio::spawn(async move {
            let caller = process_caller();
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(error) = app.reconcile(&caller, true, grace_ms).await {
                    tracing::warn!(%error, "caseload process round failed; trying again next tick");
                }
            }
        }))
    }
}

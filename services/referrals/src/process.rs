//! The deadline and consent process: every tick, and at once when a consent is revoked, records
//! the escalations that are due.

use std::sync::Arc;
use std::time::Duration;

use luukku_eventstore::KeyStore;
use tokio::task::JoinHandle;

use crate::app::Referrals;

/// Runs until dropped.
pub struct Process(JoinHandle<()>);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Process {
    /// Checks every `tick`, and whenever a consent is revoked.
    pub fn spawn<K: KeyStore>(app: Arc<Referrals<K>>, tick: Duration) -> Self {
        Self(tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    () = app.consent_revoked() => {}
                }
                let due = match app.due_escalations().await {
                    Ok(due) => due,
                    Err(error) => {
                        tracing::warn!(%error, "referral process round failed; trying again next tick");
                        continue;
                    }
                };
                for escalation in due {
                    match app.escalate(&escalation).await {
                        Ok(true) => {
                            let kind = match escalation.command {
                                luukku_domain::referrals::ReferralCommand::MarkOverdue => "overdue",
                                luukku_domain::referrals::ReferralCommand::FlagConsentLapsed { .. } => {
                                    "consent_lapsed"
                                }
                                _ => "other",
                            };
                            metrics::counter!("luukku_escalations_total", "kind" => kind).increment(1);
                            tracing::info!(
                                referral = %escalation.referral_id,
                                request = %escalation.request_id,
                                "referral escalated"
                            );
                        }
                        Ok(false) => {}
                        Err(error) => tracing::warn!(
                            referral = %escalation.referral_id,
                            %error,
                            "escalation failed; retried next tick"
                        ),
                    }
                }
            }
        }))
    }
}

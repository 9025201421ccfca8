//! The referral process: marks referrals that were not received by their deadline overdue, and
//! flags open referrals whose consent was revoked or ended. It keeps no state of its own: what
//! is due is read from the stream, and each escalation carries a request id made from the
//! referral and its deadline (or consent), so a restart, a replay or a second process emits it
//! at most once.

use std::sync::Arc;
use std::time::Duration;

use luukku_domain::family::ConsentId;
use luukku_domain::referrals::{Basis, ReferralCommand, ReferralId, ReferralState};
use luukku_domain::{Actor, Code, RequestId, Role, Timestamp};
use luukku_eventstore::KeyStore;
use luukku_service::context_now;
use luukku_service::repository::Write;
use tokio::task::JoinHandle;

use crate::service::Parts;

/// Runs until dropped.
pub struct Process(JoinHandle<()>);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn actor() -> Actor {
    let code = |value: &str| Code::parse(value).unwrap_or_else(|_| unreachable!("a valid constant code"));
    Actor {
        person_id: code("luukku.referral-process"),
        role: Role::System,
        sector: None,
        organisation: code("luukku"),
        system: code("luukku-referrals"),
    }
}

/// What may need escalating: open referrals with their deadline and consent.
struct Candidate {
    referral: ReferralId,
    family: luukku_domain::family::FamilyId,
    overdue_due: Option<Timestamp>,
    consent: Option<ConsentId>,
}

impl Process {
    /// Checks every `tick`.
    pub fn spawn<K: KeyStore + Clone>(parts: Arc<Parts<K>>, tick: Duration) -> Self {
        Self(tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(status) = run_once(&parts).await {
                    tracing::warn!(%status, "referral process round failed; trying again next tick");
                }
            }
        }))
    }
}

async fn run_once<K: KeyStore + Clone>(parts: &Parts<K>) -> Result<(), tonic::Status> {
    parts.model.caught_up(parts.referrals.store()).await?;
    let now = context_now();
    let candidates: Vec<Candidate> = parts.model.read(|state| {
        state
            .referrals
            .iter()
            .filter_map(|(id, referral)| {
                let created = referral.created.as_ref()?;
                let open = referral.state.is_some_and(ReferralState::is_open);
                let overdue_due = referral.deadline.filter(|deadline| {
                    *deadline <= now.now
                        && referral.state == Some(ReferralState::Requested)
                        && !referral.overdue
                });
                let consent = match created.basis {
                    Basis::Consent(consent) if open && !referral.consent_lapsed => Some(consent),
                    _ => None,
                };
                (overdue_due.is_some() || consent.is_some()).then_some(Candidate {
                    referral: *id,
                    family: created.family_id,
                    overdue_due,
                    consent,
                })
            })
            .collect()
    });
    for candidate in candidates {
        if let Some(deadline) = candidate.overdue_due {
            let request = format!("overdue-{}-{}", candidate.referral, deadline.as_millis());
            escalate(parts, candidate.referral, &request, ReferralCommand::MarkOverdue).await;
        }
        if let Some(consent_id) = candidate.consent {
            let family = parts.families.load(candidate.family.into()).await?;
            let in_force =
                family.state.consents.get(&consent_id).is_some_and(|consent| consent.in_force(now.today));
            if !in_force {
                let request = format!("lapse-{}-{consent_id}", candidate.referral);
                escalate(
                    parts,
                    candidate.referral,
                    &request,
                    ReferralCommand::FlagConsentLapsed { consent_id },
                )
                .await;
            }
        }
    }
    Ok(())
}

async fn escalate<K: KeyStore + Clone>(
    parts: &Parts<K>,
    referral: ReferralId,
    request: &str,
    command: ReferralCommand,
) {
    let Ok(request_id) = RequestId::parse(request) else {
        tracing::error!(request, "escalation request id does not parse");
        return;
    };
    let write = Write { request_id, expected_version: None, actor: actor() };
    match parts.referrals.execute(referral.into(), &write, &command, false).await {
        Ok(outcome) if !outcome.events.is_empty() && !outcome.result.replayed => {
            tracing::info!(%referral, request, "referral escalated");
        }
        Ok(_) => {}
        Err(status) => tracing::warn!(%referral, %status, "escalation failed; retried next tick"),
    }
}

//! What the deadline and consent process escalates: referrals not received by their deadline,
//! and open referrals whose consent was revoked or ended. It keeps no state of its own: what is
//! due is read from the referral model's index ranges (requested referrals by deadline, open
//! referrals on a consent by its last day, with the consents' terms from `FAMILIES`; no family is
//! loaded, and only what is due is read), and each escalation carries a request id made from the
//! referral and its deadline (or consent), so a restart, a replay or a second process escalates
//! once.

use luukku_app::{Caller, Result, Write};
use luukku_domain::referrals::{ReferralCommand, ReferralId};
use luukku_domain::{Actor, Code, Context, RequestId, Role};
use luukku_eventstore::KeyStore;

use super::Referrals;

/// One escalation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub referral_id: ReferralId,
    pub request_id: RequestId,
    pub command: ReferralCommand,
}

/// The process acts as itself.
pub fn process_caller() -> Caller {
    let code = |value: &str| Code::parse(value).unwrap_or_else(|_| unreachable!("a valid constant code"));
    Caller::new(Actor {
        person_id: code("luukku.referral-process"),
        role: Role::System,
        sector: None,
        organisation: code("luukku"),
        system: code("luukku-referrals"),
    })
}

fn escalation(referral_id: ReferralId, request: String, command: ReferralCommand) -> Option<Escalation> {
    let request_id = RequestId::parse(&request).ok()?;
    Some(Escalation { referral_id, request_id, command })
}

impl<K: KeyStore> Referrals<K> {
    /// Every escalation due now.
    pub async fn due_escalations(&self) -> Result<Vec<Escalation>> {
        self.due_escalations_at(luukku_app::context_now()).await
    }

    /// Every escalation due at `now`: what a later day brings, for one.
    pub async fn due_escalations_at(&self, now: Context) -> Result<Vec<Escalation>> {
        let store = self.referrals.store();
        // A referral names a consent recorded before it: once the model has reached the end of
        // `REFERRALS`, then of `FAMILIES`, as they are now, every referral's terms are in it.
        self.model.caught_up_with_consents(store).await?;
        let mut due = Vec::new();
        for id in self.model.due(now.now)? {
            let Some(deadline) = self.model.referral(id)?.and_then(|referral| referral.deadline) else {
                continue;
            };
            due.extend(escalation(
                id,
                format!("overdue-{id}-{}", deadline.as_millis()),
                ReferralCommand::MarkOverdue,
            ));
        }
        for (id, consent_id) in self.model.lapsing(now.today)? {
            if self.model.lapsed(consent_id, now.today)? {
                due.extend(escalation(
                    id,
                    format!("lapse-{id}-{consent_id}"),
                    ReferralCommand::FlagConsentLapsed { consent_id },
                ));
            }
        }
        Ok(due)
    }

    /// Waits for the next revocation of a consent.
    pub async fn consent_revoked(&self) {
        self.model.revoked().await;
    }

    /// Records one escalation; says whether it recorded something new.
    pub async fn escalate(&self, escalation: &Escalation) -> Result<bool> {
        let write = Write::new(escalation.request_id.clone());
        let outcome = self
            .referrals
            .execute(escalation.referral_id.into(), &process_caller(), &write, &escalation.command)
            .await?;
        Ok(!outcome.events.is_empty() && !outcome.written.replayed)
    }
}

//! What the deadline and consent process escalates: referrals not received by their deadline,
//! and open referrals whose consent was revoked or ended. It keeps no state of its own: what is
//! due is read from the stream, and each escalation carries a request id made from the referral
//! and its deadline (or consent), so a restart, a replay or a second process escalates once.

use luukku_app::{Caller, Result, Write};
use luukku_domain::family::ConsentId;
use luukku_domain::referrals::{Basis, ReferralCommand, ReferralId, ReferralState};
use luukku_domain::{Actor, Code, RequestId, Role};
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
        self.model.caught_up(self.referrals.store()).await?;
        let now = luukku_app::context_now();
        let candidates: Vec<(ReferralId, luukku_domain::family::FamilyId, Option<i64>, Option<ConsentId>)> =
            self.model.read(|state| {
                state
                    .referrals
                    .iter()
                    .filter_map(|(id, referral)| {
                        let created = referral.created.as_ref()?;
                        let overdue = referral.deadline.filter(|deadline| {
                            *deadline <= now.now
                                && referral.state == Some(ReferralState::Requested)
                                && !referral.overdue
                        });
                        let open = referral.state.is_some_and(ReferralState::is_open);
                        let consent = match created.basis {
                            Basis::Consent(consent) if open && !referral.consent_lapsed => Some(consent),
                            _ => None,
                        };
                        (overdue.is_some() || consent.is_some()).then_some((
                            *id,
                            created.family_id,
                            overdue.map(|deadline| deadline.as_millis()),
                            consent,
                        ))
                    })
                    .collect()
            });
        let mut due = Vec::new();
        for (referral_id, family_id, overdue, consent) in candidates {
            if let Some(deadline) = overdue {
                due.extend(escalation(
                    referral_id,
                    format!("overdue-{referral_id}-{deadline}"),
                    ReferralCommand::MarkOverdue,
                ));
            }
            if let Some(consent_id) = consent {
                // One family that cannot be read now must not hold back every other escalation.
                let family = match self.families.load(family_id.into()).await {
                    Ok(family) => family,
                    Err(error) => {
                        tracing::warn!(%referral_id, error = %luukku_app::AppError::from(error), "consent not checked; checking again next round");
                        continue;
                    }
                };
                if !family.state.consent_in_force(consent_id, now.today) {
                    due.extend(escalation(
                        referral_id,
                        format!("lapse-{referral_id}-{consent_id}"),
                        ReferralCommand::FlagConsentLapsed { consent_id },
                    ));
                }
            }
        }
        Ok(due)
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

//! The catalogue's and the referrals' events told as text.

use super::events::*;
use crate::narrate::{Narrate, Telling};

impl Narrate for ServiceEvent {
    fn narrate(&self, _: Telling) -> String {
        match self {
            ServiceEvent::Registered(info) => format!("service {} of {} registered", info.name, info.sector),
            ServiceEvent::Updated(info) => format!("service {} updated", info.name),
            ServiceEvent::Paused(reason) => format!("paused: {}", reason.reason),
            ServiceEvent::Resumed(_) => "taking referrals again".to_owned(),
            ServiceEvent::Retired(reason) => format!("retired: {}", reason.reason),
        }
    }
}

impl Narrate for ReferralEvent {
    fn narrate(&self, telling: Telling) -> String {
        match self {
            ReferralEvent::Created(created) => format!(
                "referred to {} ({}){}",
                created.sector,
                created.urgency,
                telling.note(&created.reason)
            ),
            ReferralEvent::Received(_) => "referral received by the sector".to_owned(),
            ReferralEvent::Accepted(_) => "referral accepted".to_owned(),
            ReferralEvent::Rejected(rejected) => {
                format!("referral rejected ({}){}", rejected.reason, telling.note(&rejected.note))
            }
            ReferralEvent::Started(_) => "the help started".to_owned(),
            ReferralEvent::Completed(note) => format!("referral completed{}", telling.note(&note.note)),
            ReferralEvent::Failed(note) => format!("referral failed{}", telling.note(&note.note)),
            ReferralEvent::PutOnHold(note) => format!("referral put on hold{}", telling.note(&note.note)),
            ReferralEvent::Resumed(_) => "referral resumed".to_owned(),
            ReferralEvent::Cancelled(note) => {
                format!("referral cancelled by the sender{}", telling.note(&note.note))
            }
            ReferralEvent::Redirected(redirected) => {
                format!("referral redirected to {}{}", redirected.sector, telling.note(&redirected.note))
            }
            ReferralEvent::Overdue(_) => "referral overdue: not received by its deadline".to_owned(),
            ReferralEvent::ConsentLapsed(lapsed) => {
                format!("the consent {} the referral rests on lapsed", lapsed.consent_id)
            }
        }
    }
}

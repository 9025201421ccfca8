//! The catalogue's and the referrals' events. Each payload struct is schema version 1.

use serde::{Deserialize, Serialize};

use super::ServiceId;
use crate::contacts::ContactPersonId;
use crate::family::{ConsentId, FamilyId, MemberId, Municipality};
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Need, Sector, Timestamp};

crate::wire_codes!(
    /// How soon the receiving sector must respond.
    pub enum Urgency, "urgency" {
        Urgent = "urgent",
        Normal = "normal",
    }
);

crate::wire_codes!(
    /// Where a referral stands.
    pub enum ReferralState, "referral state" {
        Requested = "requested",
        Received = "received",
        Accepted = "accepted",
        Rejected = "rejected",
        InProgress = "in_progress",
        OnHold = "on_hold",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

impl ReferralState {
    /// Still waiting for, or getting, the help.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Rejected | Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The wait for help is over: the help started, or the referral ended.
    pub fn ends_wait(self) -> bool {
        matches!(self, Self::InProgress | Self::Rejected | Self::Completed | Self::Failed | Self::Cancelled)
    }
}

crate::wire_codes!(
    /// Why a receiving sector rejects a referral.
    pub enum RejectReason, "reject reason" {
        NoCapacity = "no_capacity",
        NotEligible = "not_eligible",
        ReferredElsewhere = "referred_elsewhere",
        FamilyDeclined = "family_declined",
    }
);

crate::wire_codes!(
    /// A statute that allows a referral without the family's consent.
    pub enum StatutoryBasis, "statutory basis" {
        ChildProtectionNotification = "child_protection_notification",
        ChildProtectionInvestigation = "child_protection_investigation",
        Emergency = "emergency",
        OtherLaw = "other_law",
    }
);

/// What allows sharing the family's information with the receiving sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    Consent(ConsentId),
    Statutory { basis: StatutoryBasis, note: Personal<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub provider: String,
    pub sector: Sector,
    pub name: String,
    pub description: String,
    /// Inclusive ages served, in years.
    pub min_age: u8,
    pub max_age: u8,
    pub needs: Vec<Need>,
    pub municipalities: Vec<Municipality>,
    /// Open to all without a referral decision (clubs, peer groups, parish activities).
    pub low_threshold: bool,
    /// How to get in touch.
    pub contact: String,
}

impl ServiceInfo {
    pub fn serves(&self, age: Option<u8>, need: Option<Need>, municipality: Option<&Municipality>) -> bool {
        age.is_none_or(|age| (self.min_age..=self.max_age).contains(&age))
            && need.is_none_or(|need| self.needs.contains(&need))
            && municipality.is_none_or(|m| self.municipalities.is_empty() || self.municipalities.contains(m))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub reason: String,
}

crate::v1_events!(
    pub enum ServiceEvent {
        Registered(ServiceInfo) = "ServiceRegistered",
        Updated(ServiceInfo) = "ServiceUpdated",
        Paused(Reason) = "ServicePaused",
        Resumed(Reason) = "ServiceResumed",
        Retired(Reason) = "ServiceRetired",
    }
);

impl HasPersonal for ServiceEvent {
    /// A service's description is public information.
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCreated {
    pub family_id: FamilyId,
    /// The child concerned; `None` for the whole family.
    pub child: Option<MemberId>,
    pub service_id: ServiceId,
    pub sector: Sector,
    pub needs: Vec<Need>,
    pub urgency: Urgency,
    pub reason: Personal<String>,
    pub basis: Basis,
    pub sent_at: Timestamp,
    /// By when the receiving sector should acknowledge (`received`).
    pub deadline: Timestamp,
    /// The family's contact person when sent, who sees escalations.
    pub contact_person: Option<ContactPersonId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub reason: RejectReason,
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirected {
    pub service_id: ServiceId,
    pub sector: Sector,
    pub note: Personal<String>,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLapsed {
    pub consent_id: ConsentId,
}

crate::v1_events!(
    pub enum ReferralEvent {
        Created(ReferralCreated) = "ReferralCreated",
        Received(Step) = "ReferralReceived",
        Accepted(Step) = "ReferralAccepted",
        Rejected(Rejected) = "ReferralRejected",
        Started(Step) = "ReferralStarted",
        Completed(Note) = "ReferralCompleted",
        Failed(Note) = "ReferralFailed",
        PutOnHold(Note) = "ReferralPutOnHold",
        Resumed(Step) = "ReferralResumed",
        Cancelled(Note) = "ReferralCancelled",
        Redirected(Redirected) = "ReferralRedirected",
        Overdue(Overdue) = "ReferralOverdue",
        ConsentLapsed(ConsentLapsed) = "ReferralConsentLapsed",
    }
);

impl ReferralEvent {
    /// The state the event moves the referral to, if it moves it.
    pub fn moves_to(&self) -> Option<ReferralState> {
        use ReferralState as S;
        match self {
            ReferralEvent::Created(_) | ReferralEvent::Redirected(_) => Some(S::Requested),
            ReferralEvent::Received(_) => Some(S::Received),
            ReferralEvent::Accepted(_) => Some(S::Accepted),
            ReferralEvent::Rejected(_) => Some(S::Rejected),
            ReferralEvent::Started(_) => Some(S::InProgress),
            ReferralEvent::Completed(_) => Some(S::Completed),
            ReferralEvent::Failed(_) => Some(S::Failed),
            ReferralEvent::PutOnHold(_) => Some(S::OnHold),
            ReferralEvent::Cancelled(_) => Some(S::Cancelled),
            ReferralEvent::Resumed(_) | ReferralEvent::Overdue(_) | ReferralEvent::ConsentLapsed(_) => None,
        }
    }
}

impl HasPersonal for ReferralEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            ReferralEvent::Created(created) => {
                let mut fields: Vec<&mut dyn PersonalField> = vec![&mut created.reason];
                if let Basis::Statutory { note, .. } = &mut created.basis {
                    fields.push(note);
                }
                fields
            }
            ReferralEvent::Rejected(rejected) => vec![&mut rejected.note],
            ReferralEvent::Completed(note)
            | ReferralEvent::Failed(note)
            | ReferralEvent::PutOnHold(note)
            | ReferralEvent::Cancelled(note) => vec![&mut note.note],
            ReferralEvent::Redirected(redirected) => vec![&mut redirected.note],
            ReferralEvent::Received(_)
            | ReferralEvent::Accepted(_)
            | ReferralEvent::Started(_)
            | ReferralEvent::Resumed(_)
            | ReferralEvent::Overdue(_)
            | ReferralEvent::ConsentLapsed(_) => Vec::new(),
        }
    }
}

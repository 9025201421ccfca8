//! What the projection stores per family, person, service and consultation. Personal data stays
//! sealed as it is in the events; it is opened with the family's key when a query answers, so
//! an erased key leaves nothing readable even in the projection's files.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use luukku_domain::contacts::{ContactId, ContactPersonId, HandoverId};
use luukku_domain::family::{ConsentId, MemberDetails, MemberId, MemberRole};
use luukku_domain::meetings::{ActionId, MeetingId, Participant, Purpose};
use luukku_domain::referrals::{ReferralId, ReferralState, ServiceId, Urgency};
use luukku_domain::sealing::{HasPersonal, Personal, PersonalField};
use luukku_domain::{Channel, Need, Sector};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Status {
    /// Known from other streams only, so far.
    #[default]
    Unknown,
    Active,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDoc {
    pub role: MemberRole,
    pub details: Personal<MemberDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDoc {
    pub sectors: Vec<Sector>,
    pub valid_from: Date,
    pub valid_until: Date,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDoc {
    pub occurred_at: i64,
    pub channel: Channel,
    pub needs: Vec<Need>,
    pub summary: Personal<String>,
    pub follow_up: Option<Date>,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralDoc {
    pub service_id: ServiceId,
    pub sector: Sector,
    pub state: ReferralState,
    pub urgency: Urgency,
    pub needs: Vec<Need>,
    pub reason: Personal<String>,
    pub sent_at: i64,
    pub deadline: i64,
    pub overdue: bool,
    pub consent_lapsed: bool,
    /// When the help started or the referral ended: the end of the wait.
    pub wait_ended: Option<i64>,
    /// The state to return to from on hold.
    pub held_from: Option<ReferralState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDoc {
    pub what: Personal<String>,
    pub owner: Participant,
    pub due: Date,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingDoc {
    pub purpose: Purpose,
    /// proposed, scheduled, held or cancelled.
    pub status: String,
    /// The scheduled start, or when it was held.
    pub at: Option<i64>,
    pub actions: BTreeMap<ActionId, ActionDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FamilyDoc {
    pub registered_at: i64,
    pub status: Status,
    pub municipality: String,
    pub members: BTreeMap<MemberId, MemberDoc>,
    pub consents: BTreeMap<ConsentId, ConsentDoc>,
    pub contact_person: Option<ContactPersonId>,
    pub pending_handover: Option<(HandoverId, ContactPersonId, ContactPersonId)>,
    pub contacts: BTreeMap<ContactId, ContactDoc>,
    pub referrals: BTreeMap<ReferralId, ReferralDoc>,
    pub meetings: BTreeMap<MeetingId, MeetingDoc>,
}

impl HasPersonal for FamilyDoc {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        let mut fields: Vec<&mut dyn PersonalField> = Vec::new();
        fields.extend(self.members.values_mut().map(|m| &mut m.details as &mut dyn PersonalField));
        fields.extend(self.contacts.values_mut().map(|c| &mut c.summary as &mut dyn PersonalField));
        fields.extend(self.referrals.values_mut().map(|r| &mut r.reason as &mut dyn PersonalField));
        fields.extend(
            self.meetings
                .values_mut()
                .flat_map(|m| m.actions.values_mut())
                .map(|a| &mut a.what as &mut dyn PersonalField),
        );
        fields
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonDoc {
    pub name: String,
    pub sector: Option<Sector>,
    /// The families this person is the contact person of.
    pub families: BTreeSet<luukku_domain::family::FamilyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDoc {
    pub name: String,
    pub sector: Sector,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsultationDoc {
    pub sector: Sector,
    pub needs: Vec<Need>,
}

/// One event of a family's timeline, as its context tells it: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineDoc {
    pub event_type: String,
    pub text: String,
    /// Who recorded it (a person id, never a name).
    pub actor: String,
}

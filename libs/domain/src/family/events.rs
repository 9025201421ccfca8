//! The family's events. Each payload struct is the current schema (version 1) of its event
//! type; a later change keeps the old struct for decoding and upcasts it.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{ConsentId, ErasureId, MemberId, Municipality};
use crate::codec::{from_postcard, to_postcard, unsupported_version};
use crate::identity_code::IdentityCode;
use crate::sealing::{HasPersonal, Personal, PersonalField};
use crate::{Code, CodecError, DomainEvent, EventSchema, Sector};

crate::wire_codes!(
    /// A member's place in the family.
    pub enum MemberRole, "member role" {
        Guardian = "guardian",
        Child = "child",
    }
);

/// A member's personal details; always sealed in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDetails {
    pub given_names: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
    pub identity_code: Option<IdentityCode>,
    /// ISO 639 codes.
    pub languages: Vec<String>,
}

impl MemberDetails {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_names, self.family_name)
    }
}

crate::wire_codes!(
    /// Why coordination of a family ended.
    pub enum CloseReason, "close reason" {
        NeedsMet = "needs_met",
        MovedAway = "moved_away",
        FamilyDeclined = "family_declined",
        Transferred = "transferred",
        Other = "other",
    }
);

impl CloseReason {
    /// The reason in words.
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::NeedsMet => "needs met",
            CloseReason::MovedAway => "moved away",
            CloseReason::FamilyDeclined => "family declined",
            CloseReason::Transferred => "transferred to another service",
            CloseReason::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJoined {
    pub member_id: MemberId,
    pub role: MemberRole,
    pub details: Personal<MemberDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub municipality: Municipality,
    pub members: Vec<MemberJoined>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdated {
    pub member_id: MemberId,
    pub role: MemberRole,
    pub details: Personal<MemberDetails>,
}

/// A member can sign in: an identity provider's subject (an opaque id, never an identity code)
/// stands for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLinked {
    pub member_id: MemberId,
    /// The subject, sealed with the family's key.
    pub subject: Personal<String>,
    /// The key of the link in the member link bucket: a hash of the subject.
    pub subject_key: String,
}

crate::wire_codes!(
    /// The legal ground of a request to erase a family's personal data (GDPR Art. 17(1)).
    pub enum ErasureGround, "erasure ground" {
        /// Recorded without a basis, or in error (17(1)(d)): no retention period holds it.
        Unlawful = "unlawful",
        /// The consent it rested on was withdrawn (17(1)(b)).
        ConsentWithdrawn = "consent_withdrawn",
        /// No longer needed for its purpose (17(1)(a)).
        NoLongerNeeded = "no_longer_needed",
        /// The data subject objects (17(1)(c)).
        Objection = "objection",
    }
);

/// A request to erase the family's personal data, with its legal ground.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequested {
    pub erasure_id: ErasureId,
    pub ground: ErasureGround,
    /// The member it is made for, when a professional makes it on their behalf.
    pub on_behalf_of: Option<MemberId>,
    pub requested_by: Code,
}

/// A data-protection officer's approval of a request to erase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureApproved {
    pub erasure_id: ErasureId,
    pub approved_by: Code,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUnlinked {
    pub member_id: MemberId,
    pub subject_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRemoved {
    pub member_id: MemberId,
    pub reason: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityChanged {
    pub municipality: Municipality,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGranted {
    pub consent_id: ConsentId,
    pub given_by: MemberId,
    /// `None`: the whole family.
    pub concerns: Option<MemberId>,
    pub sectors: Vec<Sector>,
    pub purpose: Personal<String>,
    pub valid_from: Date,
    pub valid_until: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRevoked {
    pub consent_id: ConsentId,
    pub revoked_by: MemberId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    pub reason: CloseReason,
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopened {
    pub note: Personal<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyEvent {
    Registered(Registered),
    MemberAdded(MemberJoined),
    MemberUpdated(MemberUpdated),
    MemberRemoved(MemberRemoved),
    MunicipalityChanged(MunicipalityChanged),
    ConsentGranted(ConsentGranted),
    ConsentRevoked(ConsentRevoked),
    Closed(Closed),
    Reopened(Reopened),
    /// The family's key was deleted. Carries nothing personal.
    Erased,
    MemberLinked(MemberLinked),
    MemberUnlinked(MemberUnlinked),
    ErasureRequested(ErasureRequested),
    ErasureApproved(ErasureApproved),
}

const V1: &[u16] = &[1];

impl DomainEvent for FamilyEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema { event_type: "FamilyRegistered", versions: V1 },
        EventSchema { event_type: "MemberAdded", versions: V1 },
        EventSchema { event_type: "MemberUpdated", versions: V1 },
        EventSchema { event_type: "MemberRemoved", versions: V1 },
        EventSchema { event_type: "MunicipalityChanged", versions: V1 },
        EventSchema { event_type: "ConsentGranted", versions: V1 },
        EventSchema { event_type: "ConsentRevoked", versions: V1 },
        EventSchema { event_type: "FamilyClosed", versions: V1 },
        EventSchema { event_type: "FamilyReopened", versions: V1 },
        EventSchema { event_type: "FamilyErased", versions: V1 },
        EventSchema { event_type: "MemberLinked", versions: V1 },
        EventSchema { event_type: "MemberUnlinked", versions: V1 },
        EventSchema { event_type: "ErasureRequested", versions: V1 },
        EventSchema { event_type: "ErasureApproved", versions: V1 },
    ];

    fn event_type(&self) -> &'static str {
        match self {
            FamilyEvent::Registered(_) => "FamilyRegistered",
            FamilyEvent::MemberAdded(_) => "MemberAdded",
            FamilyEvent::MemberUpdated(_) => "MemberUpdated",
            FamilyEvent::MemberRemoved(_) => "MemberRemoved",
            FamilyEvent::MunicipalityChanged(_) => "MunicipalityChanged",
            FamilyEvent::ConsentGranted(_) => "ConsentGranted",
            FamilyEvent::ConsentRevoked(_) => "ConsentRevoked",
            FamilyEvent::Closed(_) => "FamilyClosed",
            FamilyEvent::Reopened(_) => "FamilyReopened",
            FamilyEvent::Erased => "FamilyErased",
            FamilyEvent::MemberLinked(_) => "MemberLinked",
            FamilyEvent::MemberUnlinked(_) => "MemberUnlinked",
            FamilyEvent::ErasureRequested(_) => "ErasureRequested",
            FamilyEvent::ErasureApproved(_) => "ErasureApproved",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let what = self.event_type();
        match self {
            FamilyEvent::Registered(payload) => to_postcard(what, payload),
            FamilyEvent::MemberAdded(payload) => to_postcard(what, payload),
            FamilyEvent::MemberUpdated(payload) => to_postcard(what, payload),
            FamilyEvent::MemberRemoved(payload) => to_postcard(what, payload),
            FamilyEvent::MunicipalityChanged(payload) => to_postcard(what, payload),
            FamilyEvent::ConsentGranted(payload) => to_postcard(what, payload),
            FamilyEvent::ConsentRevoked(payload) => to_postcard(what, payload),
            FamilyEvent::Closed(payload) => to_postcard(what, payload),
            FamilyEvent::Reopened(payload) => to_postcard(what, payload),
            FamilyEvent::Erased => to_postcard(what, &()),
            FamilyEvent::MemberLinked(payload) => to_postcard(what, payload),
            FamilyEvent::MemberUnlinked(payload) => to_postcard(what, payload),
            FamilyEvent::ErasureRequested(payload) => to_postcard(what, payload),
            FamilyEvent::ErasureApproved(payload) => to_postcard(what, payload),
        }
    }

    fn decode(event_type: &str, version: u16, data: &[u8]) -> Result<Self, CodecError> {
        if version != 1 {
            return Err(unsupported_version(Self::SCHEMAS, event_type, version));
        }
        Ok(match event_type {
            "FamilyRegistered" => FamilyEvent::Registered(from_postcard(event_type, data)?),
            "MemberAdded" => FamilyEvent::MemberAdded(from_postcard(event_type, data)?),
            "MemberUpdated" => FamilyEvent::MemberUpdated(from_postcard(event_type, data)?),
            "MemberRemoved" => FamilyEvent::MemberRemoved(from_postcard(event_type, data)?),
            "MunicipalityChanged" => FamilyEvent::MunicipalityChanged(from_postcard(event_type, data)?),
            "ConsentGranted" => FamilyEvent::ConsentGranted(from_postcard(event_type, data)?),
            "ConsentRevoked" => FamilyEvent::ConsentRevoked(from_postcard(event_type, data)?),
            "FamilyClosed" => FamilyEvent::Closed(from_postcard(event_type, data)?),
            "FamilyReopened" => FamilyEvent::Reopened(from_postcard(event_type, data)?),
            "FamilyErased" => {
                from_postcard::<()>(event_type, data)?;
                FamilyEvent::Erased
            }
            "MemberLinked" => FamilyEvent::MemberLinked(from_postcard(event_type, data)?),
            "MemberUnlinked" => FamilyEvent::MemberUnlinked(from_postcard(event_type, data)?),
            "ErasureRequested" => FamilyEvent::ErasureRequested(from_postcard(event_type, data)?),
            "ErasureApproved" => FamilyEvent::ErasureApproved(from_postcard(event_type, data)?),
            _ => return Err(unsupported_version(Self::SCHEMAS, event_type, version)),
        })
    }
}

impl HasPersonal for FamilyEvent {
    fn personal_fields(&mut self) -> Vec<&mut dyn PersonalField> {
        match self {
            FamilyEvent::Registered(registered) => registered
                .members
                .iter_mut()
                .map(|member| &mut member.details as &mut dyn PersonalField)
                .collect(),
            FamilyEvent::MemberAdded(joined) => vec![&mut joined.details],
            FamilyEvent::MemberUpdated(updated) => vec![&mut updated.details],
            FamilyEvent::MemberRemoved(removed) => vec![&mut removed.reason],
            FamilyEvent::ConsentGranted(granted) => vec![&mut granted.purpose],
            FamilyEvent::Closed(closed) => vec![&mut closed.note],
            FamilyEvent::Reopened(reopened) => vec![&mut reopened.note],
            FamilyEvent::MemberLinked(linked) => vec![&mut linked.subject],
            FamilyEvent::MunicipalityChanged(_)
            | FamilyEvent::ConsentRevoked(_)
            | FamilyEvent::Erased
            | FamilyEvent::MemberUnlinked(_)
            | FamilyEvent::ErasureRequested(_)
            | FamilyEvent::ErasureApproved(_) => Vec::new(),
        }
    }
}

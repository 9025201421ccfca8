//! The contacts aggregates' events told as text.

use super::events::*;
use crate::narrate::{Narrate, Telling, codes};

impl Narrate for ContactPersonEvent {
    fn narrate(&self, _: Telling) -> String {
        match self {
            ContactPersonEvent::Registered(profile) => {
                format!("contact person {} registered", profile.person_id)
            }
            ContactPersonEvent::Updated(_) => "profile updated".to_owned(),
            ContactPersonEvent::Deactivated(_) => "deactivated".to_owned(),
            ContactPersonEvent::CaseloadJoined(change) => {
                format!("family {} joined the caseload", change.family_id)
            }
            ContactPersonEvent::CaseloadLeft(change) => {
                format!("family {} left the caseload", change.family_id)
            }
            ContactPersonEvent::PlaceReserved(reserved) => {
                format!("a place held for family {} until {}", reserved.family_id, reserved.until)
            }
            ContactPersonEvent::ReservationReleased(released) => format!(
                "the place held for family {} released{}",
                released.family_id,
                if released.expired { " (its assignment never came)" } else { "" }
            ),
        }
    }
}

impl Narrate for AssignmentEvent {
    fn narrate(&self, telling: Telling) -> String {
        match self {
            AssignmentEvent::Assigned(assigned) => {
                format!("{} became the contact person", assigned.contact_person)
            }
            AssignmentEvent::HandoverProposed(proposed) => format!(
                "handover {} proposed from {} to {}{}",
                proposed.handover_id,
                proposed.from,
                proposed.to,
                telling.note(&proposed.reason)
            ),
            AssignmentEvent::HandoverAccepted(accepted) => {
                format!("handover {} accepted", accepted.handover_id)
            }
            AssignmentEvent::HandoverDeclined(declined) => {
                format!("handover {} declined{}", declined.handover_id, telling.note(&declined.reason))
            }
            AssignmentEvent::HandoverWithdrawn(withdrawn) => {
                format!("handover {} withdrawn", withdrawn.handover_id)
            }
            AssignmentEvent::Ended(ended) => {
                let note = ended.note.as_ref().map(|note| telling.note(note)).unwrap_or_default();
                format!("{} stopped coordinating ({}){note}", ended.contact_person, ended.reason)
            }
        }
    }
}

impl Narrate for ContactLogEvent {
    fn narrate(&self, telling: Telling) -> String {
        match self {
            ContactLogEvent::Recorded(contact) => format!(
                "contact by {} about {}{}",
                contact.channel,
                codes(&contact.needs),
                telling.note(&contact.summary)
            ),
            ContactLogEvent::FollowUpCompleted(done) => {
                format!("follow-up of contact {} done{}", done.contact_id, telling.note(&done.note))
            }
        }
    }
}

impl Narrate for ConsultationEvent {
    fn narrate(&self, _: Telling) -> String {
        let ConsultationEvent::Recorded(recorded) = self;
        format!("consultation by {} about {}", recorded.sector, codes(&recorded.needs))
    }
}

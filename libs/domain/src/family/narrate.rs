//! The family's events told as text.

use super::events::{FamilyEvent, MemberDetails, MemberJoined};
use crate::narrate::{Narrate, Telling, codes};

impl Narrate for FamilyEvent {
    fn narrate(&self, telling: Telling) -> String {
        narrate(self, telling)
    }
}

fn narrate(event: &FamilyEvent, telling: Telling) -> String {
    let named = |joined: &MemberJoined| match telling.personal(&joined.details, MemberDetails::full_name) {
        Some(name) => format!("{} {name}", joined.role),
        None => joined.role.to_string(),
    };
    match event {
        FamilyEvent::Registered(registered) => {
            let mut text = format!(
                "family registered with {} members in municipality {}",
                registered.members.len(),
                registered.municipality
            );
            if telling == Telling::WithPersonal {
                let members: Vec<String> = registered.members.iter().map(named).collect();
                text.push_str(&format!(": {}", members.join(", ")));
            }
            text
        }
        FamilyEvent::MemberAdded(joined) => format!("member joined the family: {}", named(joined)),
        FamilyEvent::MemberUpdated(updated) => {
            let name = telling.personal(&updated.details, MemberDetails::full_name);
            format!(
                "member {} updated: {}{}",
                updated.member_id,
                updated.role,
                name.map(|n| format!(" {n}")).unwrap_or_default()
            )
        }
        FamilyEvent::MemberRemoved(removed) => {
            format!("member {} left the family{}", removed.member_id, telling.note(&removed.reason))
        }
        FamilyEvent::MunicipalityChanged(changed) => {
            format!("moved to municipality {}", changed.municipality)
        }
        FamilyEvent::ConsentGranted(granted) => format!(
            "consent {} granted by {} for {} from {} until {}{}",
            granted.consent_id,
            granted.given_by,
            codes(&granted.sectors),
            granted.valid_from,
            granted.valid_until,
            telling.note(&granted.purpose)
        ),
        FamilyEvent::ConsentRevoked(revoked) => {
            format!("consent {} revoked by {}", revoked.consent_id, revoked.revoked_by)
        }
        FamilyEvent::Closed(closed) => {
            format!("coordination closed ({}){}", closed.reason.text(), telling.note(&closed.note))
        }
        FamilyEvent::Reopened(reopened) => format!("coordination reopened{}", telling.note(&reopened.note)),
        FamilyEvent::Erased => "personal data erased".to_owned(),
        FamilyEvent::ErasureRequested(requested) => format!(
            "erasure {} requested by {} on the ground {}{}",
            requested.erasure_id,
            requested.requested_by,
            requested.ground,
            requested.on_behalf_of.map(|member| format!(" for member {member}")).unwrap_or_default()
        ),
        FamilyEvent::ErasureApproved(approved) => {
            format!("erasure {} approved by {}", approved.erasure_id, approved.approved_by)
        }
        FamilyEvent::MemberLinked(linked) => format!("member {} can sign in", linked.member_id),
        FamilyEvent::MemberUnlinked(unlinked) => {
            format!("member {} can no longer sign in", unlinked.member_id)
        }
    }
}

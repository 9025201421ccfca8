//! Applying one recorded message of any stream to the projection.

use luukku_domain::contacts::ContactPersonId;
use luukku_domain::contacts::assignment::AssignmentEvent;
use luukku_domain::contacts::consultation::ConsultationEvent;
use luukku_domain::contacts::log::ContactLogEvent;
use luukku_domain::contacts::person::ContactPersonEvent;
use luukku_domain::family::{FamilyEvent, FamilyId};
use luukku_domain::meetings::MeetingEvent;
use luukku_domain::referrals::{ReferralEvent, ReferralId, ReferralState, ServiceEvent};
use luukku_domain::{AggregateId, DomainEvent};
use luukku_eventstore::Recorded;

use crate::doc::*;
use crate::store::{ProjectionError, Result, TimelineItem, Txn, key};

fn family_of(id: AggregateId) -> FamilyId {
    FamilyId::from_ulid(id.as_ulid())
}

fn decode<E: DomainEvent>(recorded: &Recorded) -> Result<Vec<E>> {
    recorded
        .decode_events::<E>()
        .map_err(|error| ProjectionError::Codec(format!("{}: {error}", recorded.position)))
}

/// Applies `recorded` of stream number `stream`.
pub fn apply(txn: &mut Txn<'_>, stream: usize, recorded: &Recorded) -> Result<()> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(());
    };
    let at = recorded.envelope.recorded_at.as_millis();
    match (stream, recorded.aggregate_type()) {
        (0, _) => families(txn, family_of(id), recorded, decode(recorded)?),
        (1, Some("person")) => persons(txn, id, decode(recorded)?),
        (1, Some("assignment")) => assignments(txn, family_of(id), recorded, decode(recorded)?),
        (1, Some("log")) => {
            let family = family_of(id);
            with_family(txn, family, recorded, |doc, timeline| {
                for event in decode::<ContactLogEvent>(recorded)? {
                    match event {
                        ContactLogEvent::Recorded(contact) => {
                            timeline.push((
                                "ContactRecorded",
                                format!("contact by {} about {}", contact.channel, codes(&contact.needs)),
                            ));
                            doc.contacts.insert(
                                contact.contact_id,
                                ContactDoc {
                                    occurred_at: contact.occurred_at.as_millis(),
                                    channel: contact.channel,
                                    needs: contact.needs,
                                    summary: contact.summary,
                                    follow_up: contact.follow_up,
                                    done: false,
                                },
                            );
                        }
                        ContactLogEvent::FollowUpCompleted(done) => {
                            timeline.push(("FollowUpCompleted", "follow-up done".to_owned()));
                            if let Some(contact) = doc.contacts.get_mut(&done.contact_id) {
                                contact.done = true;
                            }
                        }
                    }
                }
                Ok(())
            })
        }
        (1, Some("consultation")) => {
            for ConsultationEvent::Recorded(consultation) in decode::<ConsultationEvent>(recorded)? {
                let doc = ConsultationDoc { sector: consultation.sector, needs: consultation.needs };
                txn.put(key::consultation(id.as_ulid()), &doc)?;
            }
            Ok(())
        }
        (2, Some("service")) => {
            for event in decode::<ServiceEvent>(recorded)? {
                if let ServiceEvent::Registered(info) | ServiceEvent::Updated(info) = event {
                    txn.put(
                        key::service(id.as_ulid()),
                        &ServiceDoc { name: info.name, sector: info.sector },
                    )?;
                }
            }
            Ok(())
        }
        (2, Some("referral")) => referrals(txn, ReferralId::from_ulid(id.as_ulid()), recorded, at),
        (3, _) => meetings(txn, family_of(id), recorded, decode(recorded)?),
        _ => Ok(()),
    }
}

fn codes<T: std::fmt::Display>(values: &[T]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Loads the family's document, lets `change` edit it and add timeline entries, and stores
/// both; nothing happens for an erased family.
fn with_family(
    txn: &mut Txn<'_>,
    family: FamilyId,
    recorded: &Recorded,
    change: impl FnOnce(&mut FamilyDoc, &mut Vec<(&'static str, String)>) -> Result<()>,
) -> Result<()> {
    if txn.contains(&key::erased(family))? {
        return Ok(());
    }
    let mut timeline = Vec::new();
    change(txn.family_mut(family)?, &mut timeline)?;
    // The projection keeps no timeline (a sled key per event halves its rate); a history is
    // told from the family's messages on demand, with these same texts.
    if let Some(items) = txn.timeline.as_mut() {
        let stream = crate::store::stream_index(&recorded.position.stream).unwrap_or(0);
        for (part, (event_type, text)) in timeline.into_iter().enumerate() {
            items.push(TimelineItem {
                at_ms: recorded.envelope.recorded_at.as_millis(),
                stream,
                sequence: recorded.position.sequence,
                part,
                event_type,
                text,
                actor: recorded.envelope.actor.person_id.as_str().to_owned(),
            });
        }
    }
    txn.changed.insert(family);
    Ok(())
}

fn families(
    txn: &mut Txn<'_>,
    family: FamilyId,
    recorded: &Recorded,
    events: Vec<FamilyEvent>,
) -> Result<()> {
    if events.contains(&FamilyEvent::Erased) {
        return erase(txn, family);
    }
    let at = recorded.envelope.recorded_at.as_millis();
    with_family(txn, family, recorded, |doc, timeline| {
        for event in events {
            match event {
                FamilyEvent::Registered(registered) => {
                    timeline.push((
                        "FamilyRegistered",
                        format!("registered with {} members", registered.members.len()),
                    ));
                    doc.registered_at = at;
                    doc.status = Status::Active;
                    doc.municipality = registered.municipality.as_str().to_owned();
                    for member in registered.members {
                        doc.members.insert(
                            member.member_id,
                            MemberDoc { role: member.role, details: member.details },
                        );
                    }
                }
                FamilyEvent::MemberAdded(member) => {
                    timeline.push(("MemberAdded", format!("a {} joined the family", member.role.as_str())));
                    doc.members
                        .insert(member.member_id, MemberDoc { role: member.role, details: member.details });
                }
                FamilyEvent::MemberUpdated(updated) => {
                    timeline.push(("MemberUpdated", "a member's details changed".to_owned()));
                    doc.members.insert(
                        updated.member_id,
                        MemberDoc { role: updated.role, details: updated.details },
                    );
                }
                FamilyEvent::MemberRemoved(removed) => {
                    timeline.push(("MemberRemoved", "a member left the family".to_owned()));
                    doc.members.remove(&removed.member_id);
                }
                FamilyEvent::MunicipalityChanged(changed) => {
                    timeline.push((
                        "MunicipalityChanged",
                        format!("moved to municipality {}", changed.municipality),
                    ));
                    doc.municipality = changed.municipality.as_str().to_owned();
                }
                FamilyEvent::ConsentGranted(granted) => {
                    timeline.push((
                        "ConsentGranted",
                        format!("consent for {} until {}", codes(&granted.sectors), granted.valid_until),
                    ));
                    doc.consents.insert(
                        granted.consent_id,
                        ConsentDoc {
                            sectors: granted.sectors,
                            valid_from: granted.valid_from,
                            valid_until: granted.valid_until,
                            revoked: false,
                        },
                    );
                }
                FamilyEvent::ConsentRevoked(revoked) => {
                    timeline.push(("ConsentRevoked", "a consent was revoked".to_owned()));
                    if let Some(consent) = doc.consents.get_mut(&revoked.consent_id) {
                        consent.revoked = true;
                    }
                }
                FamilyEvent::Closed(closed) => {
                    timeline
                        .push(("FamilyClosed", format!("coordination closed ({})", closed.reason.as_str())));
                    doc.status = Status::Closed;
                }
                FamilyEvent::Reopened(_) => {
                    timeline.push(("FamilyReopened", "coordination reopened".to_owned()));
                    doc.status = Status::Active;
                }
                FamilyEvent::Erased => {}
            }
        }
        Ok(())
    })
}

/// An erased family disappears: its document and timeline go, its contact person's caseload
/// forgets it, and a marker keeps later events of other streams from bringing it back.
fn erase(txn: &mut Txn<'_>, family: FamilyId) -> Result<()> {
    if let Some(doc) = txn.family(family)?
        && let Some(person) = doc.contact_person
    {
        update_person(txn, person, |person| {
            person.families.remove(&family);
        })?;
    }
    txn.remove_family(family);
    txn.put(key::erased(family), &())?;
    txn.changed.insert(family);
    Ok(())
}

fn update_person(
    txn: &mut Txn<'_>,
    person: ContactPersonId,
    change: impl FnOnce(&mut PersonDoc),
) -> Result<()> {
    let key = key::person(person.as_ulid());
    let mut doc: PersonDoc = txn.get(&key)?.unwrap_or_default();
    change(&mut doc);
    txn.put(key, &doc)
}

fn persons(txn: &mut Txn<'_>, id: AggregateId, events: Vec<ContactPersonEvent>) -> Result<()> {
    let person = ContactPersonId::from_ulid(id.as_ulid());
    for event in events {
        if let ContactPersonEvent::Registered(profile) | ContactPersonEvent::Updated(profile) = event {
            update_person(txn, person, |doc| {
                doc.name = profile.name;
                doc.sector = Some(profile.sector);
            })?;
        }
    }
    Ok(())
}

fn assignments(
    txn: &mut Txn<'_>,
    family: FamilyId,
    recorded: &Recorded,
    events: Vec<AssignmentEvent>,
) -> Result<()> {
    if txn.contains(&key::erased(family))? {
        return Ok(());
    }
    let mut moves: Vec<(Option<ContactPersonId>, ContactPersonId)> = Vec::new();
    with_family(txn, family, recorded, |doc, timeline| {
        for event in events {
            match event {
                AssignmentEvent::Assigned(assigned) => {
                    timeline.push(("ContactPersonAssigned", "a contact person was assigned".to_owned()));
                    moves.push((doc.contact_person, assigned.contact_person));
                    doc.contact_person = Some(assigned.contact_person);
                }
                AssignmentEvent::HandoverProposed(proposed) => {
                    timeline.push((
                        "HandoverProposed",
                        "a handover to another contact person was proposed".to_owned(),
                    ));
                    doc.pending_handover = Some((proposed.handover_id, proposed.from, proposed.to));
                }
                AssignmentEvent::HandoverAccepted(_) => {
                    timeline.push(("HandoverAccepted", "the handover was accepted".to_owned()));
                    if let Some((_, from, to)) = doc.pending_handover.take() {
                        moves.push((Some(from), to));
                        doc.contact_person = Some(to);
                    }
                }
                AssignmentEvent::HandoverDeclined(_) => {
                    timeline.push(("HandoverDeclined", "the handover was declined".to_owned()));
                    doc.pending_handover = None;
                }
                AssignmentEvent::HandoverWithdrawn(_) => {
                    timeline.push(("HandoverWithdrawn", "the handover was withdrawn".to_owned()));
                    doc.pending_handover = None;
                }
            }
        }
        Ok(())
    })?;
    for (from, to) in moves {
        if let Some(from) = from {
            update_person(txn, from, |person| {
                person.families.remove(&family);
            })?;
        }
        update_person(txn, to, |person| {
            person.families.insert(family);
        })?;
    }
    Ok(())
}

fn referrals(txn: &mut Txn<'_>, referral: ReferralId, recorded: &Recorded, at: i64) -> Result<()> {
    let events = decode::<ReferralEvent>(recorded)?;
    let family = match events.first() {
        Some(ReferralEvent::Created(created)) => {
            txn.put(key::referral_family(referral.as_ulid()), &created.family_id)?;
            created.family_id
        }
        _ => match txn.get::<FamilyId>(&key::referral_family(referral.as_ulid()))? {
            Some(family) => family,
            None => return Ok(()),
        },
    };
    with_family(txn, family, recorded, |doc, timeline| {
        for event in events {
            if let ReferralEvent::Created(created) = event {
                timeline.push((
                    "ReferralCreated",
                    format!("referred to {} ({})", created.sector.as_code(), created.urgency.as_code()),
                ));
                doc.referrals.insert(
                    referral,
                    ReferralDoc {
                        service_id: created.service_id,
                        sector: created.sector,
                        state: ReferralState::Requested,
                        urgency: created.urgency,
                        needs: created.needs,
                        reason: created.reason,
                        sent_at: created.sent_at.as_millis(),
                        deadline: created.deadline.as_millis(),
                        overdue: false,
                        consent_lapsed: false,
                        wait_ended: None,
                        held_from: None,
                    },
                );
                continue;
            }
            let Some(doc) = doc.referrals.get_mut(&referral) else {
                continue;
            };
            let (event_type, text, state) = match &event {
                ReferralEvent::Received(_) => (
                    "ReferralReceived",
                    "the referral was received".to_owned(),
                    Some(ReferralState::Received),
                ),
                ReferralEvent::Accepted(_) => (
                    "ReferralAccepted",
                    "the referral was accepted".to_owned(),
                    Some(ReferralState::Accepted),
                ),
                ReferralEvent::Rejected(rejected) => (
                    "ReferralRejected",
                    format!("the referral was rejected ({})", rejected.reason.as_code()),
                    Some(ReferralState::Rejected),
                ),
                ReferralEvent::Started(_) => {
                    ("ReferralStarted", "the help started".to_owned(), Some(ReferralState::InProgress))
                }
                ReferralEvent::Completed(_) => (
                    "ReferralCompleted",
                    "the referral was completed".to_owned(),
                    Some(ReferralState::Completed),
                ),
                ReferralEvent::Failed(_) => {
                    ("ReferralFailed", "the referral failed".to_owned(), Some(ReferralState::Failed))
                }
                ReferralEvent::PutOnHold(_) => {
                    ("ReferralPutOnHold", "the referral is on hold".to_owned(), Some(ReferralState::OnHold))
                }
                ReferralEvent::Resumed(_) => ("ReferralResumed", "the referral was resumed".to_owned(), None),
                ReferralEvent::Cancelled(_) => (
                    "ReferralCancelled",
                    "the referral was cancelled".to_owned(),
                    Some(ReferralState::Cancelled),
                ),
                ReferralEvent::Redirected(redirected) => {
                    doc.service_id = redirected.service_id;
                    doc.sector = redirected.sector;
                    doc.deadline = redirected.deadline.as_millis();
                    doc.overdue = false;
                    (
                        "ReferralRedirected",
                        format!("redirected to {}", redirected.sector.as_code()),
                        Some(ReferralState::Requested),
                    )
                }
                ReferralEvent::Overdue(_) => {
                    doc.overdue = true;
                    ("ReferralOverdue", "the referral is overdue".to_owned(), None)
                }
                ReferralEvent::ConsentLapsed(_) => {
                    doc.consent_lapsed = true;
                    ("ReferralConsentLapsed", "the consent of the referral lapsed".to_owned(), None)
                }
                ReferralEvent::Created(_) => continue,
            };
            timeline.push((event_type, text));
            if let ReferralEvent::Resumed(_) = event {
                doc.state = doc.held_from.take().unwrap_or(ReferralState::Requested);
            }
            if let Some(state) = state {
                if state == ReferralState::OnHold {
                    doc.held_from = Some(doc.state);
                }
                doc.state = state;
                let ended = matches!(
                    state,
                    ReferralState::InProgress
                        | ReferralState::Rejected
                        | ReferralState::Completed
                        | ReferralState::Failed
                        | ReferralState::Cancelled
                );
                if ended && doc.wait_ended.is_none() {
                    doc.wait_ended = Some(at);
                }
            }
        }
        Ok(())
    })
}

fn meetings(
    txn: &mut Txn<'_>,
    family: FamilyId,
    recorded: &Recorded,
    events: Vec<MeetingEvent>,
) -> Result<()> {
    with_family(txn, family, recorded, |doc, timeline| {
        for event in events {
            let meeting_id = event.meeting_id();
            if let MeetingEvent::Proposed(proposed) = &event {
                timeline.push((
                    "MeetingProposed",
                    format!("a {} meeting was proposed", proposed.purpose.as_code()),
                ));
                doc.meetings.insert(
                    meeting_id,
                    MeetingDoc {
                        purpose: proposed.purpose,
                        status: "proposed".to_owned(),
                        at: proposed.slots.first().map(|slot| slot.starts_at.as_millis()),
                        actions: Default::default(),
                    },
                );
                continue;
            }
            let Some(meeting) = doc.meetings.get_mut(&meeting_id) else {
                continue;
            };
            match event {
                MeetingEvent::Scheduled(scheduled) => {
                    timeline.push(("MeetingScheduled", "a meeting was scheduled".to_owned()));
                    meeting.status = "scheduled".to_owned();
                    meeting.at = Some(scheduled.slot.starts_at.as_millis());
                }
                MeetingEvent::Rescheduled(rescheduled) => {
                    timeline.push(("MeetingRescheduled", "a meeting was rescheduled".to_owned()));
                    meeting.at = Some(rescheduled.slot.starts_at.as_millis());
                }
                MeetingEvent::Cancelled(_) => {
                    timeline.push(("MeetingCancelled", "a meeting was cancelled".to_owned()));
                    meeting.status = "cancelled".to_owned();
                }
                MeetingEvent::Held(held) => {
                    timeline.push((
                        "MeetingHeld",
                        format!("a meeting was held; {} actions agreed", held.actions.len()),
                    ));
                    meeting.status = "held".to_owned();
                    meeting.at = Some(held.held_at.as_millis());
                    for action in held.actions {
                        meeting.actions.insert(
                            action.action_id,
                            ActionDoc {
                                what: action.what,
                                owner: action.owner,
                                due: action.due,
                                done: false,
                            },
                        );
                    }
                }
                MeetingEvent::ActionDone(done) => {
                    timeline.push(("ActionDone", "an agreed action was done".to_owned()));
                    if let Some(action) = meeting.actions.get_mut(&done.action_id) {
                        action.done = true;
                    }
                }
                MeetingEvent::ActionReassigned(reassigned) => {
                    timeline.push(("ActionReassigned", "an agreed action was reassigned".to_owned()));
                    if let Some(action) = meeting.actions.get_mut(&reassigned.action_id) {
                        action.owner = reassigned.owner;
                    }
                }
                MeetingEvent::Answered(_)
                | MeetingEvent::ParticipantAdded(_)
                | MeetingEvent::ParticipantRemoved(_) => {}
                MeetingEvent::Proposed(_) => {}
            }
        }
        Ok(())
    })
}

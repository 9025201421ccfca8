//! Applying one recorded message of any stream to the projection's documents. Personal data
//! stays sealed, as it is in the events.

use luukku_app::Events;
use luukku_domain::contacts::{
    AssignmentEvent, ConsultationEvent, ConsultationId, ContactLogEvent, ContactPersonEvent, ContactPersonId,
};
use luukku_domain::family::{FamilyEvent, FamilyId};
use luukku_domain::meetings::MeetingEvent;
use luukku_domain::referrals::{ReferralEvent, ReferralId, ReferralState, ServiceEvent, ServiceId};
use luukku_domain::{AggregateId, Telling};
use luukku_eventstore::Recorded;

use super::doc::*;
use super::store::{Result, TimelineCursor, Txn};

fn family_of(id: AggregateId) -> FamilyId {
    FamilyId::from_ulid(id.as_ulid())
}

/// The event types that change a family's members, and so its entries in the search index.
const RENAMING: [&str; 4] = ["FamilyRegistered", "MemberAdded", "MemberUpdated", "MemberRemoved"];

/// The family whose members `recorded` changes, if it does: read from the event types alone,
/// before the batch is applied, so that the family's key is at hand when it is.
pub fn renames(recorded: &Recorded) -> Option<FamilyId> {
    if recorded.position.stream != luukku_eventstore::Stream::Families
        || !recorded.envelope.events.iter().any(|event| RENAMING.contains(&event.event_type.as_str()))
    {
        return None;
    }
    recorded.aggregate_id().map(family_of)
}

/// A message's events, decoded and told as its timeline shows them: [`decode`] makes it as
/// the message is read, before its batch, so that the one applier (which a rebuild waits on)
/// does not (it decodes again only a batch it tries again after a failure).
pub struct Decoded {
    id: AggregateId,
    events: Events,
    told: Vec<(&'static str, String)>,
}

/// The message's events, ready for [`apply`]; `None` for a message of no aggregate, which
/// changes nothing.
pub fn decode(recorded: &Recorded) -> Result<Option<Decoded>, luukku_app::EventsError> {
    let Some(id) = recorded.aggregate_id() else {
        return Ok(None);
    };
    let events = Events::decode(recorded)?;
    let told = events.narrate(Telling::FactsOnly);
    Ok(Some(Decoded { id, events, told }))
}

/// Applies `recorded`, whose events are `decoded`, and adds them to its family's timeline.
pub fn apply(txn: &mut Txn<'_>, recorded: &Recorded, decoded: Option<Decoded>) -> Result<()> {
    let Some(Decoded { id, events, told }) = decoded else {
        return Ok(());
    };
    let timeline = match &events {
        Events::Family(_) | Events::Assignment(_) | Events::ContactLog(_) | Events::Meetings(_) => {
            Timeline::Family(family_of(id))
        }
        Events::Referral(_) => Timeline::Referral(ReferralId::from_ulid(id.as_ulid())),
        Events::ContactPerson(_) | Events::Consultation(_) | Events::Service(_) => Timeline::None,
    };
    project(txn, id, recorded, events)?;
    let family = match timeline {
        Timeline::Family(family) => Some(family),
        Timeline::Referral(referral) => txn.referral_family(referral)?,
        Timeline::None => None,
    };
    if let Some(family) = family
        && !txn.is_erased(family)?
    {
        let at_ms = recorded.envelope.recorded_at.as_millis();
        let (stream, sequence) = (recorded.position.stream, recorded.position.sequence);
        let actor = recorded.envelope.actor.person_id.as_str();
        for (part, (event_type, text)) in (0u32..).zip(told) {
            let doc = TimelineDoc { event_type: event_type.to_owned(), text, actor: actor.to_owned() };
            txn.put_timeline(family, TimelineCursor { at_ms, stream, sequence, part }, doc);
        }
    }
    Ok(())
}

/// Whose timeline a message's events go to.
enum Timeline {
    Family(FamilyId),
    /// The family the referral is about.
    Referral(ReferralId),
    None,
}

fn project(txn: &mut Txn<'_>, id: AggregateId, recorded: &Recorded, events: Events) -> Result<()> {
    match events {
        Events::Family(events) => families(txn, family_of(id), recorded, events),
        Events::ContactPerson(events) => persons(txn, ContactPersonId::from_ulid(id.as_ulid()), events),
        Events::Assignment(events) => assignments(txn, family_of(id), events),
        Events::ContactLog(events) => logs(txn, family_of(id), events),
        Events::Consultation(events) => {
            for ConsultationEvent::Recorded(consultation) in events {
                let doc = ConsultationDoc { sector: consultation.sector, needs: consultation.needs };
                txn.put_consultation(ConsultationId::from_ulid(id.as_ulid()), &doc)?;
            }
            Ok(())
        }
        Events::Service(events) => {
            for event in events {
                if let ServiceEvent::Registered(info) | ServiceEvent::Updated(info) = event {
                    let doc = ServiceDoc { name: info.name, sector: info.sector };
                    txn.put_service(ServiceId::from_ulid(id.as_ulid()), &doc)?;
                }
            }
            Ok(())
        }
        Events::Referral(events) => referrals(txn, ReferralId::from_ulid(id.as_ulid()), recorded, events),
        Events::Meetings(events) => meetings(txn, family_of(id), events),
    }
}

/// Lets `change` edit the family's document; nothing happens for an erased family.
fn with_family(txn: &mut Txn<'_>, family: FamilyId, change: impl FnOnce(&mut FamilyDoc)) -> Result<()> {
    if txn.is_erased(family)? {
        return Ok(());
    }
    change(txn.family_mut(family)?);
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
    if renames(recorded).is_some() && !txn.is_erased(family)? {
        txn.rename(family);
    }
    let at = recorded.envelope.recorded_at.as_millis();
    with_family(txn, family, |doc| {
        for event in events {
            match event {
                FamilyEvent::Registered(registered) => {
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
                    doc.members
                        .insert(member.member_id, MemberDoc { role: member.role, details: member.details });
                }
                FamilyEvent::MemberUpdated(updated) => {
                    doc.members.insert(
                        updated.member_id,
                        MemberDoc { role: updated.role, details: updated.details },
                    );
                }
                FamilyEvent::MemberRemoved(removed) => {
                    doc.members.remove(&removed.member_id);
                }
                FamilyEvent::MunicipalityChanged(changed) => {
                    doc.municipality = changed.municipality.as_str().to_owned();
                }
                FamilyEvent::ConsentGranted(granted) => {
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
                    if let Some(consent) = doc.consents.get_mut(&revoked.consent_id) {
                        consent.revoked = true;
                    }
                }
                FamilyEvent::Closed(_) => doc.status = Status::Closed,
                FamilyEvent::Reopened(_) => doc.status = Status::Active,
                FamilyEvent::Erased
                | FamilyEvent::MemberLinked(_)
                | FamilyEvent::MemberUnlinked(_)
                | FamilyEvent::ErasureRequested(_)
                | FamilyEvent::ErasureApproved(_) => {}
            }
        }
    })
}

/// An erased family disappears: its document goes, and its contact person's caseload forgets
/// it and its name hashes.
fn erase(txn: &mut Txn<'_>, family: FamilyId) -> Result<()> {
    if let Some(doc) = txn.family(family)?
        && let Some(person) = doc.contact_person
    {
        txn.update_person(person, |person| {
            person.families.remove(&family);
        })?;
        txn.move_caseload_names(family, Some(person), None)?;
    }
    txn.erase_family(family)?;
    txn.changed.insert(family);
    Ok(())
}

fn persons(txn: &mut Txn<'_>, person: ContactPersonId, events: Vec<ContactPersonEvent>) -> Result<()> {
    for event in events {
        if let ContactPersonEvent::Registered(profile) | ContactPersonEvent::Updated(profile) = event {
            txn.update_person(person, |doc| {
                doc.name = profile.name;
                doc.sector = Some(profile.sector);
            })?;
        }
    }
    Ok(())
}

fn assignments(txn: &mut Txn<'_>, family: FamilyId, events: Vec<AssignmentEvent>) -> Result<()> {
    let mut moves: Vec<(Option<ContactPersonId>, Option<ContactPersonId>)> = Vec::new();
    with_family(txn, family, |doc| {
        for event in events {
            match event {
                AssignmentEvent::Assigned(assigned) => {
                    moves.push((doc.contact_person, Some(assigned.contact_person)));
                    doc.contact_person = Some(assigned.contact_person);
                }
                AssignmentEvent::HandoverProposed(proposed) => {
                    doc.pending_handover = Some((proposed.handover_id, proposed.from, proposed.to));
                }
                AssignmentEvent::HandoverAccepted(_) => {
                    // From whoever holds the family now, as the assignment's own state has it.
                    if let Some((_, _, to)) = doc.pending_handover.take() {
                        moves.push((doc.contact_person, Some(to)));
                        doc.contact_person = Some(to);
                    }
                }
                AssignmentEvent::HandoverDeclined(_) | AssignmentEvent::HandoverWithdrawn(_) => {
                    doc.pending_handover = None;
                }
                AssignmentEvent::Ended(_) => {
                    moves.push((doc.contact_person.take(), None));
                    doc.pending_handover = None;
                }
            }
        }
    })?;
    for (from, to) in moves {
        txn.move_caseload_names(family, from, to)?;
        if let Some(from) = from {
            txn.update_person(from, |person| {
                person.families.remove(&family);
            })?;
        }
        if let Some(to) = to {
            txn.update_person(to, |person| {
                person.families.insert(family);
            })?;
        }
    }
    Ok(())
}

fn logs(txn: &mut Txn<'_>, family: FamilyId, events: Vec<ContactLogEvent>) -> Result<()> {
    with_family(txn, family, |doc| {
        for event in events {
            match event {
                ContactLogEvent::Recorded(contact) => {
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
                    if let Some(contact) = doc.contacts.get_mut(&done.contact_id) {
                        contact.done = true;
                    }
                }
            }
        }
    })
}

fn referrals(
    txn: &mut Txn<'_>,
    referral: ReferralId,
    recorded: &Recorded,
    events: Vec<ReferralEvent>,
) -> Result<()> {
    let family = match events.first() {
        Some(ReferralEvent::Created(created)) => {
            txn.set_referral_family(referral, created.family_id)?;
            created.family_id
        }
        _ => match txn.referral_family(referral)? {
            Some(family) => family,
            None => return Ok(()),
        },
    };
    let at = recorded.envelope.recorded_at.as_millis();
    with_family(txn, family, |doc| {
        for event in events {
            if let ReferralEvent::Created(created) = event {
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
            match &event {
                ReferralEvent::Redirected(redirected) => {
                    doc.service_id = redirected.service_id;
                    doc.sector = redirected.sector;
                    doc.deadline = redirected.deadline.as_millis();
                    doc.overdue = false;
                }
                ReferralEvent::Overdue(_) => doc.overdue = true,
                ReferralEvent::ConsentLapsed(_) => doc.consent_lapsed = true,
                ReferralEvent::Resumed(_) => {
                    doc.state = doc.held_from.take().unwrap_or(ReferralState::Requested)
                }
                _ => {}
            }
            if let Some(state) = event.moves_to() {
                if state == ReferralState::OnHold {
                    doc.held_from = Some(doc.state);
                }
                doc.state = state;
                if state.ends_wait() && doc.wait_ended.is_none() {
                    doc.wait_ended = Some(at);
                }
            }
        }
    })
}

fn meetings(txn: &mut Txn<'_>, family: FamilyId, events: Vec<MeetingEvent>) -> Result<()> {
    with_family(txn, family, |doc| {
        for event in events {
            let meeting_id = event.meeting_id();
            if let MeetingEvent::Proposed(proposed) = &event {
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
                    meeting.status = "scheduled".to_owned();
                    meeting.at = Some(scheduled.slot.starts_at.as_millis());
                }
                MeetingEvent::Rescheduled(rescheduled) => {
                    meeting.at = Some(rescheduled.slot.starts_at.as_millis())
                }
                MeetingEvent::Cancelled(_) => meeting.status = "cancelled".to_owned(),
                MeetingEvent::Held(held) => {
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
                    if let Some(action) = meeting.actions.get_mut(&done.action_id) {
                        action.done = true;
                    }
                }
                MeetingEvent::ActionReassigned(reassigned) => {
                    if let Some(action) = meeting.actions.get_mut(&reassigned.action_id) {
                        action.owner = reassigned.owner;
                    }
                }
                MeetingEvent::Proposed(_)
                | MeetingEvent::Answered(_)
                | MeetingEvent::ParticipantAdded(_)
                | MeetingEvent::ParticipantRemoved(_) => {}
            }
        }
    })
}

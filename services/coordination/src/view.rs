//! Answers built from the projection: the family view, caseload entries, the timeline and the
//! statistics. Personal data is opened here, with the family's key, and only here.

use jiff::ToSpan;
use jiff::civil::Date;
use luukku_domain::Context;
use luukku_domain::contacts::ContactPersonId;
use luukku_domain::family::{FamilyId, age_on};
use luukku_domain::meetings::Participant;
use luukku_domain::referrals::ReferralState;
use luukku_domain::sealing::{FamilyKey, HasPersonal};
use luukku_proto::coordination::v1 as pb;

use crate::doc::*;
use crate::store::{self, Result, key};

pub const RECENT: usize = 20;
const DAY_MS: i64 = 24 * 3_600_000;

/// The family's document, opened with its key (erased fields stay empty).
pub fn load_family(
    tree: &sled::Tree,
    family: FamilyId,
    key: Option<&FamilyKey>,
) -> Result<Option<FamilyDoc>> {
    let Some(bytes) = tree.get(key::family(family))? else {
        return Ok(None);
    };
    let mut doc: FamilyDoc = store::decode(&bytes)?;
    if let Err(error) = doc.open(key, family.to_string().as_bytes()) {
        tracing::error!(%family, %error, "projected personal data does not open");
        doc.open(None, &[]).ok();
    }
    Ok(Some(doc))
}

fn person(tree: &sled::Tree, id: ContactPersonId) -> Result<pb::ContactPerson> {
    let doc: Option<PersonDoc> =
        tree.get(key::person(id.as_ulid()))?.map(|b| store::decode(&b)).transpose()?;
    Ok(pb::ContactPerson {
        contact_person_id: id.to_string(),
        name: doc.as_ref().map(|d| d.name.clone()).unwrap_or_default(),
        sector: doc.and_then(|d| d.sector).map(|s| s.as_code().to_owned()).unwrap_or_default(),
    })
}

fn service_name(tree: &sled::Tree, id: ulid::Ulid) -> Result<String> {
    let doc: Option<ServiceDoc> = tree.get(key::service(id))?.map(|b| store::decode(&b)).transpose()?;
    Ok(doc.map(|d| d.name).unwrap_or_default())
}

fn owner(participant: &Participant) -> String {
    match participant {
        Participant::FamilyMember(member) => format!("member:{member}"),
        Participant::Person(person) => format!("person:{}", person.as_str()),
        Participant::Sector(sector) => format!("sector:{}", sector.as_code()),
    }
}

fn in_force(consent: &ConsentDoc, today: Date) -> bool {
    !consent.revoked && consent.valid_from <= today && today <= consent.valid_until
}

fn ending_soon(consent: &ConsentDoc, today: Date) -> bool {
    today.checked_add(30.days()).is_ok_and(|limit| consent.valid_until <= limit)
}

pub fn attention(doc: &FamilyDoc, context: &Context) -> pb::Attention {
    let now = context.now.as_millis();
    let today = context.today;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    pb::Attention {
        overdue_referrals: count(doc.referrals.values().filter(|r| r.overdue && r.state.is_open()).count()),
        actions_past_due: count(
            doc.meetings
                .values()
                .flat_map(|m| m.actions.values())
                .filter(|a| !a.done && a.due < today)
                .count(),
        ),
        meetings_within_week: count(
            doc.meetings
                .values()
                .filter(|m| {
                    m.status == "scheduled" && m.at.is_some_and(|at| at >= now && at <= now + 7 * DAY_MS)
                })
                .count(),
        ),
        follow_ups_due: count(
            doc.contacts.values().filter(|c| !c.done && c.follow_up.is_some_and(|d| d <= today)).count(),
        ),
        consents_ending: count(
            doc.consents.values().filter(|c| in_force(c, today) && ending_soon(c, today)).count(),
        ),
        pending_handover: doc.pending_handover.is_some(),
    }
}

/// How much a family needs attention, for ordering a caseload: most first.
pub fn urgency(attention: &pb::Attention) -> (u32, u32, u32, u32, u32, bool) {
    (
        attention.overdue_referrals,
        attention.actions_past_due,
        attention.meetings_within_week,
        attention.follow_ups_due,
        attention.consents_ending,
        attention.pending_handover,
    )
}

pub fn names(doc: &FamilyDoc) -> Vec<String> {
    doc.members.values().filter_map(|member| member.details.plain().map(|d| d.full_name())).collect()
}

pub fn caseload_entry(family: FamilyId, doc: &FamilyDoc, context: &Context) -> pb::CaseloadEntry {
    pb::CaseloadEntry {
        family_id: family.to_string(),
        municipality: doc.municipality.clone(),
        attention: Some(attention(doc, context)),
        names: names(doc),
    }
}

pub fn family_view(
    tree: &sled::Tree,
    family: FamilyId,
    doc: &FamilyDoc,
    context: &Context,
    positions: [u64; 4],
    timeline: Vec<pb::TimelineEntry>,
) -> Result<pb::FamilyView> {
    let now = context.now.as_millis();
    let today = context.today;
    let members = doc
        .members
        .iter()
        .map(|(id, member)| {
            let details = member.details.plain();
            let birth = details.and_then(|d| d.birth_date);
            pb::Member {
                member_id: id.to_string(),
                role: member.role.as_str().to_owned(),
                name: details.map(|d| d.full_name()).unwrap_or_default(),
                birth_date: birth.map(|b| b.to_string()).unwrap_or_default(),
                age: birth.map_or(-1, |b| i32::from(age_on(b, today))),
            }
        })
        .collect();
    let contact_person = doc.contact_person.map(|id| person(tree, id)).transpose()?;
    let pending_handover = doc
        .pending_handover
        .map(|(id, from, to)| -> Result<pb::Handover> {
            Ok(pb::Handover {
                handover_id: id.to_string(),
                from: Some(person(tree, from)?),
                to: Some(person(tree, to)?),
            })
        })
        .transpose()?;
    let consents = doc
        .consents
        .iter()
        .filter(|(_, consent)| in_force(consent, today))
        .map(|(id, consent)| pb::Consent {
            consent_id: id.to_string(),
            sectors: consent.sectors.iter().map(|s| s.as_code().to_owned()).collect(),
            valid_until: consent.valid_until.to_string(),
            ending_soon: ending_soon(consent, today),
        })
        .collect();
    let mut referrals = Vec::new();
    for (id, referral) in &doc.referrals {
        let waiting_ms = referral.wait_ended.unwrap_or(now) - referral.sent_at;
        referrals.push(pb::Referral {
            referral_id: id.to_string(),
            service_name: service_name(tree, referral.service_id.as_ulid())?,
            sector: referral.sector.as_code().to_owned(),
            state: referral.state.as_code().to_owned(),
            urgency: referral.urgency.as_code().to_owned(),
            reason: referral.reason.plain().cloned().unwrap_or_default(),
            sent_at_ms: referral.sent_at,
            deadline_ms: referral.deadline,
            overdue: referral.overdue && referral.state.is_open(),
            consent_lapsed: referral.consent_lapsed && referral.state.is_open(),
            waiting_days: waiting_ms.max(0) / DAY_MS,
        });
    }
    referrals.sort_by_key(|r| {
        let open = ReferralState::from_code(&r.state).is_some_and(ReferralState::is_open);
        (!(r.overdue || r.consent_lapsed), !open, r.sent_at_ms)
    });
    let meeting = |(id, m): (&luukku_domain::meetings::MeetingId, &MeetingDoc)| pb::Meeting {
        meeting_id: id.to_string(),
        purpose: m.purpose.as_code().to_owned(),
        status: m.status.clone(),
        at_ms: m.at.unwrap_or(0),
    };
    let upcoming = |m: &MeetingDoc| {
        matches!(m.status.as_str(), "proposed" | "scheduled") && m.at.is_some_and(|at| at >= now)
    };
    let mut upcoming_meetings: Vec<_> =
        doc.meetings.iter().filter(|(_, m)| upcoming(m)).map(meeting).collect();
    upcoming_meetings.sort_by_key(|m| m.at_ms);
    let mut past_meetings: Vec<_> =
        doc.meetings.iter().filter(|(_, m)| !upcoming(m) && m.status != "cancelled").map(meeting).collect();
    past_meetings.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
    let mut open_actions: Vec<pb::Action> = doc
        .meetings
        .iter()
        .flat_map(|(meeting_id, m)| m.actions.iter().map(move |(id, a)| (meeting_id, id, a)))
        .filter(|(_, _, action)| !action.done)
        .map(|(meeting_id, id, action)| pb::Action {
            action_id: id.to_string(),
            meeting_id: meeting_id.to_string(),
            what: action.what.plain().cloned().unwrap_or_default(),
            owner: owner(&action.owner),
            due: action.due.to_string(),
            overdue: action.due < today,
        })
        .collect();
    open_actions.sort_by(|a, b| (!a.overdue, &a.due).cmp(&(!b.overdue, &b.due)));
    let contact = |(id, c): (&luukku_domain::contacts::ContactId, &ContactDoc)| pb::Contact {
        contact_id: id.to_string(),
        occurred_at_ms: c.occurred_at,
        channel: c.channel.as_code().to_owned(),
        needs: c.needs.iter().map(|n| n.as_code().to_owned()).collect(),
        summary: c.summary.plain().cloned().unwrap_or_default(),
        follow_up: c.follow_up.map(|d| d.to_string()).unwrap_or_default(),
        follow_up_due: !c.done && c.follow_up.is_some_and(|d| d <= today),
    };
    let mut recent_contacts: Vec<_> = doc.contacts.iter().map(contact).collect();
    recent_contacts.sort_by_key(|c| std::cmp::Reverse(c.occurred_at_ms));
    let follow_ups_due = recent_contacts.iter().filter(|c| c.follow_up_due).cloned().collect();
    recent_contacts.truncate(RECENT);
    Ok(pb::FamilyView {
        family_id: family.to_string(),
        status: match doc.status {
            Status::Active => "active",
            Status::Closed => "closed",
            Status::Unknown => "unknown",
        }
        .to_owned(),
        municipality: doc.municipality.clone(),
        members,
        contact_person,
        pending_handover,
        consents,
        referrals,
        upcoming_meetings,
        past_meetings,
        open_actions,
        recent_contacts,
        follow_ups_due,
        timeline,
        positions: store::STREAMS
            .iter()
            .zip(positions)
            .map(|(stream, sequence)| luukku_proto::common::v1::Position {
                stream: (*stream).to_owned(),
                sequence,
            })
            .collect(),
    })
}

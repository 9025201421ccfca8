//! Coordination answers into responses.

use crate::app::shape;
use luukku_domain::Sector;
use luukku_domain::access::Scope;
use luukku_domain::meetings::Participant;
use luukku_eventstore::audit::ReportPage;
use luukku_eventstore::{Checkpoints, Position};
use luukku_proto::coordination::v1 as pb;

use crate::app::statistics::Statistics;
use crate::app::timeline::TimelineItem;
use crate::app::view::*;
use crate::app::{CaseloadChange, CaseloadMessage, FamilyChange, TimelinePage};

fn person(person: PersonView) -> pb::ContactPerson {
    pb::ContactPerson {
        contact_person_id: person.id.to_string(),
        name: person.name,
        sector: person.sector.map(|sector| sector.as_code().to_owned()).unwrap_or_default(),
    }
}

fn owner(participant: &Participant) -> String {
    match participant {
        Participant::FamilyMember(member) => format!("member:{member}"),
        Participant::Person(person) => format!("person:{}", person.as_str()),
        Participant::Sector(sector) => format!("sector:{}", sector.as_code()),
    }
}

fn meeting(meeting: MeetingView) -> pb::Meeting {
    pb::Meeting {
        meeting_id: meeting.meeting_id.to_string(),
        purpose: meeting.purpose.as_code().to_owned(),
        status: meeting.status,
        at_ms: meeting.at_ms,
    }
}

fn contact(contact: ContactView) -> pb::Contact {
    pb::Contact {
        contact_id: contact.contact_id.to_string(),
        occurred_at_ms: contact.occurred_at_ms,
        channel: contact.channel.as_code().to_owned(),
        needs: contact.needs.iter().map(|need| need.as_code().to_owned()).collect(),
        summary: contact.summary.unwrap_or_default(),
        follow_up: contact.follow_up.map(|date| date.to_string()).unwrap_or_default(),
        follow_up_due: contact.follow_up_due,
    }
}

pub fn timeline_entry(item: TimelineItem) -> pb::TimelineEntry {
    pb::TimelineEntry {
        at_ms: item.at_ms,
        stream: item.stream.name().to_owned(),
        sequence: item.sequence,
        event_type: item.event_type,
        text: item.text,
        actor: item.actor,
    }
}

pub fn positions(checkpoints: &Checkpoints) -> Vec<luukku_proto::common::v1::Position> {
    checkpoints
        .iter()
        .map(|(stream, sequence)| luukku_grpc::encode::position_pb(&Position { stream, sequence }))
        .collect()
}

/// The view, with the parts the caller's scope withheld named; its parts move into the answer.
pub fn family_view(view: FamilyView, withheld: &[&str]) -> pb::FamilyView {
    pb::FamilyView {
        family_id: view.family_id.to_string(),
        status: view.status.to_owned(),
        municipality: view.municipality,
        members: view
            .members
            .into_iter()
            .map(|member| pb::Member {
                member_id: member.member_id.to_string(),
                role: member.role.as_code().to_owned(),
                name: member.name.unwrap_or_default(),
                birth_date: member.birth_date.map(|date| date.to_string()).unwrap_or_default(),
                age: member.age.map_or(-1, i32::from),
            })
            .collect(),
        contact_person: view.contact_person.map(person),
        pending_handover: view.pending_handover.map(|handover| pb::Handover {
            handover_id: handover.handover_id.to_string(),
            from: Some(person(handover.from)),
            to: Some(person(handover.to)),
        }),
        consents: view
            .consents
            .into_iter()
            .map(|consent| pb::Consent {
                consent_id: consent.consent_id.to_string(),
                sectors: consent.sectors.iter().map(|sector| sector.as_code().to_owned()).collect(),
                valid_until: consent.valid_until.to_string(),
                ending_soon: consent.ending_soon,
            })
            .collect(),
        referrals: view
            .referrals
            .into_iter()
            .map(|referral| pb::Referral {
                referral_id: referral.referral_id.to_string(),
                service_name: referral.service_name,
                sector: referral.sector.as_code().to_owned(),
                state: referral.state.as_code().to_owned(),
                urgency: referral.urgency.as_code().to_owned(),
                reason: referral.reason.unwrap_or_default(),
                sent_at_ms: referral.sent_at_ms,
                deadline_ms: referral.deadline_ms,
                overdue: referral.overdue,
                consent_lapsed: referral.consent_lapsed,
                waiting_days: referral.waiting_days,
            })
            .collect(),
        upcoming_meetings: view.upcoming_meetings.into_iter().map(meeting).collect(),
        past_meetings: view.past_meetings.into_iter().map(meeting).collect(),
        open_actions: view
            .open_actions
            .into_iter()
            .map(|action| pb::Action {
                action_id: action.action_id.to_string(),
                meeting_id: action.meeting_id.to_string(),
                what: action.what.unwrap_or_default(),
                owner: owner(&action.owner),
                due: action.due.to_string(),
                overdue: action.overdue,
            })
            .collect(),
        recent_contacts: view.recent_contacts.into_iter().map(contact).collect(),
        follow_ups_due: view.follow_ups_due.into_iter().map(contact).collect(),
        timeline: view.timeline.into_iter().map(timeline_entry).collect(),
        positions: positions(&view.positions),
        withheld: withheld.iter().map(|part| (*part).to_owned()).collect(),
    }
}

pub fn caseload_change(message: &CaseloadMessage) -> pb::CaseloadChange {
    use pb::caseload_change::Change;
    let change = match &message.change {
        CaseloadChange::Resync(entries) => {
            Change::Resync(pb::CaseloadResync { families: entries.iter().map(caseload_entry).collect() })
        }
        CaseloadChange::Upserted(entry) => Change::Upserted(caseload_entry(entry)),
        CaseloadChange::Left(family) => Change::LeftFamilyId(family.to_string()),
    };
    pb::CaseloadChange { change: Some(change), positions: positions(&message.positions) }
}

pub fn caseload_entry(entry: &CaseloadEntry) -> pb::CaseloadEntry {
    let attention = entry.attention;
    pb::CaseloadEntry {
        family_id: entry.family_id.to_string(),
        municipality: entry.municipality.clone(),
        attention: Some(pb::Attention {
            overdue_referrals: attention.overdue_referrals,
            actions_past_due: attention.actions_past_due,
            meetings_within_week: attention.meetings_within_week,
            follow_ups_due: attention.follow_ups_due,
            consents_ending: attention.consents_ending,
            pending_handover: attention.pending_handover,
        }),
        names: entry.names.clone(),
    }
}

pub fn timeline(page: TimelinePage, withheld: bool) -> pb::GetTimelineResponse {
    pb::GetTimelineResponse {
        entries: page.entries.into_iter().map(timeline_entry).collect(),
        next_page_token: page.next.map(|next| next.to_string()).unwrap_or_default(),
        withheld,
    }
}

pub fn statistics(figures: &Statistics) -> pb::GetStatisticsResponse {
    pb::GetStatisticsResponse {
        referrals: figures
            .referrals
            .iter()
            .map(|figure| pb::ReferralFigure {
                sector: figure.sector.clone(),
                need: figure.need.clone(),
                outcome: figure.outcome.clone(),
                count: figure.count,
                suppressed: figure.suppressed,
                median_waiting_days: figure.median_waiting_days,
                p90_waiting_days: figure.p90_waiting_days,
                waiting_suppressed: figure.waiting_suppressed,
            })
            .collect(),
        cut_off: jiff::Timestamp::from_millisecond(figures.cut_off_ms)
            .map(|at| at.to_string())
            .unwrap_or_default(),
        meetings_held: figures.meetings_held,
        consultations: figures.consultations,
        families: figures.families,
        minimum_cell: figures.minimum_cell,
    }
}

/// A change, shaped by the watcher's scope.
pub fn family_change(change: FamilyChange, scope: &Scope, sector: Option<Sector>) -> pb::FamilyChange {
    let FamilyChange { mut entries, view } = change;
    let entries_withheld = shape::timeline(&mut entries, scope);
    let (view, withheld) = shape::view(view, scope, sector);
    pb::FamilyChange {
        entries: entries.into_iter().map(timeline_entry).collect(),
        view: Some(family_view(view, &withheld)),
        withheld: entries_withheld || !withheld.is_empty(),
    }
}

/// A page of a family's log report, from the access log stream made at `stream`.
pub fn access_log(page: &ReportPage, stream: i128) -> pb::GetAccessLogResponse {
    pb::GetAccessLogResponse {
        entries: page
            .records
            .iter()
            .map(|(_, record)| {
                let access = &record.access;
                pb::AccessLogEntry {
                    at_ms: access.at.as_millis(),
                    actor: Some(luukku_grpc::encode::actor_pb(&access.actor)),
                    rpc: access.rpc.clone(),
                    kind: access.kind.clone(),
                    member_id: access.member.map(|member| member.to_string()).unwrap_or_default(),
                    parts: access.parts.clone(),
                    basis: access.basis.clone(),
                    reason: access.reason.clone().unwrap_or_default(),
                    allowed: access.allowed,
                    rule: access.rule.clone().unwrap_or_default(),
                }
            })
            .collect(),
        next_page_token: match page.next_after {
            0 => String::new(),
            after => format!("{after}.{stream}"),
        },
    }
}

/// The sequence a log report's page token goes on after, and the stream it was given for:
/// `<sequence>.<created>`. A sequence alone, as an earlier release gave it, is refused: it
/// names no stream, so a page after a restore could go on at the same number in another
/// stream (the caller begins again from the first page).
pub fn access_log_token(token: &str) -> Result<(u64, i128), &'static str> {
    let wrong = "not a page token of this call: begin again from the first page";
    let (after, stream) = token.split_once('.').ok_or(wrong)?;
    Ok((after.parse().map_err(|_| wrong)?, stream.parse().map_err(|_| wrong)?))
}

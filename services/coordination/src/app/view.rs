//! The one view of a family and a caseload's entries, built from the projection's documents.
//! Personal data is opened here, with the family's key, and only here.

use jiff::ToSpan;
use jiff::civil::Date;
use luukku_domain::contacts::{ContactId, ContactPersonId, HandoverId};
use luukku_domain::family::{ConsentId, FamilyId, MemberId, MemberRole, age_on};
use luukku_domain::meetings::{ActionId, MeetingId, Participant, Purpose};
use luukku_domain::referrals::{ReferralId, ReferralState, Urgency};
use std::collections::BTreeSet;

use luukku_domain::sealing::{FamilyKey, HasPersonal, PersonalField};
use luukku_domain::{Channel, Context, Need, Sector};
use luukku_eventstore::Checkpoints;

use super::timeline::TimelineItem;
use crate::projection::doc::*;
use crate::projection::{ProjectionTree, Result};

/// How many recent contacts and timeline entries the view shows.
pub const RECENT: usize = 20;
const DAY_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub member_id: MemberId,
    pub role: MemberRole,
    /// `None` when erased.
    pub name: Option<String>,
    pub birth_date: Option<Date>,
    pub age: Option<i16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonView {
    pub id: ContactPersonId,
    pub name: String,
    pub sector: Option<Sector>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HandoverView {
    pub handover_id: HandoverId,
    pub from: PersonView,
    pub to: PersonView,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsentView {
    pub consent_id: ConsentId,
    pub sectors: Vec<Sector>,
    pub valid_until: Date,
    pub ending_soon: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferralView {
    pub referral_id: ReferralId,
    pub service_name: String,
    pub sector: Sector,
    pub state: ReferralState,
    pub urgency: Urgency,
    pub reason: Option<String>,
    pub sent_at_ms: i64,
    pub deadline_ms: i64,
    pub overdue: bool,
    pub consent_lapsed: bool,
    pub waiting_days: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeetingView {
    pub meeting_id: MeetingId,
    pub purpose: Purpose,
    pub status: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionView {
    pub action_id: ActionId,
    pub meeting_id: MeetingId,
    pub what: Option<String>,
    pub owner: Participant,
    pub due: Date,
    pub overdue: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactView {
    pub contact_id: ContactId,
    pub occurred_at_ms: i64,
    pub channel: Channel,
    pub needs: Vec<Need>,
    pub summary: Option<String>,
    pub follow_up: Option<Date>,
    pub follow_up_due: bool,
}

/// Everything about one family its contact person needs on one screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyView {
    pub family_id: FamilyId,
    pub status: &'static str,
    pub municipality: String,
    pub members: Vec<MemberView>,
    pub contact_person: Option<PersonView>,
    pub pending_handover: Option<HandoverView>,
    pub consents: Vec<ConsentView>,
    pub referrals: Vec<ReferralView>,
    pub upcoming_meetings: Vec<MeetingView>,
    pub past_meetings: Vec<MeetingView>,
    pub open_actions: Vec<ActionView>,
    pub recent_contacts: Vec<ContactView>,
    pub follow_ups_due: Vec<ContactView>,
    pub timeline: Vec<TimelineItem>,
    pub positions: Checkpoints,
}

/// What needs attention in a family, for ordering a caseload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Attention {
    pub overdue_referrals: u32,
    pub actions_past_due: u32,
    pub meetings_within_week: u32,
    pub follow_ups_due: u32,
    pub consents_ending: u32,
    pub pending_handover: bool,
}

/// One family of a caseload or a search.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseloadEntry {
    pub family_id: FamilyId,
    pub municipality: String,
    pub attention: Attention,
    pub names: Vec<String>,
}

/// Opens the document's personal data with the family's key; erased fields stay unreadable.
/// What of a family's personal data a query opens: each sealed field costs a decryption, and a
/// realistic family holds dozens.
#[derive(Debug, Clone, Copy)]
pub enum Opening {
    /// The members' details: names for caseloads and search.
    Members,
    /// What [`family_view`] shows on `today`: the members, the referrals' reasons, the agreed
    /// actions, and the contacts among the newest [`RECENT`] or with a follow-up due. Older
    /// contacts stay sealed.
    View { today: Date },
}

/// `doc` with what `opening` needs opened; without a key (erased) those fields are erased.
pub fn open(mut doc: FamilyDoc, family: FamilyId, key: Option<&FamilyKey>, opening: Opening) -> FamilyDoc {
    let aad = family.to_string();
    let shown = match opening {
        Opening::Members => BTreeSet::new(),
        Opening::View { today } => shown_contacts(&doc, today),
    };
    let FamilyDoc { members, contacts, referrals, meetings, .. } = &mut doc;
    let mut fields: Vec<&mut dyn PersonalField> =
        members.values_mut().map(|member| &mut member.details as &mut dyn PersonalField).collect();
    if let Opening::View { .. } = opening {
        fields.extend(referrals.values_mut().map(|referral| &mut referral.reason as &mut dyn PersonalField));
        fields.extend(
            meetings
                .values_mut()
                .flat_map(|meeting| meeting.actions.values_mut())
                .map(|action| &mut action.what as &mut dyn PersonalField),
        );
        fields.extend(
            contacts
                .iter_mut()
                .filter(|(id, _)| shown.contains(*id))
                .map(|(_, contact)| &mut contact.summary as &mut dyn PersonalField),
        );
    }
    if let Err(error) = fields.into_iter().try_for_each(|field| field.open(key, aad.as_bytes())) {
        tracing::error!(%family, %error, "projected personal data does not open");
        doc.open(None, &[]).ok();
    }
    doc
}

/// The contacts [`family_view`] shows: the newest [`RECENT`], in its order, and every one
/// with a follow-up due.
fn shown_contacts(doc: &FamilyDoc, today: Date) -> BTreeSet<ContactId> {
    let mut newest: Vec<(&ContactId, &ContactDoc)> = doc.contacts.iter().collect();
    newest.sort_by_key(|(_, contact)| std::cmp::Reverse(contact.occurred_at));
    let due = doc.contacts.iter().filter(|(_, found)| follow_up_due(found, today));
    newest.into_iter().take(RECENT).chain(due).map(|(id, _)| *id).collect()
}

fn person(tree: &ProjectionTree, id: ContactPersonId) -> Result<PersonView> {
    let doc = tree.person(id)?;
    Ok(PersonView {
        id,
        name: doc.as_ref().map(|d| d.name.clone()).unwrap_or_default(),
        sector: doc.and_then(|d| d.sector),
    })
}

fn in_force(consent: &ConsentDoc, today: Date) -> bool {
    !consent.revoked && consent.valid_from <= today && today <= consent.valid_until
}

fn ending_soon(consent: &ConsentDoc, today: Date) -> bool {
    today.checked_add(30.days()).is_ok_and(|limit| consent.valid_until <= limit)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn attention(doc: &FamilyDoc, context: &Context) -> Attention {
    let now = context.now.as_millis();
    let today = context.today;
    Attention {
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

pub fn names(doc: &FamilyDoc) -> Vec<String> {
    doc.members.values().filter_map(|member| member.details.plain().map(|d| d.full_name())).collect()
}

pub fn caseload_entry(family: FamilyId, doc: &FamilyDoc, context: &Context) -> CaseloadEntry {
    CaseloadEntry {
        family_id: family,
        municipality: doc.municipality.clone(),
        attention: attention(doc, context),
        names: names(doc),
    }
}

fn referral(tree: &ProjectionTree, id: ReferralId, referral: ReferralDoc, now: i64) -> Result<ReferralView> {
    let waiting_ms = referral.wait_ended.unwrap_or(now) - referral.sent_at;
    Ok(ReferralView {
        referral_id: id,
        service_name: tree.service(referral.service_id)?.map(|service| service.name).unwrap_or_default(),
        sector: referral.sector,
        state: referral.state,
        urgency: referral.urgency,
        reason: referral.reason.into_plain(),
        sent_at_ms: referral.sent_at,
        deadline_ms: referral.deadline,
        overdue: referral.overdue && referral.state.is_open(),
        consent_lapsed: referral.consent_lapsed && referral.state.is_open(),
        waiting_days: waiting_ms.max(0) / DAY_MS,
    })
}

fn follow_up_due(contact: &ContactDoc, today: Date) -> bool {
    !contact.done && contact.follow_up.is_some_and(|due| due <= today)
}

fn contact(id: ContactId, contact: ContactDoc, today: Date) -> ContactView {
    ContactView {
        contact_id: id,
        occurred_at_ms: contact.occurred_at,
        channel: contact.channel,
        follow_up_due: follow_up_due(&contact, today),
        needs: contact.needs,
        summary: contact.summary.into_plain(),
        follow_up: contact.follow_up,
    }
}

/// The view of an opened document, its timeline the newest entries first. The document's
/// parts move into the view.
pub fn family_view(
    tree: &ProjectionTree,
    family: FamilyId,
    doc: FamilyDoc,
    context: &Context,
    positions: Checkpoints,
    timeline: Vec<TimelineItem>,
) -> Result<FamilyView> {
    let now = context.now.as_millis();
    let today = context.today;
    let FamilyDoc {
        status,
        municipality,
        members,
        contact_person,
        pending_handover,
        consents,
        referrals,
        meetings,
        contacts,
        ..
    } = doc;
    let members = members
        .into_iter()
        .map(|(id, member)| {
            let details = member.details.into_plain();
            let birth_date = details.as_ref().and_then(|d| d.birth_date);
            MemberView {
                member_id: id,
                role: member.role,
                name: details.map(|d| d.full_name()),
                birth_date,
                age: birth_date.map(|born| age_on(born, today)),
            }
        })
        .collect();
    let contact_person = contact_person.map(|id| person(tree, id)).transpose()?;
    let pending_handover = pending_handover
        .map(|(handover_id, from, to)| -> Result<HandoverView> {
            Ok(HandoverView { handover_id, from: person(tree, from)?, to: person(tree, to)? })
        })
        .transpose()?;
    let consents = consents
        .into_iter()
        .filter(|(_, consent)| in_force(consent, today))
        .map(|(id, consent)| ConsentView {
            consent_id: id,
            ending_soon: ending_soon(&consent, today),
            sectors: consent.sectors,
            valid_until: consent.valid_until,
        })
        .collect();
    let mut referrals = referrals
        .into_iter()
        .map(|(id, found)| referral(tree, id, found, now))
        .collect::<Result<Vec<_>>>()?;
    referrals.sort_by_key(|r| (!(r.overdue || r.consent_lapsed), !r.state.is_open(), r.sent_at_ms));
    let upcoming = |m: &MeetingDoc| {
        matches!(m.status.as_str(), "proposed" | "scheduled") && m.at.is_some_and(|at| at >= now)
    };
    let mut upcoming_meetings = Vec::new();
    let mut past_meetings = Vec::new();
    let mut open_actions: Vec<ActionView> = Vec::new();
    for (meeting_id, m) in meetings {
        let (is_upcoming, cancelled) = (upcoming(&m), m.status == "cancelled");
        let shown =
            MeetingView { meeting_id, purpose: m.purpose, status: m.status, at_ms: m.at.unwrap_or(0) };
        if is_upcoming {
            upcoming_meetings.push(shown);
        } else if !cancelled {
            past_meetings.push(shown);
        }
        open_actions.extend(m.actions.into_iter().filter(|(_, action)| !action.done).map(|(id, action)| {
            ActionView {
                action_id: id,
                meeting_id,
                overdue: action.due < today,
                what: action.what.into_plain(),
                owner: action.owner,
                due: action.due,
            }
        }));
    }
    upcoming_meetings.sort_by_key(|m| m.at_ms);
    past_meetings.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
    open_actions.sort_by_key(|action| (!action.overdue, action.due));
    let mut recent_contacts: Vec<ContactView> =
        contacts.into_iter().map(|(id, found)| contact(id, found, today)).collect();
    recent_contacts.sort_by_key(|c| std::cmp::Reverse(c.occurred_at_ms));
    let follow_ups_due = recent_contacts.iter().filter(|c| c.follow_up_due).cloned().collect();
    recent_contacts.truncate(RECENT);
    Ok(FamilyView {
        family_id: family,
        status: match status {
            Status::Active => "active",
            Status::Closed => "closed",
            Status::Unknown => "unknown",
        },
        municipality,
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
        positions,
    })
}

#[cfg(test)]
mod tests {
    use luukku_domain::sealing::Personal;

    use super::*;

    fn sealed(text: &str, key: &FamilyKey, family: FamilyId) -> Personal<String> {
        let mut field = Personal::Plain(text.to_owned());
        field.seal(key, family.to_string().as_bytes()).expect("sealing");
        field
    }

    #[test]
    fn a_view_opens_the_newest_contacts_and_those_due_and_leaves_older_ones_sealed() {
        let (family, key) = (FamilyId::generate(), FamilyKey::generate());
        let today = jiff::civil::date(2026, 6, 1);
        let mut doc = FamilyDoc::default();
        let mut ids = Vec::new();
        for day in 0..30i64 {
            let id = ContactId::generate();
            doc.contacts.insert(
                id,
                ContactDoc {
                    occurred_at: day * DAY_MS,
                    channel: Channel::Phone,
                    needs: Vec::new(),
                    summary: sealed(&format!("contact {day}"), &key, family),
                    // The oldest asked for a follow-up that is due now.
                    follow_up: (day == 0).then_some(today),
                    done: false,
                },
            );
            ids.push(id);
        }
        let opened = open(doc.clone(), family, Some(&key), Opening::View { today });
        let plain: Vec<bool> = ids.iter().map(|id| opened.contacts[id].summary.plain().is_some()).collect();
        assert!(plain[0], "the contact with a follow-up due is opened");
        assert!(plain[1..10].iter().all(|open| !open), "contacts older than the newest 20 stay sealed");
        assert!(plain[10..].iter().all(|open| *open), "the newest 20 are opened");

        let db = sled::Config::new().temporary(true).open().expect("a temporary sled");
        let tree = ProjectionTree::open(&db, "view").expect("a tree");
        let context = Context { now: luukku_domain::Timestamp::from_millis(30 * DAY_MS), today };
        let view =
            family_view(&tree, family, opened, &context, Checkpoints::default(), Vec::new()).expect("a view");
        assert_eq!(view.recent_contacts.len(), RECENT);
        assert!(
            view.recent_contacts.iter().chain(&view.follow_ups_due).all(|contact| contact.summary.is_some())
        );
        assert_eq!(view.follow_ups_due.len(), 1);

        let members_only = open(doc, family, Some(&key), Opening::Members);
        assert!(members_only.contacts.values().all(|contact| contact.summary.plain().is_none()));
    }
}

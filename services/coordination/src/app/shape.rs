//! Answers shaped by the access policy's scope: each caller gets what their relationship to
//! the family allows, and is told which parts were withheld.

use luukku_domain::Sector;
use luukku_domain::access::Scope;
use luukku_domain::family::MemberRole;
use luukku_eventstore::Stream;

use super::timeline::TimelineItem;
use super::view::FamilyView;

/// The parts of a view a caller may be told were withheld.
pub const MEMBERS: &str = "members";
pub const BIRTH_DATES: &str = "members.birth_date";
pub const CONSENTS: &str = "consents";
pub const REFERRALS: &str = "referrals";
pub const CHILD_PROTECTION_REASONS: &str = "referrals.reason";
pub const MEETINGS: &str = "meetings";
pub const CONTACTS: &str = "contacts";
pub const HANDOVER: &str = "pending_handover";
pub const TIMELINE: &str = "timeline";

/// Removes what `scope` does not allow from `view`; gives what was withheld. `sector` is the
/// caller's.
pub fn view(mut view: FamilyView, scope: &Scope, sector: Option<Sector>) -> (FamilyView, Vec<&'static str>) {
    if *scope == Scope::Whole {
        return (view, Vec::new());
    }
    let mut withheld = Vec::new();
    let mut hold = |part: &'static str, emptied: bool| {
        if emptied && !withheld.contains(&part) {
            withheld.push(part);
        }
    };
    match scope {
        Scope::Whole => {}
        Scope::Members(seen) => {
            // Their own and their children's data; never professionals' notes.
            let before = view.members.len();
            view.members.retain(|member| seen.contains(&member.member_id));
            hold(MEMBERS, view.members.len() < before);
            hold(CONTACTS, !(view.recent_contacts.is_empty() && view.follow_ups_due.is_empty()));
            view.recent_contacts.clear();
            view.follow_ups_due.clear();
            hold(HANDOVER, view.pending_handover.take().is_some());
        }
        Scope::Consent { consents, children } => {
            // The family, or the children the consents name; the sectors they cover.
            if !children.contains(&None) {
                let before = view.members.len();
                view.members.retain(|member| {
                    member.role == MemberRole::Guardian || children.contains(&Some(member.member_id))
                });
                hold(MEMBERS, view.members.len() < before);
            }
            let covered: Vec<Sector> = view
                .consents
                .iter()
                .filter(|consent| consents.contains(&consent.consent_id))
                .flat_map(|consent| consent.sectors.iter().copied())
                .collect();
            let before = view.referrals.len();
            view.referrals.retain(|referral| covered.contains(&referral.sector));
            hold(REFERRALS, view.referrals.len() < before);
            let before = view.consents.len();
            view.consents.retain(|consent| consents.contains(&consent.consent_id));
            hold(CONSENTS, view.consents.len() < before);
            hold(CONTACTS, !(view.recent_contacts.is_empty() && view.follow_ups_due.is_empty()));
            view.recent_contacts.clear();
            view.follow_ups_due.clear();
            hold(HANDOVER, view.pending_handover.take().is_some());
        }
        Scope::Referrals(referrals) => {
            // That referral, and a minimal extract: names, the child's age, the contact person.
            let before = view.referrals.len();
            view.referrals.retain(|referral| referrals.contains(&referral.referral_id));
            hold(REFERRALS, view.referrals.len() < before);
            minimal(&mut view, &mut hold);
            hold(MEETINGS, !(view.upcoming_meetings.is_empty() && view.past_meetings.is_empty()));
            view.upcoming_meetings.clear();
            view.past_meetings.clear();
            view.open_actions.clear();
        }
        Scope::Meetings(meetings) => {
            let before = view.upcoming_meetings.len() + view.past_meetings.len();
            view.upcoming_meetings.retain(|meeting| meetings.contains(&meeting.meeting_id));
            view.past_meetings.retain(|meeting| meetings.contains(&meeting.meeting_id));
            view.open_actions.retain(|action| meetings.contains(&action.meeting_id));
            hold(MEETINGS, view.upcoming_meetings.len() + view.past_meetings.len() < before);
            hold(REFERRALS, !view.referrals.is_empty());
            view.referrals.clear();
            minimal(&mut view, &mut hold);
        }
        Scope::Own | Scope::NoPersonalData => {
            hold(MEMBERS, !view.members.is_empty());
            view.members.clear();
            minimal(&mut view, &mut hold);
            hold(REFERRALS, !view.referrals.is_empty());
            view.referrals.clear();
            hold(MEETINGS, !(view.upcoming_meetings.is_empty() && view.past_meetings.is_empty()));
            view.upcoming_meetings.clear();
            view.past_meetings.clear();
            view.open_actions.clear();
        }
    }
    // The reason of a child-protection referral stays with child protection.
    if sector != Some(Sector::ChildProtection) {
        for referral in &mut view.referrals {
            if referral.sector == Sector::ChildProtection && referral.reason.take().is_some() {
                hold(CHILD_PROTECTION_REASONS, true);
            }
        }
    }
    let before = view.timeline.len();
    view.timeline.retain(|item| timeline_allows(scope, item));
    hold(TIMELINE, view.timeline.len() < before);
    (view, withheld)
}

/// Names, ages and how to reach the contact person; nothing more.
fn minimal(view: &mut FamilyView, hold: &mut impl FnMut(&'static str, bool)) {
    let mut dated = false;
    for member in &mut view.members {
        dated |= member.birth_date.take().is_some();
    }
    hold(BIRTH_DATES, dated);
    hold(CONSENTS, !view.consents.is_empty());
    view.consents.clear();
    hold(CONTACTS, !(view.recent_contacts.is_empty() && view.follow_ups_due.is_empty()));
    view.recent_contacts.clear();
    view.follow_ups_due.clear();
    hold(HANDOVER, view.pending_handover.take().is_some());
}

/// Whether a timeline entry is within `scope`: the contact log is the contact person's, and a
/// caller seeing part of the family sees the family's and its meetings' entries only.
pub fn timeline_allows(scope: &Scope, item: &TimelineItem) -> bool {
    match scope {
        Scope::Whole => true,
        Scope::Members(_) => item.stream != Stream::Contacts,
        Scope::Consent { .. } => matches!(item.stream, Stream::Families | Stream::Meetings),
        Scope::Referrals(_) | Scope::Meetings(_) | Scope::Own | Scope::NoPersonalData => false,
    }
}

/// Keeps the timeline entries `scope` allows; gives whether any was withheld.
pub fn timeline(items: &mut Vec<TimelineItem>, scope: &Scope) -> bool {
    let before = items.len();
    items.retain(|item| timeline_allows(scope, item));
    items.len() < before
}

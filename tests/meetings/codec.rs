//! Golden fixtures of every meeting event version, sealed with a fixture key: they must keep
//! decoding and opening as long as the log may hold them.

use std::path::Path;

use jiff::civil::date;
use luukku_domain::meetings::*;
use luukku_domain::sealing::Personal;
use luukku_domain::{Code, Sector, Timestamp};
use luukku_testkit::golden::check_sealed;

const FAMILY: &[u8] = b"01KAQ8S0V3M7Y9ZQ0W2X4B6C8D";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("fixture id")
}

fn examples() -> Vec<MeetingEvent> {
    let meeting_id: MeetingId = id("01KAQ8S0V3M7Y9ZQ0W2X4B6CA1");
    let action_id: ActionId = id("01KAQ8S0V3M7Y9ZQ0W2X4B6CA2");
    let child = id("01KAQ8S0V3M7Y9ZQ0W2X4B6C82");
    let teacher = Participant::Person(Code::parse("teacher.1").expect("code"));
    let welfare = Participant::Sector(Sector::StudentWelfare);
    let slot = Slot { starts_at: Timestamp::from_millis(1_795_600_000_000), minutes: 90 };
    let text = |words: &str| Personal::Plain(words.to_owned());
    vec![
        MeetingEvent::Proposed(MeetingProposed {
            meeting_id,
            purpose: Purpose::SchoolSupport,
            description: text("Eero's support at school"),
            slots: vec![slot],
            place: text("Kallio school"),
            participants: vec![teacher.clone(), welfare.clone(), Participant::FamilyMember(child)],
        }),
        MeetingEvent::Answered(InvitationAnswered {
            meeting_id,
            participant: teacher.clone(),
            answers: vec![(0, Answer::Accept)],
        }),
        MeetingEvent::Scheduled(MeetingScheduled { meeting_id, slot }),
        MeetingEvent::Rescheduled(MeetingRescheduled {
            meeting_id,
            slot,
            reason: text("the teacher is ill"),
        }),
        MeetingEvent::Cancelled(MeetingCancelled { meeting_id, reason: text("no longer needed") }),
        MeetingEvent::ParticipantAdded(ParticipantChanged { meeting_id, participant: welfare.clone() }),
        MeetingEvent::ParticipantRemoved(ParticipantChanged { meeting_id, participant: welfare.clone() }),
        MeetingEvent::Held(MeetingHeld {
            meeting_id,
            held_at: Timestamp::from_millis(1_795_600_000_000),
            attended: vec![teacher.clone()],
            summary: text("a plan for reading"),
            child_views: vec![ChildView { member_id: child, view: text("I like maths") }],
            actions: vec![AgreedAction {
                action_id,
                what: text("book the school nurse"),
                owner: welfare.clone(),
                due: date(2026, 12, 4),
            }],
        }),
        MeetingEvent::ActionDone(ActionDone { meeting_id, action_id, note: text("booked") }),
        MeetingEvent::ActionReassigned(ActionReassigned { meeting_id, action_id, owner: teacher }),
    ]
}

#[test]
fn every_meeting_event_version_keeps_decoding() {
    check_sealed(&Path::new(env!("CARGO_MANIFEST_DIR")).join("meetings/fixtures"), examples(), FAMILY);
}

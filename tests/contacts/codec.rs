//! Golden fixtures of every contacts event version (contact persons, assignments, the contact
//! log, consultations), sealed with a fixture key: they must keep decoding and opening as long
//! as the log may hold them.

use std::path::Path;

use jiff::civil::date;
use luukku_domain::contacts::*;
use luukku_domain::family::Municipality;
use luukku_domain::sealing::Personal;
use luukku_domain::{Channel, Code, Need, Sector, Timestamp};
use luukku_testkit::golden::check_sealed;

const FAMILY: &[u8] = b"01KAQ8S0V3M7Y9ZQ0W2X4B6C8D";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("fixture id")
}

fn persons() -> Vec<ContactPersonEvent> {
    let profile = Profile {
        person_id: Code::parse("anna.contact").expect("code"),
        name: "Anna Koskinen".to_owned(),
        organisation: Code::parse("0201256-6").expect("code"),
        sector: Sector::FamilySocialServices,
        municipalities: vec![Municipality::parse("091").expect("code")],
        languages: vec!["fi".to_owned(), "sv".to_owned()],
        caseload_limit: 40,
    };
    let family = CaseloadChange { family_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6C8D") };
    vec![
        ContactPersonEvent::Registered(profile.clone()),
        ContactPersonEvent::Updated(Profile { caseload_limit: 30, ..profile }),
        ContactPersonEvent::Deactivated(Deactivated { reason: "moved to another team".to_owned() }),
        ContactPersonEvent::CaseloadJoined(family.clone()),
        ContactPersonEvent::CaseloadLeft(family.clone()),
        ContactPersonEvent::PlaceReserved(PlaceReserved {
            family_id: family.family_id,
            reservation_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC5"),
            until: Timestamp::from_millis(1_795_500_120_000),
        }),
        ContactPersonEvent::ReservationReleased(ReservationReleased {
            family_id: family.family_id,
            reservation_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC5"),
            expired: true,
        }),
    ]
}

fn assignments() -> Vec<AssignmentEvent> {
    let handover_id: HandoverId = id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC1");
    vec![
        AssignmentEvent::Assigned(Assigned { contact_person: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC2") }),
        AssignmentEvent::HandoverProposed(HandoverProposed {
            handover_id,
            from: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC2"),
            to: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC3"),
            reason: Personal::Plain("Anna moves to the north team".to_owned()),
        }),
        AssignmentEvent::HandoverAccepted(HandoverAccepted { handover_id }),
        AssignmentEvent::HandoverDeclined(HandoverDeclined {
            handover_id,
            reason: Personal::Plain("a full week".to_owned()),
        }),
        AssignmentEvent::HandoverWithdrawn(HandoverWithdrawn { handover_id }),
        AssignmentEvent::Ended(AssignmentEnded {
            contact_person: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC3"),
            reason: EndReason::ResponsibilityMoved,
            note: Some(Personal::Plain("child protection takes over".to_owned())),
        }),
    ]
}

fn log() -> Vec<ContactLogEvent> {
    let contact_id: ContactId = id("01KAQ8S0V3M7Y9ZQ0W2X4B6CC4");
    vec![
        ContactLogEvent::Recorded(ContactRecorded {
            contact_id,
            occurred_at: Timestamp::from_millis(1_795_500_000_000),
            direction: Direction::Inbound,
            party: Party::FamilyMember(id("01KAQ8S0V3M7Y9ZQ0W2X4B6C81")),
            channel: Channel::Phone,
            needs: vec![Need::Parenting, Need::Learning],
            summary: Personal::Plain("Maria called about Eero's absences".to_owned()),
            guidance: vec![Sector::StudentWelfare],
            follow_up: Some(date(2026, 11, 30)),
        }),
        ContactLogEvent::FollowUpCompleted(FollowUpCompleted {
            contact_id,
            note: Personal::Plain("called back".to_owned()),
        }),
    ]
}

fn consultations() -> Vec<ConsultationEvent> {
    vec![ConsultationEvent::Recorded(ConsultationRecorded {
        occurred_at: Timestamp::from_millis(1_795_500_000_000),
        sector: Sector::School,
        channel: Channel::Phone,
        needs: vec![Need::Learning],
        guidance: vec![Sector::StudentWelfare],
        municipality: Some(Municipality::parse("091").expect("code")),
    })]
}

#[test]
fn every_contacts_event_version_keeps_decoding() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("contacts/fixtures");
    check_sealed(&folder, persons(), FAMILY);
    check_sealed(&folder, assignments(), FAMILY);
    check_sealed(&folder, log(), FAMILY);
    check_sealed(&folder, consultations(), FAMILY);
}

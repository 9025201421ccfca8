//! Golden fixtures of every catalogue and referral event version, sealed with a fixture key:
//! they must keep decoding and opening as long as the log may hold them.

use std::path::Path;

use luukku_domain::family::Municipality;
use luukku_domain::referrals::*;
use luukku_domain::sealing::Personal;
use luukku_domain::{Need, Sector, Timestamp};
use luukku_testkit::golden::check_sealed;

const FAMILY: &[u8] = b"01KAQ8S0V3M7Y9ZQ0W2X4B6C8D";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("fixture id")
}

fn services() -> Vec<ServiceEvent> {
    let info = ServiceInfo {
        provider: "City of Helsinki".to_owned(),
        sector: Sector::MentalHealth,
        name: "Youth clinic".to_owned(),
        description: "For 13 to 17 year olds".to_owned(),
        min_age: 13,
        max_age: 17,
        needs: vec![Need::MentalHealth],
        municipalities: vec![Municipality::parse("091").expect("code")],
        low_threshold: true,
        contact: "+358 9 310 00000".to_owned(),
    };
    let reason = |text: &str| Reason { reason: text.to_owned() };
    vec![
        ServiceEvent::Registered(info.clone()),
        ServiceEvent::Updated(ServiceInfo { max_age: 18, ..info }),
        ServiceEvent::Paused(reason("full until January")),
        ServiceEvent::Resumed(reason("places again")),
        ServiceEvent::Retired(reason("merged")),
    ]
}

fn referrals() -> Vec<ReferralEvent> {
    let text = |words: &str| Personal::Plain(words.to_owned());
    let deadline = Timestamp::from_millis(1_796_000_000_000);
    vec![
        ReferralEvent::Created(ReferralCreated {
            family_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6C8D"),
            child: Some(id("01KAQ8S0V3M7Y9ZQ0W2X4B6C82")),
            service_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CB1"),
            sector: Sector::MentalHealth,
            needs: vec![Need::MentalHealth],
            urgency: Urgency::Normal,
            reason: text("panic attacks before school"),
            basis: Basis::Statutory { basis: StatutoryBasis::Emergency, note: text("urgent care") },
            sent_at: Timestamp::from_millis(1_795_500_000_000),
            deadline,
            contact_person: Some(id("01KAQ8S0V3M7Y9ZQ0W2X4B6CB2")),
        }),
        ReferralEvent::Received(Step {}),
        ReferralEvent::Accepted(Step {}),
        ReferralEvent::Rejected(Rejected { reason: RejectReason::NoCapacity, note: text("full") }),
        ReferralEvent::Started(Step {}),
        ReferralEvent::Completed(Note { note: text("weekly sessions helped") }),
        ReferralEvent::Failed(Note { note: text("did not come") }),
        ReferralEvent::PutOnHold(Note { note: text("summer") }),
        ReferralEvent::Resumed(Step {}),
        ReferralEvent::Cancelled(Note { note: text("moved away") }),
        ReferralEvent::Redirected(Redirected {
            service_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CB3"),
            sector: Sector::FamilySocialServices,
            note: text("a better fit"),
            deadline,
        }),
        ReferralEvent::Overdue(Overdue { deadline }),
        ReferralEvent::ConsentLapsed(ConsentLapsed { consent_id: id("01KAQ8S0V3M7Y9ZQ0W2X4B6CB4") }),
    ]
}

#[test]
fn every_catalogue_and_referral_event_version_keeps_decoding() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("referrals/fixtures");
    check_sealed(&folder, services(), FAMILY);
    check_sealed(&folder, referrals(), FAMILY);
}

//! The meeting index stops at a message it cannot read, and the service says so, until an
//! operator skips it.

use std::time::Duration;

use bytes::Bytes;
use luukku_domain::family::FamilyId;
use luukku_eventstore::quarantine::Quarantine;
use luukku_eventstore::{AggregateRef, Stream};
use luukku_proto::meetings::v1 as pb;
use luukku_testkit::eventually;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::{Harness, teacher};

const SERVICE: &str = "luukku.meetings.v1.MeetingService";
const INDEX: &str = "luukku.read_model.meeting_index";

#[tokio::test]
async fn a_corrupt_meetings_message_stops_the_index_until_it_is_skipped() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let subject = AggregateRef::new(Stream::Meetings, "family", FamilyId::generate()).subject();
    let ack = harness.store.jetstream().publish(subject, Bytes::from_static(b"\x01\x00")).await?.await?;
    let status_is = |service: &'static str, status: ServingStatus| {
        let harness = &harness;
        move || async move { Ok(harness.health(service).await? == status as i32) }
    };
    assert!(eventually(10, status_is(INDEX, ServingStatus::NotServing)).await?, "the index is not serving");
    assert_eq!(harness.health(SERVICE).await?, ServingStatus::NotServing as i32);

    // A query that needs the index answers at once, naming the stop.
    let mut request = harness.call_as(
        &teacher(),
        pb::ListUpcomingMeetingsRequest {
            person_id: "teacher.1".into(),
            sector: String::new(),
            ..Default::default()
        },
    );
    request.set_timeout(Duration::from_secs(3));
    let status = harness.meetings.clone().list_upcoming_meetings(request).await.expect_err("stopped");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("stopped at message"), "{}", status.message());

    Quarantine::open(&harness.store)
        .await?
        .skip(Stream::Meetings, ack.sequence, "ops.person", "a test's garbage")
        .await?
        .expect("skipped");
    assert!(eventually(10, status_is(SERVICE, ServingStatus::Serving)).await?, "serving again");
    let request = harness.call_as(
        &teacher(),
        pb::ListUpcomingMeetingsRequest {
            person_id: "teacher.1".into(),
            sector: String::new(),
            ..Default::default()
        },
    );
    assert!(harness.meetings.clone().list_upcoming_meetings(request).await.is_ok());
    Ok(())
}

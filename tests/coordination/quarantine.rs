//! A message no read model can read stops them at it, visibly, until an operator skips it; a
//! message of a newer release is never skipped.

use std::time::Duration;

use bytes::Bytes;
use luukku_domain::RequestId;
use luukku_domain::family::FamilyId;
use luukku_eventstore::quarantine::{Quarantine, Readers, SkipRefused};
use luukku_eventstore::{AggregateRef, Expected, RawEvent, Stream};
use luukku_proto::coordination::v1 as pb;
use luukku_testkit::eventually;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::Harness;

const SERVICE: &str = "luukku.coordination.v1.CoordinationService";
const PROJECTION: &str = "luukku.read_model.coordination_projection";

fn a_family() -> AggregateRef {
    AggregateRef::new(Stream::Families, "family", FamilyId::generate())
}

/// Waits until the coordination service's health for `service` is `status`.
async fn health_becomes(h: &Harness, service: &str, status: ServingStatus) -> anyhow::Result<bool> {
    eventually(10, || async { Ok(h.health(service).await? == status as i32) }).await
}

#[tokio::test]
async fn a_corrupt_message_stops_the_projection_visibly_until_an_operator_skips_it() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (before, _, _) = h.family("Salo").await?;
    assert_eq!(h.health(SERVICE).await?, ServingStatus::Serving as i32);

    // Not a luukku envelope.
    let corrupt = a_family();
    let ack = h
        .store
        .jetstream()
        .publish(corrupt.subject(), Bytes::from_static(b"\x01\xff\xff\x00"))
        .await?
        .await?;
    assert!(
        health_becomes(&h, SERVICE, ServingStatus::NotServing).await?,
        "the service says it is not serving"
    );
    assert!(health_becomes(&h, PROJECTION, ServingStatus::NotServing).await?, "and names its projection");

    let quarantine = Quarantine::open(&h.store).await?;
    let found = quarantine.get(Stream::Families, ack.sequence).await?.expect("the message is quarantined");
    assert_eq!(found.subject, corrupt.subject());
    assert!(!found.newer && found.skip.is_none());
    assert!(found.reason.contains("not a luukku envelope"), "{}", found.reason);
    let reports = Readers::open(&h.store).await?.list().await?;
    let projection = reports
        .iter()
        .find(|report| report.name == "coordination projection")
        .expect("the projection reports where it stands");
    let stopped = projection.stopped.as_ref().expect("and that it stopped");
    assert_eq!((stopped.stream, stopped.sequence), (Stream::Families, ack.sequence));

    // Nothing after it is applied: a change of the first family, written behind it.
    let family = AggregateRef::new(Stream::Families, "family", FamilyId::parse(&before)?);
    let version = h.store.version(&family).await?;
    let moved =
        luukku_domain::family::FamilyEvent::MunicipalityChanged(luukku_domain::family::MunicipalityChanged {
            municipality: luukku_domain::family::Municipality::parse("837").map_err(anyhow::Error::msg)?,
        });
    let behind = h
        .store
        .append_events(&family, Expected::Version(version), &[moved], &RequestId::generate(), &h.actor)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.projection.positions().get(Stream::Families), ack.sequence - 1, "stopped before it");
    // Nor is anything decided on relationships that may miss a revocation after it: calls
    // answer UNAVAILABLE, naming the stop, until it is dealt with.
    let earlier = h.call(pb::GetFamilyViewRequest { family_id: before.clone(), min_positions: vec![] });
    let status = h.coordination.get_family_view(earlier).await.expect_err("the facts are stopped");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("stopped at message"), "{}", status.message());
    let refused = h.families.register_family(
        h.call(luukku_testkit::fixtures::registration_request(&RequestId::generate().to_string(), "Virta")),
    );
    assert_eq!(refused.await.expect_err("stopped").code(), Code::Unavailable, "writes wait too");

    // A skip needs a reason; with one, everything goes on and the skip stays recorded.
    assert_eq!(
        quarantine.skip(Stream::Families, ack.sequence, "ops.person", " ").await?,
        Err(SkipRefused::NoReason)
    );
    let skipped = quarantine
        .skip(Stream::Families, ack.sequence, "ops.person", "garbage from a test publisher")
        .await?
        .expect("skipped");
    assert_eq!(skipped.skip.as_ref().map(|skip| skip.by.as_str()), Some("ops.person"));
    assert!(health_becomes(&h, SERVICE, ServingStatus::Serving).await?, "serving again after the skip");
    let position =
        luukku_proto::common::v1::Position { stream: "FAMILIES".into(), sequence: behind.position.sequence };
    let request = h.call(pb::GetFamilyViewRequest { family_id: before, min_positions: vec![position] });
    let view = h.coordination.get_family_view(request).await?.into_inner();
    assert_eq!(view.municipality, "837", "what came after it is projected");
    let kept = quarantine.get(Stream::Families, ack.sequence).await?.expect("the record stays");
    assert_eq!(kept.skip.map(|skip| skip.reason).as_deref(), Some("garbage from a test publisher"));
    Ok(())
}

#[tokio::test]
async fn a_message_of_a_newer_release_stops_the_projection_and_is_never_skipped() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    assert!(health_becomes(&h, PROJECTION, ServingStatus::Serving).await?, "started");
    let newer = a_family();
    let event = RawEvent { event_type: "FamilyRegistered".into(), schema_version: 99, data: vec![1, 2, 3] };
    let appended = h
        .store
        .append(&newer, Expected::New, vec![event], &RequestId::generate(), &luukku_testkit::actor())
        .await?;
    assert!(health_becomes(&h, PROJECTION, ServingStatus::NotServing).await?);

    let quarantine = Quarantine::open(&h.store).await?;
    let sequence = appended.position.sequence;
    let found = quarantine.get(Stream::Families, sequence).await?.expect("quarantined");
    assert!(found.newer);
    assert!(found.reason.contains("upgrade this service"), "{}", found.reason);
    assert_eq!(
        quarantine.skip(Stream::Families, sequence, "ops.person", "in the way").await?,
        Err(SkipRefused::Newer { stream: Stream::Families, sequence })
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(h.health(SERVICE).await?, ServingStatus::NotServing as i32, "still stopped");
    assert_eq!(h.projection.positions().get(Stream::Families), sequence - 1, "and not past it");
    // A rebuild cannot get past it either: it ends with the reason instead of waiting for ever.
    let rebuilt = tokio::time::timeout(Duration::from_secs(20), h.projection.rebuild(|_, _| {})).await?;
    let error = rebuilt.expect_err("the rebuild cannot pass a newer release's message");
    assert!(error.to_string().contains("upgrade this service"), "{error}");
    assert_eq!(h.projection.generation(), 1, "the current projection stays");
    Ok(())
}

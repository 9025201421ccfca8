use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use luukku_domain::codec::to_postcard;
use luukku_domain::{Actor, CodecError, DomainEvent, RequestId, Role, Timestamp};
use luukku_eventstore::envelope::{self, Envelope};
use luukku_eventstore::{Error, Expected, Fingerprint, RawEvent};
use luukku_testkit::TestNats;
use luukku_testkit::golden::{self, GoldenCase};
use luukku_testkit::sample::{SampleEvent, noted_v1_bytes};

use crate::support::new_aggregate;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/eventstore/fixtures"))
}

#[test]
fn golden_fixtures_of_every_sample_event_version_still_decode() {
    let noted = SampleEvent::Noted { text: "kotikäynti".into(), tags: vec!["a".into(), "b".into()] };
    golden::check(
        fixtures(),
        &[
            GoldenCase {
                event_type: "Noted",
                version: 1,
                bytes: noted_v1_bytes("vanha"),
                decoded: SampleEvent::Noted { text: "vanha".into(), tags: vec![] },
            },
            GoldenCase {
                event_type: "Noted",
                version: 2,
                bytes: noted.encode().unwrap_or_default(),
                decoded: noted,
            },
            GoldenCase {
                event_type: "Cleared",
                version: 1,
                bytes: SampleEvent::Cleared.encode().unwrap_or_default(),
                decoded: SampleEvent::Cleared,
            },
        ],
    );
}

fn fixed_envelope() -> Envelope {
    Envelope {
        recorded_at: Timestamp::from_millis(1_795_000_000_000),
        request_id: RequestId::parse("01JCZ5N3QW8R2M6T9V4X7Y1B3D").unwrap_or_else(|error| panic!("{error}")),
        actor: luukku_testkit::actor(),
        events: vec![
            RawEvent { event_type: "Noted".into(), schema_version: 1, data: noted_v1_bytes("vanha") },
            RawEvent::encode(&SampleEvent::Cleared).unwrap_or_else(|error| panic!("{error}")),
        ],
        fingerprint: None,
    }
}

/// The envelope of a request with a fingerprint (layout 2).
fn fingerprinted_envelope() -> Envelope {
    Envelope { fingerprint: Some(Fingerprint::of("RegisterFamily", b"request bytes")), ..fixed_envelope() }
}

/// The committed bytes of `name`, written from `envelope` when missing and asked to.
fn committed(name: &str, envelope: &Envelope) -> Vec<u8> {
    let path = fixtures().join(name);
    if !path.exists() && std::env::var_os("LUUKKU_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, envelope.encode().unwrap_or_default())
            .unwrap_or_else(|error| panic!("{error}"));
    }
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn the_committed_envelope_v1_bytes_still_decode() {
    // Layout 1 had no fingerprint; this release writes layout 2, so the v1 bytes are committed.
    let bytes = committed("envelope.v1.bin", &fixed_envelope());
    assert_eq!(bytes.first(), Some(&1), "the fixture is layout 1");
    let decoded = Envelope::decode(&bytes).unwrap_or_else(|error| panic!("envelope v1 fixture: {error}"));
    assert_eq!(decoded, fixed_envelope());
    let events: Vec<SampleEvent> =
        decoded.events.iter().map(RawEvent::decode).collect::<Result<_, _>>().unwrap_or_default();
    assert_eq!(events, vec![SampleEvent::Noted { text: "vanha".into(), tags: vec![] }, SampleEvent::Cleared]);
}

#[test]
fn the_committed_envelope_v2_bytes_still_decode_with_their_fingerprint() {
    let bytes = committed("envelope.v2.bin", &fingerprinted_envelope());
    assert_eq!(bytes.first(), Some(&2), "the fixture is layout 2");
    let decoded = Envelope::decode(&bytes).unwrap_or_else(|error| panic!("envelope v2 fixture: {error}"));
    assert_eq!(decoded, fingerprinted_envelope());
    assert_eq!(decoded.fingerprint.map(|fingerprint| fingerprint.method).as_deref(), Some("RegisterFamily"));
}

#[test]
fn envelopes_round_trip_and_refuse_trailing_garbage() {
    let envelope = fixed_envelope();
    let mut bytes = envelope.encode().unwrap_or_default().to_vec();
    assert_eq!(Envelope::decode(&bytes), Ok(envelope));
    bytes.push(0);
    assert!(matches!(Envelope::decode(&bytes), Err(CodecError::Malformed { .. })));
}

#[test]
fn an_actor_with_an_invalid_code_in_stored_bytes_is_refused() {
    // A corrupt or forged message cannot smuggle an invalid value past the newtypes.
    let mut envelope = fixed_envelope();
    envelope.actor = Actor { role: Role::Operator, ..luukku_testkit::actor() };
    let good = envelope.encode().unwrap_or_default().to_vec();
    let forged = String::from_utf8_lossy(&good).replace("test.contact", "test contact");
    assert!(Envelope::decode(forged.as_bytes()).is_err());
}

#[tokio::test]
async fn an_event_with_a_future_schema_version_gives_a_clear_error_not_a_panic() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let future = RawEvent { event_type: "Noted".into(), schema_version: 9, data: vec![1, 2, 3] };
    store
        .append(&aggregate, Expected::New, vec![future], &RequestId::generate(), &luukku_testkit::actor())
        .await?;

    let loaded = store.load(&aggregate).await?;
    let error = loaded.messages[0].decode_events::<SampleEvent>().expect_err("v9 is unknown");
    assert_eq!(
        error,
        CodecError::UnsupportedSchemaVersion { event_type: "Noted".into(), version: 9, known: vec![1, 2] }
    );
    assert_eq!(
        error.to_string(),
        "event Noted has schema version 9, this release reads versions [1, 2]; upgrade the reader"
    );
    let unknown = RawEvent { event_type: "Renamed".into(), schema_version: 1, data: vec![] };
    assert_eq!(
        unknown.decode::<SampleEvent>(),
        Err(CodecError::UnknownEventType { event_type: "Renamed".into() })
    );
    Ok(())
}

#[tokio::test]
async fn a_message_with_a_future_envelope_version_or_garbage_gives_a_clear_error() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let future = new_aggregate();
    let payload = to_postcard("test", &(7u16, "from the future"))?;
    store.jetstream().publish(future.subject(), Bytes::from(payload)).await?.await?;
    let error = store.load(&future).await.expect_err("envelope v7 is unknown");
    assert!(
        matches!(error, Error::Codec(CodecError::UnsupportedEnvelopeVersion { version: 7, newest: 2 })),
        "{error:?}"
    );

    let garbage = new_aggregate();
    let sequence = store
        .jetstream()
        .publish(garbage.subject(), Bytes::from_static(b"\x01\xff\xff"))
        .await?
        .await?
        .sequence;
    let error = store.load(&garbage).await.expect_err("garbage is not an envelope");
    assert!(matches!(error, Error::Corrupt { sequence: s, .. } if s == sequence), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn headers_describe_the_message_without_decoding_it() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let request_id = RequestId::generate();
    let events = [SampleEvent::Noted { text: "x".into(), tags: vec![] }, SampleEvent::Cleared];
    let appended = store
        .append_events(&aggregate, Expected::New, &events, &request_id, &luukku_testkit::actor())
        .await?;

    let stream = store.jetstream().get_stream("FAMILIES").await?;
    let raw = stream.direct_get(appended.position.sequence).await?;
    let header = |name: &str| raw.headers.get(name).map(|value| value.as_str().to_owned());
    assert_eq!(header(envelope::HEADER_EVENT_TYPES).as_deref(), Some("Noted,Cleared"));
    assert_eq!(header(envelope::HEADER_SCHEMA_VERSIONS).as_deref(), Some("2,1"));
    assert_eq!(header(envelope::HEADER_REQUEST_ID).as_deref(), Some(request_id.as_str()));
    assert_eq!(header(envelope::HEADER_ACTOR).as_deref(), Some("test.contact"));
    assert_eq!(header(envelope::HEADER_ACTOR_ROLE).as_deref(), Some("contact_person"));
    assert_eq!(header(envelope::HEADER_ACTOR_SECTOR).as_deref(), Some("family_social_services"));
    assert_eq!(header(envelope::HEADER_ACTOR_ORGANISATION).as_deref(), Some("0201256-6"));
    assert_eq!(header(envelope::HEADER_ACTOR_SYSTEM).as_deref(), Some("luukku-tests"));

    // Every event of the message records the actor and the time.
    let loaded = store.load(&aggregate).await?;
    assert_eq!(loaded.messages[0].envelope.actor, luukku_testkit::actor());
    assert!(loaded.messages[0].envelope.recorded_at.as_millis() > 1_700_000_000_000);
    Ok(())
}

#[tokio::test]
async fn following_delivers_garbage_and_a_newer_release_as_undecodable_and_says_which() -> anyhow::Result<()>
{
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let aggregate = new_aggregate();
    let first = crate::support::append_note(&store, &aggregate, Expected::New, "first").await?;
    let garbage = store
        .jetstream()
        .publish(new_aggregate().subject(), Bytes::from_static(b"\x01\xff\xff"))
        .await?
        .await?;
    let after_garbage = crate::support::append_note(&store, &new_aggregate(), Expected::New, "after").await?;
    // A newer release says so in its header; the same bytes without it are just garbage.
    let future = to_postcard("test", &(7u16, "from the future"))?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(envelope::HEADER_ENVELOPE, "7");
    let newer = store
        .jetstream()
        .publish_with_headers(new_aggregate().subject(), headers, Bytes::from(future))
        .await?
        .await?;

    let mut follow = std::pin::pin!(store.follow(luukku_eventstore::Stream::Families, 1));
    let next = Duration::from_secs(10);
    let seen = tokio::time::timeout(next, follow.next()).await?.expect("following never ends");
    assert_eq!(seen.map(|recorded| recorded.position).ok(), Some(first.position));
    let seen = tokio::time::timeout(next, follow.next()).await?.expect("following never ends");
    let undecodable = seen.expect_err("garbage is delivered as undecodable");
    assert_eq!(undecodable.position.sequence, garbage.sequence);
    assert!(matches!(undecodable.error, Error::Corrupt { .. }), "{:?}", undecodable.error);
    let seen = tokio::time::timeout(next, follow.next()).await?.expect("following never ends");
    assert_eq!(seen.map(|recorded| recorded.position).ok(), Some(after_garbage.position));
    // A newer release's message is delivered too, as what it is: the reader must stop at it.
    let seen = tokio::time::timeout(next, follow.next()).await?.expect("following never ends");
    let undecodable = seen.expect_err("a newer envelope is undecodable here");
    assert_eq!(undecodable.position.sequence, newer.sequence);
    assert!(matches!(undecodable.error, Error::Newer { .. }), "{:?}", undecodable.error);
    Ok(())
}

/// Every enum with a wire code: its codes in order, as persisted (postcard encodes a variant
/// by its place) and as callers send them.
fn wire_codes() -> Vec<(&'static str, &'static [&'static str])> {
    use luukku_domain::contacts::EndReason;
    use luukku_domain::family::{CloseReason, ErasureGround, MemberRole};
    use luukku_domain::meetings::Purpose;
    use luukku_domain::referrals::{ReferralState, RejectReason, StatutoryBasis, Urgency};
    use luukku_domain::{Channel, Need, Role, Sector};
    vec![
        ("Channel", Channel::CODES),
        ("CloseReason", CloseReason::CODES),
        ("EndReason", EndReason::CODES),
        ("ErasureGround", ErasureGround::CODES),
        ("MemberRole", MemberRole::CODES),
        ("Need", Need::CODES),
        ("Purpose", Purpose::CODES),
        ("ReferralState", ReferralState::CODES),
        ("RejectReason", RejectReason::CODES),
        ("Role", Role::CODES),
        ("Sector", Sector::CODES),
        ("StatutoryBasis", StatutoryBasis::CODES),
        ("Urgency", Urgency::CODES),
    ]
}

/// A variant added, removed or reordered changes what stored events decode to: each enum's
/// codes must equal its committed fixture, which a change updates on purpose.
#[test]
fn every_wire_code_enum_keeps_its_variants_in_place() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eventstore/fixtures/wire");
    let write_missing = std::env::var_os("LUUKKU_WRITE_FIXTURES").is_some();
    for (name, codes) in wire_codes() {
        let path = folder.join(format!("{name}.txt"));
        let current = codes.iter().map(|code| format!("{code}\n")).collect::<String>();
        if !path.exists() && write_missing {
            std::fs::create_dir_all(&folder).expect("fixture folder");
            std::fs::write(&path, &current).expect("write the fixture");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("{} missing ({error}): run with LUUKKU_WRITE_FIXTURES=1 once", path.display())
        });
        assert_eq!(
            current,
            committed,
            "{name}'s variants changed: append new ones at the end, and add them to {}",
            path.display()
        );
    }
}

//! The access log: records are stored before the writer answers, each chained to the one
//! before it, and a changed or forged record shows in the verification.

use luukku_domain::Timestamp;
use luukku_domain::family::FamilyId;
use luukku_eventstore::audit::{Access, AccessLog, AccessRecord, AuditQuery, verify};
use luukku_testkit::TestNats;

fn access(family: FamilyId, allowed: bool) -> Access {
    Access {
        at: Timestamp::now(),
        actor: luukku_testkit::actor(),
        rpc: "/luukku.families.v1.FamilyService/GetFamily".to_owned(),
        kind: "read".to_owned(),
        family: Some(family),
        member: None,
        parts: vec!["whole".to_owned()],
        basis: if allowed { "contact_person".to_owned() } else { String::new() },
        reason: None,
        allowed,
        rule: (!allowed).then(|| "NO_RELATIONSHIP".to_owned()),
    }
}

#[tokio::test]
async fn records_are_chained_and_a_changed_or_forged_one_is_found() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let log = AccessLog::start(store.clone());
    let family = FamilyId::generate();
    let writes = (0..40).map(|index| log.record(access(family, index % 3 != 0)));
    for stored in futures::future::join_all(writes).await {
        stored?;
    }
    let records = store.read_audit(&AuditQuery { family: Some(family), ..AuditQuery::default() }).await?;
    assert_eq!(records.len(), 40, "every record stored before its write answered");
    assert!(
        records.iter().all(|stored| stored.record.as_ref().is_some_and(|r| r.access.family == Some(family)))
    );
    let report = verify(&store).await?;
    assert_eq!((report.records, report.chains, report.problems.len()), (40, 1, 0), "{:?}", report.problems);

    // Someone with write access to NATS stores a record claiming a denial was allowed.
    let original = records[2].record.clone().expect("a record");
    // It takes the chain's next place, but cannot know the hash of the record before it.
    let forged = AccessRecord {
        seq: 41,
        prev: [7; 32],
        access: Access { allowed: true, rule: None, ..original.access.clone() },
        ..original.clone()
    };
    let jetstream = async_nats::jetstream::new(nats.client().await?);
    jetstream.publish(forged.subject(), forged.encode()?.into()).await?.await?;
    // And replays a real record with its content changed.
    let changed =
        AccessRecord { access: Access { kind: "write".to_owned(), ..original.access.clone() }, ..original };
    jetstream.publish(changed.subject(), changed.encode()?.into()).await?.await?;
    jetstream.publish("audit.none.read", "not a record".into()).await?.await?;

    let report = verify(&store).await?;
    assert_eq!(report.problems.len(), 3, "{:?}", report.problems);
    assert!(report.problems[0].contains("does not carry the hash"), "{:?}", report.problems);
    assert!(report.problems[1].contains("inserted or repeated"), "{:?}", report.problems);
    assert!(report.problems[2].contains("not an access record"), "{:?}", report.problems);
    Ok(())
}

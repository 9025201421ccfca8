//! The access log: records are stored before the writer answers, each chained to the one
//! before it, and a changed or forged record shows in the verification.

use luukku_domain::Timestamp;
use luukku_domain::family::FamilyId;
use std::collections::{HashMap, HashSet};

use luukku_eventstore::audit::{
    AUDIT_STREAM, Access, AccessLog, AccessRecord, AuditQuery, Block, ReportQuery, report, verify,
};
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

#[tokio::test]
async fn records_that_arrive_together_share_a_message_and_each_family_reads_its_own() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let log = AccessLog::start(store.clone());
    let families: Vec<FamilyId> = (0..50).map(|_| FamilyId::generate()).collect();
    // Two reads of each family, all at once.
    let writes = families.iter().chain(&families).map(|family| log.record(access(*family, true)));
    for stored in futures::future::join_all(writes).await {
        stored?;
    }
    let jetstream = async_nats::jetstream::new(nats.client().await?);
    let messages = jetstream.get_stream(AUDIT_STREAM).await?.info().await?.state.messages;
    let all = store.read_audit(&AuditQuery::default()).await?;
    assert_eq!(all.len(), 100, "every record stored before its write answered");
    assert!(messages < 10, "{messages} messages for 100 records that arrived together");
    let mut by_message: HashMap<u64, Vec<FamilyId>> = HashMap::new();
    for stored in &all {
        let family = stored.record.as_ref().and_then(|record| record.access.family).expect("a record");
        by_message.entry(stored.sequence).or_default().push(family);
    }
    for (sequence, held) in &by_message {
        let distinct: HashSet<_> = held.iter().collect();
        assert_eq!(distinct.len(), held.len(), "message {sequence} holds two records of one family");
    }

    // Each family reads its own two records, from the stream and page by page.
    for family in &families {
        let own = store.read_audit(&AuditQuery { family: Some(*family), ..AuditQuery::default() }).await?;
        assert_eq!(own.len(), 2);
        assert!(
            own.iter().all(|stored| stored.record.as_ref().is_some_and(|r| r.access.family == Some(*family)))
        );
        let mut query = ReportQuery::whole(*family, 1);
        let first = report(&store, &query).await?;
        assert_eq!((first.records.len(), first.records[0].0), (1, own[0].sequence));
        query.after_sequence = first.next_after;
        let second = report(&store, &query).await?;
        assert_eq!(
            second.records.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>(),
            [own[1].sequence]
        );
    }
    let verified = verify(&store).await?;
    assert_eq!(
        (verified.records, verified.chains, verified.problems.len()),
        (100, 1, 0),
        "{:?}",
        verified.problems
    );

    // A block is checked record by record: one repeating a stored record with its content
    // changed, then one following it without its hash.
    let original = all[3].record.clone().expect("a record");
    let changed =
        AccessRecord { access: Access { allowed: false, ..original.access.clone() }, ..original.clone() };
    let forged = AccessRecord { seq: original.seq + 1, prev: [7; 32], ..original };
    let block = Block { version: 1, records: vec![changed.encode()?, forged.encode()?] };
    let stored = jetstream.publish(Block::SUBJECT, block.encode()?.into()).await?.await?;
    jetstream.publish(Block::SUBJECT, "not a block".into()).await?.await?;
    let verified = verify(&store).await?;
    let problems = &verified.problems;
    assert_eq!(problems.len(), 4, "{problems:?}");
    let at = |index: usize, place: String, says: &str| {
        assert!(
            problems[index].starts_with(&format!("{place}: ")) && problems[index].contains(says),
            "{problems:?}"
        )
    };
    at(0, format!("AUDIT {}.0", stored.sequence), "inserted or repeated");
    at(1, format!("AUDIT {}.1", stored.sequence), "a second record of family");
    at(2, format!("AUDIT {}.1", stored.sequence), "does not carry the hash");
    at(3, format!("AUDIT {}", stored.sequence + 1), "a block that cannot be read");

    // A family's report read from the stream lists its records, and names the block it could
    // not read, which may have held more of them.
    let page = report(&store, &ReportQuery::whole(families[0], 10)).await?;
    assert_eq!((page.records.len(), page.unreadable.as_slice()), (2, [stored.sequence + 1].as_slice()));
    Ok(())
}

#[tokio::test]
async fn records_too_many_bytes_for_one_message_are_stored_in_several() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let log = AccessLog::start(store.clone());
    // A search's records carry its stated purpose, one per family found: 60 of 20 kB, more
    // than nats-server takes in one message (1 MiB).
    let purpose = "a purpose stated at length ".repeat(750);
    let search =
        |family| Access { kind: "search".to_owned(), reason: Some(purpose.clone()), ..access(family, true) };
    let writes = (0..60).map(|_| log.record(search(FamilyId::generate())));
    for stored in futures::future::join_all(writes).await {
        stored?;
    }
    let all = store.read_audit(&AuditQuery::default()).await?;
    assert_eq!(all.len(), 60);
    assert!(all.iter().all(|stored| stored.block && stored.record.is_some()));
    let messages: HashSet<u64> = all.iter().map(|stored| stored.sequence).collect();
    assert!((5..60).contains(&messages.len()), "{} messages", messages.len());
    let report = verify(&store).await?;
    assert_eq!((report.records, report.problems.len()), (60, 0), "{:?}", report.problems);
    Ok(())
}

//! Crash, resume and rebuild: the projection ends byte for byte where a clean rebuild does.

use std::process::Stdio;
use std::time::Duration;

use futures::TryStreamExt;
use luukku_domain::family::{FamilyEvent, FamilyId, Municipality, MunicipalityChanged};
use luukku_domain::{AggregateId, RequestId};
use luukku_eventstore::Stream::Families as FAMILIES;
use luukku_eventstore::{AggregateRef, Expected, ReadOptions, Recorded, Stream};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

/// Appends `count` municipality changes spread over `families`, straight to the store.
async fn many_changes(h: &Harness, families: &[String], count: usize) -> anyhow::Result<()> {
    let actor = luukku_testkit::actor();
    let mut tasks = Vec::new();
    for (index, family) in families.iter().enumerate() {
        let store = h.store.clone();
        let actor = actor.clone();
        let family = AggregateId::from(FamilyId::parse(family)?);
        let per_family = count / families.len();
        tasks.push(tokio::spawn(async move {
            let aggregate = AggregateRef::new(FAMILIES, "family", family);
            let mut version = store.version(&aggregate).await?;
            for round in 0..per_family {
                let code = format!("{:03}", (index + round) % 1000);
                let event = FamilyEvent::MunicipalityChanged(MunicipalityChanged {
                    municipality: Municipality::parse(&code).map_err(anyhow::Error::msg)?,
                });
                let appended = store
                    .append_events(
                        &aggregate,
                        Expected::Version(version),
                        &[event],
                        &RequestId::generate(),
                        &actor,
                    )
                    .await?;
                version = appended.position.sequence;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// A projection of the streams as they are, in a new folder, caught up.
async fn fresh_projection(
    h: &Harness,
) -> anyhow::Result<(tempfile::TempDir, std::sync::Arc<luukku_coordination::Projection>)> {
    let folder = tempfile::tempdir()?;
    let indexing = luukku_coordination::Indexing::from_keys(h.keys.clone());
    let fresh = luukku_coordination::Projection::open(folder.path(), h.store.clone(), indexing)?;
    caught_up(&fresh, &h.store).await?;
    Ok((folder, fresh))
}

/// How long a projector may take to print the line a test waits for, however slow the machine.
const PROJECTOR_PATIENCE: Duration = Duration::from_secs(600);

/// A projector process (`tests/coordination/projector.rs`) and the lines it prints.
struct Projector {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Projector {
    async fn spawn(url: &str, folder: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_projector"))
            .arg(url)
            .arg(folder)
            .env("LUUKKU_KEK", luukku_testkit::kek().to_base64().as_str())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        Ok(Self { child, lines: BufReader::new(stdout).lines() })
    }

    /// Reads lines until one that `until` holds for, an error from `until`, or
    /// [`PROJECTOR_PATIENCE`], which fails naming the last positions read.
    async fn wait_for(&mut self, mut until: impl FnMut(&str) -> anyhow::Result<bool>) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PROJECTOR_PATIENCE;
        let mut positions = String::new();
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("the projector did not get there in {PROJECTOR_PATIENCE:?}: {positions}")
                })??
                .ok_or_else(|| anyhow::anyhow!("the projector ended"))?;
            if until(&line)? {
                return Ok(());
            }
            if line.starts_with("positions ") {
                positions = line;
            }
        }
    }

    /// Stops it as an operator would: SIGTERM, on which it flushes and exits with success.
    async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().ok_or_else(|| anyhow::anyhow!("the projector has already ended"))?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid)?),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let status = tokio::time::timeout(PROJECTOR_PATIENCE, self.child.wait())
            .await
            .map_err(|_| anyhow::anyhow!("the projector did not stop in {PROJECTOR_PATIENCE:?}"))??;
        anyhow::ensure!(status.success(), "the projector stopped with {status}");
        Ok(())
    }

    /// Kills it with SIGKILL: nothing is flushed.
    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Runs a projector on `folder` until it prints a line `until` holds for, then stops it
/// cleanly.
async fn project_until(
    url: &str,
    folder: &std::path::Path,
    until: impl FnMut(&str) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut projector = Projector::spawn(url, folder).await?;
    projector.wait_for(until).await?;
    projector.stop().await
}

/// Whether a projector's `line` gives positions at `last`, the streams' ends: none may be past
/// them, since nothing appends while the test waits.
fn at_the_end(line: &str, last: &[u64]) -> anyhow::Result<bool> {
    let at = positions_of(line);
    anyhow::ensure!(
        at.iter().zip(last).all(|(at, last)| at <= last),
        "the projector is at {at:?}, past the streams' ends {last:?}: something appended after they were measured"
    );
    Ok(at == last)
}

/// The positions a projector's line gives, in the order of `Stream::ALL`; none for a line of
/// another kind.
fn positions_of(line: &str) -> Vec<u64> {
    match line.strip_prefix("positions ") {
        Some(positions) => positions.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect(),
        None => Vec::new(),
    }
}

/// Copies every message of `stream` `times` over, each copy to an aggregate of its own: the
/// same envelope under a new id, straight into the stream.
async fn copies(h: &Harness, stream: Stream, times: usize) -> anyhow::Result<()> {
    let originals: Vec<Recorded> = h.store.read(stream, ReadOptions::default()).await?.try_collect().await?;
    let mut acks = Vec::new();
    for _ in 0..times {
        for original in &originals {
            let (root, _) = original.subject.rsplit_once('.').ok_or_else(|| anyhow::anyhow!("a subject"))?;
            let subject = format!("{root}.{}", AggregateId::generate());
            let envelope = &original.envelope;
            acks.push(
                h.store
                    .jetstream()
                    .publish_with_headers(subject, envelope.headers(), envelope.encode()?)
                    .await?,
            );
            if acks.len() >= 1_024 {
                for ack in acks.drain(..) {
                    ack.await?;
                }
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_projection_killed_mid_stream_resumes_to_the_same_bytes_as_a_rebuild() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    // The streams must stand still once measured below. The caseload process would otherwise
    // deal with the 600 copied held places on its timer (and the referral process may escalate
    // the copied notification), which a slow run reaches while the projector is on its way to
    // the ends measured.
    h.stop_processes();
    let mut families = Vec::new();
    let mut members = Vec::new();
    for index in 0..8 {
        let (family, member_ids, _) = h.family(&format!("Family{index}")).await?;
        families.push(family);
        members.push(member_ids);
    }
    // Every stream has its share: a contact person, an assignment, a contact, a referral and a
    // meeting, each copied 600 times, beside many changes of the families.
    let anna = h.contact_person("anna.contact", "Anna").await?;
    h.assign(&families[0], &anna).await?;
    // The guardian, a 16-year-old and a 3-year-old.
    h.log_contact(&families[0], &members[0][0], "called about school").await?;
    h.notify_child_protection(&families[0], &members[0][2], "bruises").await?;
    let propose = luukku_proto::meetings::v1::ProposeMeetingRequest {
        request_id: request_id(),
        family_id: families[0].clone(),
        purpose: "school_support".into(),
        slots: vec![luukku_proto::meetings::v1::Slot { starts_at_ms: 2_000_000_000_000, minutes: 60 }],
        place: "School".into(),
        participants: vec![luukku_proto::meetings::v1::Participant {
            who: Some(luukku_proto::meetings::v1::participant::Who::Sector("student_welfare".into())),
        }],
        ..Default::default()
    };
    h.meetings.propose_meeting(h.call(propose)).await?;
    for stream in [Stream::Contacts, Stream::Referrals, Stream::Meetings] {
        copies(&h, stream, 600).await?;
    }
    many_changes(&h, &families, 64_000).await?;
    let mut last = Vec::new();
    for stream in Stream::ALL {
        last.push(h.store.last_sequence(stream).await?);
    }
    assert!(last.iter().all(|last| *last > 500), "every stream is long: {last:?}");

    let crashed = tempfile::tempdir()?;
    let mut projector = Projector::spawn(&h.nats.url(), crashed.path()).await?;
    // Kill it with SIGKILL once it has begun every stream, part of the way through.
    projector
        .wait_for(|line| {
            let at = positions_of(line);
            let begun = at.len() == last.len() && at.iter().all(|at| *at > 0);
            anyhow::ensure!(
                !(begun && at_the_end(line, &last)?),
                "the projector finished before it could be killed; make the streams longer"
            );
            Ok(begun)
        })
        .await?;
    projector.kill().await?;

    // Resumed, and stopped cleanly once at the end, then compared with the live projection,
    // which ran from the start without a crash.
    project_until(&h.nats.url(), crashed.path(), |line| at_the_end(line, &last)).await?;
    caught_up(&h.projection, &h.store).await?;
    h.projection.flush().await?;
    let resumed = dump_folder(crashed.path())?;
    let clean = h.projection.tree().dump()?;
    assert_eq!(resumed.len(), clean.len());
    assert!(resumed == clean, "the resumed projection differs from the clean one");
    Ok(())
}

/// How the access log's copy stood when its projection started again.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CopyLeft {
    /// The stream was deleted and made anew while the projection was stopped, and grew past
    /// where the copy stood.
    OfAReplacedStream,
    /// The same, and the copy was written by a release that did not keep which stream it
    /// copied.
    OfAReplacedStreamUnmarked,
    /// The stream was replaced by one that has the copied stream's `created` (as a restore
    /// from a backup keeps it), and grew past where the copy stood.
    OfARestoredStream,
    /// The stream is the same; the projection stopped part way through clearing the copy
    /// (one record left, not as the stream holds it).
    HalfCleared,
    /// The stream is the same, and the copy was written by a release that did not keep which
    /// stream it copied: the copy is kept, not read again.
    UnmarkedOfTheSameStream,
}

/// A projection started on its folder after its copy of the access log was left as `left`:
/// the family's report lists the stream's records as it holds them, and no other.
#[tokio::test]
async fn a_restarted_projection_copies_the_access_log_there_is() -> anyhow::Result<()> {
    for left in [
        CopyLeft::OfAReplacedStream,
        CopyLeft::OfAReplacedStreamUnmarked,
        CopyLeft::OfARestoredStream,
        CopyLeft::HalfCleared,
        CopyLeft::UnmarkedOfTheSameStream,
    ] {
        restarted_with_copy(left).await.map_err(|error| error.context(format!("{left:?}")))?;
    }
    Ok(())
}

/// The projection on `folder`, whose database this test has just dropped: sled's background
/// threads may hold the folder's lock for a moment after the drop, so a refused lock is asked
/// again, for up to 10 s (sled's own tests wait for it).
async fn open_again(
    folder: &std::path::Path,
    store: &luukku_eventstore::EventStore,
    indexing: &luukku_coordination::Indexing,
) -> anyhow::Result<std::sync::Arc<luukku_coordination::Projection>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match luukku_coordination::Projection::open(folder, store.clone(), indexing.clone()) {
            Err(luukku_coordination::projection::ProjectionError::Sled(sled::Error::Io(error)))
                if error.to_string().contains("could not acquire lock")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            opened => return Ok(opened?),
        }
    }
}

async fn restarted_with_copy(left: CopyLeft) -> anyhow::Result<()> {
    use luukku_eventstore::audit::{AccessLog, AuditQuery, ReportQuery};
    let mut h = Harness::start().await?;
    let (family_id, _, _) = h.family("Salo").await?;
    let family = FamilyId::parse(&family_id)?;
    let log = AccessLog::start(h.store.clone());
    // The log's last record is the family's.
    log.record(statutory_read(luukku_testkit::actor(), family)).await?;
    let copied_to = h.store.audit_last_sequence().await?;

    // The copy reaches the log's end, and the projection is stopped.
    let folder = tempfile::tempdir()?;
    project_until(&h.nats.url(), folder.path(), |line| {
        Ok(line.strip_prefix("access-log ").and_then(|at| at.parse::<u64>().ok()) >= Some(copied_to))
    })
    .await?;

    let replaced = !matches!(left, CopyLeft::HalfCleared | CopyLeft::UnmarkedOfTheSameStream);
    if replaced {
        h.store.jetstream().delete_stream(luukku_eventstore::audit::AUDIT_STREAM).await?;
        h.store.provision_audit().await?;
        let log = AccessLog::start(h.store.clone());
        for _ in 0..copied_to + 3 {
            log.record(statutory_read(luukku_testkit::actor(), family)).await?;
        }
    }
    // Another family's record that the stream does not hold: gone once the copy is cleared.
    let other = FamilyId::generate();
    {
        // Left in the folder as the case says (the copy's keys: `S` the stream it copied, empty
        // while a clear is under way; `r`, the family, the sequence: a record).
        let db = sled::open(folder.path())?;
        let tree = db.open_tree("access-log")?;
        let record = |family: FamilyId, sequence: u64| {
            [&[b'r'][..], &family.as_ulid().to_bytes(), &sequence.to_be_bytes()].concat()
        };
        tree.insert(record(other, 1), b"not as the stream holds it".as_slice())?;
        match left {
            CopyLeft::OfAReplacedStream => {}
            CopyLeft::OfAReplacedStreamUnmarked | CopyLeft::UnmarkedOfTheSameStream => {
                drop(tree.remove(b"S")?);
            }
            CopyLeft::OfARestoredStream => {
                let created = h.store.audit_end().await?.created;
                tree.insert(b"S", &created.to_be_bytes())?;
            }
            CopyLeft::HalfCleared => {
                tree.insert(b"S", b"")?;
                tree.insert(record(family, copied_to), b"not as the stream holds it".as_slice())?;
            }
        }
        db.flush()?;
    }
    let stored: Vec<(u64, String)> = h
        .store
        .read_audit(&AuditQuery { family: Some(family), ..AuditQuery::default() })
        .await?
        .into_iter()
        .filter_map(|stored| Some((stored.sequence, stored.record?.access.rpc)))
        .collect();
    if replaced {
        assert!(
            stored.last().map(|(sequence, _)| *sequence) > Some(copied_to),
            "the new stream passed the old copy"
        );
    }

    let indexing = luukku_coordination::Indexing::from_keys(h.keys.clone());
    let restarted = open_again(folder.path(), &h.store, &indexing).await?;
    let query = ReportQuery::whole(family, 500);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        match restarted.access_log().report(&query, None).await {
            Ok((report, _)) => break report,
            Err(error) => {
                assert!(matches!(error, luukku_app::AppError::Unavailable(_)), "{error}");
                assert!(tokio::time::Instant::now() < deadline, "still refused: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let listed: Vec<(u64, String)> =
        report.records.iter().map(|(sequence, record)| (*sequence, record.access.rpc.clone())).collect();
    assert_eq!(listed, stored, "the stream's records as it holds them, and no other");
    assert!(report.unreadable.is_empty(), "nothing unreadable left: {:?}", report.unreadable);
    let (others, _) = restarted.access_log().report(&ReportQuery::whole(other, 500), None).await?;
    let kept = left == CopyLeft::UnmarkedOfTheSameStream;
    assert_eq!(others.unreadable, if kept { vec![1] } else { vec![] }, "the copy kept: {kept}");
    Ok(())
}

#[tokio::test]
async fn a_rebuild_while_writes_continue_ends_equal_to_a_fresh_projection() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let mut families = Vec::new();
    for index in 0..4 {
        families.push(h.family(&format!("Family{index}")).await?.0);
    }
    many_changes(&h, &families, 4_000).await?;
    caught_up(&h.projection, &h.store).await?;
    let before = h.projection.generation();

    // Writes keep coming while the rebuild runs; queries keep answering from the old tree.
    let writer = {
        let families = families.clone();
        let store = h.store.clone();
        let actor = h.actor.clone();
        tokio::spawn(async move {
            for round in 0..300 {
                let family = AggregateId::from(FamilyId::parse(&families[round % families.len()])?);
                let aggregate = AggregateRef::new(FAMILIES, "family", family);
                let version = store.version(&aggregate).await?;
                let event = FamilyEvent::MunicipalityChanged(MunicipalityChanged {
                    municipality: Municipality::parse(&format!("{:03}", round % 999))
                        .map_err(anyhow::Error::msg)?,
                });
                store
                    .append_events(
                        &aggregate,
                        Expected::Version(version),
                        &[event],
                        &RequestId::generate(),
                        &actor,
                    )
                    .await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(())
        })
    };
    let mut progress_calls = 0;
    let generation = h.projection.rebuild(|_, _| progress_calls += 1).await?;
    writer.await??;
    assert_eq!(generation, before + 1);
    assert!(progress_calls > 0);
    caught_up(&h.projection, &h.store).await?;

    let (_fresh_folder, fresh) = fresh_projection(&h).await?;
    assert!(
        h.projection.tree().dump()? == fresh.tree().dump()?,
        "the rebuilt projection differs from a fresh one"
    );

    // A fresh folder copies the access log from the stream: the same report as the live copy,
    // which followed it as the records came.
    let query = luukku_eventstore::audit::ReportQuery {
        family: FamilyId::parse(&families[0])?,
        members: None,
        from_ms: None,
        to_ms: None,
        after_sequence: 0,
        page_size: 500,
    };
    let sequences = |page: luukku_eventstore::audit::ReportPage| -> Vec<u64> {
        page.records.iter().map(|(sequence, _)| *sequence).collect()
    };
    let live = sequences(h.projection.access_log().report(&query, None).await?.0);
    assert!(!live.is_empty(), "registering the family left a record");
    assert_eq!(sequences(fresh.access_log().report(&query, None).await?.0), live);
    Ok(())
}

#[tokio::test]
async fn a_batch_that_fails_is_tried_again_and_the_service_says_not_serving_meanwhile() -> anyhow::Result<()>
{
    use tonic_health::pb::health_check_response::ServingStatus;
    const SERVICE: &str = "luukku.coordination.v1.CoordinationService";
    let mut h = Harness::start().await?;
    let family = h.family("Failing").await?.0;
    caught_up(&h.projection, &h.store).await?;
    assert_eq!(h.health(SERVICE).await?, ServingStatus::Serving as i32);
    // As when its folder cannot be written.
    h.projection.fail_next_batches(usize::MAX);
    many_changes(&h, std::slice::from_ref(&family), 20).await?;
    let not_serving = luukku_testkit::eventually(10, || async {
        Ok(h.health(SERVICE).await? == ServingStatus::NotServing as i32)
    })
    .await?;
    assert!(not_serving, "a projection that cannot write says so in its health");
    // Writable again: it catches up, serves, goes on following, and holds what a fresh
    // projection of the same streams holds.
    h.projection.fail_next_batches(0);
    caught_up(&h.projection, &h.store).await?;
    let serving = luukku_testkit::eventually(10, || async {
        Ok(h.health(SERVICE).await? == ServingStatus::Serving as i32)
    })
    .await?;
    assert!(serving, "serving again once its batches are applied");
    many_changes(&h, std::slice::from_ref(&family), 5).await?;
    caught_up(&h.projection, &h.store).await?;
    let (_fresh_folder, fresh) = fresh_projection(&h).await?;
    assert!(
        h.projection.tree().dump()? == fresh.tree().dump()?,
        "the projection that failed differs from a fresh one"
    );
    Ok(())
}

#[tokio::test]
async fn a_service_stopped_in_a_process_that_goes_on_lets_go_of_its_projection() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let folder = tempfile::tempdir()?;
    let start = || {
        luukku_coordination::start(
            folder.path(),
            h.store.clone(),
            luukku_coordination::cached_keys(h.keys.clone()),
            luukku_app::Guard::start(h.store.clone()),
        )
    };
    let first = start().await?;
    let served = luukku_testkit::grpc::serve_routes(first.routes).await?;
    let projection = std::sync::Arc::downgrade(&first.projection);
    drop((served, first.admin, first.open_watches, first.projection));
    // Stopped, it follows no stream and holds its folder no longer: another starts on it.
    let stopped = luukku_testkit::eventually(10, || {
        let gone = projection.strong_count() == 0;
        async move { Ok(gone) }
    })
    .await?;
    assert!(stopped, "the stopped service's projection is still held");
    let again = start().await?;
    drop(again);
    Ok(())
}

#[tokio::test]
async fn a_copy_of_the_access_log_from_before_blocks_is_read_again_from_the_start() -> anyhow::Result<()> {
    use luukku_eventstore::audit::{AccessLog, ReportQuery};
    let nats = luukku_testkit::TestNats::start().await?;
    let store = nats.store().await?;
    let log = AccessLog::start(store.clone());
    let families: Vec<FamilyId> = (0..10).map(|_| FamilyId::generate()).collect();
    for stored in futures::future::join_all(
        families.iter().map(|family| log.record(statutory_read(luukku_testkit::actor(), *family))),
    )
    .await
    {
        stored?;
    }
    let last = store.audit_last_sequence().await?;

    // A copy as a follower from before blocks left it: past the block, without its records.
    let folder = tempfile::tempdir()?;
    let db = sled::open(folder.path())?;
    db.open_tree("access-log")?.insert(b"c", &last.to_be_bytes())?;
    let copy = luukku_coordination::projection::access_log::AccessLog::start(&db, &store)?;
    for family in &families {
        let (page, _) = copy
            .report(&ReportQuery::whole(*family, 10), None)
            .await
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        assert_eq!(page.records.len(), 1, "the record of {family} in the block is in the copy");
    }
    Ok(())
}

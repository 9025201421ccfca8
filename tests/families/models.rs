//! Checkpointed read models: a model in its folder follows the streams from where it stopped,
//! and is written anew when its stream was replaced.

use std::path::Path;
use std::sync::Arc;

use luukku_app::{Folder, Relations};
use luukku_domain::family::FamilyId;
use luukku_eventstore::Stream;

use crate::support::*;

/// Opens the folder at `path`, once the model that held it before has let go of it.
async fn reopen(path: &Path) -> anyhow::Result<Folder> {
    for _ in 0..50 {
        if let Ok(folder) = Folder::open(path) {
            return Ok(folder);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(Folder::open(path)?)
}

async fn started(folder: &Folder, harness: &Harness) -> anyhow::Result<Arc<Relations>> {
    let relations = Relations::spawn(folder, harness.store.clone());
    relations.caught_up(&harness.store).await?;
    Ok(relations)
}

fn registered(relations: &Relations, family: &str) -> anyhow::Result<bool> {
    let family = FamilyId::parse(family)?;
    Ok(relations.family(family)?.is_some_and(|facts| facts.registered))
}

#[tokio::test]
async fn a_model_starts_from_its_checkpoint_and_reads_only_what_came_since() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("models");
    let first = harness.register(virtanen_family()).await?.family_id;
    let second = harness.register(virtanen_family()).await?.family_id;

    let folder = Folder::open(&path)?;
    let relations = started(&folder, &harness).await?;
    assert_eq!(
        relations.applied_since_start(),
        harness.messages().await?,
        "a new folder reads every message"
    );
    assert!(registered(&relations, &first)? && registered(&relations, &second)?);
    folder.flush()?;
    drop((relations, folder));

    // Written while the model is down.
    let third = harness.register(virtanen_family()).await?.family_id;

    let folder = reopen(&path).await?;
    let relations = started(&folder, &harness).await?;
    assert_eq!(relations.applied_since_start(), 1, "only the message written since it stopped");
    for family in [&first, &second, &third] {
        assert!(registered(&relations, family)?, "family {family} is in the model after the restart");
    }
    Ok(())
}

#[tokio::test]
async fn a_model_whose_stream_was_replaced_is_written_anew() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("models");
    let before = harness.register(virtanen_family()).await?.family_id;
    let folder = Folder::open(&path)?;
    let relations = started(&folder, &harness).await?;
    assert!(registered(&relations, &before)?);
    folder.flush()?;
    drop((relations, folder));

    // The stream is replaced (as a restore from another backup would), and has grown past the
    // model's checkpoint by its start.
    harness.store.jetstream().delete_stream(Stream::Families.name()).await?;
    harness.store.provision(&[Stream::Families]).await?;
    let mut after = Vec::new();
    for _ in 0..2 {
        after.push(harness.register(virtanen_family()).await?.family_id);
    }

    let folder = reopen(&path).await?;
    let relations = started(&folder, &harness).await?;
    assert!(!registered(&relations, &before)?, "nothing of the replaced stream is kept");
    for family in &after {
        assert!(registered(&relations, family)?, "the new stream is read from its start");
    }
    Ok(())
}

/// A model reports itself starting, and its service `NOT_SERVING`, until it has passed what
/// the streams held when it started; then it serves, however the streams grow after.
#[tokio::test]
async fn a_model_is_starting_until_it_reaches_the_streams_ends_as_they_were_at_its_start()
-> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    harness.register(virtanen_family()).await?;
    harness.register(virtanen_family()).await?;
    let end = harness.store.last_sequence(Stream::Families).await?;
    assert!(end >= 2);

    let standing = luukku_app::Standing::start(&harness.store, "a test model");
    standing.starting_until_caught_up(vec![Stream::Families]);
    assert!(standing.starting());
    standing.passed(Stream::Families, end - 1);
    // A write after the start does not hold it back.
    harness.register(virtanen_family()).await?;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(standing.starting(), "one message short of the end");

    standing.passed(Stream::Families, end);
    let serving = luukku_testkit::eventually(5, || {
        let standing = standing.clone();
        async move { Ok(!standing.starting()) }
    })
    .await?;
    assert!(serving, "caught up with the end as it was at its start");
    Ok(())
}

#[tokio::test]
async fn erasures_are_completed_from_the_checkpoint_without_reading_the_stream_again() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("models");
    for _ in 0..3 {
        harness.register(virtanen_family()).await?;
    }
    let folder = Folder::open(&path)?;
    let erasures = luukku_families::erasure::spawn(&folder, harness.store.clone(), harness.keys.clone());
    let read_all = luukku_testkit::eventually(10, || {
        let (read, all) = (erasures.applied_since_start(), harness.messages());
        async move { Ok(read == all.await?) }
    })
    .await?;
    assert!(read_all, "a new folder reads every message");
    let stopped_at = harness.messages().await?;
    folder.flush()?;
    drop((erasures, folder));

    // Erased while the process that completes erasures is down, and its key deletion failed:
    // the key is there again.
    let family = harness.register(virtanen_family()).await?.family_id;
    let stored = luukku_testkit::stored_key(&harness.store, &family).await?;
    let erase = luukku_proto::families::v1::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family.clone(),
        ..Default::default()
    };
    let actor = harness.actor.clone();
    luukku_testkit::grpc::erase_family(&mut harness.client, &actor, erase).await?;
    let erased = vec![family.clone()];
    let gone = || {
        let (store, erased) = (harness.store.clone(), erased.clone());
        async move { Ok(luukku_eventstore::keys::leftover_keys(&store, &erased).await?.is_empty()) }
    };
    assert!(luukku_testkit::eventually(10, gone).await?, "the erasure deleted the key");
    settle_erasures().await;
    luukku_testkit::put_back_key(&harness.store, &family, stored).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!gone().await?, "the key is back, as if its deletion had failed");
    let since = harness.messages().await? - stopped_at;

    let folder = reopen(&path).await?;
    let erasures = luukku_families::erasure::spawn(&folder, harness.store.clone(), harness.keys.clone());
    assert!(luukku_testkit::eventually(10, gone).await?, "the key is gone");
    assert_eq!(erasures.applied_since_start(), since, "only the messages written since it stopped");
    Ok(())
}

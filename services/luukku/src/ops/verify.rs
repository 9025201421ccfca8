//! `luukku ops verify`: every message of every stream decodes, every aggregate opens with its
//! creation event, once, no erased family's key remains, and the access log's hash chains are
//! unbroken.

use std::collections::HashSet;

use futures::StreamExt;
use luukku_app::Events;
use luukku_app::events::creation_event;
use luukku_eventstore::{Error, EventStore, Position, ReadOptions, Recorded, Stream};

/// What is wrong with one message, if anything; `seen` holds the aggregates met so far.
fn problems(recorded: &Recorded, seen: &mut HashSet<String>) -> Vec<String> {
    let Some(aggregate_type) = recorded.aggregate_type() else {
        return vec!["not an aggregate subject".to_owned()];
    };
    let Some(creation) = creation_event(recorded.position.stream, aggregate_type) else {
        return vec![format!("unknown aggregate type {aggregate_type:?}")];
    };
    let mut found = Vec::new();
    if let Err(error) = Events::decode(recorded) {
        found.push(error.to_string());
    }
    let events = &recorded.envelope.events;
    if events.is_empty() {
        found.push("holds no events".to_owned());
    }
    let first = seen.insert(recorded.subject.clone());
    let opens = events.first().is_some_and(|event| event.event_type == creation);
    if first && !opens {
        found.push(format!("the aggregate's first message does not start with {creation}"));
    }
    if !first && opens && creation != "ConsultationRecorded" {
        found.push(format!("{creation} again in an existing aggregate"));
    }
    found
}

pub async fn verify(store: &EventStore) -> anyhow::Result<std::process::ExitCode> {
    let mut problem_count = 0usize;
    let mut checked = 0usize;
    let mut erased = Vec::new();
    for stream in Stream::ALL {
        let last = store.last_sequence(stream).await?;
        if last == 0 {
            continue;
        }
        let mut seen = HashSet::new();
        let mut from = 1;
        // Reads to the stream's end; a message that cannot be read is reported, and reading
        // goes on after it. A store that stops answering ends the verification with its error.
        'reading: while from <= last {
            let mut messages =
                store.read(stream, ReadOptions { from_sequence: from, filter_subject: None }).await?;
            while let Some(item) = messages.next().await {
                checked += 1;
                let (position, subject, found) = match item {
                    Ok(recorded) => {
                        let found = problems(&recorded, &mut seen);
                        if recorded.envelope.events.iter().any(|event| event.event_type == "FamilyErased")
                            && let Some(family) = recorded.aggregate_id()
                        {
                            erased.push(family.to_string());
                        }
                        (recorded.position, recorded.subject, found)
                    }
                    Err(error) => {
                        let what = error.to_string();
                        match error {
                            Error::Corrupt { sequence, subject, .. }
                            | Error::Newer { sequence, subject, .. } => {
                                (Position { stream, sequence }, subject, vec![what])
                            }
                            other => return Err(other.into()),
                        }
                    }
                };
                for what in found {
                    problem_count += 1;
                    println!("{} {} {subject}: {what}", position.stream, position.sequence);
                }
                from = position.sequence + 1;
                if position.sequence >= last {
                    break 'reading;
                }
            }
            // A read ends after a message it could not read; go on from the next one.
        }
    }
    // An erased family's key is gone.
    for family in luukku_eventstore::keys::leftover_keys(store, &erased).await? {
        problem_count += 1;
        println!("family {family} is erased but its key still exists: run its EraseFamily again");
    }

    // The access log: every writer's hash chain unbroken.
    let audit = luukku_eventstore::audit::verify(store).await?;
    for problem in &audit.problems {
        println!("{problem}");
    }
    problem_count += audit.problems.len();
    checked += usize::try_from(audit.records).unwrap_or(usize::MAX);
    println!("the access log: {} records in {} chains", audit.records, audit.chains);
    if problem_count == 0 {
        println!("verified {checked} messages: no problems");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("verified {checked} messages: {problem_count} problems");
        Ok(std::process::ExitCode::FAILURE)
    }
}

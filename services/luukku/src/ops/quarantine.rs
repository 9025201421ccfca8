//! `luukku ops quarantine`: the messages read models could not read, and skipping one.

use anyhow::Context as _;
use luukku_eventstore::quarantine::{Quarantine, Quarantined};
use luukku_eventstore::{EventStore, Stream};

#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Every message a read model stopped at: stream, sequence, reason, and any skip.
    List,
    /// Lets every read model stopped at message SEQ go on past it. Recorded with who and why.
    /// A message written by a newer release is never skipped: upgrade the service instead.
    Skip {
        /// The message's sequence in its stream.
        sequence: u64,
        /// Its stream; needed only when two streams have a quarantined message at SEQ.
        #[arg(long)]
        stream: Option<Stream>,
        /// Why it is skipped (kept with the skip).
        #[arg(long)]
        reason: String,
        /// Who skips it; by default the signed-in user.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
}

pub async fn run(store: &EventStore, command: QuarantineCommand) -> anyhow::Result<std::process::ExitCode> {
    let quarantine = Quarantine::open(store).await?;
    match command {
        QuarantineCommand::List => {
            let all = quarantine.list().await?;
            if all.is_empty() {
                println!("no message is quarantined");
            }
            for quarantined in &all {
                println!("{}", line(quarantined));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        QuarantineCommand::Skip { sequence, stream, reason, operator } => {
            let stream = match stream {
                Some(stream) => stream,
                None => {
                    let matching: Vec<Stream> = quarantine
                        .list()
                        .await?
                        .into_iter()
                        .filter(|quarantined| quarantined.sequence == sequence)
                        .map(|quarantined| quarantined.stream)
                        .collect();
                    match matching.as_slice() {
                        [stream] => *stream,
                        [] => anyhow::bail!("no message at sequence {sequence} is quarantined"),
                        _ => anyhow::bail!(
                            "messages at sequence {sequence} of {} are quarantined; name one with --stream",
                            matching.iter().map(|stream| stream.name()).collect::<Vec<_>>().join(" and ")
                        ),
                    }
                }
            };
            let skipped = quarantine
                .skip(stream, sequence, &operator, &reason)
                .await?
                .with_context(|| format!("message {sequence} of {stream} is not skipped"))?;
            println!("{}", line(&skipped));
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn at(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis).map(|at| at.to_string()).unwrap_or_else(|_| millis.to_string())
}

pub(super) fn line(quarantined: &Quarantined) -> String {
    let state = match (&quarantined.skip, quarantined.newer) {
        (Some(skip), _) => format!("skipped by {} at {}: {}", skip.by, at(skip.at_ms), skip.reason),
        (None, true) => "stopped: upgrade the service that reads it".to_owned(),
        (None, false) => "stopped: waiting for a skip".to_owned(),
    };
    format!(
        "{} {} {}\n  found by {} at {}: {}\n  {state}",
        quarantined.stream,
        quarantined.sequence,
        quarantined.subject,
        quarantined.found_by,
        at(quarantined.found_at_ms),
        quarantined.reason,
    )
}

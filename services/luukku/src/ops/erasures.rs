//! `luukku ops erasures`: the erasure journal, kept apart from the backups, and erasing again
//! after a restore the families erased since its backup (`luukku_families::journal`).

use std::path::PathBuf;

use luukku_eventstore::audit::AccessLog;
use luukku_eventstore::{EventStore, NatsKeyStore};
use luukku_families::Families;
use luukku_families::journal::{Found, Journal, Planned};

#[derive(Debug, clap::Subcommand)]
pub enum ErasuresCommand {
    /// Adds every erasure of `FAMILIES` that the journal does not hold yet, one JSON line
    /// each. Keep the file on storage apart from the backups of NATS.
    Journal {
        /// The journal file; made if missing.
        #[arg(long)]
        file: PathBuf,
        /// Keep running, adding each erasure as it is made.
        #[arg(long)]
        follow: bool,
    },
    /// After a restore, with the services and the journal stopped: what the journal holds
    /// that the restored streams and key bucket do not. With --apply, erases each such family
    /// again, records it in the family's access log, and deletes every key left of an erased
    /// family. A line the streams contradict (messages of the family after its erasure) is
    /// shown as suspect and never acted on; exits 1 while any is.
    Restore {
        /// The journal file.
        #[arg(long)]
        file: PathBuf,
        /// Carry it out; without it, only shows what would be done.
        #[arg(long)]
        apply: bool,
        /// Who restores, as recorded in the access log; by default the signed-in user.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
}

fn describe(planned: &Planned) -> String {
    let entry = &planned.entry;
    let found = match planned.found {
        Found::Erased => "erased in the streams",
        Found::Absent => "not in the streams (registered after the backup)",
        Found::Standing => "NOT erased in the streams",
        Found::Suspect => {
            "SUSPECT: the streams hold messages of it after this erasure, or it is dated ahead; not acted on"
        }
    };
    // A suspect line is never acted on: its key's state is shown as a fact, not as work to do.
    let key = match (planned.found, planned.key_left, planned.unmarked) {
        (Found::Suspect, true, _) => " (its key is in the bucket)",
        (Found::Suspect, false, _) => " (its key is not in the bucket)",
        (_, false, false) => "",
        (_, true, _) => ", its key is back",
        (_, false, true) => ", no erasure marker on its key (a key could be made for it again)",
    };
    format!("{} erased {} by {}: {found}{key}", entry.family, entry.erased_at_utc, entry.erased_by)
}

pub async fn run(
    store: &EventStore,
    kek: &crate::keys::KekArgs,
    command: ErasuresCommand,
) -> anyhow::Result<std::process::ExitCode> {
    match command {
        ErasuresCommand::Journal { file, follow } => {
            let mut journal = Journal::open(&file)?;
            let added = journal
                .catch_up(store, follow, |entry| {
                    println!("journalled {} erased {}", entry.family, entry.erased_at_utc);
                })
                .await?;
            println!("{added} erasures added; the journal holds {}", journal.entries().len());
            Ok(std::process::ExitCode::SUCCESS)
        }
        ErasuresCommand::Restore { file, apply, operator } => {
            let journal = Journal::read(&file)?;
            let keys = NatsKeyStore::open(store, super::kek_ring(kek)?).await?;
            let families = Families::new(store.clone(), keys);
            let planned = luukku_families::journal::plan(&families, store, &journal).await?;
            for planned in &planned {
                println!("{}", describe(planned));
            }
            let undone = planned.iter().filter(|planned| !planned.done()).count();
            let suspect = planned.iter().filter(|planned| planned.found == Found::Suspect).count();
            println!(
                "{} erasures in the journal, {undone} to carry out again, {suspect} suspect",
                planned.len()
            );
            let outcome =
                if suspect == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE };
            if undone == 0 {
                return Ok(outcome);
            }
            if !apply {
                println!("run again with --apply to carry them out");
                return Ok(std::process::ExitCode::FAILURE);
            }
            let caller = super::reconcile::operator_caller(&operator)?;
            let access_log = AccessLog::start(store.clone());
            let done = luukku_families::journal::restore(&families, &access_log, &caller, &planned).await?;
            println!("carried out {done} of them again");
            Ok(outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(found: Found, key_left: bool, unmarked: bool) -> Planned {
        let family = "01KB0000000000000000000000";
        Planned {
            entry: luukku_families::journal::Entry {
                family: family.to_owned(),
                erased_at: 1,
                erased_at_utc: "1970-01-01T00:00:00.001Z".to_owned(),
                sequence: 7,
                erased_by: "test.contact".to_owned(),
                request_id: "r1".to_owned(),
            },
            family: family.parse().expect("a family id"),
            found,
            key_left,
            unmarked,
        }
    }

    #[test]
    fn a_line_shows_what_is_to_be_done_and_a_suspect_one_nothing_to_do() {
        let absent = describe(&planned(Found::Absent, false, true));
        assert!(absent.contains("registered after the backup"), "{absent}");
        assert!(absent.contains("no erasure marker"), "{absent}");
        assert!(describe(&planned(Found::Erased, true, false)).contains("its key is back"));
        assert!(!describe(&planned(Found::Erased, false, false)).contains("key"));
        // A suspect line is never acted on: nothing about its key reads as work to do, but
        // whether its data can still be opened is shown.
        for (key_left, unmarked) in [(true, false), (false, true)] {
            let suspect = describe(&planned(Found::Suspect, key_left, unmarked));
            assert!(suspect.contains("SUSPECT"), "{suspect}");
            assert!(!suspect.contains("marker") && !suspect.contains("key is back"), "{suspect}");
            assert_eq!(suspect.contains("its key is in the bucket"), key_left, "{suspect}");
            assert_eq!(suspect.contains("its key is not in the bucket"), !key_left, "{suspect}");
        }
    }
}

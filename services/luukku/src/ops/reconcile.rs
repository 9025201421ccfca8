//! `luukku ops reconcile caseloads`: where contact persons' caseloads differ from the
//! families' assignments, and repairing it. The contacts service's caseload process repairs
//! the same differences by itself after a grace time; this shows them, and repairs at once.

use std::time::Duration;

use luukku_app::Caller;
use luukku_contacts::Contacts;
use luukku_domain::sealing::FamilyKey;
use luukku_domain::{Actor, Code, Role};
use luukku_eventstore::{EventStore, KeyStore};

#[derive(Debug, clap::Subcommand)]
pub enum ReconcileCommand {
    /// Families assigned to a contact person but missing from their caseload, families in a
    /// caseload that their assignment does not name, places held past their time, and
    /// closed or erased families that still have a contact person. Exits 1 on any.
    Caseloads {
        /// Repair each difference that has stood for the grace time: the caseload is made to
        /// follow the assignment, and closed or erased families' assignments end.
        #[arg(long)]
        repair: bool,
        /// How long a difference must stand before it is repaired, in seconds: a request in
        /// flight makes the same differences for a moment and finishes them itself.
        #[arg(long, default_value_t = 120)]
        grace_secs: u64,
        /// Who repairs, as recorded on each repair; by default the signed-in user.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
}

/// Repairs open no personal data and record none: no key is read or made.
#[derive(Clone)]
struct NoKeys;

impl KeyStore for NoKeys {
    async fn get_or_create(&self, family: &str) -> luukku_eventstore::Result<FamilyKey> {
        Err(luukku_eventstore::Error::Unavailable(format!("reconciling makes no key (family {family})")))
    }

    async fn get(&self, _family: &str) -> luukku_eventstore::Result<Option<FamilyKey>> {
        Ok(None)
    }

    async fn erase(&self, family: &str) -> luukku_eventstore::Result<()> {
        Err(luukku_eventstore::Error::Unavailable(format!("reconciling erases no key (family {family})")))
    }
}

pub(super) fn operator_caller(operator: &str) -> anyhow::Result<Caller> {
    let code = |value: &str| Code::parse(value).map_err(|error| anyhow::anyhow!("{value:?}: {error}"));
    Ok(Caller::new(Actor {
        person_id: code(operator)?,
        role: Role::Operator,
        sector: None,
        organisation: code("luukku")?,
        system: code("luukku-ops")?,
    }))
}

pub async fn run(store: &EventStore, command: ReconcileCommand) -> anyhow::Result<std::process::ExitCode> {
    let ReconcileCommand::Caseloads { repair, grace_secs, operator } = command;
    let caller = operator_caller(&operator)?;
    // A one-off: the model is written from the streams' start in a temporary folder.
    let contacts = Contacts::new(&luukku_app::Folder::temporary(), store.clone(), NoKeys);
    let grace_ms = i64::try_from(Duration::from_secs(grace_secs).as_millis()).unwrap_or(i64::MAX);
    let reconciled = contacts.reconcile(&caller, repair, grace_ms).await?;
    if reconciled.found.is_empty() {
        println!("every caseload follows its families' assignments");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for found in &reconciled.found {
        let settling = if found.settled { "" } else { " (in flight: younger than the grace time)" };
        println!("{:<8} {}{settling}", found.difference.kind(), found.difference);
    }
    let mut failed = 0;
    for repaired in &reconciled.repaired {
        match &repaired.outcome {
            Ok(()) => println!("repaired {}", repaired.difference),
            Err(error) => {
                failed += 1;
                println!("NOT repaired {}: {error}", repaired.difference);
            }
        }
    }
    println!(
        "{} differences, {} repaired, {failed} failed",
        reconciled.found.len(),
        reconciled.repaired.len() - failed
    );
    let clean = repair && failed == 0 && reconciled.repaired.len() == reconciled.found.len();
    Ok(if clean { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

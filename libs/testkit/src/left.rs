//! Test servers that a killed test process left running (a test run stopped with Ctrl-C, say,
//! ends without dropping them): the next test process's first server stops them and removes
//! their folders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The folders test servers run in, under the temporary folder.
const PREFIXES: [&str; 2] = ["luukku-nats-", "luukku-cluster-"];

/// A folder younger than this may be one whose process has not taken its lock yet.
pub const LEFT_AFTER: Duration = Duration::from_secs(60);

/// Clears what killed test processes left in the temporary folder, once per process.
pub(crate) async fn clear_once() {
    static CLEARED: AtomicBool = AtomicBool::new(false);
    if !CLEARED.swap(true, Ordering::Relaxed) {
        let cleared = clear_left_servers(&std::env::temp_dir(), LEFT_AFTER).await;
        if cleared > 0 {
            eprintln!(
                "removed {cleared} test server folders that ended test processes left, their servers stopped"
            );
        }
    }
}

/// Stops the servers that ended test processes left running in the test folders under `temp`
/// older than `older_than`, and removes those folders: how many. A folder whose last holder
/// still runs, or that cannot be cleared, is left alone.
pub async fn clear_left_servers(temp: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !PREFIXES.iter().any(|prefix| name.to_string_lossy().starts_with(prefix)) {
            continue;
        }
        let age =
            entry.metadata().and_then(|metadata| metadata.modified()).ok().and_then(|at| at.elapsed().ok());
        if age.is_none_or(|age| age < older_than) {
            continue;
        }
        let folder = entry.path();
        let mut free = true;
        for server in server_folders(&folder, 3) {
            if !matches!(luukku_runtime::nats_server::stop_left(&server).await, Ok(true)) {
                free = false;
                break;
            }
        }
        if free && std::fs::remove_dir_all(&folder).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The folders under `folder`, itself included, down to `depth` levels, that a server ran in
/// (they hold its lock file).
fn server_folders(folder: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if folder.join("lock").is_file() {
        found.push(folder.to_owned());
    }
    if depth > 0
        && let Ok(entries) = std::fs::read_dir(folder)
    {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                found.extend(server_folders(&entry.path(), depth - 1));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use luukku_runtime::{NatsServer, NatsServerOptions};

    use super::*;

    fn runs(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    }

    #[tokio::test]
    async fn a_server_left_by_an_ended_process_is_stopped_and_its_folder_removed_and_a_held_one_is_not()
    -> anyhow::Result<()> {
        let temp = tempfile::tempdir()?;
        let left = temp.path().join("luukku-nats-left");
        let server = NatsServer::start(NatsServerOptions::new(&left)).await?;
        let pid = server.pid().expect("running");
        server.abandon();
        // This process took the folder's lock last, and runs: a start of its own may come.
        assert_eq!(clear_left_servers(temp.path(), Duration::ZERO).await, 0);
        assert!(runs(pid) && left.exists(), "the folder of a process that runs is left alone");
        // As if the process that took it had ended.
        std::fs::write(left.join("lock"), "0\n")?;
        let held = temp.path().join("luukku-nats-held");
        let running = NatsServer::start(NatsServerOptions::new(&held)).await?;
        assert_eq!(clear_left_servers(temp.path(), Duration::from_secs(3600)).await, 0, "too young");
        assert_eq!(clear_left_servers(temp.path(), Duration::ZERO).await, 1);
        assert!(!left.exists(), "the folder left behind is removed");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while runs(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!runs(pid), "the server left running is stopped");
        assert!(running.running() && held.exists(), "a server whose folder is held runs on");
        Ok(())
    }
}

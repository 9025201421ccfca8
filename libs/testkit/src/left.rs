//! Test servers that a killed test process left running (killed, a process drops nothing; a
//! test run stopped with Ctrl-C stops its servers too, but leaves their folders): the next test
//! process's first server stops them and removes their folders. Linux only.

use std::path::Path;
use std::time::Duration;

/// The folders test servers run in, under the temporary folder.
const PREFIXES: [&str; 2] = ["luukku-nats-", "luukku-cluster-"];

/// The file that marks a folder as a test server's, made by [`mark`]: no other folder is
/// touched.
const MARKER: &str = "luukku-test-server";

/// A folder younger than this may be one whose process has not taken its lock yet.
pub const LEFT_AFTER: Duration = Duration::from_secs(60);

/// Marks `folder` as a test server's, for [`clear_left_servers`].
pub fn mark(folder: &Path) -> std::io::Result<()> {
    std::fs::write(folder.join(MARKER), b"")
}

/// Clears what killed test processes left in the temporary folder, once per process.
pub(crate) async fn clear_once() {
    static CLEARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !CLEARED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let cleared = clear_left_servers(&std::env::temp_dir(), LEFT_AFTER).await;
        if cleared > 0 {
            eprintln!(
                "removed {cleared} test server folders that ended test processes left, their servers stopped"
            );
        }
    }
}

/// Stops the servers that ended test processes left running in the marked test folders under
/// `temp` older than `older_than`, and removes those folders: how many. A folder whose last
/// holder still runs, or that cannot be cleared, is left alone, and so is anything not a
/// directory of this user's.
#[cfg(target_os = "linux")]
pub async fn clear_left_servers(temp: &Path, older_than: Duration) -> usize {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(own) = std::fs::metadata("/proc/self").map(|metadata| metadata.uid()) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(temp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !PREFIXES.iter().any(|prefix| name.to_string_lossy().starts_with(prefix)) {
            continue;
        }
        let folder = entry.path();
        // Not followed through a link.
        let Ok(metadata) = std::fs::symlink_metadata(&folder) else { continue };
        let ours = metadata.is_dir() && metadata.uid() == own && folder.join(MARKER).is_file();
        let age = metadata.modified().ok().and_then(|at| at.elapsed().ok());
        if !ours || age.is_none_or(|age| age < older_than) {
            continue;
        }
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

/// Elsewhere nothing is cleared: whether a folder's last holder runs is not known.
#[cfg(not(target_os = "linux"))]
pub async fn clear_left_servers(_temp: &Path, _older_than: Duration) -> usize {
    0
}

/// The folders under `folder`, itself included, down to `depth` levels, that a server ran in
/// (they hold its lock file); links are not followed.
#[cfg(target_os = "linux")]
fn server_folders(folder: &Path, depth: usize) -> Vec<std::path::PathBuf> {
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use luukku_runtime::{NatsServer, NatsServerOptions};

    use super::*;

    fn runs(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    }

    /// Kills the server this test leaves behind, should the test fail before it is stopped.
    struct Killed(u32);

    impl Drop for Killed {
        fn drop(&mut self) {
            if runs(self.0) {
                let _ = std::process::Command::new("kill").args(["-9", &self.0.to_string()]).status();
            }
        }
    }

    /// A marked test server folder under `temp`, with a server running in it.
    async fn started(temp: &Path, name: &str) -> anyhow::Result<(std::path::PathBuf, NatsServer)> {
        let folder = temp.join(name);
        std::fs::create_dir_all(&folder)?;
        mark(&folder)?;
        let server = NatsServer::start(NatsServerOptions::new(&folder)).await?;
        Ok((folder, server))
    }

    #[tokio::test]
    async fn a_server_left_by_an_ended_process_is_stopped_and_its_folder_removed_and_a_held_one_is_not()
    -> anyhow::Result<()> {
        let temp = tempfile::tempdir()?;
        let (left, server) = started(temp.path(), "luukku-nats-left").await?;
        let pid = server.pid().expect("running");
        let _killed = Killed(pid);
        server.abandon();
        // This process took the folder's lock last, and runs: a start of its own may come.
        assert_eq!(clear_left_servers(temp.path(), Duration::ZERO).await, 0);
        assert!(runs(pid) && left.exists(), "the folder of a process that runs is left alone");
        // As if the process that took it had ended.
        std::fs::write(left.join("lock"), "0\n")?;
        // A server whose handle holds its folder's lock, however its lock file reads.
        let (held, running) = started(temp.path(), "luukku-nats-held").await?;
        std::fs::write(held.join("lock"), "0\n")?;
        // A folder not marked as a test server's.
        let unmarked = temp.path().join("luukku-nats-unmarked");
        std::fs::create_dir_all(&unmarked)?;
        assert_eq!(clear_left_servers(temp.path(), Duration::from_secs(3600)).await, 0, "too young");
        assert_eq!(clear_left_servers(temp.path(), Duration::ZERO).await, 1);
        assert!(!left.exists(), "the folder left behind is removed");
        assert!(!runs(pid), "the server left running is stopped");
        let held_pid = running.pid().expect("running");
        assert!(runs(held_pid) && held.exists(), "a server whose folder is held runs on");
        assert!(unmarked.exists(), "an unmarked folder is left alone");
        Ok(())
    }
}

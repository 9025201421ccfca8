//! A nats-server child process with JetStream, owned by this process and stopped on drop.
//!
//! Used by `luukku dev` (the embedded default) and by the tests, which start one per test on a
//! port the server picks itself, with its store in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// The oldest nats-server release luukku runs against (batch direct get, per-subject
/// expected sequences with `discard new`).
pub const MINIMUM_VERSION: (u32, u32) = (2, 11);

/// The release the project's setup installs.
pub const PINNED_VERSION: &str = "2.15.1";

/// Environment variable naming the nats-server binary to run.
pub const BINARY_ENV: &str = "LUUKKU_NATS_SERVER";

#[derive(Debug, thiserror::Error)]
pub enum NatsServerError {
    #[error(
        "no nats-server found: set {BINARY_ENV} or run scripts/install-nats-server \
         (it installs {PINNED_VERSION} under .tools/nats-server)"
    )]
    NotFound,
    #[error("nats-server at {path} is version {found}; luukku needs {}.{} or newer (run scripts/install-nats-server)", MINIMUM_VERSION.0, MINIMUM_VERSION.1)]
    TooOld { path: PathBuf, found: String },
    #[error("cannot run {path}: {source}")]
    Spawn { path: PathBuf, source: std::io::Error },
    #[error("nats-server did not report a client port within {0:?}; its log: {1}")]
    StartTimeout(Duration, String),
    #[error("nats-server exited during start-up ({status}); its log: {log}")]
    Exited { status: String, log: String },
    #[error(
        "{}: another start runs this folder's nats-server; stop it first, or use another data folder",
        match holder {
            Some(pid) => format!("process {pid} holds {}", lock.display()),
            None => format!("{} is held", lock.display()),
        }
    )]
    InUse { lock: PathBuf, holder: Option<u32> },
    #[error("cannot lock {}: {source}", lock.display())]
    Lock { lock: PathBuf, source: std::io::Error },
    #[error(
        "a process (pid {process}) that no start of this folder recorded runs on its store in {}: \
         stop it (kill {process}) if nothing uses it",
        data_dir.display()
    )]
    Unowned { data_dir: PathBuf, process: u32 },
    #[error(
        "the nats-server (pid {pid}) left running on the store in {} did not stop ({reason}): \
         stop it (kill -9 {pid})",
        data_dir.display()
    )]
    LeftRunning { data_dir: PathBuf, pid: u32, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

type Result<T, E = NatsServerError> = std::result::Result<T, E>;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct NatsServerOptions {
    /// The binary; `None` looks it up (see [`locate_binary`]).
    pub binary: Option<PathBuf>,
    /// The folder holding the JetStream store, the log and the ports file.
    pub data_dir: PathBuf,
    /// The client port; `None` lets the server choose a free one.
    pub port: Option<u16>,
    /// The address to listen on.
    pub host: String,
    /// Server name; also names the JetStream store's subfolder.
    pub server_name: String,
    /// A configuration file (users and permissions, say); the options above override it.
    pub config: Option<PathBuf>,
    /// This node's part in a JetStream cluster, if it is one.
    pub cluster: Option<ClusterOptions>,
}

/// A node's part in a cluster: the cluster's name, the port its routes listen on, and every
/// node's route URL (a node skips its own).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub name: String,
    pub port: u16,
    pub routes: Vec<String>,
}

impl NatsServerOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            binary: None,
            data_dir: data_dir.into(),
            port: None,
            host: "127.0.0.1".to_owned(),
            server_name: "luukku".to_owned(),
            config: None,
            cluster: None,
        }
    }
}

/// A running nats-server. Dropping it kills the process.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    options: NatsServerOptions,
    binary: PathBuf,
    port: u16,
    /// The folder's lock, held while this handle runs its server (see [`left`]).
    _held: left::Held,
}

impl NatsServer {
    /// Starts the server and waits until it accepts clients.
    pub async fn start(options: NatsServerOptions) -> Result<Self> {
        let binary = match &options.binary {
            Some(binary) => binary.clone(),
            None => locate_binary()?,
        };
        check_version(&binary).await?;
        std::fs::create_dir_all(&options.data_dir)?;
        let held = left::take(&options.data_dir).await?;
        let (child, port) = spawn(&binary, &options, options.port).await?;
        Ok(Self { child: Some(child), options, binary, port, _held: held })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn client_url(&self) -> String {
        format!("nats://{}:{}", self.options.host, self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// The server's name (a cluster names its stream leaders by it).
    pub fn name(&self) -> &str {
        &self.options.server_name
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether the process is running (not killed or stopped by this handle).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the process abruptly (SIGKILL), as a crash would.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Asks the server to shut down cleanly (SIGTERM: it flushes JetStream) and waits for it,
    /// killing it after ten seconds.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                child.kill().await?;
            }
        }
        Ok(())
    }

    /// Freezes the process (SIGSTOP): it holds its connections but answers nothing, as a
    /// server stuck in a long pause would. For fault-injection tests.
    ///
    /// Returns once every thread of the process is stopped: a signal is delivered
    /// asynchronously, and a thread still running on another core could otherwise answer a
    /// request sent right after this call.
    pub async fn pause(&self) -> Result<()> {
        self.signal(nix::sys::signal::SIGSTOP)?;
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            if Instant::now() > deadline {
                return Err(
                    std::io::Error::other(format!("nats-server {pid} did not stop within 5 s")).into()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Lets a [`pause`](Self::pause)d process go on (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal(nix::sys::signal::SIGCONT)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        let pid = self.child.as_ref().and_then(Child::id).and_then(|pid| i32::try_from(pid).ok());
        if let Some(pid) = pid {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).map_err(std::io::Error::from)?;
        }
        Ok(())
    }

    /// Lets the server run on and lets go of its folder, as a process killed while it ran
    /// would: for tests of what such a process leaves behind ([`stop_left`]).
    pub fn abandon(mut self) {
        if let Some(child) = self.child.take() {
            // Dropped, it would be killed.
            std::mem::forget(child);
        }
    }

    /// Starts the process again on the same port and store, after [`kill`](Self::kill) or
    /// [`stop`](Self::stop).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        let (child, port) = spawn(&self.binary, &self.options, Some(self.port)).await?;
        self.child = Some(child);
        self.port = port;
        Ok(())
    }
}

/// Stops the server that a process which has ended left running on `data_dir`, as a start on
/// the folder would, and tells whether the folder is now free: `false`, touching nothing, while
/// the process that last held it still runs (it may start a server there again).
pub async fn stop_left(data_dir: &Path) -> Result<bool> {
    if left::holder_runs(data_dir) {
        return Ok(false);
    }
    match left::take(data_dir).await {
        Ok(_held) => Ok(true),
        Err(NatsServerError::InUse { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

impl Drop for NatsServer {
    /// Kills the server, and waits up to a second for it to end before the folder's lock goes,
    /// so that a start right after does not find it still running.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && child.start_kill().is_ok()
        {
            for _ in 0..50 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Finds the nats-server binary: `$LUUKKU_NATS_SERVER`, then `.tools/nats-server/bin/nats-server`
/// in this folder or any parent (where the project's setup installs it), then `PATH`.
pub fn locate_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        return Ok(PathBuf::from(path));
    }
    let mut search_roots: Vec<PathBuf> = Vec::new();
    if let Ok(current) = std::env::current_dir() {
        search_roots.push(current);
    }
    if let Ok(executable) = std::env::current_exe() {
        search_roots.push(executable);
    }
    for root in search_roots {
        for folder in root.ancestors() {
            let candidate = folder.join(".tools/nats-server/bin/nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let path = std::env::var_os("PATH").ok_or(NatsServerError::NotFound)?;
    std::env::split_paths(&path)
        .map(|folder| folder.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .ok_or(NatsServerError::NotFound)
}

async fn check_version(binary: &Path) -> Result<()> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .await
        .map_err(|source| NatsServerError::Spawn { path: binary.to_owned(), source })?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let too_old = || NatsServerError::TooOld { path: binary.to_owned(), found: text.clone() };
    let version = text.rsplit('v').next().ok_or_else(too_old)?;
    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) if (major, minor) >= MINIMUM_VERSION => Ok(()),
        _ => Err(too_old()),
    }
}

async fn spawn(binary: &Path, options: &NatsServerOptions, port: Option<u16>) -> Result<(Child, u16)> {
    let ports_dir = options.data_dir.join("ports");
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir_all(&ports_dir)?;
    let log_path = options.data_dir.join("nats-server.log");
    let port_arg = port.map_or_else(|| "-1".to_owned(), |port| port.to_string());
    let mut command = Command::new(binary);
    if let Some(config) = &options.config {
        command.arg("--config").arg(config);
    }
    if let Some(cluster) = &options.cluster {
        command
            .arg("--cluster_name")
            .arg(&cluster.name)
            .arg("--cluster")
            .arg(format!("nats://{}:{}", options.host, cluster.port))
            .arg("--routes")
            .arg(cluster.routes.join(","));
    }
    command
        .arg("--jetstream")
        .arg("--store_dir")
        .arg(options.data_dir.join("jetstream"))
        .arg("--addr")
        .arg(&options.host)
        .arg("--port")
        .arg(&port_arg)
        .arg("--server_name")
        .arg(&options.server_name)
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .arg("--log")
        .arg(&log_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child =
        command.spawn().map_err(|source| NatsServerError::Spawn { path: binary.to_owned(), source })?;
    // Recorded before anything else, so that a later start knows it if this process ends now.
    if let Err(error) = left::record(&options.data_dir, child.id()) {
        let _ = child.kill().await;
        return Err(error.into());
    }
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let limit = Duration::from_secs(20);
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(NatsServerError::Exited { status: status.to_string(), log: read_log() });
        }
        if let Some(port) = read_ports_file(&ports_dir)?
            && tokio::net::TcpStream::connect((options.host.as_str(), port)).await.is_ok()
        {
            return Ok((child, port));
        }
        if started.elapsed() > limit {
            let _ = child.kill().await;
            return Err(NatsServerError::StartTimeout(limit, read_log()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(serde::Deserialize)]
struct PortsFile {
    #[serde(default)]
    nats: Vec<String>,
}

/// Reads the client port from the `<name>_<pid>.ports` file the server writes once listening.
fn read_ports_file(ports_dir: &Path) -> Result<Option<u16>> {
    for entry in std::fs::read_dir(ports_dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|extension| extension != "ports") {
            continue;
        }
        let Ok(ports) = serde_json::from_slice::<PortsFile>(&std::fs::read(&path)?) else {
            continue; // written but not yet complete
        };
        let port =
            ports.nats.first().and_then(|url| url.rsplit(':').next()).and_then(|port| port.parse().ok());
        if port.is_some() {
            return Ok(port);
        }
    }
    Ok(None)
}

/// Whether every thread of `pid` is in the stopped state (`T` in `/proc/<pid>/task/*/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(|task| task.ok()).all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| after_name(&stat).map(|rest| rest.starts_with('T')))
            .unwrap_or(false)
    })
}

/// The fields of a `/proc/<pid>/stat` after the command name (field 2), which is in
/// parentheses and may hold spaces and parentheses itself: the state (field 3) first.
fn after_name(stat: &str) -> Option<&str> {
    stat.rsplit_once(") ").map(|(_, rest)| rest)
}

/// A server that an earlier start left running on the same store: the process that started it
/// ended without stopping it (killed, or hung up with its terminal).
///
/// A start takes an exclusive lock on the folder's `lock` file and holds it while its handle
/// lives; the lock goes with the process however it ends, and the server does not inherit it
/// (files are opened close-on-exec). A start that does not get the lock refuses. On Linux, a
/// start also records the exact server it spawns in `server` (its id and start time, which
/// together name one process even after ids are reused); one that gets the lock stops the
/// recorded server if it still runs on the folder's store, and refuses to start beside any
/// other process started on that store.
mod left {
    use std::fs::{File, OpenOptions, TryLockError};
    use std::path::Path;

    use super::{NatsServerError, Result};

    const LOCK_FILE: &str = "lock";

    /// The folder's lock, released when dropped or when the process ends.
    #[derive(Debug)]
    pub struct Held {
        _lock: File,
    }

    /// The process that holds the lock: the id the holder wrote into it.
    fn holder(file: &mut File) -> Option<u32> {
        use std::io::Read as _;
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }

    /// Whether the process that last took the folder's lock still runs (elsewhere than on
    /// Linux: never known, so false).
    pub fn holder_runs(data_dir: &Path) -> bool {
        let Ok(mut file) = File::open(data_dir.join(LOCK_FILE)) else {
            return false;
        };
        let holder = holder(&mut file);
        #[cfg(target_os = "linux")]
        return holder.is_some_and(|pid| linux::Process::running(pid).is_some());
        #[cfg(not(target_os = "linux"))]
        {
            let _ = holder;
            false
        }
    }

    /// Takes the folder's lock, and stops the server a process that held it left running.
    pub async fn take(data_dir: &Path) -> Result<Held> {
        let lock = data_dir.join(LOCK_FILE);
        let failed = |source| NatsServerError::Lock { lock: lock.clone(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(NatsServerError::InUse { holder: holder(&mut file), lock });
            }
            Err(TryLockError::Error(error)) => return Err(failed(error)),
        }
        file.set_len(0).map_err(failed)?;
        std::io::Write::write_all(&mut file, format!("{}\n", std::process::id()).as_bytes())
            .map_err(failed)?;
        #[cfg(target_os = "linux")]
        linux::stop_left_running(data_dir).await?;
        Ok(Held { _lock: file })
    }

    /// Records the server just spawned as the folder's.
    pub fn record(data_dir: &Path, pid: Option<u32>) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        return linux::record(data_dir, pid);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (data_dir, pid);
            Ok(())
        }
    }

    #[cfg(target_os = "linux")]
    mod linux {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt as _;
        use std::os::unix::fs::MetadataExt as _;
        use std::path::{Path, PathBuf};
        use std::time::{Duration, Instant};

        use super::super::{NatsServerError, Result};

        const SERVER_FILE: &str = "server";

        /// One process: its id and when it started, in clock ticks after boot.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) struct Process {
            pid: u32,
            started: u64,
        }

        impl Process {
            /// The process `pid`, while it runs (a zombie has ended).
            pub(super) fn running(pid: u32) -> Option<Self> {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // The state (field 3) first, the start time (field 22) 19 after it.
                let mut fields = super::super::after_name(&stat)?.split_whitespace();
                let state = fields.next()?;
                let started = fields.nth(18)?.parse().ok()?;
                (state != "Z" && state != "X").then_some(Self { pid, started })
            }

            fn still_runs(self) -> bool {
                Self::running(self.pid) == Some(self)
            }
        }

        /// Records the server just spawned as the folder's (written whole, then renamed).
        pub fn record(data_dir: &Path, pid: Option<u32>) -> std::io::Result<()> {
            // One that has ended already is not worth recording.
            let Some(server) = pid.and_then(Process::running) else {
                return Ok(());
            };
            let written = data_dir.join(format!("{SERVER_FILE}.new"));
            std::fs::write(&written, format!("{} {}\n", server.pid, server.started))?;
            std::fs::rename(written, data_dir.join(SERVER_FILE))
        }

        fn recorded(data_dir: &Path) -> Option<Process> {
            let text = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
            let mut numbers = text.split_whitespace();
            Some(Process { pid: numbers.next()?.parse().ok()?, started: numbers.next()?.parse().ok()? })
        }

        /// Stops the recorded server if it still runs on the folder's store; refuses, before
        /// stopping anything, when any other process was started on that store.
        pub async fn stop_left_running(data_dir: &Path) -> Result<()> {
            // Reading another process's command line can wait on that process.
            let folder = data_dir.to_owned();
            let found = tokio::task::spawn_blocking(move || started_on(&folder))
                .await
                .map_err(std::io::Error::other)?;
            let recorded = recorded(data_dir);
            if let Some(other) = found.iter().find(|process| Some(**process) != recorded) {
                return Err(NatsServerError::Unowned { data_dir: data_dir.to_owned(), process: other.pid });
            }
            for server in found {
                stop(server, data_dir).await?;
            }
            Ok(())
        }

        /// The running processes started on the folder's store (`--store_dir`), of those whose
        /// working folder and root this process may look into (its own user's).
        fn started_on(data_dir: &Path) -> Vec<Process> {
            let Ok(store) = std::fs::metadata(data_dir.join("jetstream")) else {
                return Vec::new();
            };
            let Ok(entries) = std::fs::read_dir("/proc") else {
                return Vec::new();
            };
            entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| store_of(*pid).is_some_and(|found| found == (store.dev(), store.ino())))
                .filter_map(Process::running)
                .collect()
        }

        /// The device and inode of the store a process was started on, found through its own
        /// working folder or root, so that relative paths, links and a deleted working folder
        /// do not mislead.
        fn store_of(pid: u32) -> Option<(u64, u64)> {
            const NAMES: [&[u8]; 4] = [b"--store_dir", b"-store_dir", b"--sd", b"-sd"];
            let command = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let mut args = command.split(|byte| *byte == 0);
            let mut store = None;
            while let Some(arg) = args.next() {
                if NAMES.contains(&arg) {
                    store = args.next();
                } else if let Some(value) = NAMES
                    .iter()
                    .find_map(|name| arg.strip_prefix(*name).and_then(|rest| rest.strip_prefix(b"=")))
                {
                    store = Some(value);
                }
            }
            let store = Path::new(OsStr::from_bytes(store?));
            let inside = match store.strip_prefix("/") {
                Ok(absolute) => PathBuf::from(format!("/proc/{pid}/root")).join(absolute),
                Err(_) => PathBuf::from(format!("/proc/{pid}/cwd")).join(store),
            };
            let found = std::fs::metadata(inside).ok()?;
            Some((found.dev(), found.ino()))
        }

        /// Stops `server` (SIGTERM, then SIGKILL), signalling it only while it is still that
        /// process.
        async fn stop(server: Process, data_dir: &Path) -> Result<()> {
            tracing::warn!(
                pid = server.pid,
                folder = %data_dir.display(),
                "stopping the nats-server that an earlier start left running on this store"
            );
            let pid = nix::unistd::Pid::from_raw(i32::try_from(server.pid).map_err(std::io::Error::other)?);
            let mut refused = None;
            // Asked to stop cleanly first (it flushes JetStream), then killed.
            for (signal, within) in [
                (nix::sys::signal::SIGTERM, Duration::from_secs(10)),
                (nix::sys::signal::SIGKILL, Duration::from_secs(5)),
            ] {
                if !server.still_runs() {
                    return Ok(());
                }
                if let Err(error) = nix::sys::signal::kill(pid, signal) {
                    refused = Some(error.to_string());
                }
                // A server left paused (SIGSTOP) takes SIGTERM only once it goes on.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGCONT);
                let deadline = Instant::now() + within;
                while server.still_runs() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if !server.still_runs() {
                return Ok(());
            }
            Err(NatsServerError::LeftRunning {
                data_dir: data_dir.to_owned(),
                pid: server.pid,
                reason: refused.unwrap_or_else(|| "it outlived SIGKILL".to_owned()),
            })
        }
    }
}

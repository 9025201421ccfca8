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
        let (child, port) = spawn(&binary, &options, options.port).await?;
        Ok(Self { child: Some(child), options, binary, port })
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

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
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
            // The state follows the command name, which is in parentheses and may hold spaces.
            .ok()
            .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.starts_with('T')))
            .unwrap_or(false)
    })
}

//! Each service as a process of its own (the `luukku` binary beside this one, as `luukku serve`
//! runs it): how long after its start it answers health, how long until its read models have
//! caught up with the streams, and its resident memory at both moments. Each is started three
//! times: on a new data folder (its read models are written from the streams' start), then
//! twice on the folder it left (they follow from their checkpoints). The two restarts differ in
//! what sled reads as it opens the folder: it writes the snapshot of its page table only when
//! it opens a folder, and reads its log from that snapshot on, so the first restart reads all
//! that the first start wrote, and the second only what the first restart wrote. After its
//! last start, the keys its folder holds are counted, tree by tree: sled keeps a cost per key in
//! memory whatever its cache's size (docs/performance.md).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What one service's start measured.
pub struct Started {
    pub service: &'static str,
    /// How many starts before it left the folder it started on: 0 on a new folder.
    pub starts_before: u8,
    /// Until gRPC health answers `SERVING`.
    pub serving: Duration,
    /// Until every read model's lag is 0.
    pub caught_up: Duration,
    pub rss_serving: u64,
    pub rss_caught_up: u64,
    /// The data folder's size on disk once it stopped.
    pub folder_bytes: u64,
    /// The share of one core it used while idle, after catching up (its background work).
    pub idle_cpu: f64,
}

/// How long a caught-up service is watched for its background work.
const IDLE: Duration = Duration::from_secs(15);

/// The write services, each started alone on the streams as they are, and the coordination
/// service on `projection`, a folder whose projection has reached the streams' ends.
pub async fn measure(nats_url: &str, projection: &Path) -> anyhow::Result<Vec<Started>> {
    let luukku = std::env::current_exe()?.with_file_name("luukku");
    anyhow::ensure!(
        luukku.exists(),
        "{} is missing: build it with `cargo build --release -p luukku`",
        luukku.display()
    );
    let folder = tempfile::tempdir()?;
    let jwks = folder.path().join("jwks.json");
    std::fs::write(&jwks, luukku_testkit::auth::dev_issuer().jwks())?;
    let kek = folder.path().join("kek");
    std::fs::write(&kek, luukku_testkit::kek().to_base64().as_bytes())?;
    let mut measured = Vec::new();
    for service in ["families", "contacts", "referrals", "meetings", "coordination"] {
        let data_dir = match service {
            "coordination" => projection.to_owned(),
            _ => folder.path().join(service),
        };
        for starts_before in 0..3 {
            measured.push(start(&luukku, service, starts_before, nats_url, &jwks, &kek, &data_dir).await?);
        }
        let trees = keys_in(&data_dir)?;
        let total: u64 = trees.iter().map(|(_, keys)| keys).sum();
        let each: Vec<String> = trees.iter().map(|(tree, keys)| format!("{tree} {keys}")).collect();
        println!("  {service}: its folder holds {total} keys: {}", each.join(", "));
    }
    Ok(measured)
}

async fn start(
    luukku: &Path,
    service: &'static str,
    starts_before: u8,
    nats_url: &str,
    jwks: &Path,
    kek: &Path,
    data_dir: &Path,
) -> anyhow::Result<Started> {
    let [port, metrics, admin] = free_ports()?;
    let mut command = tokio::process::Command::new(luukku);
    command
        .args(["serve", service, "--nats-url", nats_url, "--insecure-plaintext"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--token-issuer", luukku_auth::DEV_ISSUER, "--token-audience", luukku_auth::DEV_AUDIENCE])
        .arg("--jwks-file")
        .arg(jwks)
        .arg("--kek-file")
        .arg(kek)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command.arg("--data-dir").arg(data_dir);
    command.args(["--admin-listen", &format!("127.0.0.1:{admin}")]);
    let began = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("{service} ended at once"))?;
    until(&mut child, began, &format!("{service} answering health"), || serving(port)).await?;
    let serving_after = began.elapsed();
    let rss_serving = rss(pid)?;
    until(&mut child, began, &format!("{service} catching up"), || caught_up(metrics)).await?;
    let caught_up_after = began.elapsed();
    let rss_caught_up = rss(pid)?;
    let before = cpu_seconds(pid)?;
    tokio::time::sleep(IDLE).await;
    let idle_cpu = (cpu_seconds(pid)? - before) / IDLE.as_secs_f64();
    // Stopped as an operator stops it, so that it leaves its folder as a restart finds it.
    stop(&mut child, pid).await?;
    let folder_bytes = crate::scale::folder_bytes(data_dir)?;
    let how = match starts_before {
        0 => "on a new folder",
        1 => "restarted on its folder",
        _ => "restarted again",
    };
    println!(
        "  luukku serve {service}, {how}: answers health {:.2} s after its start ({:.0} MB), read models caught up after {:.2} s ({:.0} MB); idle, {:.0} % of a core; its folder {:.0} MB",
        serving_after.as_secs_f64(),
        rss_serving as f64 / 1e6,
        caught_up_after.as_secs_f64(),
        rss_caught_up as f64 / 1e6,
        idle_cpu * 100.0,
        folder_bytes as f64 / 1e6
    );
    Ok(Started {
        service,
        starts_before,
        serving: serving_after,
        caught_up: caught_up_after,
        rss_serving,
        rss_caught_up,
        folder_bytes,
        idle_cpu,
    })
}

/// The keys in each non-empty tree of the sled databases in `folder` and in its
/// subfolders (a service's read-model folder is one of them), by tree name; `folder` must be
/// free of any process.
fn keys_in(folder: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut databases = vec![folder.to_owned()];
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            databases.push(entry.path());
        }
    }
    let mut trees = Vec::new();
    for database in databases.into_iter().filter(|folder| folder.join("conf").is_file()) {
        let db = sled::Config::new().path(&database).cache_capacity(16 * 1024 * 1024).open()?;
        for name in db.tree_names() {
            let keys =
                db.open_tree(&name)?.iter().keys().try_fold(0u64, |count, key| key.map(|_| count + 1))?;
            if keys > 0 {
                trees.push((String::from_utf8_lossy(&name).into_owned(), keys));
            }
        }
    }
    Ok(trees)
}

/// Stops the process with SIGTERM and waits for it (killing it after 30 s).
async fn stop(child: &mut tokio::process::Child, pid: u32) -> anyhow::Result<()> {
    tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
    if tokio::time::timeout(Duration::from_secs(30), child.wait()).await.is_err() {
        child.kill().await?;
    }
    Ok(())
}

/// Polls `done` until it holds, while `child` runs, for at most half an hour from `began`.
async fn until<F, Fut>(
    child: &mut tokio::process::Child,
    began: Instant,
    what: &str,
    done: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let limit = Duration::from_secs(1800);
    while !done().await {
        anyhow::ensure!(child.try_wait()?.is_none(), "the process ended before {what}");
        anyhow::ensure!(began.elapsed() < limit, "no {what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A service's three listeners' ports, all different.
pub(crate) fn free_ports() -> anyhow::Result<[u16; 3]> {
    let ports = luukku_testkit::cluster::free_ports(3)?;
    Ok([ports[0], ports[1], ports[2]])
}

/// Whether the server on `port` answers health `SERVING`.
pub(crate) async fn serving(port: u16) -> bool {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else { return false };
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
    answer.is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32)
}

/// Whether every read model the metrics listener on `port` reports has no lag.
async fn caught_up(port: u16) -> bool {
    let Ok(text) = scrape(port).await else { return false };
    let lags: Vec<f64> = text
        .lines()
        .filter(|line| line.starts_with("luukku_read_model_lag_messages"))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    !lags.is_empty() && lags.iter().all(|lag| *lag == 0.0)
}

async fn scrape(port: u16) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

/// What one side of a benchmark used: processor seconds of this process (the benchmark, with
/// whatever it serves in-process) and of nats-server, and how long its calls ran.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Used {
    /// From its first call until both processes were idle again after its last: what its
    /// calls left behind (read models applying their events) is its own.
    pub seconds: [f64; 2],
    /// The same, both processes together, while its calls ran: over `wall`, how many
    /// processors they kept busy.
    pub while_calling: f64,
    /// How long its calls ran, in seconds.
    pub wall: f64,
}

/// Runs `work` between two waits for this process and process `other` (nats-server) to be
/// idle, and measures what it used. The first wait leaves out what ran before.
pub(crate) async fn processor_time<T>(
    other: u32,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Used)> {
    let own = std::process::id();
    let both = || anyhow::Ok([cpu_seconds(own)?, cpu_seconds(other)?]);
    settle(&both).await?;
    let before = both()?;
    let started = Instant::now();
    let done = work.await?;
    let wall = started.elapsed().as_secs_f64();
    let called = both()?;
    settle(&both).await?;
    let after = both()?;
    Ok((
        done,
        Used {
            seconds: [after[0] - before[0], after[1] - before[1]],
            while_calling: called[0] - before[0] + called[1] - before[1],
            wall,
        },
    ))
}

/// Waits until `both` processes used at most one clock tick (10 ms) together in 200 ms, for at
/// most 5 s.
async fn settle(both: &impl Fn() -> anyhow::Result<[f64; 2]>) -> anyhow::Result<()> {
    let began = Instant::now();
    let mut last = both()?;
    while began.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = both()?;
        if now[0] - last[0] + now[1] - last[1] <= 0.011 {
            break;
        }
        last = now;
    }
    Ok(())
}

/// The processor time process `pid` has used, all its threads, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces), from the third on.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |at: usize| fields.get(at).and_then(|field| field.parse::<u64>().ok());
    // utime and stime, the 14th and 15th fields, in USER_HZ (100 on Linux).
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) as f64 / 100.0),
        _ => anyhow::bail!("no processor times for process {pid}"),
    }
}

/// The resident memory of process `pid`.
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))?;
    Ok(kilobytes * 1024)
}

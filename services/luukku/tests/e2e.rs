//! The `luukku` command end to end: `luukku dev` as a process, the client subcommands, a
//! restart that keeps the data, and `ops verify` on a healthy and on a corrupted stream.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

/// The web client in a real browser.
#[path = "e2e/web.rs"]
mod web;

/// Production sign-in with an OpenID Connect provider.
#[path = "e2e/oidc.rs"]
mod oidc;

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Ports {
    nats: u16,
    families: u16,
    coordination: u16,
    /// contacts, referrals, meetings, coordination admin.
    others: [u16; 4],
    metrics: u16,
    web: u16,
    /// The dev data folder, whose development issuer signs the client's tokens.
    data_dir: String,
}

impl Ports {
    fn pick(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        // Each held until all are picked, so that no two are the same.
        let listeners: Vec<TcpListener> =
            (0..9).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
        let ports: Vec<u16> = listeners
            .iter()
            .map(|listener| Ok(listener.local_addr()?.port()))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            nats: ports[0],
            families: ports[1],
            coordination: ports[2],
            others: [ports[3], ports[4], ports[5], ports[6]],
            metrics: ports[7],
            web: ports[8],
            data_dir: data_dir.display().to_string(),
        })
    }

    fn admin_url(&self) -> String {
        format!("--admin-url=http://127.0.0.1:{}", self.others[3])
    }

    fn urls(&self) -> Vec<String> {
        vec![
            format!("--data-dir={}", self.data_dir),
            format!("--families-url=http://127.0.0.1:{}", self.families),
            format!("--coordination-url=http://127.0.0.1:{}", self.coordination),
            format!("--contacts-url=http://127.0.0.1:{}", self.others[0]),
        ]
    }
}

/// The lines `luukku dev` has written on stderr (its log, as JSON).
type Logged = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `luukku dev` and waits until it says it is running.
async fn start_dev(folder: &std::path::Path, ports: &Ports) -> anyhow::Result<Dev> {
    Ok(start_dev_logged(folder, ports).await?.0)
}

/// Starts `luukku dev`, logging JSON, and waits until it says it is running.
async fn start_dev_logged(folder: &std::path::Path, ports: &Ports) -> anyhow::Result<(Dev, Logged)> {
    start_dev_with(folder, ports, &[], &[]).await
}

/// Starts `luukku dev` with more arguments and environment variables.
async fn start_dev_with(
    folder: &std::path::Path,
    ports: &Ports,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<(Dev, Logged)> {
    start_dev_by(tokio::process::Command::new(env!("CARGO_BIN_EXE_luukku")), folder, ports, args, envs).await
}

/// Starts `luukku dev` by `command` (the binary, or a program that runs it).
async fn start_dev_by(
    mut command: tokio::process::Command,
    folder: &std::path::Path,
    ports: &Ports,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<(Dev, Logged)> {
    let child = command
        .args(args)
        .envs(envs.iter().copied())
        .args(["dev", "--data-dir"])
        .arg(folder)
        .args(["--nats-port", &ports.nats.to_string()])
        .args(["--families-port", &ports.families.to_string()])
        .args(["--contacts-port", &ports.others[0].to_string()])
        .args(["--referrals-port", &ports.others[1].to_string()])
        .args(["--meetings-port", &ports.others[2].to_string()])
        .args(["--coordination-port", &ports.coordination.to_string()])
        .args(["--admin-port", &ports.others[3].to_string()])
        .args(["--metrics-port", &ports.metrics.to_string()])
        .args(["--web-port", &ports.web.to_string()])
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut dev = Dev(Some(child));
    let child = dev.0.as_mut().ok_or_else(|| anyhow::anyhow!("no child"))?;
    let logged = Logged::default();
    let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut log_lines = BufReader::new(stderr).lines();
    let keep = logged.clone();
    let reading = tokio::spawn(async move {
        while let Ok(Some(line)) = log_lines.next_line().await {
            keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
        }
    });
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("luukku dev is running") {
                return anyhow::Ok(true);
            }
        }
        anyhow::Ok(false)
    })
    .await;
    if !ready.map_err(|_| anyhow::anyhow!("luukku dev did not start in 60 s"))?? {
        // What it said before it ended, for whoever reads the failure: all of it, once it has
        // ended and its log has been read to the end.
        if let Some(child) = dev.0.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
        let logged = logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let last: Vec<&str> = logged.iter().rev().take(5).rev().map(String::as_str).collect();
        anyhow::bail!("luukku dev ended before it was running; its last log lines:\n{}", last.join("\n"));
    }
    // Keep reading so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((dev, logged))
}

/// `luukku dev` running as a child process. A test that fails before [`stop`] drops it: it is
/// then asked to stop as a person would (SIGINT), so that it stops the nats-server it started,
/// and killed only if it has not ended within 10 s.
struct Dev(Option<tokio::process::Child>);

impl Drop for Dev {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
        }
        for _ in 0..200 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.start_kill();
    }
}

/// The value of the sample of `metric` whose labels include every one of `labels`, in the
/// Prometheus text `exposition`; 0 when there is none yet.
fn sample(exposition: &str, metric: &str, labels: &[&str]) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET /metrics` of `luukku dev`, as Prometheus scrapes it.
async fn scrape(ports: &Ports) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut connection = tokio::net::TcpStream::connect(("127.0.0.1", ports.metrics)).await?;
    connection.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await?;
    anyhow::ensure!(answer.starts_with("HTTP/1.") && answer.contains(" 200 "), "{answer}");
    Ok(answer)
}

async fn stop(mut dev: Dev) -> anyhow::Result<()> {
    let mut child = dev.0.take().ok_or_else(|| anyhow::anyhow!("stopped already"))?;
    let pid = i32::try_from(child.id().unwrap_or(0))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT)?;
    let Ok(status) = tokio::time::timeout(Duration::from_secs(30), child.wait()).await else {
        let _ = child.start_kill();
        anyhow::bail!("luukku dev did not stop within 30 s of SIGINT");
    };
    let status = status?;
    anyhow::ensure!(status.success(), "luukku dev stopped with {status}");
    Ok(())
}

fn luukku(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_luukku")).args(args).output()?)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `family show` until the projection has the family (it follows the streams asynchronously).
fn show(family_id: &str, ports: &Ports) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let mut args = vec!["family", "show", family_id];
        let urls = ports.urls();
        args.extend(urls.iter().map(String::as_str));
        let output = luukku(&args)?;
        if output.status.success() {
            return Ok(text(&output));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(20),
            "family show kept failing: {}",
            text(&output)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn the_whole_system_from_the_command_line() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let ports = Ports::pick(folder.path())?;
    let nats_url = format!("--nats-url=nats://127.0.0.1:{}", ports.nats);
    let (dev, logged) = start_dev_logged(folder.path(), &ports).await?;
    let register_labels =
        ["service=\"luukku.families.v1.FamilyService\"", "method=\"RegisterFamily\"", "code=\"OK\""];
    let before = scrape(&ports).await?;

    let urls = ports.urls();
    let mut register = vec![
        "family",
        "register",
        "--municipality",
        "091",
        "--guardian",
        "Maria Virtanen",
        "--child",
        "Eero Virtanen:2015-05-01",
    ];
    register.extend(urls.iter().map(String::as_str));
    let output = luukku(&register)?;
    assert!(output.status.success(), "{}", text(&output));
    let printed = String::from_utf8(output.stdout)?;
    let family_id = printed.lines().next().unwrap_or_default().to_owned();
    assert_eq!(family_id.len(), 26, "a ULID: {family_id}");
    // The registration moved its RPC's counter and duration histogram, and the event store's.
    let after = scrape(&ports).await?;
    for metric in ["luukku_rpc_requests_total", "luukku_rpc_duration_seconds_count"] {
        assert_eq!(
            sample(&after, metric, &register_labels) - sample(&before, metric, &register_labels),
            1.0,
            "{metric}: {after}"
        );
    }
    let bucket = ["method=\"RegisterFamily\"", "le=\"30\""];
    assert_eq!(sample(&after, "luukku_rpc_duration_seconds_bucket", &bucket), 1.0, "{after}");
    assert!(
        sample(&after, "luukku_append_duration_seconds_count", &["stream=\"FAMILIES\""]) >= 1.0,
        "{after}"
    );
    assert!(!after.contains(&family_id), "no family id in a label");
    // Its log line names the call's request id and trace id.
    let call_logged = logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|line| {
        line.starts_with('{')
            && line.contains("\"call finished\"")
            && line.contains("RegisterFamily")
            && line.contains("\"request_id\"")
            && line.contains("\"trace_id\"")
    });
    assert!(call_logged, "{:?}", logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let guardian = printed
        .lines()
        .find(|line| line.ends_with("Maria Virtanen"))
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned();

    let mut grant = vec![
        "consent",
        "grant",
        "--family",
        &family_id,
        "--by",
        &guardian,
        "--sectors",
        "school,student_welfare",
        "--until",
        "2099-12-31",
        "--purpose",
        "school support",
        "--form",
        "consent-form-2026-17",
    ];
    grant.extend(urls.iter().map(String::as_str));
    let output = luukku(&grant)?;
    assert!(output.status.success(), "{}", text(&output));
    let today = luukku_app::context_now().today.to_string();
    let mut log = vec![
        "contact",
        "log",
        "--family",
        &family_id,
        "--member",
        &guardian,
        "--channel",
        "phone",
        "--needs",
        "learning",
        "--summary",
        "Called about reading",
        "--follow-up",
        &today,
    ];
    log.extend(urls.iter().map(String::as_str));
    let output = luukku(&log)?;
    assert!(output.status.success(), "{}", text(&output));

    let view = loop {
        let view = show(&family_id, &ports)?;
        if view.contains("Follow-up due") {
            break view;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(view.contains("Consent until 2099-12-31: school, student_welfare"), "{view}");
    assert!(view.contains("Called about reading"), "{view}");
    assert!(view.contains("Maria Virtanen") && view.contains("Eero Virtanen"), "{view}");
    assert!(view.contains("registered with 2 members"), "{view}");

    let mut bad = vec!["family", "register", "--municipality", "Helsinki", "--guardian", "Maria Virtanen"];
    bad.extend(urls.iter().map(String::as_str));
    let bad = luukku(&bad)?;
    assert!(!bad.status.success());
    assert!(text(&bad).contains("municipality") && !text(&bad).contains("panicked"), "{}", text(&bad));

    // NATS admits no one without credentials; the operators' tools use their read-only user.
    let anonymous = luukku(&["ops", "streams", &nats_url])?;
    assert!(!anonymous.status.success(), "{}", text(&anonymous));
    let ops_user = format!("--nats-nkey-file={}/nats-users/ops.nk", ports.data_dir);
    let verified = luukku(&["ops", "verify", &nats_url, &ops_user])?;
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("no problems"));
    // One screen of how the system stands.
    let service_urls = [
        format!("--families-url=http://127.0.0.1:{}", ports.families),
        format!("--contacts-url=http://127.0.0.1:{}", ports.others[0]),
        format!("--referrals-url=http://127.0.0.1:{}", ports.others[1]),
        format!("--meetings-url=http://127.0.0.1:{}", ports.others[2]),
        format!("--coordination-url=http://127.0.0.1:{}", ports.coordination),
    ];
    let mut status = vec!["ops", "status", nats_url.as_str(), ops_user.as_str()];
    status.extend(service_urls.iter().map(String::as_str));
    let stood = luukku(&status)?;
    assert!(stood.status.success(), "{}", text(&stood));
    let screen = text(&stood);
    assert_eq!(screen.matches(" SERVING").count(), 5, "{screen}");
    for part in ["FAMILIES", "AUDIT", "coordination projection", "quarantine: empty", "last failures"] {
        assert!(screen.contains(part), "{part}: {screen}");
    }
    // Caseloads follow the assignments; reconciling reads and repairs as the contacts service.
    let contacts_user = format!("--nats-nkey-file={}/nats-users/contacts.nk", ports.data_dir);
    let reconciled = luukku(&["ops", "reconcile", "caseloads", "--repair", &nats_url, &contacts_user])?;
    assert!(reconciled.status.success(), "{}", text(&reconciled));
    assert!(text(&reconciled).contains("every caseload follows"), "{}", text(&reconciled));
    // The erasure journal, read as the operators' user; a restore checks it as the families
    // service's user (the erasures themselves: tests/families/restore.rs).
    let journal = format!("--file={}/erasures.jsonl", ports.data_dir);
    let journalled = luukku(&["ops", "erasures", "journal", &journal, &nats_url, &ops_user])?;
    assert!(journalled.status.success(), "{}", text(&journalled));
    assert!(text(&journalled).contains("0 erasures added"), "{}", text(&journalled));
    let families_user = format!("--nats-nkey-file={}/nats-users/families.nk", ports.data_dir);
    let kek_file = format!("--kek-file={}/keys/kek", ports.data_dir);
    let checked = luukku(&["ops", "erasures", "restore", &journal, &nats_url, &families_user, &kek_file])?;
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).contains("0 to carry out again"), "{}", text(&checked));

    // The registrar's log report: every access to the family, with who and on which basis.
    let log = luukku(&["ops", "access-log", "--family", &family_id, "--csv", &nats_url, &ops_user])?;
    assert!(log.status.success(), "{}", text(&log));
    let log = String::from_utf8(log.stdout)?;
    assert!(
        log.starts_with(
            "time,family,person,role,organisation,system,call,kind,member,basis,allowed,rule,reason"
        ),
        "{log}"
    );
    assert!(log.contains(",dev.user,contact_person,dev,") && log.contains(",RegisterFamily,write,"), "{log}");
    assert!(log.contains(",GrantConsent,write,") && log.contains(",consent-form-2026-17"), "{log}");
    assert!(!log.contains("Maria") && !log.contains("Virtanen"), "no names in the log: {log}");
    let review = luukku(&["ops", "access-log", "--break-glass", &nats_url, &ops_user])?;
    assert!(
        review.status.success() && text(&review).contains("0 break-glass grants and uses"),
        "{}",
        text(&review)
    );
    let neither = luukku(&["ops", "access-log", &nats_url, &ops_user])?;
    assert!(!neither.status.success(), "a family or --break-glass: {}", text(&neither));

    let exported = luukku(&["ops", "export", "--family", &family_id, &nats_url, &kek_file, &ops_user])?;
    assert!(exported.status.success(), "{}", text(&exported));
    let lines: Vec<&str> = std::str::from_utf8(&exported.stdout)?.lines().collect();
    assert_eq!(lines.len(), 3, "registration, consent and contact: {lines:?}");
    assert!(lines[0].contains("Maria") && lines[2].contains("Called about reading"), "{lines:?}");

    // A token from `luukku token` works with any client; without a valid one, nothing does.
    let token_of = |person: &str| -> anyhow::Result<String> {
        let args = ["token", "--as", person, "--role", "contact_person", "--data-dir", &ports.data_dir];
        let token = luukku(&args)?;
        anyhow::ensure!(token.status.success(), "{}", text(&token));
        Ok(String::from_utf8(token.stdout)?.trim().to_owned())
    };
    // The family's registrant (its contact person until one is assigned) sees it.
    let mut show_with = vec![
        "family".to_owned(),
        "show".to_owned(),
        family_id.clone(),
        format!("--token={}", token_of("dev.user")?),
    ];
    show_with.extend(urls.iter().skip(1).cloned());
    let shown = luukku(&show_with.iter().map(String::as_str).collect::<Vec<_>>())?;
    assert!(shown.status.success() && text(&shown).contains("Maria Virtanen"), "{}", text(&shown));
    // Another contact person, with no relationship to the family, is told there is none.
    show_with[3] = format!("--token={}", token_of("anna.contact")?);
    let unrelated = luukku(&show_with.iter().map(String::as_str).collect::<Vec<_>>())?;
    assert!(
        !unrelated.status.success() && text(&unrelated).contains("does not exist"),
        "{}",
        text(&unrelated)
    );
    show_with[3] = "--token=not.a.token".to_owned();
    let refused = luukku(&show_with.iter().map(String::as_str).collect::<Vec<_>>())?;
    assert!(!refused.status.success() && text(&refused).contains("--token"), "{}", text(&refused));
    let elsewhere = tempfile::tempdir()?;
    let outside =
        luukku(&["token", "--as", "anna.contact", "--data-dir", &elsewhere.path().display().to_string()])?;
    assert!(
        !outside.status.success() && text(&outside).contains("not a luukku dev data folder"),
        "{}",
        text(&outside)
    );

    // A rebuild while it runs gives the same view; only an operator may start one.
    let data_dir = format!("--data-dir={}", ports.data_dir);
    let refused = luukku(&["ops", "rebuild", &ports.admin_url(), &data_dir])?;
    assert!(!refused.status.success() && text(&refused).contains("operators"), "{}", text(&refused));
    let rebuilt = luukku(&[
        "ops",
        "rebuild",
        &ports.admin_url(),
        &data_dir,
        "--as",
        "olli.operator",
        "--role",
        "operator",
    ])?;
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    assert!(text(&rebuilt).contains("generation 2"), "{}", text(&rebuilt));
    assert_eq!(show(&family_id, &ports)?, view, "the rebuilt projection answers the same");

    stop(dev).await?;
    let dev = start_dev(folder.path(), &ports).await?;
    let view = show(&family_id, &ports)?;
    assert!(view.contains("Maria Virtanen"), "the data survives a restart: {view}");

    // A message that is not a luukku envelope.
    let admin_seed = std::fs::read_to_string(format!("{}/nats-users/admin.nk", ports.data_dir))?;
    let client = async_nats::ConnectOptions::with_nkey(admin_seed.trim().to_owned())
        .connect(format!("127.0.0.1:{}", ports.nats))
        .await?;
    let jetstream = async_nats::jetstream::new(client);
    let ack =
        jetstream.publish("families.family.01KAQ8S0V3M7Y9ZQ0W2X4B6C8D", "garbage".into()).await?.await?;
    let verified = luukku(&["ops", "verify", &nats_url, &ops_user])?;
    assert!(!verified.status.success(), "verify must fail: {}", text(&verified));
    assert!(
        text(&verified)
            .contains(&format!("FAMILIES {} families.family.01KAQ8S0V3M7Y9ZQ0W2X4B6C8D", ack.sequence)),
        "{}",
        text(&verified)
    );

    let streams = luukku(&["ops", "streams", &nats_url, &ops_user])?;
    assert!(text(&streams).contains("FAMILIES") && text(&streams).contains("AUDIT"), "{}", text(&streams));

    // The read models stop at it, say so, and go on once an operator skips it.
    let stopped_at = format!("STOPPED at FAMILIES {}", ack.sequence);
    let shows = |wanted: bool| {
        let (nats_url, ops_user, stopped_at) = (nats_url.clone(), ops_user.clone(), stopped_at.clone());
        async move {
            for _ in 0..40 {
                let streams = luukku(&["ops", "streams", &nats_url, &ops_user])?;
                if text(&streams).contains(&stopped_at) == wanted {
                    return Ok::<_, anyhow::Error>(text(&streams));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            anyhow::bail!("ops streams never showed {stopped_at:?} = {wanted}")
        }
    };
    let streams = shows(true).await?;
    assert!(streams.contains("coordination projection"), "{streams}");
    let listed = luukku(&["ops", "quarantine", "list", &nats_url, &ops_user])?;
    assert!(
        text(&listed).contains(&format!("FAMILIES {} families.family.", ack.sequence)),
        "{}",
        text(&listed)
    );
    let sequence = ack.sequence.to_string();
    let refused = luukku(&["ops", "quarantine", "skip", &sequence, "--reason", " ", &nats_url, &ops_user])?;
    assert!(!refused.status.success(), "a skip needs a reason: {}", text(&refused));
    let skipped = luukku(&[
        "ops",
        "quarantine",
        "skip",
        &sequence,
        "--reason",
        "test garbage",
        "--operator",
        "ops.tester",
        &nats_url,
        &ops_user,
    ])?;
    assert!(skipped.status.success(), "{}", text(&skipped));
    assert!(text(&skipped).contains("skipped by ops.tester"), "{}", text(&skipped));
    shows(false).await?;
    stop(dev).await?;
    Ok(())
}

/// An OTLP collector on a free port that keeps the spans it is sent.
mod collector {
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::trace::v1::Span;

    #[derive(Clone, Default)]
    pub struct Collector {
        pub spans: Arc<Mutex<Vec<Span>>>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let spans =
                request.into_inner().resource_spans.into_iter().flat_map(|resource| resource.scope_spans);
            let mut kept = self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            kept.extend(spans.flat_map(|scope| scope.spans));
            Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
        }
    }

    /// Starts the collector; gives it and its address.
    pub async fn start() -> anyhow::Result<(Collector, std::net::SocketAddr)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let collector = Collector::default();
        let server =
            tonic::transport::Server::builder().add_service(TraceServiceServer::new(collector.clone()));
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(server.serve_with_incoming(incoming));
        Ok((collector, address))
    }
}

/// The nats-server running on the dev folder's store, from the ports file it writes once
/// listening (`nats-server_<pid>.ports`).
#[cfg(target_os = "linux")]
fn dev_nats_pid(folder: &std::path::Path) -> anyhow::Result<i32> {
    for entry in std::fs::read_dir(folder.join("nats/ports"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_suffix(".ports").and_then(|stem| stem.rsplit('_').next()) {
            return Ok(pid.parse()?);
        }
    }
    anyhow::bail!("no ports file in {}", folder.join("nats/ports").display())
}

/// Whether the process runs (a zombie has ended).
#[cfg(target_os = "linux")]
fn runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with(['Z', 'X'])))
        .unwrap_or(false)
}

#[cfg(target_os = "linux")]
async fn ended_within(pid: i32, limit: Duration) -> bool {
    let started = Instant::now();
    while runs(pid) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !runs(pid)
}

/// A process this test left behind on purpose, killed when the test ends if it still runs.
#[cfg(target_os = "linux")]
struct Orphan(i32);

#[cfg(target_os = "linux")]
impl Drop for Orphan {
    fn drop(&mut self) {
        if runs(self.0) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_dev_system_stops_its_nats_server_when_hung_up_and_cleans_up_after_a_kill() -> anyhow::Result<()> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let folder = tempfile::tempdir()?;
    let ports = Ports::pick(folder.path())?;
    let mut first = start_dev(folder.path(), &ports).await?;
    let server = dev_nats_pid(folder.path())?;
    let urls = ports.urls();
    let mut register = vec!["family", "register", "--municipality", "091", "--guardian", "Maria Virtanen"];
    register.extend(urls.iter().map(String::as_str));
    let output = luukku(&register)?;
    assert!(output.status.success(), "{}", text(&output));
    let family_id = String::from_utf8(output.stdout)?.lines().next().unwrap_or_default().to_owned();

    // A second start on the same folder, while the first runs, leaves the first's server alone.
    let elsewhere = Ports::pick(folder.path())?;
    let second = start_dev(folder.path(), &elsewhere).await.err().map(|error| error.to_string());
    let first_pid = first.0.as_ref().and_then(tokio::process::Child::id).unwrap_or_default();
    assert!(
        second.as_deref().is_some_and(|error| error.contains(&format!(
            "process {first_pid} holds {}: another start runs this folder's nats-server",
            folder.path().join("nats/lock").display()
        ))),
        "{second:?}"
    );
    assert!(runs(server), "the first start's nats-server still runs");
    assert!(show(&family_id, &ports)?.contains("Maria Virtanen"));

    // A terminal closing hangs up `luukku dev`: it stops, and stops its nats-server.
    kill(Pid::from_raw(i32::try_from(first_pid)?), Signal::SIGHUP)?;
    let child = first.0.as_mut().ok_or_else(|| anyhow::anyhow!("no child"))?;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    assert!(status.success(), "luukku dev stopped with {status} after a hang-up");
    assert!(!runs(server), "its nats-server stopped with it");

    // Killed, it leaves its nats-server running; the next start stops that one and runs.
    let mut killed = start_dev(folder.path(), &ports).await?;
    let left_pid = dev_nats_pid(folder.path())?;
    let left = Orphan(left_pid);
    let child = killed.0.as_mut().ok_or_else(|| anyhow::anyhow!("no child"))?;
    child.start_kill()?;
    child.wait().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(runs(left_pid), "a killed luukku dev cannot stop its nats-server");
    // Started by `nohup`, to outlive its terminal, it ignores a hang-up.
    let mut nohup = tokio::process::Command::new("nohup");
    nohup.arg(env!("CARGO_BIN_EXE_luukku"));
    let (mut dev, logged) = start_dev_by(nohup, folder.path(), &ports, &[], &[]).await?;
    assert!(ended_within(left_pid, Duration::from_secs(5)).await, "the server left running was stopped");
    // Its id may now be another process's.
    std::mem::forget(left);
    let said = logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|line| {
        line.contains("left running on this store") && line.contains(&format!("\"pid\":{left_pid}"))
    });
    assert!(said, "the start says which server it stopped");
    let running = dev_nats_pid(folder.path())?;
    let pid = dev.0.as_ref().and_then(tokio::process::Child::id).unwrap_or_default();
    kill(Pid::from_raw(i32::try_from(pid)?), Signal::SIGHUP)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let child = dev.0.as_mut().ok_or_else(|| anyhow::anyhow!("no child"))?;
    assert!(child.try_wait()?.is_none(), "luukku dev under nohup still runs after a hang-up");
    assert!(runs(running), "and so does its nats-server");
    assert!(show(&family_id, &ports)?.contains("Maria Virtanen"), "the data is kept");
    stop(dev).await
}

#[tokio::test]
async fn a_commands_trace_runs_from_its_call_through_the_append_to_the_projection() -> anyhow::Result<()> {
    let (collector, address) = collector::start().await?;
    let folder = tempfile::tempdir()?;
    let ports = Ports::pick(folder.path())?;
    let endpoint = format!("http://{address}");
    let (dev, _logged) = start_dev_with(
        folder.path(),
        &ports,
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await?;
    let urls = ports.urls();
    let mut register = vec!["family", "register", "--municipality", "091", "--guardian", "Maria Virtanen"];
    register.extend(urls.iter().map(String::as_str));
    let output = luukku(&register)?;
    assert!(output.status.success(), "{}", text(&output));

    let started = Instant::now();
    let (call, append, applied) = loop {
        let spans = collector.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let call =
            spans.iter().find(|span| span.name == "luukku.families.v1.FamilyService/RegisterFamily").cloned();
        let append = call.as_ref().and_then(|call| {
            spans
                .iter()
                .find(|span| span.name == "eventstore.append" && span.trace_id == call.trace_id)
                .cloned()
        });
        let applied = append.as_ref().and_then(|append| {
            spans
                .iter()
                .find(|span| span.name == "projection.apply" && span.parent_span_id == append.span_id)
                .cloned()
        });
        if let (Some(call), Some(append), Some(applied)) = (call, append, applied) {
            break (call, append, applied);
        }
        let names: Vec<String> = spans.iter().map(|span| span.name.clone()).collect();
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the whole trace never arrived: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(applied.trace_id, call.trace_id, "one trace from the call to the projection");
    assert_eq!(append.parent_span_id, call.span_id, "the append is the call's child");
    assert!(applied.end_time_unix_nano >= call.start_time_unix_nano);
    stop(dev).await
}

/// The luukku metrics an expression reads.
fn metrics_in(expression: &str) -> std::collections::BTreeSet<String> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|token| token.starts_with("luukku_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_dashboard_has_a_panel_for_every_alert() -> anyhow::Result<()> {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let rules = std::fs::read_to_string(deploy.join("prometheus/alerts.yml"))?;
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy.join("grafana/luukku.json"))?)?;
    let panels = dashboard["panels"].as_array().ok_or_else(|| anyhow::anyhow!("no panels"))?;
    let alerts: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert_eq!(alerts.len(), 6, "{rules}");
    for alert in alerts {
        let name = alert.lines().next().unwrap_or_default().trim();
        let expression = alert.split("labels:").next().unwrap_or_default();
        let wanted = metrics_in(expression);
        assert!(!wanted.is_empty(), "{name} reads no luukku metric");
        let panel =
            panels.iter().find(|panel| panel["description"].as_str().unwrap_or_default().contains(name));
        let panel = panel.ok_or_else(|| anyhow::anyhow!("no panel names {name}"))?;
        let shown: std::collections::BTreeSet<String> = panel["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|target| metrics_in(target["expr"].as_str().unwrap_or_default()))
            .collect();
        assert!(wanted.is_subset(&shown), "{name}: the panel shows {shown:?}, the alert reads {wanted:?}");
    }
    Ok(())
}

/// A base port whose neighbours a 3-node `luukku dev --cluster 3` takes are free too: the
/// clients' (base to base + 2) and the routes' (base + 1000 to base + 1002).
fn free_cluster_base() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let base = free_port()?;
        if base > 60_000 {
            continue;
        }
        let ports = [base, base + 1, base + 2, base + 1000, base + 1001, base + 1002];
        if ports.iter().all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()) {
            return Ok(base);
        }
    }
    anyhow::bail!("no free ports for a cluster")
}

/// The process id of the nats-server node whose folder is `node` (its ports file is named
/// `<server>_<pid>.ports`).
fn node_pid(node: &std::path::Path) -> anyhow::Result<i32> {
    for entry in std::fs::read_dir(node.join("ports"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_suffix(".ports").and_then(|stem| stem.rsplit('_').next()) {
            return Ok(pid.parse()?);
        }
    }
    anyhow::bail!("no ports file in {}", node.display())
}

#[tokio::test]
async fn a_local_cluster_keeps_taking_registrations_when_a_node_is_killed() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let mut ports = Ports::pick(folder.path())?;
    ports.nats = free_cluster_base()?;
    let (dev, _) = start_dev_with(folder.path(), &ports, &[], &[("LUUKKU_DEV_CLUSTER", "3")]).await?;
    let urls = ports.urls();
    let register = |name: &str| {
        let guardian = format!("Maria {name}");
        let mut args = vec!["family", "register", "--municipality", "091", "--guardian", &guardian];
        args.extend(urls.iter().map(String::as_str));
        luukku(&args)
    };
    let output = register("Virtanen")?;
    assert!(output.status.success(), "{}", text(&output));

    // An operator kills a node; registrations go on once the others have elected leaders.
    let pid = node_pid(&folder.path().join("nats").join("node-1"))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)?;
    let began = Instant::now();
    loop {
        let output = register("Korhonen")?;
        if output.status.success() {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(30),
            "no registration after the kill: {}",
            text(&output)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop(dev).await
}

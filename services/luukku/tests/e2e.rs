//! The `luukku` command end to end: `luukku dev` as a process, the client subcommands, a
//! restart that keeps the data, and `ops verify` on a healthy and on a corrupted stream.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Ports {
    nats: u16,
    families: u16,
    coordination: u16,
    /// contacts, referrals, meetings, coordination admin.
    others: [u16; 4],
    /// The dev data folder, whose development issuer signs the client's tokens.
    data_dir: String,
}

impl Ports {
    fn pick(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self {
            nats: free_port()?,
            families: free_port()?,
            coordination: free_port()?,
            others: [free_port()?, free_port()?, free_port()?, free_port()?],
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

/// Starts `luukku dev` and waits until it says it is running.
async fn start_dev(folder: &std::path::Path, ports: &Ports) -> anyhow::Result<tokio::process::Child> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_luukku"))
        .args(["dev", "--data-dir"])
        .arg(folder)
        .args(["--nats-port", &ports.nats.to_string()])
        .args(["--families-port", &ports.families.to_string()])
        .args(["--contacts-port", &ports.others[0].to_string()])
        .args(["--referrals-port", &ports.others[1].to_string()])
        .args(["--meetings-port", &ports.others[2].to_string()])
        .args(["--coordination-port", &ports.coordination.to_string()])
        .args(["--admin-port", &ports.others[3].to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("luukku dev is running") {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("luukku dev ended before it was running")
    })
    .await;
    ready.map_err(|_| anyhow::anyhow!("luukku dev did not start in 60 s"))??;
    // Keep reading so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(child)
}

async fn stop(mut child: tokio::process::Child) -> anyhow::Result<()> {
    let pid = i32::try_from(child.id().unwrap_or(0))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT)?;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
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
    let dev = start_dev(folder.path(), &ports).await?;

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
    let today = jiff::Zoned::now().date().to_string();
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
    // Caseloads follow the assignments; reconciling reads and repairs as the contacts service.
    let contacts_user = format!("--nats-nkey-file={}/nats-users/contacts.nk", ports.data_dir);
    let reconciled = luukku(&["ops", "reconcile", "caseloads", "--repair", &nats_url, &contacts_user])?;
    assert!(reconciled.status.success(), "{}", text(&reconciled));
    assert!(text(&reconciled).contains("every caseload follows"), "{}", text(&reconciled));

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

    let kek_file = format!("--kek-file={}/keys/kek", ports.data_dir);
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

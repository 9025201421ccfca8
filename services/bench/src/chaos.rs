//! `chaos`: a steady mixed load on a 3-node JetStream cluster (streams at 3 replicas) with every
//! service as a process of its own (`luukku serve`), while every few seconds a random NATS node
//! or service process is killed (SIGKILL) and started again. Each command is retried with its
//! request id until it is acknowledged, as a careful client does. At the end it counts:
//! - acknowledged commands against the messages in the streams that carry their request ids:
//!   each must be there exactly once (0 lost, 0 duplicated);
//! - the coordination service's projection against a clean rebuild, byte for byte;
//! - the errors the clients saw, by code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use luukku_domain::RequestId;
use luukku_eventstore::{EventStore, NatsKeyStore, Stream};
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_testkit::cluster::TestCluster;
use tonic::transport::Channel;

use crate::processes::{free_ports, serving};
use crate::stats::Row;

#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// How long the load runs.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Seconds between two kills.
    #[arg(long, default_value_t = 20)]
    every: u64,
    /// Concurrent callers, each a contact person of their own.
    #[arg(long, default_value_t = 4)]
    callers: usize,
}

const SERVICES: [&str; 5] = ["families", "contacts", "referrals", "meetings", "coordination"];

/// A service run as `luukku serve`, which can be killed and started again on its port and folder.
struct Service {
    name: &'static str,
    port: u16,
    command: Vec<std::ffi::OsString>,
    child: Option<tokio::process::Child>,
}

impl Service {
    async fn start(&mut self, luukku: &Path) -> anyhow::Result<()> {
        let child = tokio::process::Command::new(luukku)
            .args(&self.command)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let began = Instant::now();
        while !serving(self.port).await {
            anyhow::ensure!(began.elapsed() < Duration::from_secs(120), "{} did not start", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Stops it as an operator does (SIGTERM), so that it writes its folder.
    async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take()
            && let Some(pid) = child.id()
        {
            tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
            if tokio::time::timeout(Duration::from_secs(30), child.wait()).await.is_err() {
                child.kill().await?;
            }
        }
        Ok(())
    }
}

/// What the callers saw.
#[derive(Default)]
struct Seen {
    /// Request ids of the commands acknowledged, by the stream they write.
    acknowledged: BTreeMap<String, Stream>,
    errors: BTreeMap<String, u64>,
    /// The longest a command took from its first try to its acknowledgement.
    longest: Duration,
}

#[derive(Clone)]
struct Clients {
    families: FamilyServiceClient<Channel>,
    contacts: ContactServiceClient<Channel>,
    referrals: ReferralServiceClient<Channel>,
    meetings: MeetingServiceClient<Channel>,
    supervisor: Arc<str>,
    seen: Arc<Mutex<Seen>>,
}

/// Calls `$client.$method($request)` with `$token` until it is acknowledged (the same request
/// id each time), noting each failure's code; the answer.
macro_rules! until_acknowledged {
    ($clients:expr, $stream:expr, $client:ident, $method:ident, $request:expr, $token:expr) => {{
        let request = $request;
        let request_id = request.request_id.clone();
        let began = Instant::now();
        loop {
            let mut call = luukku_grpc::with_token(request.clone(), $token);
            call.set_timeout(Duration::from_secs(5));
            match $clients.$client.clone().$method(call).await {
                Ok(answer) => {
                    let mut seen = $clients.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    seen.acknowledged.insert(request_id, $stream);
                    seen.longest = seen.longest.max(began.elapsed());
                    break answer.into_inner();
                }
                Err(status) => {
                    let code = format!("{:?}", status.code());
                    *$clients
                        .seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .errors
                        .entry(code)
                        .or_default() += 1;
                    anyhow::ensure!(
                        began.elapsed() < Duration::from_secs(120),
                        "{} not acknowledged in 120 s: {status:?}",
                        stringify!($method)
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }};
}

fn request_id() -> String {
    RequestId::generate().to_string()
}

/// One family's commands: register, consent, assign, a contact, a referral, a meeting.
async fn family(
    clients: &Clients,
    token: &str,
    contact_person_id: &str,
    service_id: &str,
) -> anyhow::Result<()> {
    let registration = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
    let registered =
        until_acknowledged!(clients, Stream::Families, families, register_family, registration, token);
    let family_id = registered.family_id;
    let (guardian, child) = match registered.member_ids.as_slice() {
        [guardian, child, ..] => (guardian.clone(), child.clone()),
        _ => anyhow::bail!("a registration answered without its members"),
    };
    let today = luukku_app::context_now().today;
    let grant = families::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: family_id.clone(),
        given_by: guardian.clone(),
        sectors: vec!["mental_health".to_owned()],
        purpose: "Support for the child's school mornings".to_owned(),
        valid_until: today.checked_add(jiff::Span::new().days(365))?.to_string(),
        ..Default::default()
    };
    until_acknowledged!(clients, Stream::Families, families, grant_consent, grant, token);
    let assign = contacts::AssignContactPersonRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        contact_person_id: contact_person_id.to_owned(),
        reason: String::new(),
    };
    let supervisor = Arc::clone(&clients.supervisor);
    until_acknowledged!(clients, Stream::Contacts, contacts, assign_contact_person, assign, &supervisor);
    let contact = contacts::RecordContactRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        direction: contacts::Direction::Inbound as i32,
        member_id: guardian.clone(),
        channel: "phone".to_owned(),
        needs: vec!["parenting".to_owned()],
        summary: "The guardian called about the child's school mornings".to_owned(),
        ..Default::default()
    };
    until_acknowledged!(clients, Stream::Contacts, contacts, record_contact, contact, token);
    let refer = referrals::CreateReferralRequest {
        request_id: request_id(),
        referral_id: String::new(),
        family_id: family_id.clone(),
        child_member_id: child,
        service_id: service_id.to_owned(),
        needs: vec!["mental_health".to_owned()],
        urgency: "normal".to_owned(),
        reason: "Panic attacks before school".to_owned(),
        statutory_basis: None,
    };
    until_acknowledged!(clients, Stream::Referrals, referrals, create_referral, refer, token);
    let participant = |who| meetings::Participant { who: Some(who) };
    let propose = meetings::ProposeMeetingRequest {
        request_id: request_id(),
        family_id,
        expected_version: None,
        meeting_id: String::new(),
        purpose: "school_support".to_owned(),
        description: "The child's school mornings".to_owned(),
        slots: vec![meetings::Slot {
            starts_at_ms: jiff::Timestamp::now().as_millisecond() + 172_800_000,
            minutes: 90,
        }],
        place: "Perhekeskus, room 2".to_owned(),
        participants: vec![participant(meetings::participant::Who::MemberId(guardian))],
    };
    until_acknowledged!(clients, Stream::Meetings, meetings, propose_meeting, propose, token);
    Ok(())
}

/// Every message of the four streams, counted by the request id it carries.
async fn written(store: &EventStore) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut counted = BTreeMap::new();
    for stream in Stream::ALL {
        let last = store.last_sequence(stream).await?;
        if last == 0 {
            continue;
        }
        let mut messages = std::pin::pin!(store.follow(stream, 1));
        while let Some(item) = messages.next().await {
            let recorded = item.map_err(|undecodable| anyhow::anyhow!("{:?}", undecodable.error))?;
            *counted.entry(recorded.envelope.request_id.to_string()).or_default() += 1;
            if recorded.position.sequence >= last {
                break;
            }
        }
    }
    Ok(counted)
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<Row> {
    let luukku = std::env::current_exe()?.with_file_name("luukku");
    anyhow::ensure!(
        luukku.exists(),
        "{} is missing: build it with `cargo build -p luukku`",
        luukku.display()
    );
    let mut cluster = TestCluster::start().await?;
    let store = cluster.store().await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let folder = tempfile::tempdir()?;
    let jwks = folder.path().join("jwks.json");
    std::fs::write(&jwks, luukku_testkit::auth::dev_issuer().jwks())?;
    let kek = folder.path().join("kek");
    std::fs::write(&kek, luukku_testkit::kek().to_base64().as_bytes())?;
    println!(
        "luukku-bench chaos: {} min, a kill every {} s, {} callers; nats-server cluster {}",
        args.minutes,
        args.every,
        args.callers,
        cluster.urls()
    );

    let mut services = Vec::new();
    for name in SERVICES {
        let [port, metrics, admin] = free_ports()?;
        let data: PathBuf = folder.path().join(name);
        let mut command: Vec<std::ffi::OsString> =
            ["serve", name, "--insecure-plaintext", "--nats-url"].into_iter().map(Into::into).collect();
        command.push(cluster.urls().into());
        for (flag, value) in [
            ("--listen", format!("127.0.0.1:{port}")),
            ("--metrics-listen", format!("127.0.0.1:{metrics}")),
            ("--admin-listen", format!("127.0.0.1:{admin}")),
            ("--token-issuer", luukku_auth::DEV_ISSUER.to_owned()),
            ("--token-audience", luukku_auth::DEV_AUDIENCE.to_owned()),
        ] {
            command.extend([flag.into(), value.into()]);
        }
        let user = luukku_eventstore::access::NatsUser::SERVICES
            .into_iter()
            .find(|user| user.name() == name)
            .ok_or_else(|| anyhow::anyhow!("no NATS user for {name}"))?;
        let seed = cluster.seed_file(user);
        for (flag, path) in
            [("--jwks-file", &jwks), ("--kek-file", &kek), ("--data-dir", &data), ("--nats-nkey-file", &seed)]
        {
            command.extend([flag.into(), path.clone().into_os_string()]);
        }
        let mut service = Service { name, port, command, child: None };
        service.start(&luukku).await?;
        services.push(service);
    }
    let channel = |index: usize| {
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", services[index].port))
            .map(|endpoint| endpoint.connect_lazy())
    };
    let supervisor: Arc<str> = luukku_testkit::auth::token(&luukku_testkit::supervisor()).into();
    let clients = Clients {
        families: FamilyServiceClient::new(channel(0)?),
        contacts: ContactServiceClient::new(channel(1)?),
        referrals: ReferralServiceClient::new(channel(2)?),
        meetings: MeetingServiceClient::new(channel(3)?),
        supervisor: Arc::clone(&supervisor),
        seen: Arc::default(),
    };

    // The callers' contact persons, and the service they refer to.
    let register = crate::data::youth_clinic();
    let service_id =
        until_acknowledged!(clients, Stream::Referrals, referrals, register_service, register, &supervisor)
            .service_id;
    let mut callers = Vec::new();
    for number in 0..args.callers {
        let request = crate::data::contact_person(number, 100_000);
        let person_id = request.profile.as_ref().map(|profile| profile.person_id.clone()).unwrap_or_default();
        let registered = until_acknowledged!(
            clients,
            Stream::Contacts,
            contacts,
            register_contact_person,
            request,
            &supervisor
        );
        let token: Arc<str> = luukku_testkit::auth::token(&luukku_testkit::actor_named(&person_id)).into();
        callers.push((registered.contact_person_id, token));
    }

    // The load.
    let until = Instant::now() + Duration::from_secs(args.minutes * 60);
    let families_done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut load = Vec::new();
    for (contact_person_id, token) in callers {
        let (clients, service_id, done) = (clients.clone(), service_id.clone(), Arc::clone(&families_done));
        load.push(tokio::spawn(async move {
            while Instant::now() < until {
                family(&clients, &token, &contact_person_id, &service_id).await?;
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }

    // The faults: a random node or service, killed and started again.
    let mut kills: BTreeMap<String, u64> = BTreeMap::new();
    let began = Instant::now();
    while Instant::now() + Duration::from_secs(args.every) < until {
        tokio::time::sleep(Duration::from_secs(args.every)).await;
        let victim = fastrand::usize(..cluster.nodes.len() + services.len());
        let name = if victim < cluster.nodes.len() {
            let node = &mut cluster.nodes[victim];
            node.kill().await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            node.restart().await?;
            node.name().to_owned()
        } else {
            let service = &mut services[victim - cluster.nodes.len()];
            service.kill().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            service.start(&luukku).await?;
            service.name.to_owned()
        };
        println!("  {:>4.0} s: killed and restarted {name}", began.elapsed().as_secs_f64());
        *kills.entry(name).or_default() += 1;
    }
    for caller in load {
        caller.await??;
    }
    let families = families_done.load(std::sync::atomic::Ordering::Relaxed);

    // Every acknowledged command once in the streams; none twice.
    let seen = std::mem::take(&mut *clients.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let counted = written(&store).await?;
    let lost = seen.acknowledged.keys().filter(|id| !counted.contains_key(*id)).count();
    let duplicated = seen.acknowledged.keys().filter(|id| counted.get(*id).is_some_and(|n| *n > 1)).count();
    let events: u64 = seen.acknowledged.keys().filter_map(|id| counted.get(id)).sum();
    println!(
        "{} commands acknowledged ({families} families); {events} messages carry their request ids: {lost} lost, {duplicated} duplicated",
        seen.acknowledged.len()
    );
    println!(
        "errors the clients saw, by code (each retried): {:?}; the longest a command took: {:.1} s",
        seen.errors,
        seen.longest.as_secs_f64()
    );
    println!("kills: {kills:?}");

    // The projection against a clean rebuild.
    let coordination = services.iter_mut().find(|service| service.name == "coordination");
    let coordination = coordination.ok_or_else(|| anyhow::anyhow!("no coordination service"))?;
    let ends = crate::data::ends(&store).await?;
    let projection_folder = folder.path().join("coordination");
    let live = {
        // Caught up before it stops: it follows the streams as they are now.
        let projection = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                coordination.stop().await?;
                let opened = luukku_coordination::Projection::open(
                    &projection_folder,
                    store.clone(),
                    luukku_coordination::Indexing::from_keys(luukku_coordination::cached_keys(keys.clone())),
                )?;
                if opened.wait_for(ends, Duration::from_secs(60)).await.is_ok() {
                    opened.flush().await?;
                    return anyhow::Ok(opened);
                }
            }
        })
        .await??;
        let dump = projection.tree().dump()?;
        drop(projection);
        dump
    };
    let fresh = tempfile::tempdir()?;
    let rebuilt = luukku_coordination::Projection::open(
        fresh.path(),
        store.clone(),
        luukku_coordination::Indexing::from_keys(luukku_coordination::cached_keys(keys.clone())),
    )?;
    crate::data::caught_up(&rebuilt, ends).await?;
    let clean = rebuilt.tree().dump()?;
    let differing =
        live.len().abs_diff(clean.len()) + live.iter().zip(&clean).filter(|(a, b)| a != b).count();
    println!(
        "the projection after the faults against a clean rebuild: {} entries against {}, {differing} differing",
        live.len(),
        clean.len()
    );
    anyhow::ensure!(
        lost == 0 && duplicated == 0,
        "{lost} acknowledged commands lost, {duplicated} duplicated"
    );
    anyhow::ensure!(differing == 0, "the projection differs from a clean rebuild");
    let ratio = events as f64 / seen.acknowledged.len().max(1) as f64;
    println!("ratio={ratio:.3}");
    Ok(Row {
        name: "chaos",
        figure: format!(
            "{} commands acknowledged in {} min with a kill every {} s ({kills:?}): {lost} lost, {duplicated} duplicated; projection equal to a clean rebuild; errors seen {:?}",
            seen.acknowledged.len(),
            args.minutes,
            args.every,
            seen.errors
        ),
        ceiling: "each acknowledged command once in the streams".to_owned(),
        ratio,
    })
}

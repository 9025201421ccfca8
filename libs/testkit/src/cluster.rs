//! Three nats-servers in one JetStream cluster on loopback, on free ports, each with its store in
//! a temporary folder, admitting only luukku's users with their permissions: for the tests of
//! leader loss, paused nodes and retries.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use luukku_eventstore::access::{NatsUser, UserKeys};
use luukku_eventstore::{EventStore, StoreSettings, Stream};
use luukku_runtime::{ClusterOptions, NatsServer, NatsServerOptions};

/// A 3-node cluster of this test's own. Dropping it kills the servers and removes their folders.
pub struct TestCluster {
    pub nodes: Vec<NatsServer>,
    /// The users' keys (`users/<user>.nk` in the cluster's folder).
    pub users: UserKeys,
    // Declared after `nodes`, so the processes die before their folders are removed.
    folder: tempfile::TempDir,
    // Held while the cluster lives: see [`ONE_AT_A_TIME`].
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One cluster at a time in a test process: the tests time elections and pauses, and several
/// clusters on two cores slow each other's elections past what they allow.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `count` free ports, all different: each is held until every one is picked, since a port
/// let go at once may be handed out again by the next pick (a node was once given the same
/// port for its clients and its routes).
pub fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let held = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(held
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect::<std::io::Result<_>>()?)
}

impl TestCluster {
    /// Starts three nodes and waits until JetStream has a meta leader.
    pub async fn start() -> anyhow::Result<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        crate::left::clear_once().await;
        let folder = tempfile::Builder::new().prefix("luukku-cluster-").tempdir()?;
        crate::left::mark(folder.path())?;
        let users = UserKeys::create_or_open(&folder.path().join("users"))?;
        let config = folder.path().join("auth.conf");
        std::fs::write(&config, users.server_authorization()?)?;
        // The ports are let go before the nodes bind them, and another process may take one
        // meanwhile: then the nodes that started are stopped, and the cluster is started again
        // on other ports, in a folder of its own.
        let mut attempt = 1;
        let nodes = loop {
            let ports: Vec<(u16, u16)> = free_ports(6)?.chunks(2).map(|pair| (pair[0], pair[1])).collect();
            let routes: Vec<String> =
                ports.iter().map(|(_, route)| format!("nats://127.0.0.1:{route}")).collect();
            let nodes_folder = folder.path().join(format!("attempt-{attempt}"));
            let starts = ports.iter().enumerate().map(|(index, (client, route))| {
                let mut options = NatsServerOptions::new(nodes_folder.join(format!("node-{}", index + 1)));
                options.port = Some(*client);
                options.server_name = format!("luukku-{}", index + 1);
                options.config = Some(config.clone());
                options.cluster =
                    Some(ClusterOptions { name: "luukku".to_owned(), port: *route, routes: routes.clone() });
                NatsServer::start(options)
            });
            match futures::future::try_join_all(starts).await {
                Ok(nodes) => break nodes,
                Err(error) if attempt < 3 => {
                    eprintln!("a 3-node cluster did not start ({error}); starting it again on other ports");
                    attempt += 1;
                }
                Err(error) => return Err(error).context("starting a 3-node cluster"),
            }
        };
        let cluster = Self { nodes, users, folder, _turn: turn };
        cluster.until_jetstream(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// Every node's client URL, comma-separated, as a service is given a cluster.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(NatsServer::client_url).collect::<Vec<_>>().join(",")
    }

    pub fn folder(&self) -> &std::path::Path {
        self.folder.path()
    }

    /// The NKEY seed file of `user`.
    pub fn seed_file(&self, user: NatsUser) -> std::path::PathBuf {
        self.folder.path().join("users").join(format!("{}.nk", user.name()))
    }

    /// An event store signed in as `user`, with streams of 3 replicas.
    pub async fn store_as(&self, user: NatsUser) -> anyhow::Result<EventStore> {
        let settings = StoreSettings { replicas: 3, ..StoreSettings::default() };
        Ok(EventStore::connect_as(&self.urls(), settings, &self.users.auth(user)?).await?)
    }

    /// An event store signed in as the admin user, with every stream and bucket provisioned at
    /// 3 replicas.
    pub async fn store(&self) -> anyhow::Result<EventStore> {
        let store = self.store_as(NatsUser::Admin).await?;
        luukku_eventstore::provision(&store).await?;
        Ok(store)
    }

    /// Waits until JetStream answers (a meta leader is elected), for at most `limit`.
    pub async fn until_jetstream(&self, limit: Duration) -> anyhow::Result<()> {
        let admin = self.store_as(NatsUser::Admin).await?;
        let began = Instant::now();
        loop {
            match admin.jetstream().query_account().await {
                Ok(_) => return Ok(()),
                Err(error) if began.elapsed() > limit => {
                    anyhow::bail!("JetStream did not answer within {limit:?}: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The node that leads `stream`. Right after a fault the stream may have none, or its
    /// information no answer, until an election ends (4 to 9 s): asked again for up to 20 s.
    pub async fn leader_of(&self, store: &EventStore, stream: Stream) -> anyhow::Result<usize> {
        let began = Instant::now();
        let leader = loop {
            let asked = async { anyhow::Ok(store.stream(stream).await?.info().await?.clone()) };
            let found = match asked.await {
                Ok(info) => {
                    info.cluster.and_then(|cluster| cluster.leader).context("the stream has no leader")
                }
                Err(error) => Err(error),
            };
            match found {
                Ok(leader) => break leader,
                Err(error) if began.elapsed() > Duration::from_secs(20) => {
                    return Err(error.context(format!("{stream} had no leader for 20 s")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        self.nodes
            .iter()
            .position(|node| node.name() == leader)
            .with_context(|| format!("no node named {leader}"))
    }
}

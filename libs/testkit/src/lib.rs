//! Test support: a real nats-server per test on a port it picks itself, with its store in a
//! temporary folder; both go away on drop.

pub mod auth;
pub mod cluster;
pub mod fixtures;
pub mod given;
pub mod golden;
pub mod grpc;
pub mod left;
pub mod sample;

use anyhow::Context as _;
use luukku_domain::{Actor, Code, Role, Sector};
use luukku_eventstore::access::{NatsUser, UserKeys};
use luukku_eventstore::{EventStore, StoreSettings};
use luukku_runtime::{NatsServer, NatsServerOptions};

/// A nats-server of this test's own. Dropping it kills the server and removes its folder.
pub struct TestNats {
    pub server: NatsServer,
    /// The users' keys, when the server requires users ([`TestNats::start_locked`]).
    pub users: Option<UserKeys>,
    // Declared after `server`, so the process dies before its folder is removed.
    folder: tempfile::TempDir,
}

impl TestNats {
    /// Starts the pinned nats-server (see `luukku_runtime::nats_server::locate_binary`).
    pub async fn start() -> anyhow::Result<Self> {
        left::clear_once().await;
        let folder = tempfile::Builder::new().prefix("luukku-nats-").tempdir()?;
        left::mark(folder.path())?;
        let server = NatsServer::start(NatsServerOptions::new(folder.path()))
            .await
            .context("starting a nats-server for the test")?;
        Ok(Self { server, users: None, folder })
    }

    /// Starts a nats-server that admits only luukku's users, each with its permissions
    /// (`luukku_eventstore::access`); the admin user has provisioned the streams and the
    /// key bucket.
    pub async fn start_locked() -> anyhow::Result<Self> {
        left::clear_once().await;
        let folder = tempfile::Builder::new().prefix("luukku-nats-").tempdir()?;
        left::mark(folder.path())?;
        let users = UserKeys::create_or_open(&folder.path().join("users"))?;
        let config = folder.path().join("auth.conf");
        std::fs::write(&config, users.server_authorization()?)?;
        let mut options = NatsServerOptions::new(folder.path());
        options.config = Some(config);
        let server =
            NatsServer::start(options).await.context("starting a locked nats-server for the test")?;
        let nats = Self { server, users: Some(users), folder };
        let admin = nats.store_as(NatsUser::Admin, StoreSettings::default()).await?;
        luukku_eventstore::provision(&admin).await?;
        Ok(nats)
    }

    /// An event store signed in as `user` (on a server of [`TestNats::start_locked`]).
    pub async fn store_as(&self, user: NatsUser, settings: StoreSettings) -> anyhow::Result<EventStore> {
        let users = self.users.as_ref().context("this test server has no users")?;
        Ok(EventStore::connect_as(&self.url(), settings, &users.auth(user)?).await?)
    }

    pub fn url(&self) -> String {
        self.server.client_url()
    }

    pub fn folder(&self) -> &std::path::Path {
        self.folder.path()
    }

    /// A new client connection.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::ConnectOptions::new().retry_on_initial_connect().connect(self.url()).await?)
    }

    /// An event store on this server with every luukku stream provisioned.
    pub async fn store(&self) -> anyhow::Result<EventStore> {
        self.store_with(StoreSettings::default()).await
    }

    /// An event store with every stream and the family key bucket provisioned.
    pub async fn store_with(&self, settings: StoreSettings) -> anyhow::Result<EventStore> {
        let store = EventStore::new(self.client().await?, settings);
        luukku_eventstore::provision(&store).await?;
        Ok(store)
    }
}

/// An actor for tests: a contact person of family social services.
pub fn actor() -> Actor {
    actor_named("test.contact")
}

pub fn actor_named(person_id: &str) -> Actor {
    actor_as(person_id, Role::ContactPerson, Some(Sector::FamilySocialServices))
}

/// An actor for tests in `role`, of `sector`.
pub fn actor_as(person_id: &str, role: Role, sector: Option<Sector>) -> Actor {
    Actor {
        person_id: Code::parse(person_id)
            .unwrap_or_else(|error| panic!("test person id {person_id:?}: {error}")),
        role,
        sector,
        organisation: Code::parse("0201256-6").unwrap_or_else(|error| panic!("{error}")),
        system: Code::parse("luukku-tests").unwrap_or_else(|error| panic!("{error}")),
    }
}

/// A contact persons' supervisor: registers contact persons, assigns families.
pub fn supervisor() -> Actor {
    actor_as("test.supervisor", Role::Supervisor, Some(Sector::FamilySocialServices))
}

/// An operator.
pub fn operator() -> Actor {
    actor_as("test.operator", Role::Operator, None)
}

/// A professional of `sector`.
pub fn professional(person_id: &str, sector: Sector) -> Actor {
    actor_as(person_id, Role::SectorProfessional, Some(sector))
}

/// The key-encryption key of this test process's key stores (for a child process to share).
pub fn kek() -> luukku_eventstore::Kek {
    static KEK: std::sync::OnceLock<luukku_eventstore::Kek> = std::sync::OnceLock::new();
    KEK.get_or_init(luukku_eventstore::Kek::generate).clone()
}

/// The key ring of this test process's key stores: [`kek`].
pub fn key_ring() -> std::sync::Arc<dyn luukku_eventstore::KeyWrapper> {
    std::sync::Arc::new(luukku_eventstore::KeyRing::new(kek(), vec![]))
}

/// A family's key as the key bucket stores it (wrapped), to put back with [`put_back_key`].
pub async fn stored_key(store: &luukku_eventstore::EventStore, family: &str) -> anyhow::Result<Vec<u8>> {
    let bucket = store.jetstream().get_key_value(luukku_eventstore::keys::KEY_BUCKET).await?;
    let stored = bucket.get(family).await?.ok_or_else(|| anyhow::anyhow!("family {family} has no key"))?;
    Ok(stored.to_vec())
}

/// Puts `stored` (from [`stored_key`]) back as the family's key, over whatever the bucket holds:
/// as if an erasure's key deletion had failed. No service writes a key over an erasure's marker.
pub async fn put_back_key(
    store: &luukku_eventstore::EventStore,
    family: &str,
    stored: Vec<u8>,
) -> anyhow::Result<()> {
    let bucket = store.jetstream().get_key_value(luukku_eventstore::keys::KEY_BUCKET).await?;
    bucket.put(family, stored.into()).await?;
    Ok(())
}

/// Polls `check` every 50 ms for up to `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < until {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(false)
}

/// This test process's telemetry: spans with trace contexts, as a served process has them,
/// and no log lines (`RUST_LOG` shows them). Set up once; kept for the life of the process.
pub fn telemetry() {
    static TELEMETRY: std::sync::OnceLock<Option<luukku_runtime::telemetry::Telemetry>> =
        std::sync::OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let settings = luukku_runtime::telemetry::Settings {
            default_filter: "off".to_owned(),
            service_name: "luukku-tests".to_owned(),
            ..Default::default()
        };
        luukku_runtime::telemetry::init(&settings).ok()
    });
}

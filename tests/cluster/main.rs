//! luukku on a 3-node JetStream cluster on loopback, with streams at 3 replicas: what survives
//! the loss of a stream's leader, a paused node, and a request retried across a leader change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use luukku_domain::RequestId;
use luukku_eventstore::access::NatsUser;
use luukku_eventstore::{EventStore, NatsKeyStore, Stream};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::auth::with_identity;
use luukku_testkit::cluster::TestCluster;
use luukku_testkit::fixtures::registration_request;
use luukku_testkit::grpc::{Served, serve_routes};
use tonic::transport::Channel;

/// The families service on the cluster.
struct Families {
    client: FamilyServiceClient<Channel>,
    store: EventStore,
    _served: Served,
}

impl Families {
    async fn start(cluster: &TestCluster) -> anyhow::Result<Self> {
        // `RUST_LOG` shows the service's log lines.
        luukku_testkit::telemetry();
        // Provisioned by the admin user; the service signs in as its own.
        cluster.store().await?;
        let store = cluster.store_as(NatsUser::Families).await?;
        let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
        let guard = luukku_app::Guard::start(store.clone());
        guard.relations().ready().await?;
        let served = serve_routes(luukku_families::routes(store.clone(), keys, guard).await).await?;
        let client = FamilyServiceClient::connect(served.url()).await?;
        Ok(Self { client, store, _served: served })
    }

    /// Registers a family under `request_id`, with a deadline of `timeout`.
    async fn register(&self, request_id: &str, timeout: Duration) -> Result<String, tonic::Status> {
        let mut call = with_identity(registration_request(request_id, "Virtanen"), &luukku_testkit::actor());
        call.set_timeout(timeout);
        Ok(self.client.clone().register_family(call).await?.into_inner().family_id)
    }

    async fn exists(&self, family_id: &str) -> anyhow::Result<bool> {
        let call =
            with_identity(pb::GetFamilyRequest { family_id: family_id.to_owned() }, &luukku_testkit::actor());
        Ok(self.client.clone().get_family(call).await?.into_inner().family.is_some())
    }

    /// Waits until the service reads again after a fault (its followers have found the new
    /// leader): how long that took.
    async fn until_reading(&self, family_id: &str) -> anyhow::Result<Duration> {
        let began = Instant::now();
        loop {
            let request = pb::GetFamilyRequest { family_id: family_id.to_owned() };
            match self.client.clone().get_family(with_identity(request, &luukku_testkit::actor())).await {
                Ok(found) => {
                    anyhow::ensure!(found.into_inner().family.is_some(), "family {family_id} is gone");
                    return Ok(began.elapsed());
                }
                Err(status)
                    if status.code() == tonic::Code::Unavailable
                        && began.elapsed() < Duration::from_secs(30) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => anyhow::bail!("the service does not read again: {status:?}"),
            }
        }
    }

    /// The messages in `FAMILIES`, once its leader answers.
    async fn messages(&self) -> anyhow::Result<u64> {
        let began = Instant::now();
        loop {
            let info =
                async { anyhow::Ok(self.store.stream(Stream::Families).await?.info().await?.state.messages) };
            match info.await {
                Ok(messages) => return Ok(messages),
                Err(error) if began.elapsed() > Duration::from_secs(30) => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// What a steady writer saw.
#[derive(Debug, Default)]
struct Written {
    acknowledged: Vec<String>,
    errors: BTreeMap<String, usize>,
    /// What each failed call was told, once each, for a failure to say.
    told: std::collections::BTreeSet<String>,
    /// The longest run of failed calls, from the first failure to the next success.
    longest_outage: Duration,
}

/// The leader of each group a registration writes to (its stream, the access log, the key
/// bucket), or why it is not known, each asked within 2 s.
async fn leaders(families: &Families) -> BTreeMap<&'static str, String> {
    let mut found = BTreeMap::new();
    for name in ["FAMILIES", "AUDIT", "KV_LUUKKU_FAMILY_KEYS"] {
        let asked = tokio::time::timeout(Duration::from_secs(2), async {
            let mut stream = families.store.jetstream().get_stream(name).await?;
            let info = stream.info().await?;
            anyhow::Ok(
                info.cluster.clone().and_then(|cluster| cluster.leader).unwrap_or_else(|| "none".to_owned()),
            )
        })
        .await;
        let leader = match asked {
            Ok(Ok(leader)) => leader,
            Ok(Err(error)) => format!("unknown ({error})"),
            Err(_) => "no answer in 2 s".to_owned(),
        };
        found.insert(name, leader);
    }
    found
}

/// Registers families one after another for `how_long`.
async fn write_for(families: &Families, how_long: Duration) -> Written {
    let mut written = Written::default();
    let mut failing_since: Option<Instant> = None;
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        match families.register(&RequestId::generate().to_string(), Duration::from_secs(5)).await {
            Ok(family_id) => {
                written.acknowledged.push(family_id);
                if let Some(since) = failing_since.take() {
                    written.longest_outage = written.longest_outage.max(since.elapsed());
                }
            }
            Err(status) => {
                *written.errors.entry(format!("{:?}", status.code())).or_default() += 1;
                written.told.insert(status.message().to_owned());
                failing_since.get_or_insert_with(Instant::now);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Some(since) = failing_since {
        written.longest_outage = written.longest_outage.max(since.elapsed());
    }
    written
}

#[tokio::test]
async fn the_streams_and_the_key_bucket_have_three_replicas() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let families = Families::start(&cluster).await?;
    for stream in Stream::ALL {
        let info = families.store.stream(stream).await?.info().await?.clone();
        assert_eq!(info.config.num_replicas, 3, "{stream}");
        let replicas = info.cluster.map(|cluster| cluster.replicas.len()).unwrap_or_default();
        assert_eq!(replicas, 2, "{stream} has a leader and two followers");
    }
    for name in ["AUDIT", "KV_LUUKKU_FAMILY_KEYS"] {
        let info = families.store.jetstream().get_stream(name).await?.info().await?.clone();
        assert_eq!(info.config.num_replicas, 3, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn acknowledged_writes_survive_the_loss_of_the_stream_leader() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start().await?;
    let families = Families::start(&cluster).await?;
    let writing = write_for(&families, Duration::from_secs(14));
    let killing = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let leader = cluster.leader_of(&families.store, Stream::Families).await?;
        cluster.nodes[leader].kill().await?;
        anyhow::Ok(leader)
    };
    let (written, killed) = tokio::join!(writing, killing);
    let killed = killed?;
    assert!(written.acknowledged.len() > 10, "writes went on: {written:?}");
    assert!(
        written.errors.keys().all(|code| code == "Unavailable"),
        "only UNAVAILABLE while the leader was elected: {:?}",
        written.errors
    );
    // An election takes the election timeout (4 to 9 s) at most; two fit in the limit.
    assert!(written.longest_outage < Duration::from_secs(15), "recovered without a restart: {written:?}");
    let new_leader = cluster.leader_of(&families.store, Stream::Families).await?;
    assert_ne!(new_leader, killed, "another node leads");
    let last = written.acknowledged.last().expect("acknowledged writes");
    let recovered = families.until_reading(last).await?;
    assert!(recovered < Duration::from_secs(10), "reads recovered without a restart, after {recovered:?}");
    for family_id in &written.acknowledged {
        assert!(families.exists(family_id).await?, "acknowledged family {family_id} is there");
    }
    assert!(families.messages().await? >= written.acknowledged.len() as u64);
    // The node comes back and the stream has three replicas again.
    cluster.nodes[killed].restart().await?;
    Ok(())
}

#[tokio::test]
async fn a_request_retried_across_a_leader_change_lands_once() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start().await?;
    let families = Families::start(&cluster).await?;
    let request_id = RequestId::generate().to_string();
    let first = families.register(&request_id, Duration::from_secs(5)).await?;
    let leader = cluster.leader_of(&families.store, Stream::Families).await?;
    cluster.nodes[leader].kill().await?;
    let began = Instant::now();
    let retried = loop {
        match families.register(&request_id, Duration::from_secs(5)).await {
            Ok(family_id) => break family_id,
            Err(status)
                if status.code() == tonic::Code::Unavailable && began.elapsed() < Duration::from_secs(20) =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => anyhow::bail!("the retry failed: {status:?}"),
        }
    };
    assert_eq!(retried, first, "the retry is answered with the first registration");
    assert_eq!(families.messages().await?, 1, "and appended nothing");
    Ok(())
}

#[tokio::test]
async fn a_paused_leader_rejoins_and_catches_up() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let families = Families::start(&cluster).await?;
    families.register(&RequestId::generate().to_string(), Duration::from_secs(5)).await?;
    let leader = cluster.leader_of(&families.store, Stream::Families).await?;
    let before = leaders(&families).await;
    cluster.nodes[leader].pause().await?;
    // A paused leader is noticed only by silence: the others elect a new one after their election
    // timeout (4 to 9 s), and a client connected to the paused node leaves it after two unanswered
    // pings (4 to 6 s).
    let written = write_for(&families, Duration::from_secs(20)).await;
    // Where each group a registration writes to was led, for a failure to say (asked before the
    // paused node resumes).
    let during = leaders(&families).await;
    cluster.nodes[leader].resume()?;
    assert!(
        !written.acknowledged.is_empty(),
        "the others went on without it: {written:?}; paused node {}; leaders before {before:?}, after 20 s {during:?}",
        cluster.nodes[leader].name()
    );
    assert!(
        written.errors.keys().all(|code| code == "Unavailable")
            && written.longest_outage < Duration::from_secs(16),
        "UNAVAILABLE for a while, never a hang past the deadline: {written:?}"
    );
    // Every replica is current again, the paused one included.
    let began = Instant::now();
    loop {
        let info = families.store.stream(Stream::Families).await?.info().await?.clone();
        let cluster_info = info.cluster.unwrap_or_default();
        let current = cluster_info.leader.is_some()
            && cluster_info.replicas.len() == 2
            && cluster_info.replicas.iter().all(|replica| replica.current && !replica.offline);
        if current {
            break;
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(30),
            "the paused node did not catch up: {cluster_info:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Each acknowledged family is read back, after UNAVAILABLE for a few seconds at most (the
    // key bucket's leader may move after the stream's).
    for family_id in &written.acknowledged {
        let recovered = families.until_reading(family_id).await?;
        assert!(recovered < Duration::from_secs(10), "reads recovered, after {recovered:?}");
    }
    Ok(())
}

/// A write decided on another aggregate reads it as the stream's leader has it: a replica
/// behind the leader may answer a direct get, so a family closed a moment ago could otherwise
/// still look open to the meetings service.
#[tokio::test]
async fn a_write_decided_on_another_aggregate_asks_that_streams_leader() -> anyhow::Result<()> {
    use futures::StreamExt as _;
    use luukku_proto::meetings::v1 as meetings_pb;
    use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;

    let cluster = TestCluster::start().await?;
    let families = Families::start(&cluster).await?;
    let store = cluster.store_as(NatsUser::Meetings).await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let guard = luukku_app::Guard::start(store.clone());
    guard.relations().ready().await?;
    let served = serve_routes(luukku_meetings::routes(store.clone(), keys, guard).await).await?;
    let mut meetings = MeetingServiceClient::connect(served.url()).await?;

    let family_id = families.register(&RequestId::generate().to_string(), Duration::from_secs(10)).await?;
    let close = pb::CloseFamilyRequest {
        request_id: RequestId::generate().to_string(),
        family_id: family_id.clone(),
        reason: pb::CloseReason::NeedsMet as i32,
        note: "needs met".to_owned(),
        ..Default::default()
    };
    families.client.clone().close_family(with_identity(close, &luukku_testkit::actor())).await?;

    // Every question put to the FAMILIES leader, as the admin user sees them go by.
    let admin = cluster.store().await?;
    let mut asked = admin.client().subscribe("$JS.API.STREAM.MSG.GET.FAMILIES").await?;
    let now = jiff::Timestamp::now().as_millisecond();
    let proposal = || meetings_pb::ProposeMeetingRequest {
        request_id: RequestId::generate().to_string(),
        family_id: family_id.clone(),
        purpose: "follow_up".to_owned(),
        description: "school absences".to_owned(),
        slots: vec![meetings_pb::Slot { starts_at_ms: now + 48 * 3_600_000, minutes: 60 }],
        place: "school".to_owned(),
        participants: vec![meetings_pb::Participant {
            who: Some(meetings_pb::participant::Who::PersonId("teacher.1".to_owned())),
        }],
        ..Default::default()
    };
    // The meetings service's relations learn of the family; until then it is not found.
    let began = Instant::now();
    let refused = loop {
        match meetings.propose_meeting(with_identity(proposal(), &luukku_testkit::actor())).await {
            Err(status)
                if status.code() == tonic::Code::NotFound && began.elapsed() < Duration::from_secs(20) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    let status = refused.err().map(|status| (status.code(), status.message().to_owned()));
    assert!(
        matches!(&status, Some((tonic::Code::FailedPrecondition, message)) if message.contains("closed")),
        "a closed family takes no meeting: {status:?}"
    );
    let question = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = asked.next().await {
            let body = String::from_utf8_lossy(&message.payload).into_owned();
            if body.contains("last_by_subj") && body.contains(&family_id) {
                return Some(body);
            }
        }
        None
    })
    .await;
    assert!(
        matches!(question, Ok(Some(_))),
        "the family's state was confirmed with the FAMILIES leader: {question:?}"
    );
    Ok(())
}

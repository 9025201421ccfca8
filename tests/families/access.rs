//! Fail closed: a call whose access record cannot be stored is not answered.

use luukku_eventstore::{NatsKeyStore, Stream};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::grpc::serve_routes;
use tonic::Code;

use crate::support::request_id;

#[tokio::test]
async fn without_the_access_log_nothing_is_answered_and_nothing_written() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    // Everything but the access log.
    let store = luukku_eventstore::EventStore::new(nats.client().await?, Default::default());
    store.provision(&Stream::ALL).await?;
    NatsKeyStore::provision(&store).await?;
    luukku_eventstore::links::provision(&store).await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let guard = luukku_app::Guard::start(store.clone());
    let served = serve_routes(luukku_families::routes(store.clone(), keys, guard).await).await?;
    let mut client = FamilyServiceClient::connect(served.url()).await?;
    let actor = luukku_testkit::actor();

    let register = luukku_testkit::fixtures::registration_request(&request_id(), "Virtanen");
    let status = client
        .register_family(luukku_testkit::auth::with_identity(register, &actor))
        .await
        .expect_err("no access record, no answer");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("access log"), "{status:?}");
    let stored = store.stream(Stream::Families).await?.info().await?.state.messages;
    assert_eq!(stored, 0, "nothing was written");

    let read = pb::GetFamilyRequest { family_id: luukku_domain::family::FamilyId::generate().to_string() };
    let status =
        client.get_family(luukku_testkit::auth::with_identity(read, &actor)).await.expect_err("no answer");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    Ok(())
}

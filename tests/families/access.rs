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

#[tokio::test]
async fn a_consent_is_the_members_own_or_rests_on_a_signed_form_and_is_not_backdated() -> anyhow::Result<()> {
    use luukku_domain::family::MemberRef;
    use tonic_types::StatusExt;
    let mut harness = crate::support::Harness::start().await?;
    let family = harness.register(crate::support::virtanen_family()).await?;
    let (maria, eero) = (family.member_ids[0].clone(), family.member_ids[1].clone());
    let grant = |given_by: &str, form: &str| pb::GrantConsentRequest {
        request_id: request_id(),
        family_id: family.family_id.clone(),
        given_by: given_by.to_owned(),
        sectors: vec!["school".into()],
        purpose: "support at school".into(),
        valid_until: "2099-12-31".into(),
        signed_form: form.to_owned(),
        ..Default::default()
    };
    let reason =
        |status: tonic::Status| status.get_details_error_info().map(|info| info.reason).unwrap_or_default();

    // Eero, signed in, may not record a consent given by his mother.
    let eero_signed_in = luukku_domain::Actor {
        role: luukku_domain::Role::FamilyMember,
        sector: None,
        ..luukku_testkit::actor_named("idp.eero")
    };
    let as_eero = MemberRef { family_id: family.family_id.parse()?, member_id: eero.parse()? };
    let token = luukku_testkit::auth::member_token(&eero_signed_in, as_eero);
    let forged = harness.client.grant_consent(luukku_grpc::with_token(grant(&maria, ""), &token)).await;
    assert_eq!(reason(forged.expect_err("forged")), "CONSENT_NOT_OWN");
    // Maria records her own.
    let maria_signed_in =
        luukku_domain::Actor { person_id: luukku_domain::Code::parse("idp.maria")?, ..eero_signed_in };
    let as_maria = MemberRef { family_id: family.family_id.parse()?, member_id: maria.parse()? };
    let token = luukku_testkit::auth::member_token(&maria_signed_in, as_maria);
    harness.client.grant_consent(luukku_grpc::with_token(grant(&maria, ""), &token)).await?;

    // The contact person records one only on the signed form, and never backdated.
    let unsigned = harness.client.grant_consent(harness.call(grant(&maria, ""))).await;
    assert_eq!(reason(unsigned.expect_err("unsigned")), "CONSENT_NEEDS_SIGNED_FORM");
    let week_ago = luukku_app::context_now().today.checked_sub(jiff::Span::new().days(7))?.to_string();
    let backdated = pb::GrantConsentRequest { valid_from: week_ago, ..grant(&maria, "consent-form-3") };
    let status = harness.client.grant_consent(harness.call(backdated)).await.expect_err("backdated");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["valid_from"]);
    harness.client.grant_consent(harness.call(grant(&maria, "consent-form-3"))).await?;
    Ok(())
}

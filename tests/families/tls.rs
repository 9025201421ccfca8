//! Mutual TLS: a caller without a certificate from the client CA gets no connection, and the
//! system a client certificate names is the one recorded, whatever the token says.

use luukku_eventstore::NatsKeyStore;
use luukku_grpc::serve::{ServeOptions, Tls};
use luukku_proto::families::v1 as pb;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_testkit::TestNats;
use luukku_testkit::auth::{authenticator, with_identity};
use luukku_testkit::grpc::serve_with;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::support::virtanen_family;

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Issued {
    certificate: String,
    key: String,
}

impl Pki {
    fn new() -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "luukku test CA");
        Ok(Self { ca: CertifiedIssuer::self_signed(params, KeyPair::generate()?)? })
    }

    fn issue(&self, names: Vec<SanType>) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = names;
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.ca)?;
        Ok(Issued { certificate: certificate.pem(), key: key.serialize_pem() })
    }
}

#[tokio::test]
async fn under_mutual_tls_the_client_certificate_names_the_system() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let store = nats.store().await?;
    let keys = NatsKeyStore::open(&store, luukku_testkit::key_ring()).await?;
    let pki = Pki::new()?;
    let server = pki.issue(vec![SanType::DnsName("localhost".try_into()?)])?;
    let tls = Tls {
        certificate: server.certificate.into_bytes(),
        key: server.key.into_bytes(),
        client_ca: Some(pki.ca.pem().into_bytes()),
    };
    let routes = luukku_families::routes(store.clone(), keys, luukku_app::Guard::start(store.clone())).await;
    let served = serve_with(routes, ServeOptions { authenticator: authenticator(), tls: Some(tls) }).await?;
    let url = format!("https://localhost:{}", served.address.port());
    let trust =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.ca.pem())).domain_name("localhost");

    // Without a client certificate there is no connection at all.
    // (Under TLS 1.3 the server checks the client's certificate after the client thinks the
    // handshake is done, so the refusal may come with the first call.)
    let without = Endpoint::from_shared(url.clone())?.tls_config(trust.clone())?.connect().await;
    if let Ok(channel) = without {
        let mut client = FamilyServiceClient::new(channel);
        let answer = client.register_family(with_identity(virtanen_family(), &luukku_testkit::actor())).await;
        assert!(answer.is_err(), "no call without a client certificate");
    }

    // A certificate from another CA is refused too.
    let stranger = Pki::new()?.issue(vec![SanType::URI("urn:luukku:mallory".try_into()?)])?;
    let other = trust.clone().identity(Identity::from_pem(&stranger.certificate, &stranger.key));
    if let Ok(channel) = Endpoint::from_shared(url.clone())?.tls_config(other)?.connect().await {
        let mut client = FamilyServiceClient::new(channel);
        let answer = client.register_family(with_identity(virtanen_family(), &luukku_testkit::actor())).await;
        assert!(answer.is_err(), "a certificate of another CA is refused");
    }

    let mut families = store.stream(luukku_eventstore::Stream::Families).await?;
    assert_eq!(families.info().await?.state.messages, 0, "nothing was written without a trusted certificate");

    // With one, the certificate's system is recorded, not the token's.
    let wilma = pki.issue(vec![SanType::URI("urn:luukku:wilma".try_into()?)])?;
    let mutual = trust.identity(Identity::from_pem(&wilma.certificate, &wilma.key));
    let channel = Endpoint::from_shared(url)?.tls_config(mutual)?.connect().await?;
    let mut client = FamilyServiceClient::new(channel);
    let actor = luukku_testkit::actor();
    assert_ne!(actor.system.as_str(), "urn:luukku:wilma");
    let registered = client.register_family(with_identity(virtanen_family(), &actor)).await?.into_inner();
    let history = client
        .list_family_history(with_identity(
            pb::ListFamilyHistoryRequest { family_id: registered.family_id, ..Default::default() },
            &actor,
        ))
        .await?
        .into_inner();
    let recorded = history.entries[0].actor.clone().expect("the actor is recorded");
    assert_eq!(recorded.system, "urn:luukku:wilma");
    assert_eq!(recorded.person_id, actor.person_id.as_str(), "the person is the token's");
    Ok(())
}

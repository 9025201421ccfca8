//! What `luukku dev` records on its start, so the web client's development identities can work
//! at once: a contact person for each development contact person, and a small service
//! catalogue. Each has a fixed id; a second start finds them (`ALREADY_EXISTS`) and adds nothing.

use std::time::Duration;

use anyhow::Context as _;
use luukku_auth::{DevIssuer, Grant};
use luukku_domain::{RequestId, Role, Sector};
use luukku_grpc::with_token;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;

/// (contact person id, person id, name, languages).
const CONTACT_PERSONS: &[(&str, &str, &str, &[&str])] = &[
    ("01KB2JS30V71XNRCJJ27D26Q6P", "dev.contact", "Kaisa Koordinaattori", &["fi", "sv"]),
    ("01KB2HSD6K9X7WQMRKPHE6YZ38", "dev.contact2", "Kalle Kollega", &["fi", "en"]),
];

/// (service id, sector, name, needs, minimum age, maximum age).
type Example = (&'static str, &'static str, &'static str, &'static [&'static str], u32, u32);

const SERVICES: &[Example] = &[
    (
        "01KBQDDDZD9M0K7DVYRET16H3V",
        "child_health_clinic",
        "Neuvolan perhetyö",
        &["parenting", "child_development", "family_relationships"],
        0,
        7,
    ),
    (
        "01KBPA80Q1SKEHPVPA3NP4FGG0",
        "student_welfare",
        "Koulupsykologi",
        &["learning", "mental_health", "loneliness"],
        6,
        18,
    ),
    (
        "01KBTSDFWXT404K2EYRGT3YXR9",
        "mental_health",
        "Perheneuvola",
        &["mental_health", "family_relationships", "violence"],
        0,
        18,
    ),
];

/// Request ids are fixed too, so a start interrupted half way and run again writes each once.
fn request_id(id: &str) -> String {
    RequestId::parse(id).map(|id| id.to_string()).unwrap_or_else(|_| RequestId::generate().to_string())
}

/// Records the examples, as a supervisor of the development organisation.
pub async fn record(issuer: &DevIssuer, contacts_url: &str, referrals_url: &str) -> anyhow::Result<()> {
    let token = issuer.mint(&Grant {
        person: "dev.supervisor".to_owned(),
        role: Role::Supervisor,
        organisation: "dev".to_owned(),
        sector: Some(Sector::FamilySocialServices),
        system: "luukku-dev".to_owned(),
        member: None,
        ttl: Duration::from_secs(300),
    })?;
    let mut people = ContactServiceClient::connect(contacts_url.to_owned()).await?;
    for (id, person, name, languages) in CONTACT_PERSONS {
        let request = contacts::RegisterContactPersonRequest {
            request_id: request_id(id),
            contact_person_id: (*id).to_owned(),
            profile: Some(contacts::ContactPersonProfile {
                person_id: (*person).to_owned(),
                name: (*name).to_owned(),
                organisation: "dev".to_owned(),
                sector: "family_social_services".to_owned(),
                municipalities: vec!["091".to_owned(), "049".to_owned(), "092".to_owned()],
                languages: languages.iter().map(|language| (*language).to_owned()).collect(),
                caseload_limit: 40,
            }),
        };
        recorded(people.register_contact_person(with_token(request, &token)).await)
            .with_context(|| format!("recording the development contact person {person}"))?;
    }
    let mut catalogue = ReferralServiceClient::connect(referrals_url.to_owned()).await?;
    for (id, sector, name, needs, min_age, max_age) in SERVICES {
        let request = referrals::RegisterServiceRequest {
            request_id: request_id(id),
            service_id: (*id).to_owned(),
            info: Some(referrals::ServiceInfo {
                provider: "dev".to_owned(),
                sector: (*sector).to_owned(),
                name: (*name).to_owned(),
                description: format!("{name}: esimerkkipalvelu kehitysympäristössä"),
                min_age: *min_age,
                max_age: *max_age,
                needs: needs.iter().map(|need| (*need).to_owned()).collect(),
                municipalities: Vec::new(),
                low_threshold: true,
                contact: "palveluohjaus@luukku.invalid".to_owned(),
            }),
        };
        recorded(catalogue.register_service(with_token(request, &token)).await)
            .with_context(|| format!("recording the example service {name}"))?;
    }
    Ok(())
}

/// Recorded now, or on an earlier start.
fn recorded<T>(answer: Result<T, tonic::Status>) -> Result<(), tonic::Status> {
    match answer {
        Ok(_) => Ok(()),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(status) => Err(status),
    }
}

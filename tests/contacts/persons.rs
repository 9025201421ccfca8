//! Contact persons: register, read, update, deactivate, and the caller rules.

use luukku_proto::contacts::v1 as pb;
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn a_contact_person_is_registered_updated_and_deactivated() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let register = pb::RegisterContactPersonRequest {
        request_id: request_id(),
        contact_person_id: String::new(),
        profile: Some(profile("anna.contact", 30)),
    };
    let first =
        harness.contacts.register_contact_person(harness.as_supervisor(register.clone())).await?.into_inner();
    let again = harness.contacts.register_contact_person(harness.as_supervisor(register)).await?.into_inner();
    assert_eq!(again.contact_person_id, first.contact_person_id, "a retry answers with the first id");
    assert!(again.result.is_some_and(|result| result.replayed));

    let id = first.contact_person_id;
    let get = pb::GetContactPersonRequest { contact_person_id: id.clone(), ..Default::default() };
    let person = harness.contacts.get_contact_person(harness.call(get.clone())).await?.into_inner();
    let person = person.contact_person.expect("person");
    assert!(person.active);
    assert_eq!(person.profile.as_ref().map(|p| p.caseload_limit), Some(30));
    // A client finds the contact person by the id their tokens carry (a moment after the
    // registration, once the relationships model has it).
    let by_person =
        pb::GetContactPersonRequest { person_id: "anna.contact".to_owned(), ..Default::default() };
    let mut found = None;
    for _ in 0..50 {
        match harness.contacts.get_contact_person(harness.call(by_person.clone())).await {
            Ok(answer) => {
                found = answer.into_inner().contact_person;
                break;
            }
            Err(status) if status.code() == Code::NotFound => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status.into()),
        }
    }
    assert_eq!(found.map(|person| person.contact_person_id), Some(id.clone()));

    let mut changed = profile("someone.else", 45);
    changed.languages.push("sv".to_owned());
    let update = pb::UpdateContactPersonRequest {
        request_id: request_id(),
        contact_person_id: id.clone(),
        expected_version: Some(person.version),
        profile: Some(changed),
    };
    harness.contacts.update_contact_person(harness.as_supervisor(update)).await?;
    let person = harness.contacts.get_contact_person(harness.call(get.clone())).await?.into_inner();
    let profile = person.contact_person.and_then(|person| person.profile).expect("profile");
    assert_eq!((profile.person_id.as_str(), profile.caseload_limit), ("anna.contact", 45), "identity fixed");
    assert_eq!(profile.languages, ["fi", "sv"]);

    let deactivate = pb::DeactivateContactPersonRequest {
        request_id: request_id(),
        contact_person_id: id.clone(),
        reason: "retires".to_owned(),
        ..Default::default()
    };
    harness.contacts.deactivate_contact_person(harness.as_supervisor(deactivate)).await?;
    let person = harness.contacts.get_contact_person(harness.call(get)).await?.into_inner();
    assert!(!person.contact_person.expect("person").active);
    Ok(())
}

#[tokio::test]
async fn bad_profiles_and_unknown_persons_are_refused() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let mut bad = profile("has space", 0);
    bad.sector = "police".to_owned();
    bad.municipalities = vec!["Helsinki".to_owned()];
    let register = pb::RegisterContactPersonRequest {
        request_id: request_id(),
        contact_person_id: String::new(),
        profile: Some(bad),
    };
    assert_eq!(
        bad_fields(harness.contacts.register_contact_person(harness.as_supervisor(register)).await),
        ["profile.person_id", "profile.sector", "profile.municipalities[0]"]
    );
    let zero = pb::RegisterContactPersonRequest {
        request_id: request_id(),
        contact_person_id: String::new(),
        profile: Some(profile("anna", 0)),
    };
    assert_eq!(
        bad_fields(harness.contacts.register_contact_person(harness.as_supervisor(zero)).await),
        ["profile.caseload_limit"]
    );

    let unknown = pb::GetContactPersonRequest {
        contact_person_id: "01KAQ8S0V3M7Y9ZQ0W2X4B6C8D".to_owned(),
        ..Default::default()
    };
    expect_code(harness.contacts.get_contact_person(harness.call(unknown.clone())).await, Code::NotFound);
    expect_code(harness.contacts.get_contact_person(unknown).await, Code::Unauthenticated);
    let nobody = pb::GetContactPersonRequest { person_id: "no.such.person".to_owned(), ..Default::default() };
    expect_code(harness.contacts.get_contact_person(harness.call(nobody)).await, Code::NotFound);
    let malformed = pb::GetContactPersonRequest { person_id: "has space".to_owned(), ..Default::default() };
    assert_eq!(bad_fields(harness.contacts.get_contact_person(harness.call(malformed)).await), ["person_id"]);
    assert_eq!(harness.messages("contacts.>").await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_consultation_counts_without_personal_data() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let request = pb::RecordConsultationRequest {
        request_id: request_id(),
        occurred_at_ms: 0,
        sector: "school".to_owned(),
        channel: "phone".to_owned(),
        needs: vec!["learning".to_owned(), "mental_health".to_owned()],
        guidance: vec!["student_welfare".to_owned()],
        municipality: "091".to_owned(),
    };
    let first = harness.contacts.record_consultation(harness.call(request.clone())).await?.into_inner();
    let again = harness.contacts.record_consultation(harness.call(request.clone())).await?.into_inner();
    assert_eq!(again.consultation_id, first.consultation_id);
    assert_eq!(harness.messages("contacts.consultation.>").await?, 1);
    let bad = pb::RecordConsultationRequest {
        request_id: request_id(),
        needs: vec!["sadness".to_owned()],
        channel: "fax".to_owned(),
        ..request
    };
    assert_eq!(
        bad_fields(harness.contacts.record_consultation(harness.call(bad)).await),
        ["channel", "needs[0]"]
    );
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated_and_the_server_keeps_serving() -> anyhow::Result<()>
{
    use luukku_testkit::auth::{refuses_every_bad_token, with_bad_token};
    let mut harness = Harness::start().await?;
    let client = harness.contacts.clone();
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::RegisterContactPersonRequest::default(), bad);
        async move { client.register_contact_person(request).await }
    })
    .await?;
    refuses_every_bad_token(&harness.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::ListFollowUpsDueRequest::default(), bad);
        async move { client.list_follow_ups_due(request).await }
    })
    .await?;
    assert_eq!(harness.messages("contacts.>").await?, 0, "nothing was written");
    harness.person("still.serving", 10).await?;
    Ok(())
}

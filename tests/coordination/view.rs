//! The contact person's view, read-your-writes, watching, erasure and statistics.

use std::time::Duration;

use futures::StreamExt;
use luukku_proto::common::v1 as common;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::coordination::v1 as pb;
use luukku_proto::families::v1 as families;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::participant::Who;
use luukku_proto::referrals::v1 as referrals;
use tonic::Code;

use crate::support::*;

fn in_days(days: i64) -> String {
    luukku_app::context_now().today.checked_add(jiff::Span::new().days(days)).expect("date").to_string()
}

#[tokio::test]
async fn one_view_of_everything_the_sectors_do() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let grant = families::GrantConsentRequest {
        signed_form: "consent-form-1".into(),
        request_id: request_id(),
        family_id: family_id.clone(),
        given_by: members[0].clone(),
        sectors: vec!["student_welfare".into(), "mental_health".into()],
        purpose: "support at school".into(),
        valid_until: in_days(20),
        ..Default::default()
    };
    h.families.grant_consent(h.call(grant)).await?;
    let anna = h.contact_person("anna.contact", "Anna Koskinen").await?;
    let assigned = h.assign(&family_id, &anna).await?;
    let contact = contacts::RecordContactRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        direction: contacts::Direction::Inbound as i32,
        member_id: members[0].clone(),
        channel: "phone".into(),
        needs: vec!["learning".into()],
        summary: "Maria worries about Eero's reading".into(),
        follow_up: in_days(0),
        ..Default::default()
    };
    h.contacts.record_contact(h.call(contact)).await?;
    let service = referrals::RegisterServiceRequest {
        request_id: request_id(),
        service_id: String::new(),
        info: Some(referrals::ServiceInfo {
            provider: "City".into(),
            sector: "mental_health".into(),
            name: "Child psychiatry outpatient clinic".into(),
            description: String::new(),
            min_age: 0,
            max_age: 17,
            needs: vec!["mental_health".into()],
            municipalities: vec![],
            low_threshold: false,
            contact: "clinic@example.fi".into(),
        }),
    };
    let service_id = h.referrals.register_service(h.as_supervisor(service)).await?.into_inner().service_id;
    let referral = referrals::CreateReferralRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        child_member_id: members[1].clone(),
        service_id,
        needs: vec!["mental_health".into()],
        urgency: "normal".into(),
        reason: "Eero is anxious".into(),
        ..Default::default()
    };
    h.referrals.create_referral(h.call(referral)).await?;
    let slot = meetings::Slot {
        starts_at_ms: jiff::Timestamp::now().as_millisecond() + 2 * 86_400_000,
        minutes: 60,
    };
    let propose = meetings::ProposeMeetingRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        purpose: "school_support".into(),
        slots: vec![slot],
        place: "School".into(),
        participants: vec![meetings::Participant { who: Some(Who::Sector("student_welfare".into())) }],
        ..Default::default()
    };
    let meeting_id = h.meetings.propose_meeting(h.call(propose)).await?.into_inner().meeting_id;
    let schedule = meetings::ScheduleMeetingRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        meeting_id,
        slot: 0,
        ..Default::default()
    };
    let scheduled = h.meetings.schedule_meeting(h.call(schedule)).await?.into_inner();
    let last_write = position(scheduled.result);

    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![last_write] };
    let view = h.coordination.get_family_view(h.call(request)).await?.into_inner();
    assert_eq!(view.status, "active");
    let mut names: Vec<_> = view.members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Aino Salo", "Eero Salo", "Maria Kaarina Salo"], "every member, by name");
    assert_eq!(view.contact_person.as_ref().map(|p| p.name.as_str()), Some("Anna Koskinen"));
    assert_eq!(view.consents.len(), 1);
    assert!(view.consents[0].ending_soon);
    assert_eq!(view.referrals.len(), 1);
    let referral = &view.referrals[0];
    assert_eq!(
        (referral.state.as_str(), referral.service_name.as_str()),
        ("requested", "Child psychiatry outpatient clinic")
    );
    assert_eq!(referral.reason, "Eero is anxious");
    assert_eq!(view.upcoming_meetings.len(), 1);
    assert_eq!(view.upcoming_meetings[0].status, "scheduled");
    assert_eq!(view.follow_ups_due.len(), 1);
    assert_eq!(view.recent_contacts[0].summary, "Maria worries about Eero's reading");
    let kinds: Vec<_> = view.timeline.iter().map(|t| t.event_type.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"MeetingScheduled"), "newest first: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"FamilyRegistered"));
    assert_eq!(kinds.len(), 7);
    assert!(
        view.timeline.iter().all(|t| !t.text.contains("Eero") && !t.text.contains("Maria")),
        "no personal data in the timeline"
    );

    let caseload = h
        .coordination
        .list_caseload(h.call(pb::ListCaseloadRequest {
            contact_person_id: anna,
            min_positions: vec![assigned],
            ..Default::default()
        }))
        .await?
        .into_inner();
    assert_eq!(caseload.families.len(), 1);
    let attention = caseload.families[0].attention.expect("attention");
    assert_eq!(
        (attention.follow_ups_due, attention.meetings_within_week, attention.consents_ending),
        (1, 1, 1)
    );

    let page = h
        .coordination
        .get_timeline(h.call(pb::GetTimelineRequest {
            family_id: family_id.clone(),
            page_size: 5,
            ..Default::default()
        }))
        .await?
        .into_inner();
    assert_eq!(page.entries.len(), 5);
    let rest = h
        .coordination
        .get_timeline(h.call(pb::GetTimelineRequest {
            family_id: family_id.clone(),
            page_size: 5,
            page_token: page.next_page_token,
            ..Default::default()
        }))
        .await?
        .into_inner();
    assert_eq!(rest.entries.len(), 2);
    assert!(rest.next_page_token.is_empty());

    let found = h
        .coordination
        .search_families(h.call(pb::SearchFamiliesRequest { name: "eero".into(), ..Default::default() }))
        .await?
        .into_inner();
    assert_eq!(found.families.iter().map(|f| f.family_id.clone()).collect::<Vec<_>>(), [family_id]);
    Ok(())
}

#[tokio::test]
async fn a_query_for_a_future_position_waits_for_it() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, registered) = h.family("Salo").await?;
    let future = common::Position { stream: "FAMILIES".into(), sequence: registered.sequence + 1 };
    let mut client = h.coordination.clone();
    let request = h
        .call(pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![future.clone()] });
    let waiting = tokio::spawn(async move { client.get_family_view(request).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "it waits for the write");
    h.move_family(&family_id, "837").await?;
    let view = waiting.await??.into_inner();
    assert_eq!(view.municipality, "837", "and then sees it");

    let far = common::Position { stream: "FAMILIES".into(), sequence: 1_000 };
    let mut request = h.call(pb::GetFamilyViewRequest { family_id, min_positions: vec![far] });
    request.set_timeout(Duration::from_millis(300));
    let status = h.coordination.get_family_view(request).await.expect_err("not reached");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("FAMILIES 2"), "says where it is: {}", status.message());
    Ok(())
}

#[tokio::test]
async fn watching_a_family_delivers_each_change_in_order() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, registered) = h.family("Salo").await?;
    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![registered] };
    h.coordination.get_family_view(h.call(request)).await?;
    let mut watch = h
        .coordination
        .watch_family(h.call(pb::WatchFamilyRequest { family_id: family_id.clone() }))
        .await?
        .into_inner();
    let first = watch.next().await.expect("the current view")?;
    assert!(first.entries.is_empty());
    assert_eq!(first.view.map(|v| v.municipality).as_deref(), Some("091"));
    for municipality in ["837", "049", "092"] {
        h.move_family(&family_id, municipality).await?;
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let change = tokio::time::timeout(Duration::from_secs(10), watch.next()).await?.expect("a change")?;
        assert_eq!(change.entries.len(), 1, "one message, one change: {change:?}");
        seen.push(change.entries[0].text.trim_start_matches("moved to municipality ").to_owned());
    }
    assert_eq!(seen, ["837", "049", "092"]);
    Ok(())
}

#[tokio::test]
async fn an_erased_family_leaves_every_projection_for_good() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, _) = h.family("Salo").await?;
    let anna = h.contact_person("anna.contact", "Anna Koskinen").await?;
    let assigned = h.assign(&family_id, &anna).await?;
    let family = luukku_domain::family::FamilyId::parse(&family_id)?;
    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![assigned] };
    h.coordination.get_family_view(h.call(request)).await?;
    assert!(
        !h.projection.tree().timeline(family, None, usize::MAX)?.is_empty(),
        "projected with its timeline"
    );
    let erase = families::EraseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        ..Default::default()
    };
    let erased = luukku_testkit::grpc::erase_family(&mut h.families, &h.actor, erase).await?.into_inner();
    let request = pb::GetFamilyViewRequest {
        family_id: family_id.clone(),
        min_positions: vec![position(erased.result.clone())],
    };
    let status = h.coordination.get_family_view(h.call(request)).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
    let caseload = h
        .coordination
        .list_caseload(h.call(pb::ListCaseloadRequest {
            contact_person_id: anna.clone(),
            min_positions: vec![position(erased.result)],
            ..Default::default()
        }))
        .await?;
    assert!(caseload.into_inner().families.is_empty());
    assert!(h.projection.tree().timeline(family, None, usize::MAX)?.is_empty(), "its timeline went with it");

    let refused = h.admin.rebuild(h.call(pb::RebuildRequest {})).await.expect_err("operators only");
    assert_eq!(refused.code(), Code::PermissionDenied, "refused before a rebuild starts: {refused:?}");
    h.projection.rebuild(|_, _| {}).await?;
    let status = h
        .coordination
        .get_family_view(h.call(pb::GetFamilyViewRequest { family_id, min_positions: vec![] }))
        .await
        .expect_err("a rebuild does not bring it back");
    assert_eq!(status.code(), Code::NotFound);
    let bytes: Vec<u8> = h.projection.tree().dump()?.into_iter().flat_map(|(_, value)| value).collect();
    assert!(!bytes.windows(5).any(|w| w == b"Maria"), "no name in the projection's files");
    Ok(())
}

#[tokio::test]
async fn statistics_are_as_of_a_published_cut_off_and_never_show_a_cell_under_five() -> anyhow::Result<()> {
    use luukku_coordination::app::statistics;
    let mut h = Harness::start().await?;
    for index in 0..6 {
        let (family_id, _, _) = h.family(&format!("Family{index}")).await?;
        h.move_family(&family_id, "837").await?;
    }
    let consultation = contacts::RecordConsultationRequest {
        request_id: request_id(),
        sector: "school".into(),
        channel: "phone".into(),
        needs: vec!["learning".into()],
        ..Default::default()
    };
    h.contacts.record_consultation(h.call(consultation)).await?;
    let cut_off = jiff::Timestamp::now().as_millisecond();
    statistics::publish(&h.projection, cut_off).await?;

    // A family registered after the cut-off is not in the figures, however the caller asks.
    h.family("Later").await?;
    let figures = h.coordination.get_statistics(h.call(pb::GetStatisticsRequest {})).await?.into_inner();
    assert_eq!(figures.families, 6);
    assert_eq!(figures.consultations, 0, "one consultation is fewer than five");
    assert_eq!(figures.minimum_cell, 5);
    assert_eq!(figures.cut_off, jiff::Timestamp::from_millisecond(cut_off)?.to_string());

    // Published figures are kept: publishing the same cut-off again changes nothing.
    statistics::publish(&h.projection, cut_off).await?;
    let again = h.coordination.get_statistics(h.call(pb::GetStatisticsRequest {})).await?.into_inner();
    assert_eq!(again.families, 6);
    Ok(())
}

#[tokio::test]
async fn the_figures_of_last_midnight_are_published_when_the_service_starts() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    // The daily publisher publishes the figures of last midnight at start: nothing was there.
    let published = luukku_testkit::eventually(10, || {
        let projection = h.projection.clone();
        async move { Ok(luukku_coordination::app::statistics::published(&projection)?.is_some()) }
    })
    .await?;
    assert!(published, "the latest cut-off's figures are published at start");
    let figures = h.coordination.get_statistics(h.call(pb::GetStatisticsRequest {})).await?.into_inner();
    let midnight = luukku_coordination::app::statistics::latest_cut_off(jiff::Timestamp::now());
    assert_eq!(figures.cut_off, jiff::Timestamp::from_millisecond(midnight)?.to_string());
    assert_eq!(figures.families, 0);
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_unauthenticated_and_the_server_keeps_serving() -> anyhow::Result<()>
{
    use luukku_testkit::auth::{refuses_every_bad_token, with_bad_token};
    let mut h = Harness::start().await?;
    let client = h.coordination.clone();
    refuses_every_bad_token(&h.actor, |bad| {
        let mut client = client.clone();
        let request = with_bad_token(pb::GetFamilyViewRequest::default(), bad);
        async move { client.get_family_view(request).await }
    })
    .await?;
    let admin = h.admin.clone();
    refuses_every_bad_token(&h.actor, |bad| {
        let mut admin = admin.clone();
        let request = with_bad_token(pb::RebuildRequest {}, bad);
        async move { admin.rebuild(request).await }
    })
    .await?;
    let register = h.register_contact_person("anna.contact", "Anna Koskinen").await?;
    let request = pb::ListCaseloadRequest {
        contact_person_id: register.contact_person_id,
        min_positions: vec![position(register.result)],
        ..Default::default()
    };
    let anna = luukku_testkit::actor_named("anna.contact");
    h.coordination.list_caseload(h.call_as(&anna, request)).await?;
    Ok(())
}

#[tokio::test]
async fn searches_and_caseloads_page_by_a_cursor_that_a_change_between_pages_does_not_shift()
-> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let anna = h.contact_person("anna.contact", "Anna").await?;
    let mut families = Vec::new();
    let mut members = std::collections::HashMap::new();
    let mut last = None;
    for name in ["Salo", "Virta", "Korhonen"] {
        let (family, family_members, _) = h.family(name).await?;
        last = Some(h.assign(&family, &anna).await?);
        members.insert(family.clone(), family_members);
        families.push(family);
    }
    families.sort();
    let search = |token: String, last: Option<common::Position>| pb::SearchFamiliesRequest {
        municipality: "091".into(),
        min_positions: last.into_iter().collect(),
        page_size: 2,
        page_token: token,
        ..Default::default()
    };
    let first = h.coordination.search_families(h.call(search(String::new(), last))).await?.into_inner();
    let ids =
        |families: &[pb::CaseloadEntry]| families.iter().map(|f| f.family_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first.families), families[..2]);
    // A family of the first page moves away between the pages: the second page is not shifted.
    let moved = h.move_family(&families[0], "837").await?;
    let second = h
        .coordination
        .search_families(h.call(search(first.next_page_token, Some(moved))))
        .await?
        .into_inner();
    assert_eq!(ids(&second.families), families[2..]);
    assert!(second.next_page_token.is_empty());

    let caseload = |token: String, wait: Option<common::Position>| pb::ListCaseloadRequest {
        contact_person_id: anna.clone(),
        min_positions: wait.into_iter().collect(),
        page_size: 2,
        page_token: token,
    };
    let first = h.coordination.list_caseload(h.call(caseload(String::new(), None))).await?.into_inner();
    // Between the pages a family not yet given comes to need attention most (a follow-up due
    // today): it moves to the front of the caseload, and is still given once.
    let given = ids(&first.families);
    let urgent = families.iter().find(|family| !given.contains(family)).expect("a family on a later page");
    let members = &members[urgent];
    let contact = contacts::RecordContactRequest {
        request_id: request_id(),
        family_id: urgent.clone(),
        direction: contacts::Direction::Inbound as i32,
        member_id: members[0].clone(),
        channel: "phone".into(),
        needs: vec!["learning".into()],
        summary: "Worried about the move".into(),
        follow_up: in_days(0),
        ..Default::default()
    };
    let recorded = h.contacts.record_contact(h.call(contact)).await?.into_inner();
    let wait = recorded.result.and_then(|result| result.position);
    let now_first =
        h.coordination.list_caseload(h.call(caseload(String::new(), wait.clone()))).await?.into_inner();
    assert_eq!(ids(&now_first.families)[0], *urgent, "the family needs attention most now");
    let mut all = given;
    let mut token = first.next_page_token;
    while !token.is_empty() {
        let page = h.coordination.list_caseload(h.call(caseload(token, wait.clone()))).await?.into_inner();
        all.extend(ids(&page.families));
        token = page.next_page_token;
    }
    all.sort();
    assert_eq!(all, families, "every family once");
    Ok(())
}

#[tokio::test]
async fn search_answers_from_a_blind_index_that_follows_renames_and_erasures() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (salo, members, _) = h.family("Salo-Virtanen").await?;
    let anna = h.contact_person("anna.contact", "Anna Koskinen").await?;
    let mut at = h.assign(&salo, &anna).await?;
    let family = luukku_domain::family::FamilyId::parse(&salo)?;
    let search = |name: &str, at: &common::Position| pb::SearchFamiliesRequest {
        name: name.to_owned(),
        min_positions: vec![at.clone()],
        ..Default::default()
    };
    let found = async |h: &mut Harness, name: &str, at: &common::Position| -> anyhow::Result<Vec<String>> {
        let response = h.coordination.search_families(h.call(search(name, at))).await?.into_inner();
        Ok(response.families.into_iter().map(|entry| entry.family_id).collect())
    };
    for query in ["sal", "SALO", "virt", "mar kaa", "Maria Kaarina Salo-Virtanen", "salo virtanen"] {
        assert_eq!(
            found(&mut h, query, &at).await?,
            std::slice::from_ref(&salo),
            "{query:?} finds the family"
        );
    }
    for query in ["sa", "alo", "irta", "maria korhonen"] {
        assert!(found(&mut h, query, &at).await?.is_empty(), "{query:?} finds nothing");
    }
    let status = h.coordination.search_families(h.call(search(" -- ", &at))).await.expect_err("no letters");
    assert_eq!(status.code(), Code::InvalidArgument);

    // The index holds keyed hashes: no name, nor a part of one, in the projection's files.
    let indexed = |h: &Harness| -> anyhow::Result<usize> {
        let dump = h.projection.tree().dump()?;
        let bytes: Vec<u8> = dump.iter().flat_map(|(key, value)| key.iter().chain(value)).copied().collect();
        for name in [&b"Salo"[..], b"salo", b"Maria", b"maria", b"Virtanen", b"virt"] {
            assert!(
                !bytes.windows(name.len()).any(|w| w == name),
                "{:?} in the files",
                String::from_utf8_lossy(name)
            );
        }
        let family = family.as_ulid().to_bytes();
        let entry = |key: &[u8]| matches!(key.first(), Some(b'h' | b'n' | b'm')) && key.ends_with(&family);
        Ok(dump.iter().filter(|(key, _)| entry(key)).count())
    };
    assert!(indexed(&h)? > 0, "the family is in the index");

    // A renamed member is found by the new name only.
    let update = families::UpdateMemberRequest {
        request_id: request_id(),
        family_id: salo.clone(),
        expected_version: None,
        member_id: members[0].clone(),
        details: Some(families::MemberInput {
            role: families::MemberRole::Guardian as i32,
            given_names: "Liisa".into(),
            family_name: "Korhonen".into(),
            birth_date: String::new(),
            identity_code: "131052-308T".into(),
            languages: vec!["fi".into()],
        }),
    };
    at = position(h.families.update_member(h.call(update)).await?.into_inner().result);
    assert_eq!(found(&mut h, "kor lii", &at).await?, std::slice::from_ref(&salo));
    assert!(found(&mut h, "maria", &at).await?.is_empty(), "the old name finds nothing");
    let key = h.projection.search_key().expect("the search key is read");
    let entries = h.projection.tree().entries(family)?;
    assert!(!entries.holds(&[key.lookup(family, "mar")]), "the old name is gone from the index");
    assert!(entries.holds(&[key.lookup(family, "kor"), key.lookup(family, "lii")]));
    assert_eq!(found(&mut h, "eero", &at).await?, std::slice::from_ref(&salo), "the other members stay");

    // Handed over to Bert, the family is found in his caseload and no longer in Anna's.
    let bert = h.contact_person("bert.contact", "Bert Laine").await?;
    let anna_actor = h.actor.clone();
    at = h.hand_over(&salo, &bert).await?;
    let in_annas = h.call_as(&anna_actor, search("kor", &at));
    assert!(
        h.coordination.search_families(in_annas).await?.into_inner().families.is_empty(),
        "not Anna's now"
    );
    assert_eq!(found(&mut h, "kor lii", &at).await?, std::slice::from_ref(&salo), "in Bert's");
    assert_eq!(found(&mut h, "eero", &at).await?, std::slice::from_ref(&salo));

    // An erased family's entries leave the index.
    let erase = families::EraseFamilyRequest {
        request_id: request_id(),
        family_id: salo.clone(),
        ..Default::default()
    };
    let erased = luukku_testkit::grpc::erase_family(&mut h.families, &h.actor, erase).await?.into_inner();
    at = position(erased.result);
    assert!(found(&mut h, "kor", &at).await?.is_empty());
    assert_eq!(indexed(&h)?, 0, "no entry of the erased family is left");
    Ok(())
}

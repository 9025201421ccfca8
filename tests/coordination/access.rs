//! Need to know across the services: every call, allowed or denied, leaves exactly one record
//! in the access log, and the family's log report lists them for those who may see it.

use luukku_domain::family::FamilyId;
use luukku_domain::family::MemberRef;
use luukku_domain::{Role, Sector};
use luukku_eventstore::audit::{AccessLog, AuditQuery};
use luukku_proto::coordination::v1 as pb;
use luukku_proto::families::v1 as families;
use luukku_testkit::auth::member_token;
use luukku_testkit::{actor_as, professional};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

impl Harness {
    /// The access records of `family_id`, counted from the stream.
    async fn records(&self, family_id: &str) -> anyhow::Result<Vec<luukku_eventstore::audit::AccessRecord>> {
        let query = AuditQuery { family: Some(family_id.parse()?), ..AuditQuery::default() };
        Ok(self.store.read_audit(&query).await?.into_iter().filter_map(|stored| stored.record).collect())
    }
}

fn view(family_id: &str) -> pb::GetFamilyViewRequest {
    pb::GetFamilyViewRequest { family_id: family_id.to_owned(), min_positions: vec![] }
}

#[tokio::test]
async fn every_call_allowed_or_denied_leaves_exactly_one_record() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, registered) = h.family("Salo").await?;
    assert_eq!(h.records(&family_id).await?.len(), 1, "the registration");

    let mut expected = 1;
    let mut call =
        async |h: &mut Harness, result: Result<(), tonic::Status>, code: Code| -> anyhow::Result<()> {
            assert_eq!(result.err().map(|status| status.code()).unwrap_or(Code::Ok), code);
            expected += 1;
            assert_eq!(h.records(&family_id).await?.len(), expected, "one record per call");
            Ok(())
        };
    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![registered] };
    let shown = h.coordination.get_family_view(h.call(request)).await.map(drop);
    call(&mut h, shown, Code::Ok).await?;
    let teacher = professional("opettaja", Sector::School);
    let denied = h.coordination.get_family_view(h.call_as(&teacher, view(&family_id))).await.map(drop);
    call(&mut h, denied, Code::NotFound).await?;
    let operator = luukku_testkit::operator();
    let denied = h.coordination.get_family_view(h.call_as(&operator, view(&family_id))).await.map(drop);
    call(&mut h, denied, Code::PermissionDenied).await?;
    let history = families::ListFamilyHistoryRequest { family_id: family_id.clone(), ..Default::default() };
    let exported = h.families.list_family_history(h.call(history)).await.map(drop);
    call(&mut h, exported, Code::Ok).await?;
    let close = families::CloseFamilyRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        reason: families::CloseReason::Other as i32,
        ..Default::default()
    };
    let by_teacher = h.families.close_family(h.call_as(&teacher, close)).await.map(drop);
    call(&mut h, by_teacher, Code::NotFound).await?;

    let records = h.records(&family_id).await?;
    let summary: Vec<(&str, &str, bool, Option<&str>)> = records
        .iter()
        .map(|r| {
            let method = r.access.rpc.rsplit('/').next().unwrap_or_default();
            (method, r.access.actor.person_id.as_str(), r.access.allowed, r.access.rule.as_deref())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("RegisterFamily", "test.contact", true, None),
            ("GetFamilyView", "test.contact", true, None),
            ("GetFamilyView", "opettaja", false, Some("NO_RELATIONSHIP")),
            ("GetFamilyView", "test.operator", false, Some("OPERATORS_SEE_NO_PERSONAL_DATA")),
            ("ListFamilyHistory", "test.contact", true, None),
            ("CloseFamily", "opettaja", false, Some("NO_RELATIONSHIP")),
        ]
    );
    assert_eq!(records[1].access.basis, "registrant");
    assert_eq!(records[4].access.kind, "export");
    Ok(())
}

/// A read whose access record cannot be stored answers nothing but `UNAVAILABLE`, in the
/// coordination and families services, and the calls answer again once the log can be written.
#[tokio::test]
async fn a_read_whose_access_record_cannot_be_stored_answers_nothing() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, registered) = h.family("Salo").await?;
    let at = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![registered] };
    h.coordination.get_family_view(h.call(at.clone())).await?;

    h.store.jetstream().delete_stream(luukku_eventstore::audit::AUDIT_STREAM).await?;
    let unrecorded = |result: Result<(), tonic::Status>| -> anyhow::Result<()> {
        let status = result.err().ok_or_else(|| anyhow::anyhow!("answered with no access record"))?;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("access log cannot be written"), "{}", status.message());
        Ok(())
    };
    unrecorded(h.coordination.get_family_view(h.call(at.clone())).await.map(drop))?;
    let timeline = pb::GetTimelineRequest { family_id: family_id.clone(), ..Default::default() };
    unrecorded(h.coordination.get_timeline(h.call(timeline.clone())).await.map(drop))?;
    let family = families::GetFamilyRequest { family_id: family_id.clone() };
    unrecorded(h.families.get_family(h.call(family.clone())).await.map(drop))?;

    h.store.provision_audit().await?;
    let view = h.coordination.get_family_view(h.call(at)).await?.into_inner();
    assert_eq!(view.family_id, family_id);
    h.coordination.get_timeline(h.call(timeline)).await?;
    h.families.get_family(h.call(family)).await?;
    let records = h.records(&family_id).await?;
    let methods: Vec<&str> =
        records.iter().map(|r| r.access.rpc.rsplit('/').next().unwrap_or_default()).collect();
    assert_eq!(
        methods,
        ["GetFamilyView", "GetTimeline", "GetFamily"],
        "only the records stored after the log came back: the stream was made anew"
    );
    Ok(())
}

/// A family's report after the access log's stream was deleted and made anew, and had passed
/// where the projection's copy of it stood before any report asked: it lists the new stream's
/// records, oldest first, and none of the old one's (or answers `UNAVAILABLE` while the copy
/// is read again), never a mix of the two.
#[tokio::test]
async fn a_report_after_the_access_log_was_made_anew_lists_only_the_new_streams_records() -> anyhow::Result<()>
{
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let family: FamilyId = family_id.parse()?;
    let maria = MemberRef { family_id: family, member_id: members[0].parse()? };
    let token = member_token(&actor_as("idp.maria", Role::FamilyMember, None), maria);
    let ask = pb::GetAccessLogRequest { family_id: family_id.clone(), page_size: 1000, ..Default::default() };
    let before =
        h.coordination.get_access_log(luukku_grpc::with_token(ask.clone(), &token)).await?.into_inner();
    assert!(before.entries.iter().any(|entry| entry.rpc.ends_with("/RegisterFamily")), "{before:?}");
    let first_page = pb::GetAccessLogRequest { page_size: 1, ..ask.clone() };
    let first = h
        .coordination
        .get_access_log(luukku_grpc::with_token(first_page.clone(), &token))
        .await?
        .into_inner();
    assert!(!first.next_page_token.is_empty(), "more than one record");

    let copied_to = h.store.audit_last_sequence().await?;
    h.store.jetstream().delete_stream(luukku_eventstore::audit::AUDIT_STREAM).await?;
    h.store.provision_audit().await?;
    let reader = professional("lukija", Sector::School);
    let log = AccessLog::start(h.store.clone());
    let reads = copied_to + 3;
    for _ in 0..reads {
        log.record(statutory_read(reader.clone(), family)).await?;
    }
    assert!(h.store.audit_last_sequence().await? > copied_to, "the new stream passed the old copy");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        match h.coordination.get_access_log(luukku_grpc::with_token(ask.clone(), &token)).await {
            Ok(report) => break report.into_inner(),
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(tokio::time::Instant::now() < deadline, "still refused: {status:?}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert!(
        !report.entries.iter().any(|entry| entry.rpc.ends_with("/RegisterFamily")),
        "the old stream's records are not listed: {report:?}"
    );
    let by_reader = report
        .entries
        .iter()
        .filter(|entry| entry.actor.as_ref().is_some_and(|actor| actor.person_id == "lukija"))
        .count();
    assert_eq!(by_reader, usize::try_from(reads)?, "every read stored in the new stream is listed");
    let listed: Vec<(&str, i64)> =
        report.entries.iter().map(|entry| (entry.rpc.as_str(), entry.at_ms)).collect();
    let stored = h.records(&family_id).await?;
    let held: Vec<(&str, i64)> = stored
        .iter()
        .take(listed.len())
        .map(|record| (record.access.rpc.as_str(), record.access.at.as_millis()))
        .collect();
    assert_eq!(listed, held, "as the new stream holds them, oldest first");

    // A token of a sequence alone (as an earlier release gave) names no stream: refused.
    let (sequence, _) = first.next_page_token.split_once('.').expect("a sequence and a stream");
    let bare = pb::GetAccessLogRequest { page_token: sequence.to_owned(), ..first_page.clone() };
    let status = h.coordination.get_access_log(luukku_grpc::with_token(bare, &token)).await.expect_err("no");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = status.get_details_bad_request().map(|bad| bad.field_violations).unwrap_or_default();
    assert_eq!(fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["page_token"]);
    // A report paged through from the old stream does not go on into the new one.
    let next = pb::GetAccessLogRequest { page_token: first.next_page_token, ..first_page.clone() };
    let status =
        h.coordination.get_access_log(luukku_grpc::with_token(next, &token)).await.expect_err("refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason).as_deref(),
        Some("ACCESS_LOG_MADE_ANEW")
    );
    // One begun on the new stream goes on.
    let first = h
        .coordination
        .get_access_log(luukku_grpc::with_token(first_page.clone(), &token))
        .await?
        .into_inner();
    let next = pb::GetAccessLogRequest { page_token: first.next_page_token, ..first_page };
    let second = h.coordination.get_access_log(luukku_grpc::with_token(next, &token)).await?.into_inner();
    assert_eq!(second.entries.len(), 1);
    assert_eq!(second.entries[0].at_ms, held[1].1, "the new stream's second record");
    Ok(())
}

#[tokio::test]
async fn the_family_sees_who_read_its_data_and_on_which_basis() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let granted = h.consent(&family_id, &members[0], None, &["school"]).await?;
    let consent_id = granted.consent_id.clone();
    let position = granted.result.and_then(|r| r.position).expect("a position");
    let teacher = professional("opettaja", Sector::School);
    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![position] };
    h.coordination.get_family_view(h.call_as(&teacher, request)).await?;

    // Maria, the guardian, signed in as herself.
    let maria = MemberRef { family_id: family_id.parse()?, member_id: members[0].parse()? };
    let maria_actor = actor_as("idp.maria", Role::FamilyMember, None);
    let token = member_token(&maria_actor, maria);
    let ask = pb::GetAccessLogRequest { family_id: family_id.clone(), ..Default::default() };
    let report =
        h.coordination.get_access_log(luukku_grpc::with_token(ask.clone(), &token)).await?.into_inner();
    let read_by_teacher = report
        .entries
        .iter()
        .find(|entry| entry.actor.as_ref().is_some_and(|actor| actor.person_id == "opettaja"))
        .expect("the teacher's read is listed");
    assert_eq!(read_by_teacher.basis, format!("consent:{consent_id}"));
    assert_eq!(read_by_teacher.actor.as_ref().map(|a| a.organisation.as_str()), Some("0201256-6"));
    assert!(read_by_teacher.allowed);
    let consent_record =
        report.entries.iter().find(|entry| entry.rpc.ends_with("/GrantConsent")).expect("listed");
    assert_eq!(consent_record.reason, "consent-form-1", "the signed form it rests on");

    // Paged, oldest first, and the report itself is an access on record.
    let first = h
        .coordination
        .get_access_log(luukku_grpc::with_token(
            pb::GetAccessLogRequest { page_size: 2, ..ask.clone() },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!(first.entries.len(), 2);
    assert_eq!(first.entries[0].rpc, "/luukku.families.v1.FamilyService/RegisterFamily");
    let next = pb::GetAccessLogRequest { page_size: 2, page_token: first.next_page_token, ..ask.clone() };
    let second = h.coordination.get_access_log(luukku_grpc::with_token(next, &token)).await?.into_inner();
    assert_eq!(second.entries[0].rpc, "/luukku.coordination.v1.CoordinationService/GetFamilyView");

    // The teacher may not read the family's log; another family's member is told it does not exist.
    let status = h.coordination.get_access_log(h.call_as(&teacher, ask.clone())).await.expect_err("denied");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason).as_deref(),
        Some("ROLE_NOT_PERMITTED")
    );
    let stranger =
        MemberRef { family_id: luukku_domain::family::FamilyId::generate(), member_id: maria.member_id };
    let token = member_token(&maria_actor, stranger);
    let status =
        h.coordination.get_access_log(luukku_grpc::with_token(ask, &token)).await.expect_err("denied");
    assert_eq!(status.code(), Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn a_familys_report_lists_its_records_stored_in_blocks() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let family: FamilyId = family_id.parse()?;
    // Reads of many families at once, this one's twice among them: stored as blocks, which
    // hold at most one record of each family.
    let reader = professional("lukija", Sector::School);
    let others: Vec<FamilyId> = (0..30).map(|_| FamilyId::generate()).collect();
    let order =
        others[..15].iter().chain([&family]).chain(&others[15..]).chain(&others[..5]).chain([&family]);
    let log = AccessLog::start(h.store.clone());
    for stored in
        futures::future::join_all(order.map(|family| log.record(statutory_read(reader.clone(), *family))))
            .await
    {
        stored?;
    }
    let blocks = h.store.read_audit(&AuditQuery { family: Some(family), ..AuditQuery::default() }).await?;
    assert_eq!(blocks.iter().filter(|stored| stored.block).count(), 2, "both in blocks");

    // Maria, the guardian, reads them in her family's report, one page each.
    let maria = MemberRef { family_id: family, member_id: members[0].parse()? };
    let token = member_token(&actor_as("idp.maria", Role::FamilyMember, None), maria);
    let mut ask =
        pb::GetAccessLogRequest { family_id: family_id.clone(), page_size: 1, ..Default::default() };
    // Oldest first: the registration, then the two reads. (Each page is itself a read on
    // record, so the report never runs out while it is paged through.)
    let mut listed = Vec::new();
    for _ in 0..3 {
        let page =
            h.coordination.get_access_log(luukku_grpc::with_token(ask.clone(), &token)).await?.into_inner();
        assert_eq!(page.entries.len(), 1);
        listed.extend(page.entries);
        ask.page_token = page.next_page_token;
    }
    assert!(listed[0].rpc.ends_with("/RegisterFamily"), "{listed:?}");
    for entry in &listed[1..] {
        assert_eq!(entry.actor.as_ref().map(|actor| actor.person_id.as_str()), Some("lukija"));
        assert!(entry.rpc.ends_with("/GetTimeline") && entry.allowed, "{entry:?}");
    }
    Ok(())
}

#[tokio::test]
async fn each_caller_sees_what_their_relationship_reaches_and_is_told_what_not() -> anyhow::Result<()> {
    use luukku_proto::referrals::v1 as referrals;
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    // A consent for school, concerning Eero only.
    let granted = h.consent(&family_id, &members[0], Some(&members[1]), &["school"]).await?;
    let consent_at = position(granted.result);
    let contact_at =
        position(h.log_contact(&family_id, &members[0], "Maria worried about home").await?.result);
    let created = h.notify_child_protection(&family_id, &members[1], "Bruises seen twice").await?;
    let at = position(created.result.clone());
    let view_at = |family_id: &str| pb::GetFamilyViewRequest {
        family_id: family_id.to_owned(),
        min_positions: vec![at.clone(), consent_at.clone(), contact_at.clone()],
    };

    // The contact person sees it all.
    let whole = h.coordination.get_family_view(h.call(view_at(&family_id))).await?.into_inner();
    assert!(whole.withheld.is_empty(), "{:?}", whole.withheld);
    assert_eq!((whole.members.len(), whole.recent_contacts.len(), whole.referrals.len()), (3, 1, 1));

    // The school sees Eero and the guardian, under the consent; no contact log, no referral
    // to child protection.
    let teacher = professional("opettaja", Sector::School);
    let school = h.coordination.get_family_view(h.call_as(&teacher, view_at(&family_id))).await?.into_inner();
    let names: Vec<&str> = school.members.iter().map(|m| m.name.as_str()).collect();
    assert!(!names.iter().any(|name| name.contains("Aino")), "{names:?}");
    assert_eq!(school.members.len(), 2, "{names:?}");
    assert!(school.recent_contacts.is_empty() && school.referrals.is_empty());
    assert!(!school.timeline.iter().any(|entry| entry.stream == "CONTACTS" || entry.stream == "REFERRALS"));
    for part in ["members", "contacts", "referrals", "timeline"] {
        assert!(school.withheld.iter().any(|withheld| withheld == part), "{part}: {:?}", school.withheld);
    }

    // Child protection sees its referral, with its reason, and a minimal extract.
    let social_worker = professional("sosiaalityontekija", Sector::ChildProtection);
    let extract =
        h.coordination.get_family_view(h.call_as(&social_worker, view_at(&family_id))).await?.into_inner();
    assert_eq!(extract.referrals.len(), 1);
    assert_eq!(extract.referrals[0].reason, "Bruises seen twice");
    assert!(extract.members.iter().all(|m| m.birth_date.is_empty() && !m.name.is_empty()));
    assert!(extract.consents.is_empty() && extract.recent_contacts.is_empty() && extract.timeline.is_empty());
    assert!(
        extract.contact_person.is_none()
            || !extract.contact_person.as_ref().is_some_and(|p| p.name.is_empty())
    );
    for part in ["members.birth_date", "consents", "contacts", "timeline"] {
        assert!(extract.withheld.iter().any(|withheld| withheld == part), "{part}: {:?}", extract.withheld);
    }

    // A colleague of the sending sector sees the referral, but not its reason.
    let colleague = professional("perhetyo", Sector::FamilySocialServices);
    let ask = referrals::GetReferralRequest { referral_id: created.referral_id.clone() };
    let got = h.referrals.get_referral(h.call_as(&colleague, ask.clone())).await?.into_inner();
    let referral = got.referral.expect("a referral");
    assert!(referral.reason.is_empty() && got.withheld == ["reason"], "{got:?}", got = got.withheld);
    assert!(got.history.iter().flat_map(|e| &e.events).all(|e| !e.summary.contains("Bruises")));
    let got = h.referrals.get_referral(h.call_as(&social_worker, ask)).await?.into_inner();
    assert_eq!(got.referral.expect("a referral").reason, "Bruises seen twice");
    assert!(got.withheld.is_empty());
    Ok(())
}

#[tokio::test]
async fn break_glass_opens_one_family_for_a_bounded_time_and_is_flagged() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, _, registered) = h.family("Salo").await?;
    let operator = luukku_testkit::operator();
    let request = pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![registered] };
    let status = h.coordination.get_family_view(h.call_as(&operator, request.clone())).await.expect_err("no");
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason).as_deref(),
        Some("OPERATORS_SEE_NO_PERSONAL_DATA")
    );

    let glass = |reason: &str, minutes| pb::BreakGlassRequest {
        family_id: family_id.clone(),
        reason: reason.to_owned(),
        minutes,
    };
    let status = h.admin.break_glass(h.call_as(&operator, glass(" ", 10))).await.expect_err("a reason");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status =
        h.admin.break_glass(h.call_as(&operator, glass("incident 42", 61))).await.expect_err("bounded");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = h.admin.break_glass(h.call(glass("curious", 10))).await.expect_err("operators only");
    assert_eq!(status.code(), Code::PermissionDenied);

    let granted = h.admin.break_glass(h.call_as(&operator, glass("incident 42", 1))).await?.into_inner();
    let now = jiff::Timestamp::now().as_millisecond();
    assert!((granted.until_ms - now - 60_000).abs() < 5_000, "a minute from now");
    let view = h.coordination.get_family_view(h.call_as(&operator, request)).await?.into_inner();
    assert!(view.withheld.is_empty() && view.members.len() == 3);
    // Another family stays closed to the operator.
    let (other, _, at) = h.family("Laine").await?;
    let request = pb::GetFamilyViewRequest { family_id: other, min_positions: vec![at] };
    assert!(h.coordination.get_family_view(h.call_as(&operator, request)).await.is_err());

    let flagged: Vec<(String, Option<String>)> = h
        .records(&family_id)
        .await?
        .into_iter()
        .filter(|record| record.access.basis == "break_glass")
        .map(|record| {
            (record.access.rpc.rsplit('/').next().unwrap_or_default().to_owned(), record.access.reason)
        })
        .collect();
    assert_eq!(
        flagged,
        [
            ("BreakGlass".to_owned(), Some("incident 42".to_owned())),
            ("GetFamilyView".to_owned(), Some("incident 42".to_owned())),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn search_by_name_stays_in_the_caseload_and_by_identity_code_needs_a_purpose() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (salo, _, _) = h.family("Salo").await?;
    let (laine, _, laine_at) = h.family("Laine").await?;
    let anna = h.contact_person("anna.contact", "Anna Koskinen").await?;
    let at = h.assign(&salo, &anna).await?;
    // Both families have a guardian with this identity code in the test fixture.
    let search = |name: &str, code: &str, purpose: &str| pb::SearchFamiliesRequest {
        name: name.to_owned(),
        municipality: String::new(),
        min_positions: vec![at.clone(), laine_at.clone()],
        identity_code: code.to_owned(),
        purpose: purpose.to_owned(),
        ..Default::default()
    };
    let found = h.coordination.search_families(h.call(search("maria", "", ""))).await?.into_inner();
    let ids: Vec<&str> = found.families.iter().map(|family| family.family_id.as_str()).collect();
    assert_eq!(ids, [salo.as_str()], "by name, only the caller's own caseload");

    let status =
        h.coordination.search_families(h.call(search("", "131052-308T", " "))).await.expect_err("no purpose");
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason).as_deref(),
        Some("SEARCH_NEEDS_PURPOSE")
    );
    let purpose = "a child protection notification about this family";
    let found =
        h.coordination.search_families(h.call(search("", "131052-308T", purpose))).await?.into_inner();
    let mut ids: Vec<String> = found.families.iter().map(|family| family.family_id.clone()).collect();
    ids.sort();
    let mut both = vec![salo.clone(), laine.clone()];
    both.sort();
    assert_eq!(ids, both, "by identity code, everywhere");
    let hit =
        h.records(&laine).await?.into_iter().find(|record| record.access.rpc.ends_with("/SearchFamilies"));
    let hit = hit.expect("the hit is in the family's log");
    assert_eq!(
        (hit.access.actor.person_id.as_str(), hit.access.reason.as_deref()),
        ("anna.contact", Some(purpose))
    );
    let teacher = professional("opettaja", Sector::School);
    let status =
        h.coordination.search_families(h.call_as(&teacher, search("maria", "", ""))).await.expect_err("no");
    assert_eq!(status.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn a_watch_ends_when_the_consent_it_rested_on_is_revoked() -> anyhow::Result<()> {
    use futures::StreamExt;
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let consent = h.consent(&family_id, &members[0], None, &["school"]).await?;
    let at = consent.result.clone().and_then(|r| r.position).expect("a position");
    let teacher = professional("opettaja", Sector::School);
    h.coordination
        .get_family_view(h.call_as(
            &teacher,
            pb::GetFamilyViewRequest { family_id: family_id.clone(), min_positions: vec![at] },
        ))
        .await?;
    let mut watch = h
        .coordination
        .watch_family(h.call_as(&teacher, pb::WatchFamilyRequest { family_id: family_id.clone() }))
        .await?
        .into_inner();
    watch.next().await.expect("the current view")?;
    h.move_family(&family_id, "837").await?;
    let change =
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.next()).await?.expect("a change")?;
    assert_eq!(change.entries.len(), 1, "the change reaches the teacher while the consent holds");

    let revoke = families::RevokeConsentRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        consent_id: consent.consent_id.clone(),
        revoked_by: members[0].clone(),
        ..Default::default()
    };
    h.families.revoke_consent(h.call(revoke)).await?;
    // The change that ends the watch is the first the watcher's facts see after the
    // revocation: the revocation itself, or the move after it.
    h.move_family(&family_id, "049").await?;
    let mut passed = 0;
    let status = loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next()).await?;
        match next.expect("the watch says why it ends") {
            Ok(_) if passed < 2 => passed += 1,
            Ok(change) => anyhow::bail!("the watch went on after the consent ended: {change:?}"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::PermissionDenied);
    let after = tokio::time::timeout(std::time::Duration::from_secs(5), watch.next()).await?;
    assert!(after.is_none(), "and it ends: {after:?}");
    Ok(())
}

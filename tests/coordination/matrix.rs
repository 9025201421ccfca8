//! The access matrix over gRPC: every family-level read, called by each role in each
//! relationship to one family, answers as `docs/access-policy.md`'s table says (`all` and
//! `part`: answered, `part` naming what was withheld; `no`: PERMISSION_DENIED; `hidden`:
//! NOT_FOUND), and each call leaves one access record.

use luukku_domain::family::{FamilyId, MemberRef};
use luukku_domain::{Actor, Role, Sector};
use luukku_proto::common::v1 as common;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::coordination::v1 as pb;
use luukku_proto::families::v1 as families;
use luukku_proto::meetings::v1 as meetings;
use luukku_testkit::auth::{member_token, with_identity};
use luukku_testkit::{actor_as, professional};
use tonic::Code;

use crate::support::*;

/// How a column's caller signs their calls.
enum Caller {
    Actor(Actor),
    Token(String),
}

impl Caller {
    fn call<T>(&self, message: T) -> tonic::Request<T> {
        match self {
            Caller::Actor(actor) => with_identity(message, actor),
            Caller::Token(token) => luukku_grpc::with_token(message, token),
        }
    }
}

/// Each RPC's cells in the documented table, in the order of its columns.
type Rows = std::collections::HashMap<String, Vec<String>>;

/// The documented table: its columns and rows.
fn documented() -> anyhow::Result<(Vec<String>, Rows)> {
    let document = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/access-policy.md"))?;
    let mut lines = document.lines().skip_while(|line| !line.starts_with("| RPC |"));
    let cells = |line: &str| {
        line.trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().trim_matches('`').to_owned())
            .collect::<Vec<_>>()
    };
    let header = cells(lines.next().ok_or_else(|| anyhow::anyhow!("no table"))?);
    let rows = lines
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(cells)
        .map(|row| (row[0].clone(), row[1..].to_vec()))
        .collect();
    Ok((header[1..].to_vec(), rows))
}

/// How many access records the family has.
async fn records_of(store: &luukku_eventstore::EventStore, family: FamilyId) -> anyhow::Result<usize> {
    let query = luukku_eventstore::audit::AuditQuery { family: Some(family), ..Default::default() };
    Ok(store.read_audit(&query).await?.len())
}

#[tokio::test]
async fn every_family_read_answers_each_relationship_as_the_table_says() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let (family_id, members, _) = h.family("Salo").await?;
    let anna = h.contact_person("anna.contact", "Anna Koskinen").await?;
    let bertta = h.contact_person("bertta.contact", "Bertta Virta").await?;
    h.assign(&family_id, &anna).await?;
    let handover = contacts::AssignContactPersonRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        expected_version: None,
        contact_person_id: bertta,
        reason: "leave".into(),
    };
    h.contacts.assign_contact_person(h.as_supervisor(handover)).await?;
    h.consent(&family_id, &members[0], Some(&members[1]), &["child_health_clinic", "school"]).await?;
    h.log_contact(&family_id, &members[0], "called").await?;
    h.notify_child_protection(&family_id, &members[1], "bruises").await?;
    let propose = meetings::ProposeMeetingRequest {
        request_id: request_id(),
        family_id: family_id.clone(),
        purpose: "support_planning".into(),
        slots: vec![meetings::Slot {
            starts_at_ms: jiff::Timestamp::now().as_millisecond() + 86_400_000,
            minutes: 60,
        }],
        place: "Office".into(),
        participants: vec![meetings::Participant {
            who: Some(meetings::participant::Who::Sector("mental_health".into())),
        }],
        ..Default::default()
    };
    let proposed = h.meetings.propose_meeting(h.call(propose)).await?.into_inner();
    proposed.result.and_then(|r| r.position).expect("a position");
    // Views wait until the projection has every write above, in all four streams.
    let mut everything = Vec::new();
    for stream in luukku_eventstore::Stream::ALL {
        let sequence = h.store.last_sequence(stream).await?;
        everything.push(common::Position { stream: stream.name().to_owned(), sequence });
    }
    let operator = actor_as("olli.operator", Role::Operator, None);
    let glass =
        pb::BreakGlassRequest { family_id: family_id.clone(), reason: "incident 7".into(), minutes: 5 };
    h.admin.break_glass(with_identity(glass, &operator)).await?;

    let member = actor_as("idp.maria", Role::FamilyMember, None);
    let family: FamilyId = family_id.parse()?;
    let maria = MemberRef { family_id: family, member_id: members[0].parse()? };
    let stranger = MemberRef { family_id: FamilyId::generate(), member_id: members[0].parse()? };
    let column = |name: &str| -> Caller {
        match name {
            "contact person" => Caller::Actor(luukku_testkit::actor_named("anna.contact")),
            "pending receiver" => Caller::Actor(luukku_testkit::actor_named("bertta.contact")),
            "consenting sector" => Caller::Actor(professional("terveydenhoitaja", Sector::ChildHealthClinic)),
            "receiving sector" => Caller::Actor(professional("sosiaalityontekija", Sector::ChildProtection)),
            "unrelated sector" => Caller::Actor(professional("rehtori", Sector::EarlyEducation)),
            "family member" => Caller::Token(member_token(&member, maria)),
            "other family's member" => Caller::Token(member_token(&member, stranger)),
            "supervisor" => Caller::Actor(luukku_testkit::supervisor()),
            "data protection" => Caller::Actor(luukku_testkit::grpc::data_protection_officer()),
            "operator" => Caller::Actor(luukku_testkit::operator()),
            _ => Caller::Actor(operator.clone()),
        }
    };

    let (columns, table) = documented()?;
    let mut checked = 0;
    for rpc in [
        "GetFamily",
        "ListFamilyHistory",
        "GetAssignment",
        "ListFamilyContacts",
        "ListFamilyMeetings",
        "GetFamilyView",
        "GetTimeline",
        "GetAccessLog",
    ] {
        let row = table.get(rpc).ok_or_else(|| anyhow::anyhow!("{rpc} is not in the table"))?;
        for (name, cell) in columns.iter().zip(row) {
            let caller = column(name);
            let records_before = records_of(&h.store, family).await?;
            let id = family_id.clone();
            let at = everything.clone();
            // The answer's code, and what it says was withheld (where it says).
            let answer: Result<Vec<String>, tonic::Status> = match rpc {
                "GetFamily" => h
                    .families
                    .get_family(caller.call(families::GetFamilyRequest { family_id: id }))
                    .await
                    .map(|r| r.into_inner().withheld),
                "ListFamilyHistory" => h
                    .families
                    .list_family_history(
                        caller
                            .call(families::ListFamilyHistoryRequest { family_id: id, ..Default::default() }),
                    )
                    .await
                    .map(|_| vec![]),
                "GetAssignment" => h
                    .contacts
                    .get_assignment(caller.call(contacts::GetAssignmentRequest { family_id: id }))
                    .await
                    .map(|_| vec![]),
                "ListFamilyContacts" => {
                    h.contacts
                        .list_family_contacts(caller.call(contacts::ListFamilyContactsRequest {
                            family_id: id,
                            ..Default::default()
                        }))
                        .await
                        .map(|_| vec![])
                }
                "ListFamilyMeetings" => {
                    h.meetings
                        .list_family_meetings(caller.call(meetings::ListFamilyMeetingsRequest {
                            family_id: id,
                            ..Default::default()
                        }))
                        .await
                        .map(|_| vec![])
                }
                "GetFamilyView" => h
                    .coordination
                    .get_family_view(
                        caller.call(pb::GetFamilyViewRequest { family_id: id, min_positions: at }),
                    )
                    .await
                    .map(|r| r.into_inner().withheld),
                "GetTimeline" => h
                    .coordination
                    .get_timeline(caller.call(pb::GetTimelineRequest {
                        family_id: id,
                        min_positions: at,
                        ..Default::default()
                    }))
                    .await
                    .map(|_| vec![]),
                _ => h
                    .coordination
                    .get_access_log(
                        caller.call(pb::GetAccessLogRequest { family_id: id, ..Default::default() }),
                    )
                    .await
                    .map(|_| vec![]),
            };
            let code = answer.as_ref().err().map(|status| status.code()).unwrap_or(Code::Ok);
            let expected = match cell.as_str() {
                "all" | "part" => Code::Ok,
                "no" => Code::PermissionDenied,
                _ => Code::NotFound,
            };
            assert_eq!(code, expected, "{rpc} by the {name}: {answer:?}");
            // The whole family's callers are told nothing was withheld; the sectors' callers see
            // part of it and are told which. (Maria, a guardian, sees all three of its members.)
            if let (Ok(withheld), "GetFamilyView" | "GetFamily") = (&answer, rpc) {
                match cell.as_str() {
                    "all" => assert!(withheld.is_empty(), "{rpc} by the {name} withholds {withheld:?}"),
                    _ if name != "family member" => {
                        assert!(!withheld.is_empty(), "{rpc} by the {name} names nothing withheld")
                    }
                    _ => {}
                }
            }
            let records_after = records_of(&h.store, family).await?;
            assert_eq!(records_after, records_before + 1, "{rpc} by the {name} leaves one record");
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 11);
    Ok(())
}

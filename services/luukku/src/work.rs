//! More subcommands for contact persons: caseload, consents, contacts, handovers, referrals,
//! meetings and actions. Each is one call of a public gRPC API.

use anyhow::Context as _;
use luukku_domain::RequestId;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::meetings::v1::participant::Who;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_proto::referrals::v1::update_referral_request::Step;
use luukku_service::with_identity;

use crate::client::{Identity, explain};

fn id() -> String {
    RequestId::generate().to_string()
}

fn list(values: &str) -> Vec<String> {
    values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

async fn channel(url: &str, what: &str) -> anyhow::Result<tonic::transport::Channel> {
    tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("connecting to the {what} service at {url}; is it running? (`luukku dev`)"))
}

fn participant(text: &str) -> anyhow::Result<meetings::Participant> {
    let (kind, value) = text
        .split_once(':')
        .with_context(|| format!("{text:?}: give person:<id>, sector:<code> or member:<id>"))?;
    let who = match kind {
        "person" => Who::PersonId(value.to_owned()),
        "sector" => Who::Sector(value.to_owned()),
        "member" => Who::MemberId(value.to_owned()),
        _ => anyhow::bail!("{text:?}: give person:<id>, sector:<code> or member:<id>"),
    };
    Ok(meetings::Participant { who: Some(who) })
}

fn done(result: Option<luukku_proto::common::v1::WriteResult>) {
    if let Some(result) = result {
        let position = result
            .position
            .map(|p| format!("{}:{}", p.stream, p.sequence))
            .unwrap_or_else(|| "unchanged".into());
        eprintln!("done at {position}{}", if result.replayed { " (repeated request)" } else { "" });
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ConsentCommand {
    Grant {
        #[arg(long)]
        family: String,
        /// The consenting member: a guardian, or a child of 15 or over.
        #[arg(long)]
        by: String,
        /// Sector codes, comma-separated.
        #[arg(long)]
        sectors: String,
        #[arg(long)]
        until: String,
        #[arg(long)]
        purpose: String,
        /// A child consenting for themself names themself.
        #[arg(long)]
        concerns: Option<String>,
    },
    Revoke {
        #[arg(long)]
        family: String,
        #[arg(long)]
        consent: String,
        #[arg(long)]
        by: String,
    },
}

pub async fn consent(identity: &Identity, command: ConsentCommand) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = FamilyServiceClient::new(channel(&identity.families_url, "families").await?);
    match command {
        ConsentCommand::Grant { family, by, sectors, until, purpose, concerns } => {
            let request = families::GrantConsentRequest {
                request_id: id(),
                family_id: family,
                given_by: by,
                concerns_member_id: concerns.unwrap_or_default(),
                sectors: list(&sectors),
                purpose,
                valid_until: until,
                ..Default::default()
            };
            let response =
                client.grant_consent(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
            println!("{}", response.consent_id);
            done(response.result);
        }
        ConsentCommand::Revoke { family, consent, by } => {
            let request = families::RevokeConsentRequest {
                request_id: id(),
                family_id: family,
                consent_id: consent,
                revoked_by: by,
                ..Default::default()
            };
            done(
                client
                    .revoke_consent(with_identity(request, &actor))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ContactLogArgs {
    #[arg(long)]
    family: String,
    /// The family member in touch (or --sector for a professional).
    #[arg(long)]
    member: Option<String>,
    #[arg(long)]
    sector: Option<String>,
    /// phone, walk_in, chat, email, video, home_visit.
    #[arg(long)]
    channel: String,
    /// Need codes, comma-separated.
    #[arg(long)]
    needs: String,
    #[arg(long)]
    summary: String,
    /// Sector codes suggested, comma-separated.
    #[arg(long, default_value = "")]
    guidance: String,
    #[arg(long)]
    follow_up: Option<String>,
    /// The contact person got in touch (default: the family did).
    #[arg(long)]
    outbound: bool,
}

pub async fn contact_log(identity: &Identity, args: ContactLogArgs) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = ContactServiceClient::new(channel(&identity.contacts_url, "contacts").await?);
    let direction = if args.outbound { contacts::Direction::Outbound } else { contacts::Direction::Inbound };
    let request = contacts::RecordContactRequest {
        request_id: id(),
        family_id: args.family,
        direction: direction as i32,
        member_id: args.member.unwrap_or_default(),
        professional_sector: args.sector.unwrap_or_default(),
        channel: args.channel,
        needs: list(&args.needs),
        summary: args.summary,
        guidance: list(&args.guidance),
        follow_up: args.follow_up.unwrap_or_default(),
        ..Default::default()
    };
    let response = client.record_contact(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
    println!("{}", response.contact_id);
    done(response.result);
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum HandoverCommand {
    /// Proposes handing the family to another contact person (or assigns the first one).
    Propose {
        #[arg(long)]
        family: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    Accept {
        #[arg(long)]
        family: String,
        #[arg(long)]
        handover: String,
    },
    Decline {
        #[arg(long)]
        family: String,
        #[arg(long)]
        handover: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

pub async fn handover(identity: &Identity, command: HandoverCommand) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = ContactServiceClient::new(channel(&identity.contacts_url, "contacts").await?);
    let decision = |family: String, handover: String, reason: String| contacts::HandoverDecisionRequest {
        request_id: id(),
        family_id: family,
        expected_version: None,
        handover_id: handover,
        reason,
    };
    match command {
        HandoverCommand::Propose { family, to, reason } => {
            let request = contacts::AssignContactPersonRequest {
                request_id: id(),
                family_id: family,
                expected_version: None,
                contact_person_id: to,
                reason,
            };
            let response = client
                .assign_contact_person(with_identity(request, &actor))
                .await
                .map_err(explain)?
                .into_inner();
            if response.assigned {
                println!("assigned");
            } else {
                println!(
                    "handover {} proposed; it completes when the receiver accepts",
                    response.handover_id
                );
            }
            done(response.result);
        }
        HandoverCommand::Accept { family, handover } => {
            let request = decision(family, handover, String::new());
            done(
                client
                    .accept_handover(with_identity(request, &actor))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
        HandoverCommand::Decline { family, handover, reason } => {
            let request = decision(family, handover, reason);
            done(
                client
                    .decline_handover(with_identity(request, &actor))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum ReferralCommand {
    Create {
        #[arg(long)]
        family: String,
        #[arg(long)]
        service: String,
        #[arg(long)]
        child: Option<String>,
        #[arg(long)]
        needs: String,
        /// urgent or normal.
        #[arg(long, default_value = "normal")]
        urgency: String,
        #[arg(long)]
        reason: String,
    },
    /// A sector's inbox, a contact person's or a family's referrals, oldest first.
    List {
        #[arg(long)]
        sector: Option<String>,
        #[arg(long)]
        contact_person: Option<String>,
        #[arg(long)]
        family: Option<String>,
        /// State codes, comma-separated.
        #[arg(long, default_value = "")]
        states: String,
    },
    /// One step: receive, accept, reject, start, complete, fail, hold, resume, cancel.
    Update {
        #[arg(long)]
        referral: String,
        #[arg(long)]
        step: String,
        /// The note, outcome or (for reject) reason code.
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn referral(identity: &Identity, command: ReferralCommand) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = ReferralServiceClient::new(channel(&identity.referrals_url, "referrals").await?);
    match command {
        ReferralCommand::Create { family, service, child, needs, urgency, reason } => {
            let request = referrals::CreateReferralRequest {
                request_id: id(),
                family_id: family,
                child_member_id: child.unwrap_or_default(),
                service_id: service,
                needs: list(&needs),
                urgency,
                reason,
                ..Default::default()
            };
            let response =
                client.create_referral(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
            println!("{}", response.referral_id);
            for duplicate in &response.possible_duplicates {
                eprintln!("note: referral {duplicate} to the same service is still open");
            }
            done(response.result);
        }
        ReferralCommand::List { sector, contact_person, family, states } => {
            let mut page_token = String::new();
            loop {
                let request = referrals::ListReferralsRequest {
                    sector: sector.clone().unwrap_or_default(),
                    contact_person_id: contact_person.clone().unwrap_or_default(),
                    family_id: family.clone().unwrap_or_default(),
                    states: list(&states),
                    page_token: page_token.clone(),
                    ..Default::default()
                };
                let page = client
                    .list_referrals(with_identity(request, &actor))
                    .await
                    .map_err(explain)?
                    .into_inner();
                for r in &page.referrals {
                    let flags = format!(
                        "{}{}",
                        if r.overdue { " OVERDUE" } else { "" },
                        if r.consent_lapsed { " CONSENT-LAPSED" } else { "" }
                    );
                    println!(
                        "{} {} {} {} family {}{flags}",
                        r.referral_id, r.sector, r.state, r.urgency, r.family_id
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        ReferralCommand::Update { referral, step, note } => {
            let with_note = || referrals::WithNote { note: note.clone() };
            let step = match step.as_str() {
                "receive" => Step::Receive(referrals::Empty {}),
                "accept" => Step::Accept(referrals::Empty {}),
                "reject" => Step::Reject(referrals::Reject { reason: note.clone(), note: String::new() }),
                "start" => Step::Start(referrals::Empty {}),
                "complete" => Step::Complete(with_note()),
                "fail" => Step::Fail(with_note()),
                "hold" => Step::Hold(with_note()),
                "resume" => Step::Resume(referrals::Empty {}),
                "cancel" => Step::Cancel(with_note()),
                other => anyhow::bail!(
                    "{other:?} is not a step: receive, accept, reject, start, complete, fail, hold, resume, cancel"
                ),
            };
            let request = referrals::UpdateReferralRequest {
                request_id: id(),
                referral_id: referral,
                expected_version: None,
                step: Some(step),
            };
            let response =
                client.update_referral(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
            println!("{}", response.state);
            done(response.result);
        }
    }
    Ok(())
}

#[derive(Debug, clap::Subcommand)]
pub enum MeetingCommand {
    Propose {
        #[arg(long)]
        family: String,
        #[arg(long)]
        purpose: String,
        /// A proposed start, RFC 3339 (2026-12-01T10:00:00+02:00); repeatable.
        #[arg(long = "at", required = true)]
        at: Vec<String>,
        #[arg(long, default_value_t = 90)]
        minutes: u32,
        #[arg(long)]
        place: String,
        /// person:<id>, sector:<code> or member:<id>; repeatable.
        #[arg(long = "participant", required = true)]
        participants: Vec<String>,
    },
    Schedule {
        #[arg(long)]
        family: String,
        #[arg(long)]
        meeting: String,
        /// Which proposed time, from 0.
        #[arg(long, default_value_t = 0)]
        slot: u32,
    },
    Hold {
        #[arg(long)]
        family: String,
        #[arg(long)]
        meeting: String,
        #[arg(long)]
        summary: String,
        /// member:<id> of a child, then "=" and their view; repeatable.
        #[arg(long = "child-view")]
        child_views: Vec<String>,
        /// "what|owner|YYYY-MM-DD", owner as person:, sector: or member:; repeatable.
        #[arg(long = "action")]
        actions: Vec<String>,
    },
}

pub async fn meeting(identity: &Identity, command: MeetingCommand) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = MeetingServiceClient::new(channel(&identity.meetings_url, "meetings").await?);
    match command {
        MeetingCommand::Propose { family, purpose, at, minutes, place, participants } => {
            let slots = at
                .iter()
                .map(|text| {
                    let start: jiff::Timestamp =
                        text.parse().with_context(|| format!("--at {text:?} is not an RFC 3339 time"))?;
                    Ok(meetings::Slot { starts_at_ms: start.as_millisecond(), minutes })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let request = meetings::ProposeMeetingRequest {
                request_id: id(),
                family_id: family,
                purpose,
                slots,
                place,
                participants: participants.iter().map(|p| participant(p)).collect::<anyhow::Result<_>>()?,
                ..Default::default()
            };
            let response =
                client.propose_meeting(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
            println!("{}", response.meeting_id);
            done(response.result);
        }
        MeetingCommand::Schedule { family, meeting, slot } => {
            let request = meetings::ScheduleMeetingRequest {
                request_id: id(),
                family_id: family,
                meeting_id: meeting,
                slot,
                ..Default::default()
            };
            done(
                client
                    .schedule_meeting(with_identity(request, &actor))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
        MeetingCommand::Hold { family, meeting, summary, child_views, actions } => {
            let child_views = child_views
                .iter()
                .map(|text| {
                    let (member, view) = text
                        .split_once('=')
                        .with_context(|| format!("{text:?}: give <member id>=<their view>"))?;
                    Ok(meetings::ChildView {
                        member_id: member.trim_start_matches("member:").to_owned(),
                        view: view.to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let actions = actions
                .iter()
                .map(|text| {
                    let parts: Vec<&str> = text.split('|').collect();
                    let [what, owner, due] = parts[..] else {
                        anyhow::bail!("{text:?}: give what|owner|YYYY-MM-DD")
                    };
                    Ok(meetings::NewAction {
                        action_id: String::new(),
                        what: what.to_owned(),
                        owner: Some(participant(owner)?),
                        due: due.to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let request = meetings::HoldMeetingRequest {
                request_id: id(),
                family_id: family,
                meeting_id: meeting,
                summary,
                child_views,
                actions,
                ..Default::default()
            };
            let response =
                client.hold_meeting(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
            for action in &response.action_ids {
                println!("{action}");
            }
            done(response.result);
        }
    }
    Ok(())
}

/// Open actions of a person or a sector.
pub async fn actions(
    identity: &Identity,
    person: Option<String>,
    sector: Option<String>,
) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client = MeetingServiceClient::new(channel(&identity.meetings_url, "meetings").await?);
    let request = meetings::ListOpenActionsRequest {
        person_id: person.unwrap_or_default(),
        sector: sector.unwrap_or_default(),
    };
    let response =
        client.list_open_actions(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
    for action in response.actions {
        println!(
            "{} due {}{}: {} (family {})",
            action.action_id,
            action.due,
            if action.overdue { " OVERDUE" } else { "" },
            action.what,
            action.family_id
        );
    }
    Ok(())
}

/// A contact person's families, what needs attention first.
pub async fn caseload(identity: &Identity, contact_person: String) -> anyhow::Result<()> {
    let actor = identity.actor()?;
    let mut client =
        CoordinationServiceClient::new(channel(&identity.coordination_url, "coordination").await?);
    let request =
        coordination::ListCaseloadRequest { contact_person_id: contact_person, min_positions: vec![] };
    let response = client.list_caseload(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
    for family in response.families {
        let a = family.attention.unwrap_or_default();
        println!(
            "{} {} [{}] overdue referrals {}, actions past due {}, meetings this week {}, follow-ups {}, consents ending {}{}",
            family.family_id,
            family.municipality,
            family.names.join(", "),
            a.overdue_referrals,
            a.actions_past_due,
            a.meetings_within_week,
            a.follow_ups_due,
            a.consents_ending,
            if a.pending_handover { ", handover pending" } else { "" }
        );
    }
    Ok(())
}

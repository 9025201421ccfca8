//! `luukku meeting propose|schedule|hold` and `luukku actions`.

use anyhow::Context as _;
use luukku_grpc::with_token;
use luukku_proto::meetings::v1 as meetings;
use luukku_proto::meetings::v1::meeting_service_client::MeetingServiceClient;
use luukku_proto::meetings::v1::participant::Who;

use super::{Identity, done, explain, id};

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
    let token = identity.token()?;
    let mut client = MeetingServiceClient::new(identity.channel(&identity.meetings_url, "meetings").await?);
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
                client.propose_meeting(with_token(request, &token)).await.map_err(explain)?.into_inner();
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
                    .schedule_meeting(with_token(request, &token))
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
                client.hold_meeting(with_token(request, &token)).await.map_err(explain)?.into_inner();
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
    let token = identity.token()?;
    let mut client = MeetingServiceClient::new(identity.channel(&identity.meetings_url, "meetings").await?);
    let mut page_token = String::new();
    loop {
        let request = meetings::ListOpenActionsRequest {
            person_id: person.clone().unwrap_or_default(),
            sector: sector.clone().unwrap_or_default(),
            page_size: 0,
            page_token,
        };
        let response =
            client.list_open_actions(with_token(request, &token)).await.map_err(explain)?.into_inner();
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
        if response.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = response.next_page_token;
    }
}

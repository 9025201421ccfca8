//! `luukku family register|show`.

use anyhow::Context as _;
use luukku_domain::RequestId;
use luukku_grpc::with_token;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;

use super::{Identity, explain};

#[derive(Debug, clap::Subcommand)]
pub enum FamilyCommand {
    /// Registers a family.
    Register {
        /// Three-digit municipality code, such as 091.
        #[arg(long)]
        municipality: String,
        /// "Given names Family name[:YYYY-MM-DD]", repeatable.
        #[arg(long)]
        guardian: Vec<String>,
        /// "Given names Family name:YYYY-MM-DD", repeatable.
        #[arg(long)]
        child: Vec<String>,
    },
    /// The coordinated view of a family, as readable text.
    Show { family_id: String },
}

fn member(role: families::MemberRole, text: &str) -> anyhow::Result<families::NewMember> {
    let (name, born) = text.split_once(':').map_or((text, ""), |(name, born)| (name, born));
    let (given, family) = name
        .trim()
        .rsplit_once(' ')
        .with_context(|| format!("{text:?}: give \"Given names Family name\""))?;
    Ok(families::NewMember {
        member_id: String::new(),
        details: Some(families::MemberInput {
            role: role as i32,
            given_names: given.to_owned(),
            family_name: family.to_owned(),
            birth_date: born.trim().to_owned(),
            ..Default::default()
        }),
    })
}

pub async fn family(identity: &Identity, command: FamilyCommand) -> anyhow::Result<()> {
    let token = identity.token()?;
    match command {
        FamilyCommand::Register { municipality, guardian, child } => {
            let mut members = Vec::new();
            for text in &guardian {
                members.push(member(families::MemberRole::Guardian, text)?);
            }
            for text in &child {
                members.push(member(families::MemberRole::Child, text)?);
            }
            let request = families::RegisterFamilyRequest {
                request_id: RequestId::generate().to_string(),
                family_id: String::new(),
                municipality,
                members,
            };
            let mut client =
                FamilyServiceClient::connect(identity.families_url.clone()).await.with_context(|| {
                    format!("connecting to the families service at {}", identity.families_url)
                })?;
            let response =
                client.register_family(with_token(request, &token)).await.map_err(explain)?.into_inner();
            let position =
                response.result.and_then(|r| r.position).map(|p| format!("{}:{}", p.stream, p.sequence));
            println!("{}", response.family_id);
            for (member_id, text) in response.member_ids.iter().zip(guardian.iter().chain(&child)) {
                println!("member {member_id} {text}");
            }
            eprintln!("registered at {}", position.unwrap_or_default());
        }
        FamilyCommand::Show { family_id } => {
            let mut client =
                CoordinationServiceClient::connect(identity.coordination_url.clone()).await.with_context(
                    || format!("connecting to the coordination service at {}", identity.coordination_url),
                )?;
            let request = coordination::GetFamilyViewRequest { family_id, min_positions: vec![] };
            let view =
                client.get_family_view(with_token(request, &token)).await.map_err(explain)?.into_inner();
            print_view(&view);
        }
    }
    Ok(())
}

fn print_view(view: &coordination::FamilyView) {
    println!("Family {} ({}, municipality {})", view.family_id, view.status, view.municipality);
    for member in &view.members {
        let age = if member.age >= 0 { format!(", {} years", member.age) } else { String::new() };
        println!(
            "  {:<8} {}{age}",
            member.role,
            if member.name.is_empty() { "[erased]" } else { &member.name }
        );
    }
    match &view.contact_person {
        Some(person) => println!("Contact person: {} ({})", person.name, person.contact_person_id),
        None => println!("Contact person: none yet"),
    }
    if let Some(handover) = &view.pending_handover {
        let name =
            |p: &Option<coordination::ContactPerson>| p.as_ref().map(|p| p.name.clone()).unwrap_or_default();
        println!("Handover pending: {} -> {}", name(&handover.from), name(&handover.to));
    }
    for consent in &view.consents {
        println!(
            "Consent until {}{}: {}",
            consent.valid_until,
            if consent.ending_soon { " (ending soon)" } else { "" },
            consent.sectors.join(", ")
        );
    }
    for referral in &view.referrals {
        let flags = [(referral.overdue, " OVERDUE"), (referral.consent_lapsed, " CONSENT LAPSED")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, text)| *text)
            .collect::<String>();
        println!(
            "Referral to {} ({}): {}, {} days{flags}",
            referral.service_name, referral.sector, referral.state, referral.waiting_days
        );
    }
    for meeting in &view.upcoming_meetings {
        println!("Meeting ({}) {}", meeting.purpose, meeting.status);
    }
    for action in &view.open_actions {
        println!(
            "Action due {}{}: {} ({})",
            action.due,
            if action.overdue { " OVERDUE" } else { "" },
            action.what,
            action.owner
        );
    }
    for contact in &view.follow_ups_due {
        println!("Follow-up due {}: {}", contact.follow_up, contact.summary);
    }
    println!("Timeline:");
    for entry in &view.timeline {
        let at = jiff::Timestamp::from_millisecond(entry.at_ms).map(|t| t.to_string()).unwrap_or_default();
        println!("  {at}  {}  ({})", entry.text, entry.actor);
    }
    if !view.withheld.is_empty() {
        println!("Not shown to you: {}", view.withheld.join(", "));
    }
}

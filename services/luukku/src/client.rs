//! Subcommands for contact persons, through the gRPC APIs only, as any client would.

use anyhow::Context as _;
use luukku_domain::{Actor, Code, RequestId, Role, Sector};
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;
use luukku_service::with_identity;
use tonic::Code as StatusCode;

#[derive(Debug, clap::Args)]
pub struct Identity {
    /// Who you are (your id in the identity provider).
    #[arg(long = "as", env = "LUUKKU_PERSON", default_value = "dev.user", global = true)]
    pub person: String,
    /// contact_person, sector_professional, family_member, operator or system.
    #[arg(long, env = "LUUKKU_ROLE", default_value = "contact_person", global = true)]
    pub role: String,
    #[arg(long, env = "LUUKKU_ORGANISATION", default_value = "dev", global = true)]
    pub organisation: String,
    /// Your sector code, if any.
    #[arg(long, env = "LUUKKU_SECTOR", global = true)]
    pub sector: Option<String>,
    #[arg(long, env = "LUUKKU_FAMILIES_URL", default_value = "http://127.0.0.1:50051", global = true)]
    pub families_url: String,
    #[arg(long, env = "LUUKKU_COORDINATION_URL", default_value = "http://127.0.0.1:50055", global = true)]
    pub coordination_url: String,
    #[arg(long, env = "LUUKKU_CONTACTS_URL", default_value = "http://127.0.0.1:50052", global = true)]
    pub contacts_url: String,
    #[arg(long, env = "LUUKKU_REFERRALS_URL", default_value = "http://127.0.0.1:50053", global = true)]
    pub referrals_url: String,
    #[arg(long, env = "LUUKKU_MEETINGS_URL", default_value = "http://127.0.0.1:50054", global = true)]
    pub meetings_url: String,
}

impl Identity {
    pub fn actor(&self) -> anyhow::Result<Actor> {
        Ok(Actor {
            person_id: Code::parse(&self.person).context("--as")?,
            role: Role::from_code(&self.role)
                .with_context(|| format!("--role {:?} is not a role", self.role))?,
            sector: self
                .sector
                .as_deref()
                .map(str::parse::<Sector>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--sector: {e}"))?,
            organisation: Code::parse(&self.organisation).context("--organisation")?,
            system: Code::parse("luukku-cli").context("system")?,
        })
    }
}

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

/// Turns a refusal into what went wrong and what to do, without a backtrace.
pub fn explain(status: tonic::Status) -> anyhow::Error {
    let hint = match status.code() {
        StatusCode::InvalidArgument => "check the values named above and try again",
        StatusCode::NotFound => "check the id; it may be mistyped or erased",
        StatusCode::FailedPrecondition => "the change breaks a rule named above; change the situation first",
        StatusCode::Aborted => "someone changed it meanwhile; look again and retry",
        StatusCode::Unauthenticated => "give your identity with --as, --role and --organisation",
        StatusCode::PermissionDenied => "ask someone with the right role",
        StatusCode::Unavailable => "is the service running? `luukku dev` starts everything",
        _ => "try again; if it persists, tell an operator",
    };
    let mut message = status.message().to_owned();
    if let Ok(details) = tonic_types::StatusExt::check_error_details(&status)
        && let Some(bad) = details.bad_request()
    {
        for violation in &bad.field_violations {
            message.push_str(&format!("\n  {}: {}", violation.field, violation.description));
        }
    }
    anyhow::anyhow!("{message}\n{hint}")
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
    let actor = identity.actor()?;
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
                client.register_family(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
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
                client.get_family_view(with_identity(request, &actor)).await.map_err(explain)?.into_inner();
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
}

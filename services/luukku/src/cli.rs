use clap::{Parser, Subcommand};

/// luukku: one contact person per family, an event-sourced case-coordination backend.
#[derive(Debug, Parser)]
#[command(name = "luukku", version)]
pub struct Cli {
    /// How log lines (on stderr) are written: lines for people, or one JSON object per line
    /// with the request id and trace id of the call it belongs to.
    #[arg(long, env = "LUUKKU_LOG_FORMAT", value_enum, default_value_t = luukku_runtime::telemetry::LogFormat::Text, global = true)]
    pub log_format: luukku_runtime::telemetry::LogFormat,
    /// Export spans over OTLP (gRPC) to this collector, such as http://127.0.0.1:4317; none
    /// exports nothing.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole system on its embedded default: its own nats-server with data in a
    /// local folder, the streams provisioned, every gRPC service; runs until Ctrl-C.
    Dev(crate::dev::DevArgs),
    /// Run one service alone, for real deployments (configured by flags, environment
    /// variables or a TOML file).
    Serve(Box<crate::serve::ServeArgs>),
    /// Tools for operators: streams, tail, verify, export, rebuild.
    Ops(crate::ops::OpsArgs),
    /// Prints a development token for an identity, signed by the development issuer of a
    /// `luukku dev` data folder; for grpcurl and other clients. Refuses any other folder.
    Token {
        #[command(flatten)]
        caller: crate::client::Caller,
        /// The member of a family the bearer is, FAMILY_ID:MEMBER_ID (for --role family_member).
        #[arg(long)]
        member: Option<String>,
        /// How long the token is valid, such as 8h or 30m.
        #[arg(long, default_value = "8h")]
        ttl: jiff::SignedDuration,
    },
    /// Families, for contact persons: register, show the coordinated view.
    Family {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::client::FamilyCommand,
    },
    /// A contact person's families, what needs attention first.
    Caseload {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[arg(long)]
        contact_person: String,
    },
    /// Grant or revoke a family's consent.
    Consent {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::client::ConsentCommand,
    },
    /// The contact log.
    Contact {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Propose, accept or decline a handover to another contact person.
    Handover {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::client::HandoverCommand,
    },
    /// Create, list and update referrals.
    Referral {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::client::ReferralCommand,
    },
    /// Propose, schedule and hold network meetings.
    Meeting {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::client::MeetingCommand,
    },
    /// Open agreed actions of a person or a sector.
    Actions {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        sector: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ContactCommand {
    /// Records a contact with a family.
    Log(crate::client::ContactLogArgs),
}

fn ok(_: ()) -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}

impl Cli {
    /// Whether the command runs servers, which must not end quietly on a panic.
    pub fn is_server(&self) -> bool {
        matches!(self.command, Command::Dev(_) | Command::Serve(_))
    }

    /// The name spans are exported under: the service a server runs, `luukku` otherwise.
    pub fn service_name(&self) -> String {
        match &self.command {
            Command::Serve(args) => format!("luukku-{}", args.service.name()),
            Command::Dev(_) => "luukku-dev".to_owned(),
            _ => "luukku".to_owned(),
        }
    }

    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self.command {
            Command::Dev(args) => crate::dev::run(args).await.map(|()| std::process::ExitCode::SUCCESS),
            Command::Serve(args) => crate::serve::run(*args).await.map(|()| std::process::ExitCode::SUCCESS),
            Command::Ops(args) => crate::ops::run(args).await,
            Command::Token { mut caller, member, ttl } => {
                caller.as_member = member.or(caller.as_member);
                let ttl = std::time::Duration::try_from(ttl)
                    .ok()
                    .filter(|ttl| !ttl.is_zero() && *ttl <= luukku_auth::MAX_LIFETIME)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--ttl: between a second and 24h; services refuse longer-lived tokens"
                        )
                    })?;
                println!("{}", caller.dev_token(ttl)?);
                Ok(std::process::ExitCode::SUCCESS)
            }
            Command::Family { identity, command } => crate::client::family(&identity, command).await.map(ok),
            Command::Caseload { identity, contact_person } => {
                crate::client::caseload(&identity, contact_person).await.map(ok)
            }
            Command::Consent { identity, command } => {
                crate::client::consent(&identity, command).await.map(ok)
            }
            Command::Contact { identity, command: ContactCommand::Log(args) } => {
                crate::client::contact_log(&identity, args).await.map(ok)
            }
            Command::Handover { identity, command } => {
                crate::client::handover(&identity, command).await.map(ok)
            }
            Command::Referral { identity, command } => {
                crate::client::referral(&identity, command).await.map(ok)
            }
            Command::Meeting { identity, command } => {
                crate::client::meeting(&identity, command).await.map(ok)
            }
            Command::Actions { identity, person, sector } => {
                crate::client::actions(&identity, person, sector).await.map(ok)
            }
        }
    }
}

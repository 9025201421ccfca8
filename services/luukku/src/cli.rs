use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// luukku: one contact person per family, an event-sourced case-coordination backend.
#[derive(Debug, Parser)]
#[command(name = "luukku", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole system on its embedded default: its own nats-server with data in a
    /// local folder, the streams provisioned, every gRPC service; runs until Ctrl-C.
    Dev(DevArgs),
    /// Run one service alone, for real deployments (configured by flags, environment
    /// variables or a TOML file).
    Serve(crate::serve::ServeArgs),
    /// Tools for operators: streams, tail, verify, export, rebuild.
    Ops(crate::ops::OpsArgs),
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
        command: crate::work::ConsentCommand,
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
        command: crate::work::HandoverCommand,
    },
    /// Create, list and update referrals.
    Referral {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::work::ReferralCommand,
    },
    /// Propose, schedule and hold network meetings.
    Meeting {
        #[command(flatten)]
        identity: crate::client::Identity,
        #[command(subcommand)]
        command: crate::work::MeetingCommand,
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
    Log(crate::work::ContactLogArgs),
}

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Folder for all data (the nats-server store under `nats/`). A second start reuses it.
    #[arg(long, env = "LUUKKU_DATA_DIR", default_value = ".luukku")]
    pub data_dir: PathBuf,
    /// Client port of the embedded nats-server (not 4222, so a server already there is left alone).
    #[arg(long, env = "LUUKKU_NATS_PORT", default_value_t = 14222)]
    pub nats_port: u16,
    /// The nats-server binary; by default $LUUKKU_NATS_SERVER or .tools/nats-server/bin/nats-server.
    #[arg(long)]
    pub nats_server: Option<PathBuf>,
    /// Address the gRPC services listen on.
    #[arg(long, env = "LUUKKU_GRPC_HOST", default_value = "127.0.0.1")]
    pub grpc_host: IpAddr,
    /// Port of luukku.families.v1.FamilyService (0 picks a free one).
    #[arg(long, env = "LUUKKU_FAMILIES_PORT", default_value_t = 50051)]
    pub families_port: u16,
    /// Port of luukku.contacts.v1.ContactService (0 picks a free one).
    #[arg(long, env = "LUUKKU_CONTACTS_PORT", default_value_t = 50052)]
    pub contacts_port: u16,
    /// Port of luukku.referrals.v1.ReferralService (0 picks a free one).
    #[arg(long, env = "LUUKKU_REFERRALS_PORT", default_value_t = 50053)]
    pub referrals_port: u16,
    /// Port of luukku.coordination.v1.CoordinationService (0 picks a free one).
    #[arg(long, env = "LUUKKU_COORDINATION_PORT", default_value_t = 50055)]
    pub coordination_port: u16,
    /// Port of luukku.meetings.v1.MeetingService (0 picks a free one).
    #[arg(long, env = "LUUKKU_MEETINGS_PORT", default_value_t = 50054)]
    pub meetings_port: u16,
}

fn ok(_: ()) -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self.command {
            Command::Dev(args) => crate::dev::run(args).await.map(|()| std::process::ExitCode::SUCCESS),
            Command::Serve(args) => crate::serve::run(args).await.map(|()| std::process::ExitCode::SUCCESS),
            Command::Ops(args) => crate::ops::run(args).await,
            Command::Family { identity, command } => crate::client::family(&identity, command).await.map(ok),
            Command::Caseload { identity, contact_person } => {
                crate::work::caseload(&identity, contact_person).await.map(ok)
            }
            Command::Consent { identity, command } => crate::work::consent(&identity, command).await.map(ok),
            Command::Contact { identity, command: ContactCommand::Log(args) } => {
                crate::work::contact_log(&identity, args).await.map(ok)
            }
            Command::Handover { identity, command } => {
                crate::work::handover(&identity, command).await.map(ok)
            }
            Command::Referral { identity, command } => {
                crate::work::referral(&identity, command).await.map(ok)
            }
            Command::Meeting { identity, command } => crate::work::meeting(&identity, command).await.map(ok),
            Command::Actions { identity, person, sector } => {
                crate::work::actions(&identity, person, sector).await.map(ok)
            }
        }
    }
}

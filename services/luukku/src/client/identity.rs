//! Who the client calls as, where the services are, and what a refusal means to its user.

use anyhow::Context as _;
use luukku_domain::{Actor, Code, RequestId, Role, Sector};
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
            role: self.role.parse::<Role>().map_err(|e| anyhow::anyhow!("--role: {e}"))?,
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

pub fn id() -> String {
    RequestId::generate().to_string()
}

pub fn list(values: &str) -> Vec<String> {
    values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

pub async fn channel(url: &str, what: &str) -> anyhow::Result<tonic::transport::Channel> {
    tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("connecting to the {what} service at {url}; is it running? (`luukku dev`)"))
}

pub fn done(result: Option<luukku_proto::common::v1::WriteResult>) {
    if let Some(result) = result {
        let position = result
            .position
            .map(|p| format!("{}:{}", p.stream, p.sequence))
            .unwrap_or_else(|| "unchanged".into());
        eprintln!("done at {position}{}", if result.replayed { " (repeated request)" } else { "" });
    }
}

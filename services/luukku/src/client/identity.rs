//! Who the client calls as, where the services are, and what a refusal means to its user.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use luukku_auth::{DevIssuer, Grant};
use luukku_domain::family::MemberRef;
use luukku_domain::{Code, RequestId, Role, Sector};
use tonic::Code as StatusCode;

/// Who you call as: a token, or against `luukku dev`, the identity flags that mint one.
#[derive(Debug, clap::Args)]
pub struct Caller {
    /// Who you are (your id in the identity provider).
    #[arg(long = "as", env = "LUUKKU_PERSON", default_value = "dev.user", global = true)]
    pub person: String,
    /// contact_person, sector_professional, family_member, operator, system, supervisor or
    /// data_protection.
    #[arg(long, env = "LUUKKU_ROLE", default_value = "contact_person", global = true)]
    pub role: String,
    #[arg(long, env = "LUUKKU_ORGANISATION", default_value = "dev", global = true)]
    pub organisation: String,
    /// Your sector code, if any.
    #[arg(long, env = "LUUKKU_SECTOR", global = true)]
    pub sector: Option<String>,
    /// The member of a family you are, FAMILY_ID:MEMBER_ID (for --role family_member).
    #[arg(long = "as-member", env = "LUUKKU_AS_MEMBER", global = true)]
    pub as_member: Option<String>,
    /// The `luukku dev` data folder whose development issuer signs the token.
    #[arg(long, env = "LUUKKU_DATA_DIR", default_value = crate::dev::DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
}

impl Caller {
    /// What a development token for these flags grants.
    pub fn grant(&self, ttl: Duration) -> anyhow::Result<Grant> {
        let member = self
            .as_member
            .as_deref()
            .map(str::parse::<MemberRef>)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--member: {e}"))?;
        Ok(Grant {
            person: Code::parse(&self.person).context("--as")?.to_string(),
            role: self.role.parse::<Role>().map_err(|e| anyhow::anyhow!("--role: {e}"))?,
            organisation: Code::parse(&self.organisation).context("--organisation")?.to_string(),
            sector: self
                .sector
                .as_deref()
                .map(str::parse::<Sector>)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--sector: {e}"))?,
            system: "luukku-cli".to_owned(),
            member,
            ttl,
        })
    }

    /// A development token for these flags, signed by the issuer of `--data-dir`.
    pub fn dev_token(&self, ttl: Duration) -> anyhow::Result<String> {
        let issuer = DevIssuer::open(&self.data_dir)?;
        Ok(issuer.mint(&self.grant(ttl)?)?)
    }
}

#[derive(clap::Args)]
pub struct Identity {
    /// A bearer token from your identity provider. Without one, the identity flags mint a
    /// development token, which only `luukku dev` accepts.
    #[arg(long, env = "LUUKKU_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub caller: Caller,
    /// The CA certificate (PEM) that the services' TLS certificates are issued by, for https URLs.
    #[arg(long, env = "LUUKKU_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Your client certificate and key (PEM), for services that require mutual TLS.
    #[arg(long, env = "LUUKKU_CLIENT_CERT", requires = "client_key", global = true)]
    pub client_cert: Option<PathBuf>,
    #[arg(long, env = "LUUKKU_CLIENT_KEY", requires = "client_cert", global = true)]
    pub client_key: Option<PathBuf>,
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

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// A development token lives long enough for one command.
const COMMAND_TOKEN_TTL: Duration = Duration::from_secs(300);

impl Identity {
    /// The token calls carry: `--token`, or a development token for the identity flags.
    pub fn token(&self) -> anyhow::Result<String> {
        match &self.token {
            Some(token) => Ok(token.trim().to_owned()),
            None => self
                .caller
                .dev_token(COMMAND_TOKEN_TTL)
                .context("no --token (or LUUKKU_TOKEN) given, and no development token can be minted"),
        }
    }

    /// A channel to the service at `url`, over TLS for https URLs.
    pub async fn channel(&self, url: &str, what: &str) -> anyhow::Result<tonic::transport::Channel> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?;
        if url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &self.ca_cert {
                let pem = std::fs::read(ca).with_context(|| format!("reading --ca-cert {}", ca.display()))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                let cert = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
                let key = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        endpoint.connect().await.with_context(|| {
            format!("connecting to the {what} service at {url}; is it running? (`luukku dev`)")
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
        StatusCode::Unauthenticated => {
            "give a valid token with --token or LUUKKU_TOKEN; against `luukku dev`, --as and --role mint one"
        }
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

pub fn done(result: Option<luukku_proto::common::v1::WriteResult>) {
    if let Some(result) = result {
        let position = result
            .position
            .map(|p| format!("{}:{}", p.stream, p.sequence))
            .unwrap_or_else(|| "unchanged".into());
        eprintln!("done at {position}{}", if result.replayed { " (repeated request)" } else { "" });
    }
}

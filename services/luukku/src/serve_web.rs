//! `luukku serve web`: the web client for contact persons in production, signing people in
//! with the organisation's OpenID Connect provider and calling the services over TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;

use crate::serve::{FileConfig, ServeArgs, Service};

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "The web client (serve web)")]
pub struct WebArgs {
    /// The address people reach the web client at, such as https://luukku.example.fi; the
    /// provider sends them back to `<it>/oidc/callback`.
    #[arg(long, env = "LUUKKU_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The OpenID Connect provider's issuer URL (its discovery document is read at start).
    #[arg(long, env = "LUUKKU_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The web client's client id at the provider.
    #[arg(long, env = "LUUKKU_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client's secret, for a confidential client (HTTP Basic).
    #[arg(long, env = "LUUKKU_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The scopes asked for, space-separated (`openid` is always asked).
    #[arg(long, env = "LUUKKU_OIDC_SCOPES")]
    pub oidc_scopes: Option<String>,
    /// The families service, such as https://families.luukku.internal:50051.
    #[arg(long, env = "LUUKKU_FAMILIES_URL")]
    pub families_url: Option<String>,
    #[arg(long, env = "LUUKKU_CONTACTS_URL")]
    pub contacts_url: Option<String>,
    #[arg(long, env = "LUUKKU_REFERRALS_URL")]
    pub referrals_url: Option<String>,
    #[arg(long, env = "LUUKKU_MEETINGS_URL")]
    pub meetings_url: Option<String>,
    #[arg(long, env = "LUUKKU_COORDINATION_URL")]
    pub coordination_url: Option<String>,
    /// The CA (PEM) that signed the services' certificates, when not one the system trusts.
    #[arg(long, env = "LUUKKU_SERVICES_CA")]
    pub services_ca: Option<PathBuf>,
    /// A client certificate (PEM) for services that ask for one (their `--client-ca`).
    #[arg(long, env = "LUUKKU_SERVICES_CERT", requires = "services_key")]
    pub services_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "LUUKKU_SERVICES_KEY", requires = "services_cert")]
    pub services_key: Option<PathBuf>,
}

/// The same settings in the `--config` file's `[web]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFile {
    public_url: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret_file: Option<PathBuf>,
    oidc_scopes: Option<String>,
    families_url: Option<String>,
    contacts_url: Option<String>,
    referrals_url: Option<String>,
    meetings_url: Option<String>,
    coordination_url: Option<String>,
    services_ca: Option<PathBuf>,
    services_cert: Option<PathBuf>,
    services_key: Option<PathBuf>,
}

fn needed(flag: Option<&String>, file: Option<&String>, name: &str) -> anyhow::Result<String> {
    flag.or(file).cloned().with_context(|| {
        let key = name.replace('-', "_");
        format!(
            "`luukku serve web` needs --{name} (or LUUKKU_{}, or {key} in the --config file's [web] table)",
            key.to_uppercase()
        )
    })
}

pub async fn run(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<()> {
    let (web, saved) = (&args.web, &file.web);
    let public_url = needed(web.public_url.as_ref(), saved.public_url.as_ref(), "public-url")?;
    let public_url = public_url.trim_end_matches('/').to_owned();
    let tls = crate::serve::tls(args, file)?;
    anyhow::ensure!(
        tls.as_ref().is_none_or(|tls| tls.client_ca.is_none()),
        "`luukku serve web` serves browsers, which bring no client certificates: drop --client-ca"
    );
    anyhow::ensure!(
        public_url.starts_with("https://")
            || public_url == "http://127.0.0.1"
            || public_url.strip_prefix("http://127.0.0.1:").is_some_and(|port| port.parse::<u16>().is_ok()),
        "--public-url must be https:// (its session cookies are Secure); http://127.0.0.1 is allowed for trying it out"
    );
    let secret_file = web.oidc_client_secret_file.clone().or(saved.oidc_client_secret_file.clone());
    let client_secret = secret_file
        .map(|path| {
            std::fs::read_to_string(&path)
                .map(|secret| secret.trim().to_owned())
                .with_context(|| format!("reading the client secret {}", path.display()))
        })
        .transpose()?;
    // The web client verifies the provider's access tokens as the services do.
    let access = Arc::new(crate::serve::verifier(args, file).await?);
    let oidc = luukku_web::OidcConfig {
        issuer: needed(web.oidc_issuer.as_ref(), saved.oidc_issuer.as_ref(), "oidc-issuer")?,
        client_id: needed(web.oidc_client_id.as_ref(), saved.oidc_client_id.as_ref(), "oidc-client-id")?,
        client_secret,
        redirect_uri: format!("{public_url}/oidc/callback"),
        scopes: web
            .oidc_scopes
            .clone()
            .or(saved.oidc_scopes.clone())
            .unwrap_or_else(|| "openid profile".to_owned()),
        access,
    };
    let oidc = luukku_web::Oidc::discover(oidc)
        .await
        .context("reading the OpenID Connect provider's configuration")?;
    let services_ca = web
        .services_ca
        .clone()
        .or(saved.services_ca.clone())
        .map(|path| std::fs::read(&path).with_context(|| format!("reading --services-ca {}", path.display())))
        .transpose()?;
    let read = |path: PathBuf| std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
    let services_identity = match (
        web.services_cert.clone().or(saved.services_cert.clone()),
        web.services_key.clone().or(saved.services_key.clone()),
    ) {
        (Some(certificate), Some(key)) => Some((read(certificate)?, read(key)?)),
        (None, None) => None,
        _ => anyhow::bail!("a client certificate needs both --services-cert and --services-key"),
    };
    let router = luukku_web::router(luukku_web::WebConfig {
        families_url: needed(web.families_url.as_ref(), saved.families_url.as_ref(), "families-url")?,
        contacts_url: needed(web.contacts_url.as_ref(), saved.contacts_url.as_ref(), "contacts-url")?,
        referrals_url: needed(web.referrals_url.as_ref(), saved.referrals_url.as_ref(), "referrals-url")?,
        meetings_url: needed(web.meetings_url.as_ref(), saved.meetings_url.as_ref(), "meetings-url")?,
        coordination_url: needed(
            web.coordination_url.as_ref(),
            saved.coordination_url.as_ref(),
            "coordination-url",
        )?,
        dev_issuer: None,
        oidc: Some(Arc::new(oidc)),
        services_ca,
        services_identity,
    })?;
    let metrics_listen = args
        .metrics_listen
        .or(file.metrics_listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], Service::Web.default_metrics_port())));
    luukku_runtime::telemetry::serve_metrics(metrics_listen)?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], Service::Web.default_port())));
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr()?;
    let shutdown = async {
        if let Err(error) = luukku_runtime::telemetry::shutdown_signal().await {
            tracing::error!(%error, "waiting for a stop signal");
        }
    };
    match tls {
        Some(tls) => {
            println!("luukku web listening on https://{address} as {public_url}");
            luukku_web::serve_tls(listener, router, &tls.certificate, &tls.key, shutdown).await?;
        }
        None => {
            println!("luukku web listening on http://{address} (PLAINTEXT) as {public_url}");
            luukku_web::serve(listener, router, shutdown).await?;
        }
    }
    Ok(())
}

//! How a `luukku` process signs in to NATS: its user's NKEY seed or credentials file, and
//! TLS. Each process has its own reply prefix, `_INBOX_<user>`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use luukku_eventstore::NatsAuth;
use luukku_eventstore::access::{NatsUser, UserKeys};

#[derive(Debug, Default, Clone, clap::Args)]
pub struct NatsArgs {
    /// The NKEY seed file of this process's NATS user.
    #[arg(long, env = "LUUKKU_NATS_NKEY_FILE", global = true)]
    pub nats_nkey_file: Option<PathBuf>,
    /// A NATS credentials file (user JWT and seed), instead of an NKEY seed.
    #[arg(long, env = "LUUKKU_NATS_CREDS", global = true, conflicts_with = "nats_nkey_file")]
    pub nats_creds: Option<PathBuf>,
    /// The CA (PEM) the NATS servers' certificates are issued by; requires TLS.
    #[arg(long, env = "LUUKKU_NATS_CA", global = true)]
    pub nats_ca: Option<PathBuf>,
    /// A client certificate and key (PEM) for NATS servers that require one.
    #[arg(long, env = "LUUKKU_NATS_CERT", requires = "nats_key", global = true)]
    pub nats_cert: Option<PathBuf>,
    #[arg(long, env = "LUUKKU_NATS_KEY", requires = "nats_cert", global = true)]
    pub nats_key: Option<PathBuf>,
}

impl NatsArgs {
    /// How to sign in as `user`; without a seed or credentials given, the seed `luukku dev`
    /// made for `user` in `dev_data_dir`, when there is one.
    pub fn auth(&self, user: NatsUser, dev_data_dir: Option<&Path>) -> anyhow::Result<NatsAuth> {
        let seed_file = self.nats_nkey_file.clone().or_else(|| {
            let dev = UserKeys::seed_path(&dev_data_dir?.join("nats-users"), user);
            (self.nats_creds.is_none() && dev.exists()).then_some(dev)
        });
        let mut auth = match &seed_file {
            Some(path) => luukku_eventstore::access::auth_from_seed_file(path, user)
                .with_context(|| format!("reading the NATS seed {}", path.display()))?,
            None => NatsAuth { inbox_prefix: Some(user.inbox_prefix()), ..Default::default() },
        };
        auth.creds_file = self.nats_creds.clone();
        auth.ca = self.nats_ca.clone();
        auth.client_certificate = self.nats_cert.clone().zip(self.nats_key.clone());
        Ok(auth)
    }
}

//! `luukku ops rebuild`: rebuilds the projection in the running coordination service, with a
//! progress bar.

use luukku_proto::coordination::v1::RebuildRequest;
use luukku_proto::coordination::v1::coordination_admin_client::CoordinationAdminClient;

use crate::client::Identity;

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// The coordination service's admin listener.
    #[arg(long, env = "LUUKKU_COORDINATION_ADMIN_URL", default_value = "http://127.0.0.1:50056")]
    pub admin_url: String,
    /// An operator's token, or against `luukku dev`, `--as NAME --role operator`.
    #[command(flatten)]
    pub identity: Identity,
}

pub async fn rebuild(args: &RebuildArgs) -> anyhow::Result<()> {
    let token = args.identity.token()?;
    let url = &args.admin_url;
    let mut client = CoordinationAdminClient::new(args.identity.channel(url, "coordination admin").await?);
    let mut progress = client
        .rebuild(luukku_grpc::with_token(RebuildRequest {}, &token))
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while let Some(update) =
        progress.message().await.map_err(|status| anyhow::anyhow!("{}", status.message()))?
    {
        bar.set_length(update.targets.iter().sum());
        bar.set_position(update.positions.iter().sum::<u64>().min(update.targets.iter().sum()));
        if update.done {
            bar.finish();
            println!("rebuilt; generation {} now answers queries", update.generation);
            return Ok(());
        }
    }
    anyhow::bail!("the rebuild ended without finishing; see the coordination service's log")
}

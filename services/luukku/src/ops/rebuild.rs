//! `luukku ops rebuild`: rebuilds the projection in the running coordination service, with a
//! progress bar.

use anyhow::Context as _;
use luukku_domain::{Actor, Code, Role};
use luukku_proto::coordination::v1::RebuildRequest;
use luukku_proto::coordination::v1::coordination_admin_client::CoordinationAdminClient;

pub async fn rebuild(url: &str, person: &str) -> anyhow::Result<()> {
    let actor = Actor {
        person_id: Code::parse(person).context("--as")?,
        role: Role::Operator,
        sector: None,
        organisation: Code::parse("luukku").context("organisation")?,
        system: Code::parse("luukku-ops").context("system")?,
    };
    let mut client = CoordinationAdminClient::connect(url.to_owned())
        .await
        .with_context(|| format!("connecting to the coordination service at {url}; is it running?"))?;
    let mut progress = client
        .rebuild(luukku_grpc::with_identity(RebuildRequest {}, &actor))
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

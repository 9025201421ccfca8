//! `luukku contact log`.

use luukku_grpc::with_token;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;

use super::{Identity, done, explain, id, list};

#[derive(Debug, clap::Args)]
pub struct ContactLogArgs {
    #[arg(long)]
    family: String,
    /// The family member in touch (or --sector for a professional).
    #[arg(long)]
    member: Option<String>,
    #[arg(long)]
    sector: Option<String>,
    /// phone, walk_in, chat, email, video, home_visit.
    #[arg(long)]
    channel: String,
    /// Need codes, comma-separated.
    #[arg(long)]
    needs: String,
    #[arg(long)]
    summary: String,
    /// Sector codes suggested, comma-separated.
    #[arg(long, default_value = "")]
    guidance: String,
    #[arg(long)]
    follow_up: Option<String>,
    /// The contact person got in touch (default: the family did).
    #[arg(long)]
    outbound: bool,
}

pub async fn contact_log(identity: &Identity, args: ContactLogArgs) -> anyhow::Result<()> {
    let token = identity.token()?;
    let mut client = ContactServiceClient::new(identity.channel(&identity.contacts_url, "contacts").await?);
    let direction = if args.outbound { contacts::Direction::Outbound } else { contacts::Direction::Inbound };
    let request = contacts::RecordContactRequest {
        request_id: id(),
        family_id: args.family,
        direction: direction as i32,
        member_id: args.member.unwrap_or_default(),
        professional_sector: args.sector.unwrap_or_default(),
        channel: args.channel,
        needs: list(&args.needs),
        summary: args.summary,
        guidance: list(&args.guidance),
        follow_up: args.follow_up.unwrap_or_default(),
        ..Default::default()
    };
    let response = client.record_contact(with_token(request, &token)).await.map_err(explain)?.into_inner();
    println!("{}", response.contact_id);
    done(response.result);
    Ok(())
}

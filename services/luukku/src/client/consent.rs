//! `luukku consent grant|revoke`.

use luukku_grpc::with_token;
use luukku_proto::families::v1 as families;
use luukku_proto::families::v1::family_service_client::FamilyServiceClient;

use super::{Identity, done, explain, id, list};

#[derive(Debug, clap::Subcommand)]
pub enum ConsentCommand {
    Grant {
        #[arg(long)]
        family: String,
        /// The consenting member: a guardian, or a child of 15 or over.
        #[arg(long)]
        by: String,
        /// Sector codes, comma-separated.
        #[arg(long)]
        sectors: String,
        #[arg(long)]
        until: String,
        #[arg(long)]
        purpose: String,
        /// A child consenting for themself names themself.
        #[arg(long)]
        concerns: Option<String>,
        /// The signed consent form (its document id); a professional recording a consent
        /// names it.
        #[arg(long, default_value = "")]
        form: String,
    },
    Revoke {
        #[arg(long)]
        family: String,
        #[arg(long)]
        consent: String,
        #[arg(long)]
        by: String,
    },
}

pub async fn consent(identity: &Identity, command: ConsentCommand) -> anyhow::Result<()> {
    let token = identity.token()?;
    let mut client = FamilyServiceClient::new(identity.channel(&identity.families_url, "families").await?);
    match command {
        ConsentCommand::Grant { family, by, sectors, until, purpose, concerns, form } => {
            let request = families::GrantConsentRequest {
                request_id: id(),
                family_id: family,
                given_by: by,
                concerns_member_id: concerns.unwrap_or_default(),
                sectors: list(&sectors),
                purpose,
                valid_until: until,
                signed_form: form,
                ..Default::default()
            };
            let response =
                client.grant_consent(with_token(request, &token)).await.map_err(explain)?.into_inner();
            println!("{}", response.consent_id);
            done(response.result);
        }
        ConsentCommand::Revoke { family, consent, by } => {
            let request = families::RevokeConsentRequest {
                request_id: id(),
                family_id: family,
                consent_id: consent,
                revoked_by: by,
                ..Default::default()
            };
            done(
                client
                    .revoke_consent(with_token(request, &token))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
    }
    Ok(())
}

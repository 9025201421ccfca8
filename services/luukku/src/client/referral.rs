//! `luukku referral create|list|update`.

use luukku_grpc::with_token;
use luukku_proto::referrals::v1 as referrals;
use luukku_proto::referrals::v1::referral_service_client::ReferralServiceClient;
use luukku_proto::referrals::v1::update_referral_request::Step;

use super::{Identity, done, explain, id, list};

#[derive(Debug, clap::Subcommand)]
pub enum ReferralCommand {
    Create {
        #[arg(long)]
        family: String,
        #[arg(long)]
        service: String,
        #[arg(long)]
        child: Option<String>,
        #[arg(long)]
        needs: String,
        /// urgent or normal.
        #[arg(long, default_value = "normal")]
        urgency: String,
        #[arg(long)]
        reason: String,
    },
    /// A sector's inbox, a contact person's or a family's referrals, oldest first.
    List {
        #[arg(long)]
        sector: Option<String>,
        #[arg(long)]
        contact_person: Option<String>,
        #[arg(long)]
        family: Option<String>,
        /// State codes, comma-separated.
        #[arg(long, default_value = "")]
        states: String,
    },
    /// One step: receive, accept, reject, start, complete, fail, hold, resume, cancel.
    Update {
        #[arg(long)]
        referral: String,
        #[arg(long)]
        step: String,
        /// The note, outcome or (for reject) reason code.
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn referral(identity: &Identity, command: ReferralCommand) -> anyhow::Result<()> {
    let token = identity.token()?;
    let mut client =
        ReferralServiceClient::new(identity.channel(&identity.referrals_url, "referrals").await?);
    match command {
        ReferralCommand::Create { family, service, child, needs, urgency, reason } => {
            let request = referrals::CreateReferralRequest {
                request_id: id(),
                family_id: family,
                child_member_id: child.unwrap_or_default(),
                service_id: service,
                needs: list(&needs),
                urgency,
                reason,
                ..Default::default()
            };
            let response =
                client.create_referral(with_token(request, &token)).await.map_err(explain)?.into_inner();
            println!("{}", response.referral_id);
            for duplicate in &response.possible_duplicates {
                eprintln!("note: referral {duplicate} to the same service is still open");
            }
            done(response.result);
        }
        ReferralCommand::List { sector, contact_person, family, states } => {
            let mut page_token = String::new();
            loop {
                let request = referrals::ListReferralsRequest {
                    sector: sector.clone().unwrap_or_default(),
                    contact_person_id: contact_person.clone().unwrap_or_default(),
                    family_id: family.clone().unwrap_or_default(),
                    states: list(&states),
                    page_token: page_token.clone(),
                    ..Default::default()
                };
                let page =
                    client.list_referrals(with_token(request, &token)).await.map_err(explain)?.into_inner();
                for r in &page.referrals {
                    let flags = format!(
                        "{}{}",
                        if r.overdue { " OVERDUE" } else { "" },
                        if r.consent_lapsed { " CONSENT-LAPSED" } else { "" }
                    );
                    println!(
                        "{} {} {} {} family {}{flags}",
                        r.referral_id, r.sector, r.state, r.urgency, r.family_id
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        ReferralCommand::Update { referral, step, note } => {
            let with_note = || referrals::WithNote { note: note.clone() };
            let step = match step.as_str() {
                "receive" => Step::Receive(referrals::Empty {}),
                "accept" => Step::Accept(referrals::Empty {}),
                "reject" => Step::Reject(referrals::Reject { reason: note.clone(), note: String::new() }),
                "start" => Step::Start(referrals::Empty {}),
                "complete" => Step::Complete(with_note()),
                "fail" => Step::Fail(with_note()),
                "hold" => Step::Hold(with_note()),
                "resume" => Step::Resume(referrals::Empty {}),
                "cancel" => Step::Cancel(with_note()),
                other => anyhow::bail!(
                    "{other:?} is not a step: receive, accept, reject, start, complete, fail, hold, resume, cancel"
                ),
            };
            let request = referrals::UpdateReferralRequest {
                request_id: id(),
                referral_id: referral,
                expected_version: None,
                step: Some(step),
            };
            let response =
                client.update_referral(with_token(request, &token)).await.map_err(explain)?.into_inner();
            println!("{}", response.state);
            done(response.result);
        }
    }
    Ok(())
}

//! `luukku handover propose|accept|decline|end`.

use luukku_grpc::with_token;
use luukku_proto::contacts::v1 as contacts;
use luukku_proto::contacts::v1::contact_service_client::ContactServiceClient;

use super::{Identity, done, explain, id};

#[derive(Debug, clap::Subcommand)]
pub enum HandoverCommand {
    /// Proposes handing the family to another contact person (or assigns the first one).
    Propose {
        #[arg(long)]
        family: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    Accept {
        #[arg(long)]
        family: String,
        #[arg(long)]
        handover: String,
    },
    Decline {
        #[arg(long)]
        family: String,
        #[arg(long)]
        handover: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Ends coordination of the family: you (or a supervisor) stop being its contact person.
    End {
        #[arg(long)]
        family: String,
        /// needs_met, family_declined, responsibility_moved, moved_away or other.
        #[arg(long, value_parser = end_reason)]
        reason: contacts::EndReason,
        /// Optional; sealed with the family's key.
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn end_reason(text: &str) -> Result<contacts::EndReason, String> {
    let reason = match text {
        "needs_met" => contacts::EndReason::NeedsMet,
        "family_declined" => contacts::EndReason::FamilyDeclined,
        "responsibility_moved" => contacts::EndReason::ResponsibilityMoved,
        "moved_away" => contacts::EndReason::MovedAway,
        "other" => contacts::EndReason::Other,
        _ => {
            return Err(
                "one of needs_met, family_declined, responsibility_moved, moved_away, other".to_owned()
            );
        }
    };
    Ok(reason)
}

pub async fn handover(identity: &Identity, command: HandoverCommand) -> anyhow::Result<()> {
    let token = identity.token()?;
    let mut client = ContactServiceClient::new(identity.channel(&identity.contacts_url, "contacts").await?);
    let decision = |family: String, handover: String, reason: String| contacts::HandoverDecisionRequest {
        request_id: id(),
        family_id: family,
        expected_version: None,
        handover_id: handover,
        reason,
    };
    match command {
        HandoverCommand::Propose { family, to, reason } => {
            let request = contacts::AssignContactPersonRequest {
                request_id: id(),
                family_id: family,
                expected_version: None,
                contact_person_id: to,
                reason,
            };
            let response = client
                .assign_contact_person(with_token(request, &token))
                .await
                .map_err(explain)?
                .into_inner();
            if response.assigned {
                println!("assigned");
            } else {
                println!(
                    "handover {} proposed; it completes when the receiver accepts",
                    response.handover_id
                );
            }
            done(response.result);
        }
        HandoverCommand::Accept { family, handover } => {
            let request = decision(family, handover, String::new());
            done(
                client
                    .accept_handover(with_token(request, &token))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
        HandoverCommand::Decline { family, handover, reason } => {
            let request = decision(family, handover, reason);
            done(
                client
                    .decline_handover(with_token(request, &token))
                    .await
                    .map_err(explain)?
                    .into_inner()
                    .result,
            );
        }
        HandoverCommand::End { family, reason, note } => {
            let request = contacts::EndAssignmentRequest {
                request_id: id(),
                family_id: family,
                expected_version: None,
                reason: reason as i32,
                note,
            };
            let response =
                client.end_assignment(with_token(request, &token)).await.map_err(explain)?.into_inner();
            println!("ended; the family left your caseload");
            done(response.result);
        }
    }
    Ok(())
}

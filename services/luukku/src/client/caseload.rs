//! `luukku caseload`.

use luukku_grpc::with_token;
use luukku_proto::coordination::v1 as coordination;
use luukku_proto::coordination::v1::coordination_service_client::CoordinationServiceClient;

use super::{Identity, explain};

/// A contact person's families, what needs attention first.
pub async fn caseload(identity: &Identity, contact_person: String) -> anyhow::Result<()> {
    let token = identity.token()?;
    let mut client =
        CoordinationServiceClient::new(identity.channel(&identity.coordination_url, "coordination").await?);
    let mut page_token = String::new();
    loop {
        let request = coordination::ListCaseloadRequest {
            contact_person_id: contact_person.clone(),
            page_token,
            ..Default::default()
        };
        let response = client.list_caseload(with_token(request, &token)).await.map_err(explain)?.into_inner();
        for family in response.families {
            let a = family.attention.unwrap_or_default();
            println!(
                "{} {} [{}] overdue referrals {}, actions past due {}, meetings this week {}, follow-ups {}, consents ending {}{}",
                family.family_id,
                family.municipality,
                family.names.join(", "),
                a.overdue_referrals,
                a.actions_past_due,
                a.meetings_within_week,
                a.follow_ups_due,
                a.consents_ending,
                if a.pending_handover { ", handover pending" } else { "" }
            );
        }
        if response.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = response.next_page_token;
    }
}

//! What every service that records something about a family checks first.

use std::sync::Arc;

use luukku_domain::family::{Family, FamilyId, FamilyStatus};
use luukku_eventstore::KeyStore;
use tonic::Status;

use crate::repository::{Loaded, Repository};
use crate::status::failed_precondition;

/// The family, which must exist (`NOT_FOUND`); with `changeable`, it must also be neither
/// closed (`FAMILY_CLOSED`) nor erased (`FAMILY_ERASED`).
pub async fn require_family<K: KeyStore>(
    families: &Repository<Family, K>,
    family_id: FamilyId,
    changeable: bool,
) -> Result<Arc<Loaded<Family>>, Status> {
    let family = families.load(family_id.into()).await?;
    let subject = format!("family/{family_id}");
    match family.state.status {
        FamilyStatus::Absent => Err(Status::not_found(format!("family {family_id} not found"))),
        FamilyStatus::Closed(_) if changeable => Err(failed_precondition(
            "FAMILY_CLOSED",
            &subject,
            format!("family {family_id} is closed; reopen it first"),
        )),
        FamilyStatus::Erased if changeable => {
            Err(failed_precondition("FAMILY_ERASED", &subject, format!("family {family_id} was erased")))
        }
        _ => Ok(family),
    }
}

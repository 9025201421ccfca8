//! The access policy at the edge: each handler names its RPC's [`Action`] and what the request
//! targets, and [`check`] asks the service's [`Guard`], which logs the access.

use luukku_app::{Caller, Granted, Guard};
use luukku_domain::access::{Action, Target};
use tonic::Status;

use crate::status;

/// What the policy grants `caller` for `action` on `target`; `PERMISSION_DENIED` naming the
/// rule, `NOT_FOUND` to a caller with no relationship to the family, or `UNAVAILABLE` when the
/// access log cannot be written.
pub async fn check(
    guard: &Guard,
    caller: &Caller,
    action: Action,
    target: Target,
) -> Result<Granted, Status> {
    guard.check(caller, action, target).await.map_err(status)
}

#[cfg(test)]
mod tests {
    use luukku_domain::access::Action;
    use prost::Message as _;

    /// Every RPC of every service in the public API has an action, so a rule of the policy.
    #[test]
    fn every_rpc_of_every_service_has_a_rule() {
        let descriptors = prost_types::FileDescriptorSet::decode(luukku_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let mut rpcs = Vec::new();
        for file in &descriptors.file {
            for service in &file.service {
                for method in &service.method {
                    rpcs.push(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
                }
            }
        }
        assert!(rpcs.len() >= 61, "the descriptors hold the API: {rpcs:?}");
        let without: Vec<_> = rpcs.iter().filter(|rpc| Action::of_path(rpc).is_none()).collect();
        assert!(without.is_empty(), "RPCs with no rule in the access policy: {without:?}");
        for action in Action::ALL {
            assert!(rpcs.contains(&action.path()), "{action:?} names no RPC of the API");
        }
    }
}

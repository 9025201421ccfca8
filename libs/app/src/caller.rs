//! Who is calling: the one value through which the caller enters the application layer.

use luukku_domain::Actor;
use luukku_domain::family::MemberRef;

/// The caller of a use case, as the edge verified it. The actor is recorded on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    /// The family member a family member signs in as, when their token or a link says.
    pub member: Option<MemberRef>,
}

impl Caller {
    pub fn new(actor: Actor) -> Self {
        Self { actor, member: None }
    }
}

//! Who is calling: the one value through which the caller enters the application layer.

use luukku_domain::Actor;

/// The caller of a use case, as the edge established it. It is recorded on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
}

impl Caller {
    pub fn new(actor: Actor) -> Self {
        Self { actor }
    }
}

//! Network meetings (*verkostotapaaminen*) of a family and the professionals, and the actions
//! agreed there. All meetings of one family form one aggregate (its id is the family id), so
//! that "one open meeting per family and purpose" holds under concurrency.

mod decide;
mod events;
mod narrate;
mod rules;
mod state;

pub use decide::*;
pub use events::*;
pub use rules::*;
pub use state::*;

crate::ulid_id!(
    /// One meeting.
    MeetingId
);
crate::ulid_id!(
    /// One agreed action of a held meeting.
    ActionId
);

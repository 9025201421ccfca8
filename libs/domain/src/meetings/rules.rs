//! Rules across a family's meetings and the family: every family member a meeting command
//! names belongs to the family, and a child's own view is a child's.

use super::decide::{MeetingCommand, MeetingError};
use super::events::Participant;
use crate::family::{Family, MemberId, MemberRole};
use crate::violation::{Field, Violation, invalid_if_any};

/// A family member named in a command, and whether it must be a child.
struct Named {
    field: Field,
    member: MemberId,
    child: bool,
}

fn member(field: Field, participant: &Participant) -> Option<Named> {
    match participant {
        Participant::FamilyMember(member) => Some(Named { field, member: *member, child: false }),
        Participant::Person(_) | Participant::Sector(_) => None,
    }
}

fn listed<'a>(list: &'static str, participants: impl Iterator<Item = &'a Participant>) -> Vec<Named> {
    participants.enumerate().filter_map(|(index, p)| member(Field::of_item(list, index, ""), p)).collect()
}

fn named_in(command: &MeetingCommand) -> Vec<Named> {
    match command {
        MeetingCommand::Propose { participants, .. } => listed("participants", participants.iter()),
        MeetingCommand::AddParticipant { participant, .. } => {
            member(Field::named("participant"), participant).into_iter().collect()
        }
        MeetingCommand::Hold { attended, child_views, actions, .. } => {
            let mut named = listed("attended", attended.iter());
            named.extend(child_views.iter().enumerate().map(|(index, (member, _))| Named {
                field: Field::of_item("child_views", index, "member_id"),
                member: *member,
                child: true,
            }));
            named.extend(actions.iter().enumerate().filter_map(|(index, action)| {
                member(Field::of_item("actions", index, "owner"), &action.owner)
            }));
            named
        }
        MeetingCommand::ReassignAction { owner, .. } => {
            member(Field::named("owner"), owner).into_iter().collect()
        }
        MeetingCommand::Answer { .. }
        | MeetingCommand::Schedule { .. }
        | MeetingCommand::Reschedule { .. }
        | MeetingCommand::Cancel { .. }
        | MeetingCommand::RemoveParticipant { .. }
        | MeetingCommand::CompleteAction { .. } => Vec::new(),
    }
}

/// Every family member `command` names is a member of `family`, and each child whose own view
/// it records is a child.
pub fn check_participants(family: &Family, command: &MeetingCommand) -> Result<(), MeetingError> {
    let mut violations = Vec::new();
    for Named { field, member, child } in named_in(command) {
        match family.members.get(&member) {
            None => violations.push(Violation::new(field, format!("member {member} is not in the family"))),
            Some(found) if child && found.role != MemberRole::Child => {
                violations.push(Violation::new(field, format!("member {member} is not a child")));
            }
            Some(_) => {}
        }
    }
    invalid_if_any(violations, MeetingError::Invalid)
}

//! Spreading a leaving contact person's families over others.

use super::ContactPersonId;
use crate::family::FamilyId;

/// How the families are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpreadRule {
    /// In turn, in the order the receivers are named.
    RoundRobin,
    /// Each family to the receiver with the fewest families at that point.
    LeastLoaded,
}

/// A receiver of families: its caseload now and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receiver {
    pub id: ContactPersonId,
    pub caseload: usize,
    pub limit: usize,
}

/// Who receives each family; `None` when no receiver has room left.
pub fn plan(
    families: &[FamilyId],
    receivers: &[Receiver],
    rule: SpreadRule,
) -> Vec<(FamilyId, Option<ContactPersonId>)> {
    let mut loads: Vec<usize> = receivers.iter().map(|receiver| receiver.caseload).collect();
    let mut turn = 0;
    families
        .iter()
        .map(|family| {
            let has_room = |index: usize| loads[index] < receivers[index].limit;
            let chosen = match rule {
                SpreadRule::RoundRobin => {
                    let found = (0..receivers.len())
                        .map(|step| (turn + step) % receivers.len())
                        .find(|i| has_room(*i));
                    if let Some(index) = found {
                        turn = index + 1;
                    }
                    found
                }
                SpreadRule::LeastLoaded => {
                    (0..receivers.len()).filter(|i| has_room(*i)).min_by_key(|i| loads[*i])
                }
            };
            if let Some(index) = chosen {
                loads[index] += 1;
            }
            (*family, chosen.map(|index| receivers[index].id))
        })
        .collect()
}

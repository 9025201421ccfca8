//! Unusual access shows: each break-glass use, and bursts of denied calls, counted per actor,
//! as metrics (labelled by role and rule, never by person) and as log lines naming the actor.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use luukku_domain::{Actor, Code};

/// How many denied calls within [`WINDOW`] make a burst.
pub const BURST: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(60);

/// One actor's unusual accesses so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub break_glass: u64,
    pub denied: u64,
    pub bursts: u64,
}

#[derive(Default)]
struct Tracked {
    counts: Counts,
    recent_denials: VecDeque<Instant>,
}

/// The per-actor counts.
#[derive(Default)]
pub struct Unusual {
    actors: Mutex<HashMap<Code, Tracked>>,
}

impl Unusual {
    /// Counts from zero: every role's break-glass counter exists from the start, so that the
    /// first use in a process is an increase an alert sees.
    pub fn new() -> Self {
        for role in luukku_domain::Role::ALL {
            metrics::counter!("luukku_access_break_glass_total", "role" => role.as_code()).absolute(0);
        }
        Self::default()
    }

    /// Counts a break-glass use by `actor`.
    pub fn break_glass(&self, actor: &Actor) {
        metrics::counter!("luukku_access_break_glass_total", "role" => actor.role.as_code()).increment(1);
        let mut actors = self.actors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        actors.entry(actor.person_id.clone()).or_default().counts.break_glass += 1;
        tracing::warn!(person = %actor.person_id, system = %actor.system, "break-glass access used");
    }

    /// Counts a call of `actor` denied by `rule`, at `now`; reports whether it began a burst.
    pub fn denied(&self, actor: &Actor, rule: &'static str, now: Instant) -> bool {
        metrics::counter!("luukku_access_denied_total", "rule" => rule).increment(1);
        let mut actors = self.actors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = actors.entry(actor.person_id.clone()).or_default();
        entry.counts.denied += 1;
        entry.recent_denials.push_back(now);
        while entry.recent_denials.front().is_some_and(|at| now.duration_since(*at) > WINDOW) {
            entry.recent_denials.pop_front();
        }
        let burst = entry.recent_denials.len() == BURST;
        if burst {
            entry.counts.bursts += 1;
            metrics::counter!("luukku_access_denied_bursts_total", "role" => actor.role.as_code())
                .increment(1);
            tracing::warn!(
                person = %actor.person_id,
                system = %actor.system,
                denied = BURST,
                within_seconds = WINDOW.as_secs(),
                "a burst of denied calls"
            );
        }
        burst
    }

    /// What `person` has done unusually so far.
    pub fn counts(&self, person: &Code) -> Counts {
        let actors = self.actors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        actors.get(person).map(|actor| actor.counts.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(person: &str) -> Actor {
        Actor {
            person_id: Code::parse(person).expect("code"),
            role: luukku_domain::Role::SectorProfessional,
            sector: None,
            organisation: Code::parse("org").expect("code"),
            system: Code::parse("sys").expect("code"),
        }
    }

    #[test]
    fn ten_denials_within_a_minute_are_a_burst_and_slower_ones_are_not() {
        let unusual = Unusual::default();
        let start = Instant::now();
        let prober = actor("prober");
        let bursts: Vec<bool> = (0..12)
            .map(|n| unusual.denied(&prober, "NO_RELATIONSHIP", start + Duration::from_secs(n)))
            .collect();
        assert_eq!(bursts.iter().filter(|burst| **burst).count(), 1);
        assert!(bursts[9], "the tenth within the minute");
        let slow = actor("slow");
        for n in 0..20 {
            assert!(!unusual.denied(&slow, "NO_RELATIONSHIP", start + Duration::from_secs(n * 10)));
        }
        unusual.break_glass(&slow);
        assert_eq!(unusual.counts(&slow.person_id), Counts { break_glass: 1, denied: 20, bursts: 0 });
        assert_eq!(unusual.counts(&prober.person_id).bursts, 1);
    }
}

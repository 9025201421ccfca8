//! Anonymous figures for developing services. No figure counts fewer than `MINIMUM_CELL`
//! referrals, meetings, consultations or families: smaller ones are suppressed.

use std::collections::BTreeMap;

use crate::projection::{ProjectionTree, Result};

pub const MINIMUM_CELL: u32 = 5;
const DAY_MS: f64 = 24.0 * 3_600_000.0;

/// Referrals of one sector, by need or by outcome, and their waiting times.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferralFigure {
    pub sector: String,
    pub need: String,
    pub outcome: String,
    /// 0 when suppressed.
    pub count: u32,
    pub suppressed: bool,
    pub median_waiting_days: f64,
    pub p90_waiting_days: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub referrals: Vec<ReferralFigure>,
    pub meetings_held: u32,
    pub consultations: u32,
    pub families: u32,
    pub minimum_cell: u32,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn shown(count: usize) -> u32 {
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    if count < MINIMUM_CELL { 0 } else { count }
}

pub fn statistics(tree: &ProjectionTree, now_ms: i64) -> Result<Statistics> {
    // (sector, need, outcome) -> waiting days of each referral.
    let mut cells: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut meetings_held = 0;
    let mut families = 0;
    for item in tree.families() {
        let (_, doc) = item?;
        families += 1;
        meetings_held += doc.meetings.values().filter(|m| m.status == "held").count();
        for referral in doc.referrals.values() {
            let outcome = if referral.state.is_open() { "open" } else { referral.state.as_code() };
            let waited = (referral.wait_ended.unwrap_or(now_ms) - referral.sent_at).max(0) as f64 / DAY_MS;
            let sector = referral.sector.as_code().to_owned();
            cells.entry((sector.clone(), String::new(), outcome.to_owned())).or_default().push(waited);
            for need in &referral.needs {
                cells
                    .entry((sector.clone(), need.as_code().to_owned(), String::new()))
                    .or_default()
                    .push(waited);
            }
        }
    }
    let consultations = tree.consultations().collect::<Result<Vec<_>>>()?.len();
    let referrals = cells
        .into_iter()
        .map(|((sector, need, outcome), mut waits)| {
            waits.sort_by(f64::total_cmp);
            let suppressed = shown(waits.len()) == 0;
            ReferralFigure {
                sector,
                need,
                outcome,
                count: shown(waits.len()),
                suppressed,
                median_waiting_days: if suppressed { 0.0 } else { quantile(&waits, 0.5) },
                p90_waiting_days: if suppressed { 0.0 } else { quantile(&waits, 0.9) },
            }
        })
        .collect();
    Ok(Statistics {
        referrals,
        meetings_held: shown(meetings_held),
        consultations: shown(consultations),
        families: shown(families),
        minimum_cell: MINIMUM_CELL,
    })
}

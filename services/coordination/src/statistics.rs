//! Anonymous figures for developing services. No figure counts fewer than `MINIMUM_CELL`
//! referrals, meetings, consultations or families: smaller ones are suppressed.

use std::collections::BTreeMap;

use luukku_proto::coordination::v1 as pb;

use crate::doc::{ConsultationDoc, FamilyDoc};
use crate::store::{self, Result, key};

pub const MINIMUM_CELL: u32 = 5;
const DAY_MS: f64 = 24.0 * 3_600_000.0;

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

pub fn statistics(tree: &sled::Tree, now_ms: i64) -> Result<pb::GetStatisticsResponse> {
    // (sector, need, outcome) -> waiting days of each referral.
    let mut cells: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut meetings_held = 0;
    let mut families = 0;
    for item in tree.scan_prefix(key::FAMILY_PREFIX) {
        let (_, value) = item?;
        let doc: FamilyDoc = store::decode(&value)?;
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
    let consultations = tree
        .scan_prefix(key::CONSULTATION_PREFIX)
        .values()
        .map(|value| value.map_err(Into::into).and_then(|v| store::decode::<ConsultationDoc>(&v)))
        .collect::<Result<Vec<_>>>()?
        .len();
    let referrals = cells
        .into_iter()
        .map(|((sector, need, outcome), mut waits)| {
            waits.sort_by(f64::total_cmp);
            let suppressed = shown(waits.len()) == 0;
            pb::ReferralFigure {
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
    Ok(pb::GetStatisticsResponse {
        referrals,
        meetings_held: shown(meetings_held),
        consultations: shown(consultations),
        families: shown(families),
        minimum_cell: MINIMUM_CELL,
    })
}

//! Anonymous figures for developing services, that cannot single anyone out.
//!
//! - No cell shows fewer than [`MINIMUM_CELL`] referrals, meetings, consultations or
//!   families.
//! - No two nested cells differ by 1 to 4: a sector's need and outcome cells are each checked
//!   against the sector's total, and when an outcome cell is suppressed, more are suppressed
//!   until what is hidden cannot be worked out from what is shown.
//! - Waiting times are given only for cells of [`MINIMUM_FOR_QUANTILES`] or more, rounded
//!   to whole days.
//! - Figures are as of a published cut-off (daily at midnight in Finland), computed once and
//!   kept: a caller cannot ask for them as of a moment of their choosing. Two days' figures
//!   can still be compared: counts are neither rounded nor noised, so a shown cell that grew
//!   by one between two cut-offs shows one change. Consultations carry no time in the
//!   projection and are counted as of the publication.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::projection::{Projection, ProjectionError, ProjectionTree, Result};

pub const MINIMUM_CELL: u32 = 5;
/// The smallest cell whose waiting-time quantiles are given.
pub const MINIMUM_FOR_QUANTILES: usize = 10;
const DAY_MS: f64 = 24.0 * 3_600_000.0;

/// Referrals of one sector: all of them (need and outcome empty), by need, or by outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralFigure {
    pub sector: String,
    pub need: String,
    pub outcome: String,
    /// 0 when suppressed.
    pub count: u32,
    pub suppressed: bool,
    /// Whole days; 0 with `waiting_suppressed` when the cell is under
    /// [`MINIMUM_FOR_QUANTILES`].
    pub median_waiting_days: f64,
    pub p90_waiting_days: f64,
    pub waiting_suppressed: bool,
}

/// The published figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// The moment the figures are as of (milliseconds since the epoch).
    pub cut_off_ms: i64,
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

fn count(values: usize) -> u32 {
    u32::try_from(values).unwrap_or(u32::MAX)
}

/// A standalone count, or 0 under the minimum.
fn shown(count: u32) -> u32 {
    if count < MINIMUM_CELL { 0 } else { count }
}

/// Whether a cell of `count` inside a total of `total` may be shown: itself at least the
/// minimum, and what it leaves of the total none or at least the minimum.
fn nested_ok(count: u32, total: u32) -> bool {
    let rest = total.saturating_sub(count);
    count >= MINIMUM_CELL && (rest == 0 || rest >= MINIMUM_CELL)
}

/// One sector's referrals: their waits, by need and by outcome.
#[derive(Default)]
struct Sector {
    all: Vec<f64>,
    needs: BTreeMap<String, Vec<f64>>,
    outcomes: BTreeMap<String, Vec<f64>>,
}

fn figure(sector: &str, need: &str, outcome: &str, mut waits: Vec<f64>, show: bool) -> ReferralFigure {
    waits.sort_by(f64::total_cmp);
    let waiting = show && waits.len() >= MINIMUM_FOR_QUANTILES;
    ReferralFigure {
        sector: sector.to_owned(),
        need: need.to_owned(),
        outcome: outcome.to_owned(),
        count: if show { count(waits.len()) } else { 0 },
        suppressed: !show,
        median_waiting_days: if waiting { quantile(&waits, 0.5).round() } else { 0.0 },
        p90_waiting_days: if waiting { quantile(&waits, 0.9).round() } else { 0.0 },
        waiting_suppressed: !waiting,
    }
}

/// Which outcome cells of a sector of `total` may be shown: each nested in the total, and
/// the suppressed ones together none or at least the minimum, so that none can be worked
/// out by subtraction. Suppresses the smallest shown cells until that holds.
fn outcomes_shown(counts: &BTreeMap<String, u32>, total: u32) -> BTreeMap<String, bool> {
    let mut show: BTreeMap<String, bool> =
        counts.iter().map(|(outcome, count)| (outcome.clone(), nested_ok(*count, total))).collect();
    loop {
        let hidden: u32 = counts.iter().filter(|(outcome, _)| !show[*outcome]).map(|(_, count)| count).sum();
        if hidden == 0 || hidden >= MINIMUM_CELL {
            return show;
        }
        let smallest_shown =
            counts.iter().filter(|(outcome, _)| show[*outcome]).min_by_key(|(_, count)| **count);
        match smallest_shown {
            Some((outcome, _)) => {
                show.insert(outcome.clone(), false);
            }
            None => return show,
        }
    }
}

fn sector_figures(name: &str, sector: Sector) -> Vec<ReferralFigure> {
    let total = count(sector.all.len());
    let total_shown = total >= MINIMUM_CELL;
    let mut figures = vec![figure(name, "", "", sector.all, total_shown)];
    let outcome_counts: BTreeMap<String, u32> =
        sector.outcomes.iter().map(|(outcome, waits)| (outcome.clone(), count(waits.len()))).collect();
    let shown_outcomes = outcomes_shown(&outcome_counts, total);
    for (need, waits) in sector.needs {
        let show = total_shown && nested_ok(count(waits.len()), total);
        figures.push(figure(name, &need, "", waits, show));
    }
    for (outcome, waits) in sector.outcomes {
        let show = total_shown && shown_outcomes[&outcome];
        figures.push(figure(name, "", &outcome, waits, show));
    }
    figures
}

/// The figures as of `cut_off_ms`: what was registered, sent and held before it.
pub fn statistics(tree: &ProjectionTree, cut_off_ms: i64) -> Result<Statistics> {
    let mut sectors: BTreeMap<String, Sector> = BTreeMap::new();
    let mut meetings_held = 0;
    let mut families = 0;
    for item in tree.families() {
        let (_, doc) = item?;
        if doc.registered_at >= cut_off_ms {
            continue;
        }
        families += 1;
        meetings_held += doc
            .meetings
            .values()
            .filter(|m| m.status == "held" && m.at.is_some_and(|at| at < cut_off_ms))
            .count();
        for referral in doc.referrals.values().filter(|referral| referral.sent_at < cut_off_ms) {
            let ended = referral.wait_ended.filter(|ended| *ended < cut_off_ms);
            let outcome =
                if referral.state.is_open() || ended.is_none() { "open" } else { referral.state.as_code() };
            let waited = (ended.unwrap_or(cut_off_ms) - referral.sent_at).max(0) as f64 / DAY_MS;
            let sector = sectors.entry(referral.sector.as_code().to_owned()).or_default();
            sector.all.push(waited);
            sector.outcomes.entry(outcome.to_owned()).or_default().push(waited);
            for need in &referral.needs {
                sector.needs.entry(need.as_code().to_owned()).or_default().push(waited);
            }
        }
    }
    let consultations = tree.consultations().collect::<Result<Vec<_>>>()?.len();
    let referrals = sectors.into_iter().flat_map(|(name, sector)| sector_figures(&name, sector)).collect();
    Ok(Statistics {
        cut_off_ms,
        referrals,
        meetings_held: shown(count(meetings_held)),
        consultations: shown(count(consultations)),
        families: shown(count(families)),
        minimum_cell: MINIMUM_CELL,
    })
}

/// Where the published figures are kept, in the projection's meta tree.
const PUBLISHED: &[u8] = b"statistics";

/// The latest cut-off at or before `now`: midnight in Finland.
pub fn latest_cut_off(now: jiff::Timestamp) -> i64 {
    let day = now.to_zoned(luukku_app::finnish_zone()).start_of_day();
    day.map_or(now.as_millisecond(), |day| day.timestamp().as_millisecond())
}

/// The figures published last, if any.
pub fn published(projection: &Projection) -> Result<Option<Statistics>> {
    let Some(bytes) = projection.meta()?.get(PUBLISHED)? else {
        return Ok(None);
    };
    postcard::from_bytes(&bytes)
        .map(Some)
        .map_err(|error| ProjectionError::Codec(format!("the published statistics: {error}")))
}

/// Computes the figures as of `cut_off_ms` once the projection has everything the streams
/// hold now, and publishes them; figures for a cut-off already published are kept as they are.
pub async fn publish(projection: &Projection, cut_off_ms: i64) -> Result<Statistics> {
    loop {
        let before = projection.meta()?.get(PUBLISHED)?;
        if let Some(figures) = published(projection)?.filter(|figures| figures.cut_off_ms >= cut_off_ms) {
            return Ok(figures);
        }
        let mut targets = luukku_eventstore::Checkpoints::default();
        for stream in luukku_eventstore::Stream::ALL {
            targets.set(stream, projection.store().last_sequence(stream).await?);
        }
        if let Err(at) = projection.wait_for(targets, std::time::Duration::from_secs(60)).await {
            return Err(ProjectionError::Codec(format!(
                "the projection is at {at}, not yet at {targets}: the figures are not published"
            )));
        }
        let tree = projection.tree();
        let figures = tokio::task::spawn_blocking(move || statistics(&tree, cut_off_ms))
            .await
            .map_err(|error| ProjectionError::Codec(error.to_string()))??;
        let bytes =
            postcard::to_stdvec(&figures).map_err(|error| ProjectionError::Codec(error.to_string()))?;
        // Published once: if another publication came in between, look again.
        if projection.meta()?.compare_and_swap(PUBLISHED, before, Some(bytes))?.is_ok() {
            tracing::info!(cut_off_ms, "statistics published");
            return Ok(figures);
        }
    }
}

/// Publishes the figures of the latest cut-off now if they are missing, then at every
/// midnight in Finland, for as long as the projection lives.
pub fn spawn_daily(projection: &Arc<Projection>) {
    let projection = Arc::downgrade(projection);
    tokio::spawn(async move {
        loop {
            let now = jiff::Timestamp::now();
            let cut_off = latest_cut_off(now);
            let Some(live) = projection.upgrade() else { return };
            if let Err(error) = publish(&live, cut_off).await {
                tracing::warn!(%error, "statistics not published; trying again in a minute");
                drop(live);
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                continue;
            }
            drop(live);
            let next = now
                .to_zoned(luukku_app::finnish_zone())
                .tomorrow()
                .and_then(|tomorrow| tomorrow.start_of_day())
                .map_or(std::time::Duration::from_secs(3_600), |next| {
                    std::time::Duration::from_millis(
                        (next.timestamp().as_millisecond() - now.as_millisecond()).max(1_000) as u64,
                    )
                });
            tokio::time::sleep(next).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector(outcomes: &[(&str, usize)], needs: &[(&str, usize)]) -> Sector {
        let mut sector = Sector::default();
        for (outcome, n) in outcomes {
            for day in 0..*n {
                sector.all.push(day as f64 + 0.4);
                sector.outcomes.entry((*outcome).to_owned()).or_default().push(day as f64 + 0.4);
            }
        }
        for (need, n) in needs {
            sector.needs.insert((*need).to_owned(), (0..*n).map(|day| day as f64).collect());
        }
        sector
    }

    fn cell<'a>(figures: &'a [ReferralFigure], need: &str, outcome: &str) -> &'a ReferralFigure {
        figures.iter().find(|f| f.need == need && f.outcome == outcome).expect("the cell is listed")
    }

    #[test]
    fn a_cell_that_leaves_one_to_four_of_its_total_is_suppressed_and_so_is_its_partner() {
        // 7 completed and 2 open of 9: showing "completed" would give "open" as 9 - 7.
        let figures = sector_figures(
            "school",
            sector(&[("completed", 7), ("open", 2)], &[("learning", 8), ("wellbeing", 9)]),
        );
        assert_eq!(cell(&figures, "", "").count, 9, "the sector's total is shown");
        assert!(cell(&figures, "", "open").suppressed, "2 is under five");
        assert!(cell(&figures, "", "completed").suppressed, "9 - 7 would give the 2 away");
        assert!(cell(&figures, "learning", "").suppressed, "9 - 8 would single one referral out");
        assert_eq!(cell(&figures, "wellbeing", "").count, 9, "all of the total differs by none");
    }

    #[test]
    fn hidden_outcomes_together_are_never_one_to_four() {
        // 1 and 2 are hidden (3 together): the smallest shown cell is hidden with them.
        let figures = sector_figures(
            "school",
            sector(&[("completed", 20), ("open", 6), ("rejected", 1), ("failed", 2)], &[]),
        );
        assert!(cell(&figures, "", "rejected").suppressed && cell(&figures, "", "failed").suppressed);
        assert!(cell(&figures, "", "open").suppressed, "else 29 - 20 - 6 = 3 would be known");
        assert_eq!(cell(&figures, "", "completed").count, 20);
        let hidden: u32 = [("open", 6), ("rejected", 1), ("failed", 2)].iter().map(|(_, n)| n).sum();
        assert!(hidden >= MINIMUM_CELL);
    }

    #[test]
    fn waiting_times_only_for_cells_of_ten_or_more_and_in_whole_days() {
        let figures = sector_figures("school", sector(&[("completed", 12), ("open", 7)], &[]));
        let completed = cell(&figures, "", "completed");
        assert!(!completed.waiting_suppressed);
        assert_eq!(completed.median_waiting_days, completed.median_waiting_days.round());
        assert_eq!(completed.median_waiting_days, 6.0, "5.4 or 6.4 days rounded");
        let open = cell(&figures, "", "open");
        assert_eq!((open.count, open.waiting_suppressed, open.median_waiting_days), (7, true, 0.0));
    }

    #[test]
    fn a_sector_under_five_shows_nothing() {
        let figures = sector_figures("school", sector(&[("completed", 3)], &[("learning", 3)]));
        assert!(figures.iter().all(|figure| figure.suppressed && figure.count == 0));
    }
}

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, 1 µs to 60 s.
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
    histogram.saturating_record(micros);
}

pub fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The trial with the highest rate, with what else it measured.
pub fn best<T>(trials: Vec<(f64, T)>) -> anyhow::Result<(f64, T)> {
    trials.into_iter().max_by(|a, b| a.0.total_cmp(&b.0)).ok_or_else(|| anyhow::anyhow!("no trial"))
}

/// The median of a few trial rates.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Processor time spent on one side of a benchmark, over all its trials: by the benchmark's
/// process (the callers, and whatever serves them in-process) and by nats-server.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spent {
    seconds: [f64; 2],
    while_calling: f64,
    wall: f64,
    calls: usize,
}

impl Spent {
    pub fn add(&mut self, used: crate::processes::Used, calls: usize) {
        self.seconds[0] += used.seconds[0];
        self.seconds[1] += used.seconds[1];
        self.while_calling += used.while_calling;
        self.wall += used.wall;
        self.calls += calls;
    }

    /// Microseconds per call, the process's and nats-server's.
    pub fn per_call(&self) -> [f64; 2] {
        let calls = self.calls.max(1) as f64;
        [self.seconds[0] * 1e6 / calls, self.seconds[1] * 1e6 / calls]
    }

    /// How many processors the two processes kept busy while the calls ran.
    pub fn busy(&self) -> f64 {
        self.while_calling / self.wall.max(f64::MIN_POSITIVE)
    }
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [process, nats] = self.per_call();
        write!(
            f,
            "{:.0} µs ({process:.0} + nats-server {nats:.0}; {:.2} processors busy)",
            process + nats,
            self.busy()
        )
    }
}

/// One benchmark's line in the table of figures.
pub struct Row {
    /// The benchmark, e.g. `view`.
    pub name: &'static str,
    /// What luukku did, with its unit (and latencies).
    pub figure: String,
    /// The ceiling it is measured against, in the same run.
    pub ceiling: String,
    pub ratio: f64,
}

impl Row {
    /// A row for a rate of operations (`what`, e.g. `appends`) at a concurrency (`at`, e.g.
    /// `64 callers`) with one operation's latencies, against a ceiling of `ceiling_rate`.
    pub fn rate(
        name: &'static str,
        what: &str,
        rate: f64,
        at: &str,
        latency: &Histogram<u64>,
        ceiling: &str,
        ceiling_rate: f64,
    ) -> Self {
        Self {
            name,
            figure: format!(
                "{rate:.0} {what}/s at {at}; one at a time: p50 {:.2} ms, p99 {:.2} ms",
                millis(latency.value_at_quantile(0.50)),
                millis(latency.value_at_quantile(0.99))
            ),
            ceiling: format!("{ceiling}, {ceiling_rate:.0} msg/s"),
            ratio: rate / ceiling_rate,
        }
    }
}

const TABLE_START: &str = "<!-- figures:start -->";
const TABLE_END: &str = "<!-- figures:end -->";

/// Writes `row` into the table between the figures markers of `path` (a Markdown file), in
/// place of the benchmark's earlier row, with the command that made it and the date.
pub fn record_row(path: &std::path::Path, row: &Row, command: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(start), Some(end)) = (text.find(TABLE_START), text.find(TABLE_END)) else {
        anyhow::bail!("{} has no {TABLE_START} ... {TABLE_END} table", path.display());
    };
    let table = &text[start + TABLE_START.len()..end];
    let key = format!("| `{}` |", row.name);
    let date = jiff::Zoned::now().date();
    let line = format!(
        "| `{}` | {} | {} | {:.2} | `{command}` | {date} |",
        row.name, row.figure, row.ceiling, row.ratio
    );
    let mut lines: Vec<String> = table.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    match lines.iter_mut().find(|l| l.starts_with(&key)) {
        Some(existing) => *existing = line,
        None => lines.push(line),
    }
    let rebuilt = format!("{}{TABLE_START}\n{}\n{}", &text[..start], lines.join("\n"), &text[end..]);
    std::fs::write(path, rebuilt)?;
    Ok(())
}

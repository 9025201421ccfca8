//! `luukku ops access-log`: a family's log report for the registrar, as a table or CSV.

use anyhow::Context as _;
use luukku_domain::family::FamilyId;
use luukku_eventstore::EventStore;
use luukku_eventstore::audit::{AccessRecord, AuditQuery, ReportQuery, report};

#[derive(Debug, clap::Args)]
pub struct AccessLogArgs {
    /// One family's accesses.
    #[arg(long, required_unless_present = "break_glass", conflicts_with = "break_glass")]
    family: Option<FamilyId>,
    /// Every break-glass grant and use, across families, for the review.
    #[arg(long)]
    break_glass: bool,
    /// From this date (YYYY-MM-DD, in Finland) or RFC 3339 timestamp, inclusive.
    #[arg(long)]
    from: Option<String>,
    /// To this date or timestamp, inclusive.
    #[arg(long)]
    to: Option<String>,
    /// Comma-separated values with a header line, for a spreadsheet.
    #[arg(long)]
    csv: bool,
}

/// Milliseconds since the epoch of a date's start (or end) in Finland, or of a timestamp.
fn moment(value: &str, end_of_day: bool) -> anyhow::Result<i64> {
    if let Ok(at) = value.parse::<jiff::Timestamp>() {
        return Ok(at.as_millisecond());
    }
    let date: jiff::civil::Date =
        value.parse().with_context(|| format!("{value:?} is not a date YYYY-MM-DD or a timestamp"))?;
    let start = date.to_zoned(luukku_app::finnish_zone())?.timestamp().as_millisecond();
    Ok(if end_of_day { start + 24 * 3_600_000 - 1 } else { start })
}

const COLUMNS: [&str; 13] = [
    "time",
    "family",
    "person",
    "role",
    "organisation",
    "system",
    "call",
    "kind",
    "member",
    "basis",
    "allowed",
    "rule",
    "reason",
];

fn fields(record: &AccessRecord) -> [String; 13] {
    let access = &record.access;
    let at = jiff::Timestamp::from_millisecond(access.at.as_millis())
        .map(|at| at.to_zoned(luukku_app::finnish_zone()).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    [
        at,
        access.family.map(|family| family.to_string()).unwrap_or_default(),
        access.actor.person_id.to_string(),
        access.actor.role.to_string(),
        access.actor.organisation.to_string(),
        access.actor.system.to_string(),
        access.rpc.rsplit('/').next().unwrap_or_default().to_owned(),
        access.kind.clone(),
        access.member.map(|member| member.to_string()).unwrap_or_default(),
        access.basis.clone(),
        if access.allowed { "yes" } else { "no" }.to_owned(),
        access.rule.clone().unwrap_or_default(),
        access.reason.clone().unwrap_or_default(),
    ]
}

/// A CSV field, quoted when it must be.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub async fn access_log(store: &EventStore, args: &AccessLogArgs) -> anyhow::Result<()> {
    let from_ms = args.from.as_deref().map(|from| moment(from, false)).transpose()?;
    let to_ms = args.to.as_deref().map(|to| moment(to, true)).transpose()?;
    let Some(family) = args.family else {
        return break_glass(store, args.csv, from_ms, to_ms).await;
    };
    let mut query = ReportQuery { from_ms, to_ms, ..ReportQuery::whole(family, 1000) };
    header(args.csv);
    let mut count = 0usize;
    let mut unreadable = Vec::new();
    loop {
        let mut page = report(store, &query).await?;
        for (_, record) in &page.records {
            line(record, args.csv);
        }
        count += page.records.len();
        unreadable.append(&mut page.unreadable);
        if page.next_after == 0 {
            break;
        }
        query.after_sequence = page.next_after;
    }
    if !args.csv {
        eprintln!("{count} accesses");
    }
    incomplete(&unreadable)
}

/// A report that read messages it could not read is not complete: said, and an error.
fn incomplete(unreadable: &[u64]) -> anyhow::Result<()> {
    if unreadable.is_empty() {
        return Ok(());
    }
    let places: Vec<String> = unreadable.iter().map(|sequence| format!("AUDIT {sequence}")).collect();
    anyhow::bail!(
        "the report may be incomplete: {} messages could not be read ({}); `luukku ops verify` lists them",
        places.len(),
        places.join(", ")
    )
}

fn header(csv: bool) {
    println!("{}", COLUMNS.join(if csv { "," } else { "\t" }));
}

fn line(record: &AccessRecord, csv: bool) {
    let fields = fields(record);
    if csv {
        println!("{}", fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
    } else {
        println!("{}", fields.join("\t"));
    }
}

/// Every break-glass grant and use in the log, with the family each concerns.
async fn break_glass(
    store: &EventStore,
    csv: bool,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<()> {
    header(csv);
    let mut after = 0;
    let mut count = 0usize;
    let mut unreadable = Vec::new();
    loop {
        let query = AuditQuery { family: None, after_sequence: after, limit: 10_000 };
        let page = store.read_audit(&query).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.sequence;
        unreadable.extend(page.iter().filter(|stored| stored.record.is_none()).map(|stored| stored.sequence));
        for record in page.iter().filter_map(|stored| stored.record.as_ref()) {
            let at = record.access.at.as_millis();
            let flagged = record.access.basis == "break_glass";
            if flagged && from_ms.is_none_or(|from| at >= from) && to_ms.is_none_or(|to| at <= to) {
                line(record, csv);
                count += 1;
            }
        }
    }
    if !csv {
        eprintln!("{count} break-glass grants and uses");
    }
    unreadable.dedup();
    incomplete(&unreadable)
}

//! `luukku ops access-log`: a family's log report for the registrar, as a table or CSV.

use anyhow::Context as _;
use luukku_domain::family::FamilyId;
use luukku_eventstore::EventStore;
use luukku_eventstore::audit::{AccessRecord, ReportQuery, report};

#[derive(Debug, clap::Args)]
pub struct AccessLogArgs {
    #[arg(long)]
    family: FamilyId,
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

const COLUMNS: [&str; 12] = [
    "time",
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

fn fields(record: &AccessRecord) -> [String; 12] {
    let access = &record.access;
    let at = jiff::Timestamp::from_millisecond(access.at.as_millis())
        .map(|at| at.to_zoned(luukku_app::finnish_zone()).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    [
        at,
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
    let mut query = ReportQuery {
        family: args.family,
        members: None,
        from_ms: args.from.as_deref().map(|from| moment(from, false)).transpose()?,
        to_ms: args.to.as_deref().map(|to| moment(to, true)).transpose()?,
        after_sequence: 0,
        page_size: 1000,
    };
    if args.csv {
        println!("{}", COLUMNS.join(","));
    } else {
        println!("{}", COLUMNS.join("\t"));
    }
    let mut count = 0usize;
    loop {
        let page = report(store, &query).await?;
        for (_, record) in &page.records {
            let fields = fields(record);
            if args.csv {
                println!("{}", fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
            } else {
                println!("{}", fields.join("\t"));
            }
        }
        count += page.records.len();
        if page.next_after == 0 {
            break;
        }
        query.after_sequence = page.next_after;
    }
    if !args.csv {
        eprintln!("{count} accesses");
    }
    Ok(())
}

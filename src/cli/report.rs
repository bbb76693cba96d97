//! `vouch report`: a report (see [`crate::report`]) written to a file from
//! the database the configuration names, for cron and batch jobs: the same
//! table, filters and file as `/reports/export`, as CSV, XLSX or PDF.

use crate::config::{Config, DatabaseUrl, ProcessEnv};
use crate::report::{Bucket, Filters, Format, Report, ReportQuery};
use crate::store::Db;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;

/// `vouch report`'s options.
#[derive(Debug, clap::Args)]
pub struct ReportOpts {
    /// Configuration file (TOML), for its database and lines. Default: the
    /// embedded demo configuration.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The first date, included (YYYY-MM-DD). Default: 6 days before --to.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// The last date, included (YYYY-MM-DD). Default: today.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// One line; default: all lines.
    #[arg(long)]
    pub line: Option<String>,
    /// The time zone days are cut in (an IANA name). Default: the line's
    /// `time_zone` (or the default line's), else UTC.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// A row per day or per hour.
    #[arg(long, value_enum, default_value = "day")]
    pub by: Bucket,
    /// Count only the calls of this outcome: self_service, agent,
    /// abandoned, opted_out, crm_unavailable, verification_unavailable or
    /// in_progress. Default: any.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Count only the calls of this ID&V status: verified, identified or
    /// unidentified. Default: any.
    #[arg(long)]
    pub status: Option<String>,
    /// Count only the calls identified this way: ani, keyed, keyed_ani or
    /// none. Default: any.
    #[arg(long)]
    pub method: Option<String>,
    /// Count only the calls a hand-off put in this queue (one a line's
    /// hand-offs name). Default: any.
    #[arg(long)]
    pub queue: Option<String>,
    /// Count only the calls a `dial` hand-off rang this agent for
    /// (`client:alice`, a SIP URI or a number, as configured). Default: any.
    #[arg(long)]
    pub agent: Option<String>,
    /// The file's format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Where to write it (`-`: standard output). Default: a name carrying
    /// the filters, in the current directory.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub async fn run(opts: ReportOpts) -> anyhow::Result<()> {
    let config = Config::load(opts.config.as_deref(), &ProcessEnv)?;
    if matches!(config.database.url, DatabaseUrl::Memory) {
        anyhow::bail!(
            "DATABASE_URL is memory:, so there are no call records to report on: name the database Vouch writes"
        );
    }
    let filters = Filters {
        from: opts.from,
        to: opts.to,
        line: opts.line,
        tz: opts.tz,
        by: Some(opts.by.as_str().to_string()),
        outcome: opts.outcome,
        status: opts.status,
        method: opts.method,
        queue: opts.queue,
        agent: opts.agent,
        format: None,
    };
    let query =
        ReportQuery::from_filters(&filters, &config, crate::clock::now()).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let db = Db::open(&config.database.url)
        .await
        .context("Failed to open the database")?
        .context("DATABASE_URL names no database")?;
    let name = query.file_name(opts.format.as_str());
    let report = Report::build(&db, &config, query).await.context("Failed to count the report")?;
    db.close().await;
    let body = report.file(opts.format).context("Failed to write the report")?;
    match opts.out {
        Some(path) if path.as_os_str() == "-" => {
            std::io::stdout().write_all(&body).context("Failed to write the report to standard output")?
        }
        out => {
            let path = out.unwrap_or_else(|| PathBuf::from(name));
            std::fs::write(&path, body).with_context(|| format!("Failed to write {}", path.display()))?;
            eprintln!("{}: {} rows and the total", path.display(), report.rows.len());
        }
    }
    Ok(())
}

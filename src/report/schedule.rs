//! Scheduled reports (`[[reports.schedule]]`): each schedule falls due
//! daily, weekly or monthly at a local time in its zone, and its report
//! covers the period before (the day, the 7 days, the calendar month). A
//! background task on every instance looks every [`TICK`]: the latest
//! period due whose files are not written is claimed in the store, so one
//! instance writes it; its files go into the store (served by every
//! instance at `/reports/files`) and, when the schedule names one, into a
//! directory. An instance that was down when a report fell due writes it
//! when it starts (the latest period only). Counts only: no customer data.

use super::{Format, Report, ReportQuery};
use crate::audit::{Action, Actor, Audit, Target};
use crate::config::{Config, Every, Schedule};
use crate::store::report_files::{ReportFile, RunFile};
use crate::store::{CallFilter, Db};
use jiff::civil::Date;
use jiff::ToSpan as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the task looks for a report due.
pub const TICK: Duration = Duration::from_secs(30);

/// When a schedule fell due, and the days its report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Unix seconds.
    pub at: u64,
    /// The first and last days covered, both included.
    pub from: Date,
    pub to: Date,
}

/// The latest time `s` fell due at or before `now`, and its period.
pub fn latest_due(s: &Schedule, now: u64) -> Option<Due> {
    let mut day = super::today(&s.zone, now);
    // A month's day comes round within 31 days; look a little further.
    for _ in 0..40 {
        let falls = match s.every {
            Every::Day => true,
            Every::Week(weekday) => day.weekday() == weekday,
            Every::Month(n) => day.day() == n,
        };
        if falls {
            let at = day.to_datetime(s.at).to_zoned_datetime(s.zone.zone.clone()).ok()?.timestamp().as_second();
            let at = u64::try_from(at).ok()?;
            if at <= now {
                let (from, to) = match s.every {
                    Every::Day => (day.yesterday().ok()?, day.yesterday().ok()?),
                    Every::Week(_) => (day.checked_sub(7.days()).ok()?, day.yesterday().ok()?),
                    Every::Month(_) => {
                        let first = day.first_of_month();
                        (first.checked_sub(1.month()).ok()?, first.yesterday().ok()?)
                    }
                };
                return Some(Due { at, from, to });
            }
        }
        day = day.yesterday().ok()?;
    }
    None
}

/// The report a schedule's period is: its days, line, zone and rows, every call.
pub fn query(s: &Schedule, due: &Due) -> ReportQuery {
    ReportQuery {
        from: due.from,
        to: due.to,
        line: s.line.clone(),
        zone: s.zone.clone(),
        by: s.by,
        filter: CallFilter::default(),
    }
}

/// A scheduled file's name: the schedule's, then the report's (which
/// carries its filters).
pub fn file_name(s: &Schedule, query: &ReportQuery, format: Format) -> String {
    format!("{}_{}", s.name, query.file_name(format.as_str()))
}

/// Why a run was not written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Export(#[from] super::ExportError),
    #[error("writing {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("the report's writer stopped: {0}")]
    Stopped(String),
}

/// Writes `s`'s report for `due` if this instance claims it; the files
/// written (none when another instance has it).
pub async fn run(db: &Db, config: &Config, s: &Schedule, due: &Due, now: u64) -> Result<Vec<ReportFile>, RunError> {
    let period_start = due.from.to_string();
    if !db.claim_report_run(&s.name, &period_start, now).await? {
        return Ok(Vec::new());
    }
    let query = query(s, due);
    let report = Report::build(db, config, query.clone()).await?;
    let formats = s.formats.clone();
    let bodies = tokio::task::spawn_blocking(move || {
        formats.into_iter().map(|f| report.file(f).map(|body| (f, body))).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| RunError::Stopped(e.to_string()))??;
    let described = |name: String, format: Format, bytes: usize, lists_calls: bool| ReportFile {
        name,
        schedule: s.name.clone(),
        period_start: period_start.clone(),
        period_end: due.to.to_string(),
        format: format.as_str().to_string(),
        created_at: now,
        bytes: bytes as u64,
        lists_calls,
    };
    let mut files: Vec<RunFile> = bodies
        .into_iter()
        .map(|(format, body)| (described(file_name(s, &query, format), format, body.len(), false), body, Vec::new()))
        .collect();
    if !s.call_lists.is_empty() {
        let (body, sids) = super::calls::list(db, &s.call_lists, query.range(), &s.zone).await?;
        let name = call_list_name(s, &query);
        files.push((described(name, Format::Csv, body.len(), true), body, sids));
    }
    if let Some(dir) = &s.directory {
        for (file, body, _) in &files {
            write_file(dir, &file.name, body).map_err(|e| RunError::Directory(file.name.clone(), e))?;
        }
    }
    db.finish_report_run(&files, (&s.name, &period_start), now).await?;
    Ok(files.into_iter().map(|(f, _, _)| f).collect())
}

/// A schedule's call list's name: the schedule's, the period, the lines.
pub fn call_list_name(s: &Schedule, query: &ReportQuery) -> String {
    format!("{}_vouch-calls_{}_{}_{}.csv", s.name, query.from, query.to, s.call_lists.join("-"))
}

/// Writes `body` to `dir/name` whole: to a temporary name, then renamed.
pub fn write_file(dir: &std::path::Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, body)?;
    std::fs::rename(&partial, dir.join(name))
}

/// The task; dropping it stops it.
pub struct Scheduler(tokio::task::JoinHandle<()>);

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the scheduled reports' task on `db` (none without schedules):
/// at once, then every [`TICK`]; files past `reports.keep_days` are
/// deleted once an hour.
pub fn spawn(db: Db, config: Arc<Config>, audit: Audit) -> Option<Scheduler> {
    if config.reports.schedules.is_empty() {
        return None;
    }
    Some(Scheduler(tokio::spawn(async move {
        // The period each schedule last saw written, so it is not asked again.
        let mut written: HashMap<String, Date> = HashMap::new();
        let mut purged_at: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = crate::clock::now();
            for s in &config.reports.schedules {
                let Some(due) = latest_due(s, now) else { continue };
                if written.get(&s.name) == Some(&due.from) {
                    continue;
                }
                match db.report_run_done(&s.name, &due.from.to_string()).await {
                    Ok(true) => {
                        written.insert(s.name.clone(), due.from);
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "a scheduled report could not be looked up");
                        continue;
                    }
                }
                match run(&db, &config, s, &due, now).await {
                    Ok(files) if files.is_empty() => {}
                    Ok(files) => {
                        for list in files.iter().filter(|f| f.lists_calls) {
                            // Customer data written: audited (the file, never its calls).
                            let detail =
                                serde_json::json!({ "schedule": s.name, "file": list.name, "lines": s.call_lists });
                            audit.record(&Actor::Scheduler, Action::CallListWritten, Target::None, detail);
                        }
                        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
                        tracing::info!(schedule = %s.name, from = %due.from, to = %due.to, files = %names.join(", "), "scheduled report written");
                        written.insert(s.name.clone(), due.from);
                    }
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "a scheduled report was not written; it is tried again");
                    }
                }
            }
            if purged_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(3_600)) {
                purged_at = Some(tokio::time::Instant::now());
                let before = now.saturating_sub(config.reports.keep.as_secs());
                // Call lists go with the records they list, in the retention purge.
                match db.purge_report_files(before, 0).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, "old scheduled reports deleted"),
                    Err(e) => tracing::warn!(error = %e, "old scheduled reports were not deleted"),
                }
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LineTimeZone;
    use crate::report::Bucket;
    use jiff::civil::{time, Weekday};

    fn schedule(every: Every, at: (i8, i8), zone: &str) -> Schedule {
        Schedule {
            name: "s".into(),
            every,
            at: time(at.0, at.1, 0, 0),
            zone: LineTimeZone::named("tz", zone).unwrap(),
            line: None,
            by: Bucket::Day,
            formats: vec![Format::Csv],
            directory: None,
            call_lists: Vec::new(),
        }
    }

    /// Unix seconds of a civil time in `zone`.
    fn at(zone: &str, text: &str) -> u64 {
        let dt: jiff::civil::DateTime = text.parse().unwrap();
        dt.to_zoned_datetime(jiff::tz::TimeZone::get(zone).unwrap()).unwrap().timestamp().as_second() as u64
    }

    fn due(s: &Schedule, now: u64) -> (String, String, u64) {
        let d = latest_due(s, now).unwrap();
        (d.from.to_string(), d.to.to_string(), d.at)
    }

    #[test]
    fn a_daily_report_covers_yesterday_once_its_time_has_come() {
        let s = schedule(Every::Day, (6, 0), "Europe/London");
        let six = at("Europe/London", "2026-12-04T06:00");
        assert_eq!(due(&s, six), ("2026-12-03".into(), "2026-12-03".into(), six));
        assert_eq!(due(&s, six - 1).0, "2026-12-02", "before 06:00, the day before's is the latest");
        // Across the clocks going forward (London, 29 March 2026): 06:00 BST.
        let bst = at("Europe/London", "2026-03-29T06:00");
        assert_eq!(bst, 1_774_760_400, "05:00 UTC");
        assert_eq!(due(&s, bst + 60), ("2026-03-28".into(), "2026-03-28".into(), bst));
    }

    #[test]
    fn a_weekly_report_covers_the_seven_days_before_its_weekday() {
        let s = schedule(Every::Week(Weekday::Monday), (7, 30), "America/New_York");
        // Friday 2026-12-04: the latest Monday was 2026-11-30.
        let now = at("America/New_York", "2026-12-04T12:00");
        let monday = at("America/New_York", "2026-11-30T07:30");
        assert_eq!(due(&s, now), ("2026-11-23".into(), "2026-11-29".into(), monday));
        assert_eq!(due(&s, monday - 1).1, "2026-11-22", "before it, the week before's");
    }

    #[test]
    fn a_monthly_report_covers_the_calendar_month_before() {
        let s = schedule(Every::Month(1), (0, 0), "UTC");
        let now = at("UTC", "2026-03-01T00:00");
        assert_eq!(due(&s, now), ("2026-02-01".into(), "2026-02-28".into(), now));
        let fifth = schedule(Every::Month(5), (9, 0), "Asia/Tokyo");
        let now = at("Asia/Tokyo", "2026-12-04T23:00");
        assert_eq!(due(&fifth, now).0, "2026-10-01", "on 4 December the 5 November run is the latest");
        assert_eq!(due(&fifth, now).1, "2026-10-31");
    }

    #[test]
    fn file_names_start_with_the_schedule() {
        let s = schedule(Every::Day, (6, 0), "UTC");
        let q = query(&s, &latest_due(&s, at("UTC", "2026-12-04T07:00")).unwrap());
        assert_eq!(file_name(&s, &q, Format::Pdf), "s_vouch-report_2026-12-03_2026-12-03_all-lines_by-day_UTC.pdf");
    }
}

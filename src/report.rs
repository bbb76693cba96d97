//! Reports: the ID&V figures of a range of dates, a row per day (or per
//! hour) in a time zone, for one line or for all, with a total. The same
//! report is the `/reports` page (with its charts), its CSV, XLSX and PDF
//! exports and `vouch report`'s files.
//! Counts only, no customer data: aggregates carry none.
//!
//! Days are cut at midnight in the report's zone (daylight saving
//! included: a day may have 23 or 25 hours), computed here rather than in
//! SQL, so SQLite and PostgreSQL agree.

use crate::config::{Config, LineTimeZone};
use crate::store::{CallFilter, Db, LineStats, Stats};
use jiff::civil::Date;

pub mod calls;
#[cfg(feature = "exports")]
pub mod chart;
#[cfg(feature = "exports")]
pub mod pdf;
pub mod schedule;
#[cfg(feature = "exports")]
pub mod xlsx;

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Xlsx,
    Pdf,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Xlsx, Format::Pdf];

    /// Its name in a query (`format=`) and its file's extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Pdf => "pdf",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Pdf => "application/pdf",
        }
    }
}

/// Why a report's file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[cfg(feature = "exports")]
    #[error("XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("PDF: {0}")]
    Pdf(String),
    /// A build without the `exports` feature writes CSV only.
    #[error("{0}: this build of Vouch writes CSV only (built without the `exports` feature)")]
    Unsupported(&'static str),
}

/// The longest range of a report by day, and by hour.
pub const MAX_DAYS: i32 = 400;
pub const MAX_HOUR_DAYS: i32 = 31;

/// A report's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bucket {
    Day,
    Hour,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Hour => "hour",
        }
    }
}

/// What a report covers, checked.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// The first and last dates, both included, in `zone`.
    pub from: Date,
    pub to: Date,
    /// One line, or every line.
    pub line: Option<String>,
    pub zone: LineTimeZone,
    pub by: Bucket,
    /// Which calls it counts: an outcome, an ID&V status, a method.
    pub filter: CallFilter,
}

/// The outcomes, ID&V statuses and methods of identification a report may
/// be filtered by: each as stored (and in the API), and as a page names it.
pub const OUTCOMES: [(&str, &str); 7] = [
    ("self_service", "Self-service"),
    ("agent", "Agent"),
    ("abandoned", "Abandoned"),
    ("opted_out", "Opted out"),
    ("crm_unavailable", "CRM unavailable"),
    ("verification_unavailable", "Checks unavailable"),
    ("in_progress", "Unfinished"),
];
pub const STATUSES: [(&str, &str); 3] =
    [("verified", "Verified"), ("identified", "Identified, not verified"), ("unidentified", "Not identified")];
pub const METHODS: [(&str, &str); 4] =
    [("ani", "Caller ID"), ("keyed", "Keyed ID"), ("keyed_ani", "Keyed ID, caller ID agreeing"), ("none", "None")];

/// The filter on calls of a query's `outcome`, `status`, `method`,
/// `queue` and `agent`, in that order (absent, empty or `any`: any), each
/// checked against its choices: the queue and the agent against those
/// `config`'s hand-offs can put a call with ([`queues`], [`agents`]).
pub fn call_filter(given: [Option<&str>; 5], config: &Config) -> Result<CallFilter, ReportError> {
    fn chosen(given: Option<&str>) -> Option<&str> {
        given.map(str::trim).filter(|v| !v.is_empty() && *v != "any")
    }
    fn not_one_of(field: &'static str, given: &str, keys: &[&str]) -> ReportError {
        let keys = if keys.is_empty() { "any (no line's hand-off names one)".to_string() } else { keys.join(", ") };
        refused(field, format!("{given:?} is not one of any, {keys}"))
    }
    fn pick(
        field: &'static str,
        given: Option<&str>,
        choices: &[(&'static str, &str)],
    ) -> Result<Option<&'static str>, ReportError> {
        let Some(given) = chosen(given) else { return Ok(None) };
        match choices.iter().find(|(key, _)| *key == given) {
            Some((key, _)) => Ok(Some(*key)),
            None => Err(not_one_of(field, given, &choices.iter().map(|(key, _)| *key).collect::<Vec<_>>())),
        }
    }
    let named = |field: &'static str, given: Option<&str>, known: Vec<String>| -> Result<_, ReportError> {
        let Some(given) = chosen(given) else { return Ok(None) };
        match known.iter().any(|k| k == given) {
            true => Ok(Some(given.to_string())),
            false => Err(not_one_of(field, given, &known.iter().map(String::as_str).collect::<Vec<_>>())),
        }
    };
    let [outcome, status, method, queue, agent] = given;
    Ok(CallFilter {
        outcome: pick("outcome", outcome, &OUTCOMES)?,
        idv_status: pick("status", status, &STATUSES)?,
        idv_method: pick("method", method, &METHODS)?,
        queue: named("queue", queue, queues(config))?,
        agent: named("agent", agent, agents(config))?,
    })
}

/// The queues `config`'s hand-offs can put a call in (a plain queue, or a
/// `dial` hand-off's fallback), sorted, each once.
pub fn queues(config: &Config) -> Vec<String> {
    placements(config, |p| p.queue)
}

/// The agents `config`'s `dial` hand-offs ring, sorted, each once.
pub fn agents(config: &Config) -> Vec<String> {
    placements(config, |p| p.agent)
}

fn placements(config: &Config, pick: fn(crate::store::Placement) -> Option<String>) -> Vec<String> {
    use crate::config::Handoff;
    let mut out = std::collections::BTreeSet::new();
    for line in config.lines.iter() {
        let handoffs = [&line.next, &line.agent, &line.opt_out];
        let dials = handoffs.iter().any(|h| matches!(h, Handoff::Dial { .. }));
        let fallback = dials.then(|| line.fallback_queue());
        for h in handoffs.into_iter().chain(fallback.as_ref()) {
            out.extend(pick(crate::call::placement(h)));
        }
    }
    out.into_iter().collect()
}

/// How a page names a filter's value: its choice's label, else the value
/// itself (a queue, an agent); `any` when it has none.
pub fn label(value: Option<&str>, choices: &[(&str, &'static str)]) -> String {
    match value {
        None => "any".to_string(),
        Some(v) => choices.iter().find(|(key, _)| *key == v).map_or(v, |(_, label)| *label).to_string(),
    }
}

/// One of the filters on calls, and every name it goes by.
pub struct CallFilterKind {
    /// Its name in a query (and a file's name).
    pub name: &'static str,
    /// How a file's rows name it, and a page's form.
    pub title: &'static str,
    pub form: &'static str,
    /// How a sentence names it (`identified by Caller ID`).
    pub said: &'static str,
    /// Its fixed choices (value, label); none for the queue and the agent,
    /// whose choices are the configuration's ([`queues`], [`agents`]).
    pub choices: &'static [(&'static str, &'static str)],
    /// Its value in a filter.
    pub value: for<'f> fn(&'f CallFilter) -> Option<&'f str>,
}

impl CallFilterKind {
    /// A file's row of it: its title and `filter`'s value as a page names it.
    pub fn row(&self, filter: &CallFilter) -> (&'static str, String) {
        (self.title, label((self.value)(filter), self.choices))
    }

    /// Its choices in `config` (value, label).
    pub fn choices_in(&self, config: &Config) -> Vec<(String, String)> {
        let named = |names: Vec<String>| names.into_iter().map(|n| (n.clone(), n)).collect();
        match self.name {
            "queue" => named(queues(config)),
            "agent" => named(agents(config)),
            _ => self.choices.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect(),
        }
    }
}

/// The filters on calls, in the order the query, the files and the pages give them.
pub const CALL_FILTERS: [CallFilterKind; 5] = [
    CallFilterKind {
        name: "outcome",
        title: "Outcome",
        form: "Outcome",
        said: "outcome",
        choices: &OUTCOMES,
        value: |f| f.outcome,
    },
    CallFilterKind {
        name: "status",
        title: "ID&V status",
        form: "ID&V status",
        said: "ID&V status",
        choices: &STATUSES,
        value: |f| f.idv_status,
    },
    CallFilterKind {
        name: "method",
        title: "Method",
        form: "Identified by",
        said: "identified by",
        choices: &METHODS,
        value: |f| f.idv_method,
    },
    CallFilterKind {
        name: "queue",
        title: "Queue",
        form: "Queue",
        said: "queue",
        choices: &[],
        value: |f| f.queue.as_deref(),
    },
    CallFilterKind {
        name: "agent",
        title: "Agent rung",
        form: "Agent rung",
        said: "agent rung",
        choices: &[],
        value: |f| f.agent.as_deref(),
    },
];

/// The filter's query pairs (`outcome`, `status`, `method`, `queue`,
/// `agent`), those set.
pub fn filter_pairs(filter: &CallFilter) -> impl Iterator<Item = (&'static str, &str)> + '_ {
    CALL_FILTERS.iter().filter_map(|kind| Some((kind.name, (kind.value)(filter)?)))
}

/// Why a report cannot be made: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ReportError {
    pub field: &'static str,
    pub reason: String,
}

fn refused(field: &'static str, reason: impl Into<String>) -> ReportError {
    ReportError { field, reason: reason.into() }
}

/// The filters as given (a page's query, or the command line's options).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub from: Option<String>,
    pub to: Option<String>,
    pub line: Option<String>,
    pub tz: Option<String>,
    pub by: Option<String>,
    /// The calls counted: an outcome, an ID&V status, a method (see
    /// [`OUTCOMES`], [`STATUSES`], [`METHODS`]); absent or `any`: any.
    pub outcome: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    /// Where a hand-off put the calls: a queue, an agent rung (see
    /// [`queues`], [`agents`]); absent or `any`: any.
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// An export's format (`csv`, `xlsx`, `pdf`); the page ignores it.
    pub format: Option<String>,
}

impl ReportQuery {
    /// Checks `f` against `config`'s lines. Without dates: the last 7 days,
    /// today included; without a zone: the line's (or the default line's)
    /// `time_zone`, else UTC.
    pub fn from_filters(f: &Filters, config: &Config, now: u64) -> Result<Self, ReportError> {
        let (line, zone) = line_and_zone(f.line.as_deref(), f.tz.as_deref(), config)?;
        let today = today(&zone, now);
        let date = |field: &'static str, v: &Option<String>| -> Result<Option<Date>, ReportError> {
            match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| refused(field, format!("{v:?} is not a date (YYYY-MM-DD)"))),
            }
        };
        let to = date("to", &f.to)?.unwrap_or(today);
        let from = date("from", &f.from)?.unwrap_or_else(|| to.checked_sub(jiff::Span::new().days(6)).unwrap_or(to));
        let by = match f.by.as_deref().map(str::trim) {
            None | Some("") | Some("day") => Bucket::Day,
            Some("hour") => Bucket::Hour,
            Some(other) => return Err(refused("by", format!("{other:?}: day or hour"))),
        };
        if from > to {
            return Err(refused("from", "the first date is after the last"));
        }
        let days = i32::try_from(days_between(from, to)).unwrap_or(i32::MAX) + 1;
        let max = if by == Bucket::Hour { MAX_HOUR_DAYS } else { MAX_DAYS };
        if days > max {
            return Err(refused("to", format!("at most {max} days by {} ({days} asked)", by.as_str())));
        }
        let given = [&f.outcome, &f.status, &f.method, &f.queue, &f.agent].map(|v| v.as_deref());
        let filter = call_filter(given, config)?;
        Ok(Self { from, to, line, zone, by, filter })
    }

    /// A file name that carries the filters:
    /// `vouch-report_2026-12-01_2026-12-07_support_by-day_Europe-London.csv`,
    /// and those on calls when set (`…_Europe-London_outcome-agent_status-verified.csv`).
    pub fn file_name(&self, extension: &str) -> String {
        let safe = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
        };
        let (line, zone) = (safe(self.line.as_deref().unwrap_or("all-lines")), safe(&self.zone.name));
        let calls: String = filter_pairs(&self.filter).map(|(name, value)| format!("_{name}-{value}")).collect();
        format!("vouch-report_{}_{}_{line}_by-{}_{zone}{calls}.{extension}", self.from, self.to, self.by.as_str())
    }

    /// The query string that asks for this report again (for links).
    pub fn query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("from", &self.from.to_string()).append_pair("to", &self.to.to_string());
        if let Some(line) = &self.line {
            q.append_pair("line", line);
        }
        q.append_pair("tz", &self.zone.name).append_pair("by", self.by.as_str());
        q.extend_pairs(filter_pairs(&self.filter));
        q.finish()
    }

    /// Each row's label and its `[from, to)` in Unix seconds, in order.
    pub fn buckets(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            let (start, end) =
                (midnight(day, &self.zone), day.tomorrow().map_or(u64::MAX, |d| midnight(d, &self.zone)));
            match self.by {
                Bucket::Day => out.push((day.to_string(), start, end)),
                Bucket::Hour => {
                    let mut at = start;
                    while at < end {
                        let next = (at + 3_600).min(end);
                        out.push((self.zone.format_short(at), at, next));
                        at = next;
                    }
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out
    }

    /// `[from, to)` of the whole report.
    pub fn range(&self) -> (u64, u64) {
        let end = self.to.tomorrow().map_or(u64::MAX, |d| midnight(d, &self.zone));
        (midnight(self.from, &self.zone), end)
    }
}

/// A report's line (none, `""` or `all`: every line) checked against
/// `config`'s, and its zone: `tz` (an IANA name), else the line's (or the
/// default line's) `time_zone`, else UTC.
pub fn line_and_zone(
    line: Option<&str>,
    tz: Option<&str>,
    config: &Config,
) -> Result<(Option<String>, LineTimeZone), ReportError> {
    let line = line.map(str::trim).filter(|l| !l.is_empty() && *l != "all");
    if let Some(name) = line {
        if config.lines.get(name).is_none() {
            let known: Vec<&str> = config.lines.iter().map(|l| l.name.as_str()).collect();
            return Err(refused("line", format!("no line is named {name:?} (lines: {})", known.join(", "))));
        }
    }
    let zone = match tz.map(str::trim).filter(|z| !z.is_empty()) {
        Some(name) => LineTimeZone::named("tz", name).map_err(|e| refused("tz", e.message))?,
        None => {
            let line = line.and_then(|l| config.lines.get(l)).unwrap_or_else(|| config.lines.default());
            line.time_zone.clone().unwrap_or_else(LineTimeZone::utc)
        }
    };
    Ok((line.map(str::to_string), zone))
}

/// Days from `a` to `b`.
fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map_or(0, |span| i64::from(span.get_days()))
}

/// Today's date in `zone`.
pub fn today(zone: &LineTimeZone, now: u64) -> Date {
    jiff::Timestamp::from_second(i64::try_from(now).unwrap_or(i64::MAX))
        .map(|t| t.to_zoned_datetime(zone.zone.clone()).date())
        .unwrap_or_default()
}

/// The first instant of `day` in `zone`, in Unix seconds (at a DST change
/// at midnight, the day's first instant).
pub fn midnight(day: Date, zone: &LineTimeZone) -> u64 {
    day.to_zoned_datetime(zone.zone.clone())
        .ok()
        .and_then(|z| z.start_of_day().ok())
        .and_then(|z| u64::try_from(z.timestamp().as_second()).ok())
        .unwrap_or(0)
}

/// A report: a row per bucket and the total, for the query's line (or all).
#[derive(Debug, Clone)]
pub struct Report {
    pub query: ReportQuery,
    pub rows: Vec<(String, LineStats)>,
    pub total: LineStats,
    /// Filtered: the range's calls that could not be filtered (see
    /// [`Stats::unsliced`]), so are in no figure.
    pub unsliced: u64,
}

/// The report's columns: a [`LineStats`] figure's key and its header.
pub const COLUMNS: [(&str, &str); 17] = [
    ("calls", "Calls"),
    ("identified_by_caller_id", "Identified by caller ID"),
    ("identified_by_keyed_id", "Identified by keyed ID"),
    ("verified", "Verified"),
    ("containment", "Containment"),
    ("opted_out", "Opted out"),
    ("failed_identification", "Failed identification"),
    ("failed_verification", "Failed verification"),
    ("locked", "Locked"),
    ("crm_unavailable", "CRM unavailable"),
    ("self_service", "Self-service"),
    ("agent", "Agent"),
    ("abandoned", "Abandoned"),
    ("ivr_seconds_avg", "IVR time, mean"),
    ("ivr_seconds_p90", "IVR time, p90"),
    ("crm_wait_ms_avg", "CRM wait, mean"),
    ("crm_error_rate", "CRM errors"),
];

impl Report {
    /// Counts the report in `db` (every configured line, for the total).
    pub async fn build(db: &Db, config: &Config, query: ReportQuery) -> Result<Self, sqlx::Error> {
        let lines: Vec<&str> = config.lines.iter().map(|l| l.name.as_str()).collect();
        let pick = |s: &Stats| -> LineStats {
            match &query.line {
                Some(l) => s.lines.iter().find(|x| &x.line == l).cloned().unwrap_or_default(),
                None => s.total.clone(),
            }
        };
        let mut rows = Vec::new();
        for (label, from, to) in query.buckets() {
            rows.push((label, pick(&db.figures(&lines, from, to, &query.filter).await?)));
        }
        let (from, to) = query.range();
        let all = db.figures(&lines, from, to, &query.filter).await?;
        Ok(Self { total: pick(&all), unsliced: all.unsliced, query, rows })
    }

    /// The report as CSV: a header row, a row per bucket, then the total;
    /// numbers as numbers (rates as fractions, times in seconds and ms).
    pub fn csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let first = if self.query.by == Bucket::Hour { "hour" } else { "date" };
        let mut header = vec![first.to_string(), "line".to_string()];
        header.extend(COLUMNS.iter().map(|(key, _)| key.to_string()));
        w.write_record(&header)?;
        let line = self.query.line.as_deref().unwrap_or("all");
        for (label, s) in self.rows.iter().chain(std::iter::once(&("total".to_string(), self.total.clone()))) {
            let mut record = vec![label.clone(), line.to_string()];
            record.extend(COLUMNS.iter().map(|(key, _)| value(s, key)));
            w.write_record(&record)?;
        }
        let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The report as a file in `format`.
    pub fn file(&self, format: Format) -> Result<Vec<u8>, ExportError> {
        match format {
            Format::Csv => Ok(self.csv()?.into_bytes()),
            #[cfg(feature = "exports")]
            Format::Xlsx => Ok(xlsx::workbook(self)?),
            #[cfg(feature = "exports")]
            Format::Pdf => pdf::document(self),
            #[cfg(not(feature = "exports"))]
            Format::Xlsx | Format::Pdf => Err(ExportError::Unsupported(format.as_str())),
        }
    }

    /// The filters, as a file's first rows show them: a name and a value.
    pub fn filters(&self) -> [(&'static str, String); 10] {
        let q = &self.query;
        [
            ("From", q.from.to_string()),
            ("To", q.to.to_string()),
            ("Line", q.line.clone().unwrap_or_else(|| "all lines".into())),
            ("Time zone", q.zone.name.clone()),
            ("Rows", format!("per {}", q.by.as_str())),
            CALL_FILTERS[0].row(&q.filter),
            CALL_FILTERS[1].row(&q.filter),
            CALL_FILTERS[2].row(&q.filter),
            CALL_FILTERS[3].row(&q.filter),
            CALL_FILTERS[4].row(&q.filter),
        ]
    }

    /// The note a filtered report carries when some of its calls could not
    /// be filtered.
    pub fn unsliced_note(&self) -> Option<String> {
        (self.unsliced > 0).then(|| {
            let why = match self.query.filter.by_placement() {
                true => {
                    "their records are gone (retention or erasure) and the rollups kept of them have no queue or agent"
                }
                false => "they were rolled up by an earlier version of Vouch and their records are gone",
            };
            format!("{} calls in this range cannot be filtered: {why}. They are in no filtered figure.", self.unsliced)
        })
    }

    /// The first column's header: Date or Hour.
    pub fn first_header(&self) -> &'static str {
        match self.query.by {
            Bucket::Day => "Date",
            Bucket::Hour => "Hour",
        }
    }

    /// Each row's label and figures, then the total's (labelled `Total`).
    pub fn rows_and_total(&self) -> impl Iterator<Item = (&str, &LineStats)> {
        self.rows.iter().map(|(l, s)| (l.as_str(), s)).chain(std::iter::once(("Total", &self.total)))
    }
}

/// `s`'s figure `key` as a typed value: a count, a number, or none.
pub fn number(s: &LineStats, key: &str) -> Option<f64> {
    match key {
        "containment" => s.containment,
        "ivr_seconds_avg" => s.ivr_seconds_avg,
        "ivr_seconds_p90" => s.ivr_seconds_p90.map(|v| v as f64),
        "crm_wait_ms_avg" => s.crm_wait_ms_avg,
        "crm_error_rate" => s.crm_error_rate,
        _ => count(s, key).map(|v| v as f64),
    }
}

/// `s`'s figure `key` as a plain value (empty when there is none).
pub fn value(s: &LineStats, key: &str) -> String {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    match key {
        "containment" => opt(s.containment),
        "ivr_seconds_avg" => opt(s.ivr_seconds_avg),
        "ivr_seconds_p90" => s.ivr_seconds_p90.map_or_else(String::new, |v| v.to_string()),
        "crm_wait_ms_avg" => opt(s.crm_wait_ms_avg),
        "crm_error_rate" => opt(s.crm_error_rate),
        _ => count(s, key).map_or_else(String::new, |v| v.to_string()),
    }
}

/// How many calls are behind `s`'s figure `key`: its count, or for a rate
/// or a time the calls it is worked out over (as
/// [`crate::store::FIGURE_CALLS`] lists them).
pub fn behind(s: &LineStats, key: &str) -> u64 {
    match key {
        "containment" => s.self_service,
        "ivr_seconds_avg" | "ivr_seconds_p90" => s.handed_on,
        "crm_wait_ms_avg" | "crm_error_rate" => s.crm_asked,
        _ => count(s, key).unwrap_or(0),
    }
}

/// `s`'s count `key`, if it is one.
fn count(s: &LineStats, key: &str) -> Option<u64> {
    Some(match key {
        "calls" => s.calls,
        "identified_by_caller_id" => s.identified_by_caller_id,
        "identified_by_keyed_id" => s.identified_by_keyed_id,
        "verified" => s.verified,
        "opted_out" => s.opted_out,
        "failed_identification" => s.failed_identification,
        "failed_verification" => s.failed_verification,
        "locked" => s.locked,
        "crm_unavailable" => s.crm_unavailable,
        "verification_unavailable" => s.verification_unavailable,
        "self_service" => s.self_service,
        "agent" => s.agent,
        "abandoned" => s.abandoned,
        "handed_on" => s.handed_on,
        "in_ivr" => s.in_ivr,
        "waiting" => s.waiting,
        "with_agent" => s.with_agent,
        _ => return None,
    })
}

/// `s`'s figure `key` as a page shows it: counts, percentages, seconds and
/// milliseconds, a dash where there is none.
pub fn shown(s: &LineStats, key: &str) -> String {
    let percent = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{:.1}%", v * 100.0));
    match key {
        "containment" => percent(s.containment),
        "crm_error_rate" => percent(s.crm_error_rate),
        "ivr_seconds_avg" => s.ivr_seconds_avg.map_or_else(|| "—".into(), |v| format!("{v:.1} s")),
        "ivr_seconds_p90" => s.ivr_seconds_p90.map_or_else(|| "—".into(), |v| format!("{v} s")),
        "crm_wait_ms_avg" => s.crm_wait_ms_avg.map_or_else(|| "—".into(), |v| format!("{v:.0} ms")),
        _ => count(s, key).map_or_else(String::new, |v| v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_toml(crate::config::DEMO_CONFIG, &std::collections::HashMap::new()).expect("the demo config")
    }

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        serde_urlencoded::from_str(&q).expect("filters")
    }

    /// 2026-03-30 12:00 UTC, a Monday after London's clocks went forward.
    const NOW: u64 = 1_774_872_000;

    #[test]
    fn days_are_cut_at_local_midnight_across_dst() {
        let q = ReportQuery::from_filters(
            &filters(&[("from", "2026-03-28"), ("to", "2026-03-30"), ("tz", "Europe/London")]),
            &config(),
            NOW,
        )
        .unwrap();
        let b = q.buckets();
        let labels: Vec<&str> = b.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(labels, ["2026-03-28", "2026-03-29", "2026-03-30"]);
        let hours: Vec<u64> = b.iter().map(|(_, f, t)| (t - f) / 3_600).collect();
        assert_eq!(hours, [24, 23, 24], "the clocks went forward on the 29th");
        assert_eq!(b[0].1, 1_774_656_000, "midnight GMT on the 28th");
        assert_eq!(b[2].1, 1_774_825_200, "midnight BST on the 30th is 23:00 UTC");
        assert_eq!(q.range(), (b[0].1, b[2].2));
        let by_hour = ReportQuery { by: Bucket::Hour, ..q };
        assert_eq!(by_hour.buckets().len(), 71);
    }

    #[test]
    fn defaults_are_the_last_7_days_in_the_lines_zone() {
        let q = ReportQuery::from_filters(&Filters::default(), &config(), NOW).unwrap();
        assert_eq!((q.from.to_string(), q.to.to_string()), ("2026-03-24".into(), "2026-03-30".into()));
        assert_eq!((q.line.as_deref(), q.by), (None, Bucket::Day));
        let support = ReportQuery::from_filters(&filters(&[("line", "support")]), &config(), NOW).unwrap();
        assert_eq!(support.zone.name, "America/New_York", "the demo's support line's zone");
        assert_eq!(support.file_name("csv"), "vouch-report_2026-03-24_2026-03-30_support_by-day_America-New_York.csv");
    }

    #[test]
    fn bad_filters_are_refused_naming_the_field() {
        for (pairs, field, words) in [
            (&[("from", "yesterday")][..], "from", "not a date"),
            (&[("from", "2026-03-10"), ("to", "2026-03-01")], "from", "after the last"),
            (&[("from", "2024-01-01"), ("to", "2026-03-01")], "to", "at most 400 days"),
            (&[("from", "2026-01-01"), ("to", "2026-03-01"), ("by", "hour")], "to", "at most 31 days by hour"),
            (&[("by", "week")], "by", "day or hour"),
            (&[("line", "nope")], "line", "no line is named"),
            (&[("tz", "Mars/Olympus")], "tz", "not an IANA time zone"),
            (&[("outcome", "won")], "outcome", r#""won" is not one of any, self_service, agent"#),
            (&[("status", "Verified")], "status", "is not one of any, verified, identified, unidentified"),
            (&[("method", "voice")], "method", "is not one of any, ani, keyed, keyed_ani, none"),
        ] {
            let e = ReportQuery::from_filters(&filters(pairs), &config(), NOW).unwrap_err();
            assert_eq!(e.field, field, "{pairs:?}: {e}");
            assert!(e.reason.contains(words), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn filters_on_calls_are_in_the_query_the_file_name_and_the_files_rows() {
        let pairs = [("line", "support"), ("outcome", "agent"), ("status", "any"), ("method", "keyed_ani")];
        let q = ReportQuery::from_filters(&filters(&pairs), &config(), NOW).unwrap();
        let expected = CallFilter { outcome: Some("agent"), idv_method: Some("keyed_ani"), ..CallFilter::default() };
        assert_eq!(q.filter, expected);
        assert_eq!(
            q.file_name("xlsx"),
            "vouch-report_2026-03-24_2026-03-30_support_by-day_America-New_York_outcome-agent_method-keyed_ani.xlsx"
        );
        assert!(q.query_string().ends_with("&by=day&outcome=agent&method=keyed_ani"), "{}", q.query_string());
        let again = ReportQuery::from_filters(&serde_urlencoded::from_str(&q.query_string()).unwrap(), &config(), NOW);
        assert_eq!(again.unwrap().filter, q.filter, "a link asks for the same calls");
        let report = Report { query: q, rows: Vec::new(), total: LineStats::default(), unsliced: 0 };
        let shown: Vec<String> = report.filters()[5..].iter().map(|(n, v)| format!("{n}: {v}")).collect();
        assert_eq!(
            shown,
            [
                "Outcome: Agent",
                "ID&V status: any",
                "Method: Keyed ID, caller ID agreeing",
                "Queue: any",
                "Agent rung: any"
            ]
        );
        assert_eq!(report.unsliced_note(), None);
    }

    #[test]
    fn a_queue_or_an_agent_is_one_a_lines_hand_off_names() {
        // The demo's support line enqueues in "support", sales in "sales"; neither dials.
        assert_eq!((queues(&config()), agents(&config())), (vec!["sales".to_string(), "support".to_string()], vec![]));
        let q = ReportQuery::from_filters(&filters(&[("queue", "sales")]), &config(), NOW).unwrap();
        assert_eq!(q.filter, CallFilter { queue: Some("sales".into()), ..CallFilter::default() });
        assert!(q.file_name("csv").ends_with("_queue-sales.csv"), "{}", q.file_name("csv"));
        assert!(q.query_string().ends_with("&queue=sales"), "{}", q.query_string());
        let report = Report { query: q, rows: Vec::new(), total: LineStats::default(), unsliced: 3 };
        assert_eq!(report.filters()[8], ("Queue", "sales".to_string()));
        assert!(report.unsliced_note().unwrap().starts_with("3 calls in this range cannot be filtered: their records"));
        for (pairs, words) in [
            (&[("queue", "billing")][..], r#""billing" is not one of any, sales, support"#),
            (&[("agent", "client:alice")][..], "is not one of any, any (no line's hand-off names one)"),
        ] {
            let e = ReportQuery::from_filters(&filters(pairs), &config(), NOW).unwrap_err();
            assert!(e.reason.contains(words), "{pairs:?}: {e}");
        }
        let with_dial = crate::config::DEMO_CONFIG.replace(
            "[lines.sales.next]\ntype = \"enqueue\"\nqueue = \"sales\"",
            "[lines.sales.next]\ntype = \"dial_client\"\nidentity = \"alice\"",
        );
        let dial = Config::from_toml(&with_dial, &std::collections::HashMap::new()).unwrap();
        assert_eq!(agents(&dial), ["client:alice"]);
        assert_eq!(queues(&dial), ["sales", "support"], "the sales agent queue, also the dial's fallback");
    }

    #[test]
    fn every_filter_choice_is_a_stored_value() {
        use crate::flow::{IdvMethod, IdvStatus};
        use crate::store::RecordOutcome;
        let json = |v: &str| serde_json::Value::String(v.to_string());
        for (v, _) in OUTCOMES {
            assert_eq!(serde_json::from_value::<RecordOutcome>(json(v)).map(|o| o.as_str()).ok(), Some(v));
        }
        for (v, _) in STATUSES {
            assert_eq!(serde_json::from_value::<IdvStatus>(json(v)).map(|o| o.as_str()).ok(), Some(v));
        }
        for (v, _) in METHODS {
            assert_eq!(serde_json::from_value::<IdvMethod>(json(v)).map(|o| o.as_str()).ok(), Some(v));
        }
    }

    #[test]
    fn values_are_plain_for_files_and_shown_for_pages() {
        let s = LineStats { calls: 4, containment: Some(0.25), ivr_seconds_p90: Some(50), ..LineStats::default() };
        assert_eq!(
            (value(&s, "calls"), value(&s, "containment"), value(&s, "crm_error_rate")),
            ("4".into(), "0.2500".into(), String::new())
        );
        assert_eq!(
            (shown(&s, "containment"), shown(&s, "ivr_seconds_p90"), shown(&s, "crm_wait_ms_avg")),
            ("25.0%".into(), "50 s".into(), "—".into())
        );
    }

    /// A week's report with made-up figures: 2026-03-24 to 30, in London.
    #[cfg(feature = "exports")]
    pub(crate) fn sample() -> Report {
        let query = ReportQuery::from_filters(&filters(&[("tz", "Europe/London")]), &config(), NOW).unwrap();
        let day = |i: u64| LineStats {
            calls: 20 + i * 3,
            identified_by_caller_id: 10 + i,
            identified_by_keyed_id: 4 + i,
            verified: 9 + i,
            opted_out: 1,
            failed_identification: 2,
            failed_verification: 1,
            locked: u64::from(i == 3),
            crm_unavailable: 1,
            self_service: 8 + i,
            agent: 6 + i,
            abandoned: 3,
            handed_on: 16 + 2 * i,
            containment: Some((8 + i) as f64 / (20 + i * 3) as f64),
            ivr_seconds_avg: Some(31.5 + i as f64),
            ivr_seconds_p90: Some(52 + i),
            crm_asked: 40,
            crm_failed: i,
            crm_wait_ms_avg: Some(84.0),
            crm_error_rate: Some(i as f64 / 40.0),
            ivr_distribution: [(12, 3), (25, 6 + i), (38, 5), (61, 2 + i)].into(),
            ..LineStats::default()
        };
        let rows: Vec<(String, LineStats)> =
            query.buckets().into_iter().zip(0..).map(|((label, _, _), i)| (label, day(i))).collect();
        let mut total = LineStats { line: "all".into(), ..LineStats::default() };
        for (_, s) in &rows {
            total.calls += s.calls;
            total.identified_by_caller_id += s.identified_by_caller_id;
            total.identified_by_keyed_id += s.identified_by_keyed_id;
            total.verified += s.verified;
            total.self_service += s.self_service;
            total.agent += s.agent;
            total.abandoned += s.abandoned;
            total.crm_unavailable += s.crm_unavailable;
            for (k, v) in &s.ivr_distribution {
                *total.ivr_distribution.entry(*k).or_default() += v;
            }
        }
        total.containment = Some(total.self_service as f64 / total.calls as f64);
        Report { query, rows, total, unsliced: 0 }
    }

    #[test]
    #[cfg(feature = "exports")]
    fn every_format_writes_the_report() {
        let report = sample();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/report-samples");
        std::fs::create_dir_all(&dir).unwrap();
        for format in Format::ALL {
            let file = report.file(format).unwrap();
            let magic: &[u8] = match format {
                Format::Csv => b"date,line,calls",
                Format::Xlsx => b"PK",
                Format::Pdf => b"%PDF-",
            };
            assert!(file.starts_with(magic), "{format:?}");
            std::fs::write(dir.join(report.query.file_name(format.as_str())), &file).unwrap();
        }
        for chart in chart::Chart::ALL {
            let svg = chart.svg(&report);
            assert!(svg.starts_with("<svg") && svg.contains(chart.title().replace('&', "&amp;").as_str()), "{chart:?}");
            std::fs::write(dir.join(format!("{}.svg", chart.id())), svg).unwrap();
        }
    }
}

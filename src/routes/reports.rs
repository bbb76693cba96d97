//! `/reports`: the ID&V figures of a range of dates, a row per day or per
//! hour, for one line or all, in a time zone (see [`crate::report`]), for
//! supervisors, with its charts drawn on the server as SVG; and
//! `/reports/export?…&format=csv|xlsx|pdf`, the same table (and, in a PDF,
//! the charts) as a file whose name carries the filters. Counts only: no
//! customer data.

use super::agent::{html, Authenticated, MessagePage};
use super::AppState;
use crate::config::{LineTimeZone, Role};
use crate::report::calls::ShownCall;
use crate::report::{Filters, Format, Report, ReportQuery, COLUMNS};
use crate::store::{CallFilter, Db};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "agent/reports.html")]
pub struct ReportsPage {
    pub session_user: Option<String>,
    pub headers: Vec<&'static str>,
    /// The first column's header: Date or Hour.
    pub first: &'static str,
    /// Each row's label and its cells as shown, each with the link to the
    /// calls behind it (when there are any); the total apart.
    pub rows: Vec<(String, Vec<Cell>)>,
    pub total: Vec<Cell>,
    /// The filters, for the form.
    pub from: String,
    pub to: String,
    pub line: String,
    pub lines: Vec<String>,
    pub zone: String,
    pub by_hour: bool,
    /// The filters on calls: each one's name, label, value chosen (`""`:
    /// any) and its choices (value and label).
    pub call_filters: Vec<CallFilterField>,
    /// Those filters as a sentence (`""`: none).
    pub filtered: String,
    /// Filtered, when some of the range's calls cannot be filtered.
    pub unsliced: Option<String>,
    /// The exports of exactly this report: the format's name and the link.
    pub exports: Vec<(&'static str, String)>,
    /// The charts: their id, title and SVG document.
    pub charts: Vec<(&'static str, &'static str, String)>,
}

/// A filter on calls in the form: its query name, its label, the value
/// chosen (`""`: any) and its choices (value, label).
pub type CallFilterField = (&'static str, &'static str, String, Vec<(String, String)>);

/// The form's filters on calls, with `filter`'s values chosen; a queue or
/// agent filter only when `config`'s hand-offs name some.
fn call_filter_fields(filter: &CallFilter, config: &crate::config::Config) -> Vec<CallFilterField> {
    crate::report::CALL_FILTERS
        .iter()
        .map(|kind| (kind.name, kind.form, (kind.value)(filter).unwrap_or("").to_string(), kind.choices_in(config)))
        .filter(|(_, _, _, choices)| !choices.is_empty())
        .collect()
}

/// The report's charts: their id, title and SVG document.
#[cfg(feature = "exports")]
fn charts(report: &Report) -> Vec<(&'static str, &'static str, String)> {
    use crate::report::chart::Chart;
    Chart::ALL.into_iter().map(|c| (c.id(), c.title(), c.svg(report))).collect()
}

/// Without the `exports` feature, no charts.
#[cfg(not(feature = "exports"))]
fn charts(_: &Report) -> Vec<(&'static str, &'static str, String)> {
    Vec::new()
}

/// Why a report is refused, as a status and a sentence.
struct Refusal(StatusCode, String);

/// The checked report asked for, and the database to count it in.
fn asked(state: &AppState, who: &Authenticated, req: &HttpRequest) -> Result<(ReportQuery, Filters, Db), Refusal> {
    if who.0.role != Role::Supervisor {
        return Err(Refusal(StatusCode::FORBIDDEN, "Reports need the supervisor role.".into()));
    }
    let filters: Filters = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("{e}: reports take from, to, line, tz, by, outcome, status, method (and format to export)."),
        )
    })?;
    let query = ReportQuery::from_filters(&filters, &state.config, crate::clock::now())
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))?;
    let db = state.store.db().ok_or_else(|| {
        Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Reports are counted in the database: with DATABASE_URL=memory: there is none.".into(),
        )
    })?;
    Ok((query, filters, db))
}

async fn build(state: &AppState, db: &Db, query: ReportQuery) -> Result<Report, Refusal> {
    Report::build(db, &state.config, query).await.map_err(|e| {
        tracing::warn!(error = %e, "a report could not be counted");
        Refusal(StatusCode::SERVICE_UNAVAILABLE, "The database did not answer: try again in a moment.".into())
    })
}

/// A figure as shown, and the link to the calls behind it.
pub type Cell = (String, Option<String>);

/// A row's cells, each linked to its calls over `[start, end)`.
fn cells(s: &crate::store::LineStats, q: &ReportQuery, (start, end): (u64, u64)) -> Vec<Cell> {
    COLUMNS
        .iter()
        .map(|(key, _)| {
            let link = (crate::report::behind(s, key) > 0)
                .then(|| calls_link(key, (start, end), (q.line.as_deref(), &q.filter), &q.zone.name, None, None));
            (crate::report::shown(s, key), link)
        })
        .collect()
}

/// `GET /reports`.
pub async fn page(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let session_user = who.session_user();
    let refused = |Refusal(status, message): Refusal| {
        html(status, &MessagePage { session_user: session_user.clone(), title: "Report unavailable".into(), message })
    };
    let (query, _, db) = match asked(&state, &who, &req) {
        Ok(a) => a,
        Err(r) => return refused(r),
    };
    let report = match build(&state, &db, query).await {
        Ok(r) => r,
        Err(r) => return refused(r),
    };
    let q = &report.query;
    let page = ReportsPage {
        session_user: session_user.clone(),
        headers: COLUMNS.iter().map(|(_, head)| *head).collect(),
        first: if q.by == crate::report::Bucket::Hour { "Hour" } else { "Date" },
        rows: report
            .rows
            .iter()
            .zip(q.buckets())
            .map(|((label, s), (_, start, end))| (label.clone(), cells(s, q, (start, end))))
            .collect(),
        total: cells(&report.total, q, q.range()),
        from: q.from.to_string(),
        to: q.to.to_string(),
        line: q.line.clone().unwrap_or_default(),
        lines: state.config.lines.iter().map(|l| l.name.clone()).collect(),
        zone: q.zone.name.clone(),
        by_hour: q.by == crate::report::Bucket::Hour,
        call_filters: call_filter_fields(&q.filter, &state.config),
        filtered: shown_filter(&q.filter),
        unsliced: report.unsliced_note(),
        exports: Format::ALL
            .into_iter()
            .map(|f| {
                let link = format!(
                    "{}?{}&format={}",
                    crate::paths::Route::ReportExport.pattern(),
                    q.query_string(),
                    f.as_str()
                );
                (f.as_str(), link)
            })
            .collect(),
        charts: charts(&report),
    };
    html(StatusCode::OK, &page)
}

/// `GET /reports/export?…&format=csv|xlsx|pdf`: the report as a file.
pub async fn export(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let refused = |Refusal(status, message): Refusal| super::refusal(status, &message);
    let (query, filters, db) = match asked(&state, &who, &req) {
        Ok(a) => a,
        Err(r) => return refused(r),
    };
    let format = match filters.format.as_deref().map(str::trim).and_then(Format::parse) {
        Some(f) => f,
        None => {
            let given = filters.format.as_deref().map_or_else(|| "no format".to_string(), |f| format!("{f:?}"));
            return refused(Refusal(StatusCode::BAD_REQUEST, format!("format: {given}; exports are csv, xlsx or pdf")));
        }
    };
    let name = query.file_name(format.as_str());
    let report = match build(&state, &db, query).await {
        Ok(r) => r,
        Err(r) => return refused(r),
    };
    // Workbooks and PDFs take milliseconds of CPU: off the server's threads.
    let file = match web::block(move || report.file(format)).await {
        Ok(file) => file,
        Err(e) => {
            tracing::error!(error = %e, "a report's export was cancelled");
            return refused(Refusal(StatusCode::INTERNAL_SERVER_ERROR, "The report could not be written.".into()));
        }
    };
    match file {
        Ok(body) => attachment(format.content_type(), &name).body(body),
        Err(e) => {
            tracing::error!(error = %e, "a report could not be written");
            refused(Refusal(StatusCode::INTERNAL_SERVER_ERROR, "The report could not be written.".into()))
        }
    }
}

/// How many calls a drill-down page lists, and an export reads at a time.
const CALLS_PAGE: usize = 100;
const EXPORT_CHUNK: usize = 500;

/// The longest period a drill-down may cover (a report's, and a day more
/// for a zone's long day).
const MOST_SECONDS: u64 = (crate::report::MAX_DAYS as u64 + 1) * 86_400;

/// `/reports/calls`' query: a figure and the period of the cell it was in.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsFilters {
    /// A report column's key (`verified`, `abandoned`…).
    pub figure: Option<String>,
    /// The period, `[start, end)` in Unix seconds.
    pub start: Option<String>,
    pub end: Option<String>,
    pub line: Option<String>,
    pub tz: Option<String>,
    /// The report's filters on calls (see [`crate::report::call_filter`]).
    pub outcome: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// The last call of the page before: `started_at:CallSid`.
    pub after: Option<String>,
    /// `csv`, `xlsx` or `pdf` to download every call behind the figure.
    pub format: Option<String>,
}

/// The link to the calls behind `figure` over `[start, end)` on `line` (or
/// every line) that `filter` counts, times shown in `zone`; after a call
/// (the next page), or all of them as a file in `format`.
fn calls_link(
    figure: &str,
    (start, end): (u64, u64),
    (line, filter): (Option<&str>, &CallFilter),
    zone: &str,
    after: Option<(u64, &str)>,
    format: Option<Format>,
) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("figure", figure).append_pair("start", &start.to_string()).append_pair("end", &end.to_string());
    if let Some(line) = line {
        q.append_pair("line", line);
    }
    q.extend_pairs(crate::report::filter_pairs(filter));
    q.append_pair("tz", zone);
    if let Some((at, sid)) = after {
        q.append_pair("after", &format!("{at}:{sid}"));
    }
    if let Some(format) = format {
        q.append_pair("format", format.as_str());
    }
    format!("{}?{}", crate::paths::Route::ReportCalls.pattern(), q.finish())
}

/// A file download's answer: its type, its name, never cached or sniffed.
pub(crate) fn attachment(content_type: &str, name: &str) -> actix_web::HttpResponseBuilder {
    let mut answer = HttpResponse::Ok();
    answer
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    answer
}

/// A checked drill-down.
struct CallsAsked {
    figure: &'static str,
    heading: &'static str,
    start: u64,
    end: u64,
    line: Option<String>,
    filter: CallFilter,
    zone: crate::config::LineTimeZone,
    after: Option<(u64, String)>,
    /// A download of them all, rather than a page.
    format: Option<Format>,
}

impl CallsAsked {
    /// The query string that asks for these calls again, after `after`.
    fn query(&self, after: Option<(u64, &str)>, format: Option<Format>) -> String {
        let on = (self.line.as_deref(), &self.filter);
        calls_link(self.figure, (self.start, self.end), on, &self.zone.name, after, format)
    }

    /// Every call behind the figure, `size` a page.
    fn pages(&self, size: usize) -> crate::store::FigurePages {
        let on = (self.line.clone(), self.filter.clone());
        crate::store::FigurePages::new(self.figure, on, (self.start, self.end), size)
    }

    /// A file's name that carries the figure, the period, the line and
    /// the filters: `vouch-calls_verified_1764547200_1765152000_support_outcome-agent.xlsx`.
    fn file_name(&self, format: Format) -> String {
        format!(
            "vouch-calls_{}_{}_{}_{}{}.{}",
            self.figure,
            self.start,
            self.end,
            self.line.as_deref().unwrap_or("all-lines").replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"),
            crate::report::filter_pairs(&self.filter)
                .map(|(name, value)| format!("_{name}-{value}"))
                .collect::<String>(),
            format.as_str()
        )
    }

    /// What a file's first rows say of the list: the figure, the period,
    /// the line, the zone and the five filters on calls.
    #[cfg(feature = "exports")]
    fn filters(&self) -> Vec<(&'static str, String)> {
        let mut filters = vec![
            ("Figure", self.heading.to_string()),
            ("From", self.zone.format_short(self.start)),
            ("To", self.zone.format_short(self.end)),
            ("Line", self.line.clone().unwrap_or_else(|| "all lines".into())),
            ("Time zone", self.zone.name.clone()),
        ];
        filters.extend(crate::report::CALL_FILTERS.iter().map(|kind| kind.row(&self.filter)));
        filters
    }

    /// What the audit log keeps of it (no customer data).
    fn detail(&self) -> serde_json::Value {
        let mut detail =
            serde_json::json!({ "figure": self.figure, "line": self.line, "start": self.start, "end": self.end });
        for (name, value) in crate::report::filter_pairs(&self.filter) {
            detail[name] = value.into();
        }
        detail
    }
}

fn calls_asked(state: &AppState, req: &HttpRequest) -> Result<CallsAsked, Refusal> {
    let bad = |reason: String| Refusal(StatusCode::BAD_REQUEST, reason);
    let f: CallsFilters = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        bad(format!(
            "{e}: the calls behind a figure take figure, start, end, line, outcome, status, method, queue, agent, tz, after and format"
        ))
    })?;
    let given = f.figure.as_deref().unwrap_or("");
    let Some((figure, heading)) = COLUMNS.iter().find(|(key, _)| *key == given).copied() else {
        let keys: Vec<&str> = COLUMNS.iter().map(|(k, _)| *k).collect();
        return Err(bad(format!("figure: {given:?} is not a report figure ({})", keys.join(", "))));
    };
    let seconds = |field: &str, v: &Option<String>| -> Result<u64, Refusal> {
        let v = v.as_deref().unwrap_or("");
        v.parse().map_err(|_| bad(format!("{field}: {v:?} is not a time (Unix seconds)")))
    };
    let (start, end) = (seconds("start", &f.start)?, seconds("end", &f.end)?);
    if end <= start {
        return Err(bad("end: the period ends before it starts".into()));
    }
    if end - start > MOST_SECONDS {
        return Err(bad(format!("end: a period of at most {} days", crate::report::MAX_DAYS)));
    }
    let (line, zone) = crate::report::line_and_zone(f.line.as_deref(), f.tz.as_deref(), &state.config)
        .map_err(|e| bad(e.to_string()))?;
    let given = [&f.outcome, &f.status, &f.method, &f.queue, &f.agent].map(|v| v.as_deref());
    let filter = crate::report::call_filter(given, &state.config).map_err(|e| bad(e.to_string()))?;
    let after = match f.after.as_deref() {
        None | Some("") => None,
        Some(a) => {
            let parsed = a.split_once(':').and_then(|(at, sid)| Some((at.parse::<u64>().ok()?, sid.to_string())));
            Some(parsed.ok_or_else(|| bad(format!("after: {a:?} is not a call's start and CallSid")))?)
        }
    };
    let format = match f.format.as_deref() {
        None | Some("") => None,
        Some(given) => Some(
            Format::parse(given)
                .ok_or_else(|| bad(format!("format: {given:?}; the calls download as csv, xlsx or pdf")))?,
        ),
    };
    Ok(CallsAsked { figure, heading, start, end, line, filter, zone, after, format })
}

#[derive(Template)]
#[template(path = "agent/report_calls.html")]
pub struct ReportCallsPage {
    pub session_user: Option<String>,
    /// The figure's header, and the period and line it was counted over.
    pub heading: &'static str,
    pub period: String,
    pub line: String,
    /// The report's filters on calls, as a sentence (`""`: none).
    pub filtered: String,
    /// Each call as the list words it (its files say the same), and as the
    /// desk shows it (for its badge).
    pub calls: Vec<(ShownCall, crate::routes::agent::view::CallView)>,
    /// The next page, when this one is full; the downloads of them all
    /// (each format's name and link).
    pub next: Option<String>,
    pub exports: Vec<(&'static str, String)>,
}

/// `r` as a list of calls shows it, from its desk view `view`; its start
/// in `zone`.
fn shown_call(
    r: &crate::store::CallRecord,
    view: &crate::routes::agent::view::CallView,
    zone: &LineTimeZone,
) -> ShownCall {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    ShownCall {
        started_at: r.started_at,
        started: zone.format(r.started_at),
        customer: view.customer_name.clone().unwrap_or_else(|| "Unknown caller".into()),
        customer_id: or_dash(&view.customer_id),
        line: view.line.clone(),
        method: view.method.clone(),
        status: view.status_text.into(),
        outcome: view.outcome.into(),
        ivr_seconds: r.handed_off_at.map(|at| at.saturating_sub(r.started_at)),
        ivr: ivr_time(r),
        queue: or_dash(&r.queue),
        agent: or_dash(&r.agent),
        call_sid: r.call_sid.clone(),
    }
}

/// A filter on calls as a page says it: `outcome Agent, identified by Caller ID`.
fn shown_filter(filter: &CallFilter) -> String {
    let said = crate::report::CALL_FILTERS.iter().filter_map(|kind| {
        (kind.value)(filter).map(|v| format!("{} {}", kind.said, crate::report::label(Some(v), kind.choices)))
    });
    said.collect::<Vec<_>>().join(", ")
}

/// Seconds in the IVR, as a list shows it.
fn ivr_time(r: &crate::store::CallRecord) -> String {
    r.handed_off_at.map_or_else(|| "—".into(), |at| format!("{} s", at.saturating_sub(r.started_at)))
}

/// `GET /reports/calls?figure=…&start=…&end=…[&line=…&tz=…&after=…]`: the
/// calls behind a report's figure, 100 a page, for supervisors; with
/// `format=csv|xlsx|pdf`, all of them as a file. Both are audited: the
/// list is customer data.
pub async fn calls(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let session_user = who.session_user();
    let refused = |Refusal(status, message): Refusal| {
        html(status, &MessagePage { session_user: session_user.clone(), title: "Calls unavailable".into(), message })
    };
    if who.0.role != Role::Supervisor {
        return refused(Refusal(StatusCode::FORBIDDEN, "The calls behind a report need the supervisor role.".into()));
    }
    let asked = match calls_asked(&state, &req) {
        Ok(a) => a,
        Err(r) => return refused(r),
    };
    let Some(db) = state.store.db() else {
        return refused(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Calls are listed from the database: with DATABASE_URL=memory: there is none.".into(),
        ));
    };
    let actor = crate::audit::Actor::of(&who.0);
    if let Some(format) = asked.format {
        let mut detail = asked.detail();
        detail["format"] = format.as_str().into();
        if format == Format::Csv {
            // Streamed as it is read: how many is not known beforehand.
            state.audit.record(&actor, crate::audit::Action::ReportCallsExported, crate::audit::Target::None, detail);
            return export_calls(db, asked);
        }
        return match calls_file(&state, db, asked, format).await {
            Ok((answer, calls)) => {
                detail["calls"] = calls.into();
                state.audit.record(
                    &actor,
                    crate::audit::Action::ReportCallsExported,
                    crate::audit::Target::None,
                    detail,
                );
                answer
            }
            Err(r) => refused(r),
        };
    }
    let after = asked.after.as_ref().map(|(at, sid)| (*at, sid.as_str()));
    let on = (asked.line.as_deref(), &asked.filter);
    let records = match db.figure_calls(asked.figure, on, (asked.start, asked.end), after, CALLS_PAGE).await {
        Ok(Some(records)) => records,
        Ok(None) => return refused(Refusal(StatusCode::BAD_REQUEST, format!("figure: {} has no calls", asked.figure))),
        Err(e) => {
            tracing::warn!(error = %e, "the calls behind a figure could not be read");
            return refused(Refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database did not answer: try again in a moment.".into(),
            ));
        }
    };
    let mut detail = asked.detail();
    detail["calls"] = serde_json::json!(records.len());
    state.audit.record(&actor, crate::audit::Action::ReportCalls, crate::audit::Target::None, detail);
    let now = crate::clock::now();
    let next = (records.len() == CALLS_PAGE)
        .then(|| records.last().map(|r| asked.query(Some((r.started_at, r.call_sid.as_str())), None)))
        .flatten();
    let calls = records
        .iter()
        .map(|r| {
            let view = crate::routes::agent::view::CallView::new(r, state.config.lines.get(&r.service_line), now);
            (shown_call(r, &view, &asked.zone), view)
        })
        .collect();
    let page = ReportCallsPage {
        session_user,
        heading: asked.heading,
        period: format!("{} to {}", asked.zone.format_short(asked.start), asked.zone.format_short(asked.end)),
        line: asked.line.clone().unwrap_or_else(|| "all lines".into()),
        filtered: shown_filter(&asked.filter),
        calls,
        next,
        exports: Format::ALL.into_iter().map(|f| (f.as_str(), asked.query(None, Some(f)))).collect(),
    };
    html(StatusCode::OK, &page)
}

/// Every call behind the figure as CSV, read and sent a chunk at a time.
fn export_calls(db: crate::store::Db, asked: CallsAsked) -> HttpResponse {
    let name = asked.file_name(Format::Csv);
    let zone = asked.zone.clone();
    // (the pages still to read, none after a failure; header sent)
    let chunks = futures_util::stream::unfold((Some(asked.pages(EXPORT_CHUNK)), false), move |(pages, header)| {
        let (db, zone) = (db.clone(), zone.clone());
        async move {
            let mut pages = pages?;
            let page = match pages.next(&db).await {
                Ok(page) => page?,
                Err(e) => {
                    tracing::warn!(error = %e, "an export of calls stopped: the database did not answer");
                    let failed: Result<web::Bytes, actix_web::Error> =
                        Err(actix_web::error::ErrorServiceUnavailable("the database did not answer"));
                    return Some((failed, (None, true)));
                }
            };
            let mut w = csv::Writer::from_writer(Vec::new());
            if !header {
                w.write_record(crate::report::calls::CSV_HEADER).ok()?;
            }
            for r in &page {
                w.write_record(crate::report::calls::csv_record(r, &zone)).ok()?;
            }
            let bytes = w.into_inner().ok()?;
            Some((Ok(web::Bytes::from(bytes)), (Some(pages), true)))
        }
    });
    attachment(crate::report::Format::Csv.content_type(), &name).streaming(chunks)
}

/// The most calls a PDF lists (about 160 pages, and some 40 MB while it is
/// set): a longer list is a spreadsheet's work.
#[cfg(feature = "exports")]
const PDF_MOST_CALLS: usize = 5_000;

/// What a call list's XLSX and PDF files say under their filters.
#[cfg(feature = "exports")]
const CALLS_NOTE: &str =
    "Customer data: each download of this list is written to Vouch's audit log. Times in the zone above.";

/// Every call behind the figure as an XLSX workbook (its rows written as
/// they are read, then streamed as it is zipped) or a PDF (at most
/// [`PDF_MOST_CALLS`]), and how many calls it lists.
#[cfg(feature = "exports")]
async fn calls_file(
    state: &AppState,
    db: Db,
    asked: CallsAsked,
    format: Format,
) -> Result<(HttpResponse, usize), Refusal> {
    use crate::report::{pdf, xlsx};
    let unavailable = |e: sqlx::Error| {
        tracing::warn!(error = %e, "the calls behind a figure could not be read");
        Refusal(StatusCode::SERVICE_UNAVAILABLE, "The database did not answer: try again in a moment.".into())
    };
    let not_written = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "a list of calls could not be written");
        Refusal(StatusCode::INTERNAL_SERVER_ERROR, "The calls could not be written.".into())
    };
    let name = asked.file_name(format);
    let title = format!("Vouch: calls behind “{}”", asked.heading);
    let mut book = match format {
        Format::Xlsx => Some(
            xlsx::CallsBook::new(&title, asked.filters(), CALLS_NOTE, asked.zone.zone.clone())
                .map_err(|e| not_written(&e))?,
        ),
        _ => None,
    };
    let (mut listed, mut count) = (Vec::new(), 0);
    let now = crate::clock::now();
    let mut pages = asked.pages(EXPORT_CHUNK);
    while let Some(page) = pages.next(&db).await.map_err(unavailable)? {
        for r in &page {
            let view = crate::routes::agent::view::CallView::new(r, state.config.lines.get(&r.service_line), now);
            let call = shown_call(r, &view, &asked.zone);
            match book.as_mut() {
                Some(book) => book.push(&call).map_err(|e| not_written(&e))?,
                None => listed.push(call),
            }
        }
        count += page.len();
        if book.is_none() && count > PDF_MOST_CALLS {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!(
                    "format: a PDF lists at most {PDF_MOST_CALLS} calls and this figure has more: download them as xlsx or csv, or choose a shorter period"
                ),
            ));
        }
    }
    if let Some(book) = book {
        return Ok((attachment(format.content_type(), &name).streaming(zipped(book)), count));
    }
    let heading = pdf::Heading { title, lines: pdf::filter_lines(&asked.filters(), 5), note: CALLS_NOTE.into() };
    let table = pdf::calls_table(&listed);
    // A PDF of many pages takes CPU: off the server's threads.
    let body = web::block(move || pdf::list(&heading, &table))
        .await
        .map_err(|e| not_written(&e))?
        .map_err(|e| not_written(&e))?;
    Ok((attachment(format.content_type(), &name).body(body), count))
}

/// A build without the `exports` feature writes call lists as CSV only.
#[cfg(not(feature = "exports"))]
async fn calls_file(_: &AppState, _: Db, _: CallsAsked, format: Format) -> Result<(HttpResponse, usize), Refusal> {
    let why = crate::report::ExportError::Unsupported(format.as_str());
    Err(Refusal(StatusCode::BAD_REQUEST, format!("format: {why}")))
}

/// A writer that sends what it is given, 64 KiB at a time, to a download
/// being streamed; it fails once the download is abandoned.
#[cfg(feature = "exports")]
struct Piped {
    tx: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

#[cfg(feature = "exports")]
impl std::io::Write for Piped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was abandoned"))
    }
}

/// `book` zipped on a blocking thread, its bytes streamed as they come.
#[cfg(feature = "exports")]
fn zipped(
    book: crate::report::xlsx::CallsBook,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = Piped { tx: tx.clone(), buf: Vec::with_capacity(64 * 1024) };
        let written = book.finish(&mut out).map_err(|e| e.to_string());
        let written = written.and_then(|()| std::io::Write::flush(&mut out).map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::warn!(error = %e, "an XLSX list of calls stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map_err(actix_web::error::ErrorInternalServerError), rx))
    })
}

#[derive(Template)]
#[template(path = "agent/report_files.html")]
pub struct ReportFilesPage {
    pub session_user: Option<String>,
    /// The schedules configured: name and what they write, as a sentence.
    pub schedules: Vec<(String, String)>,
    /// Each stored file: name, schedule, period, what it is (a format, or
    /// a call list), size, written at.
    pub files: Vec<(String, String, String, String, String, String)>,
}

/// How many stored files the page lists (newest first).
const FILES_PAGE: usize = 500;

/// A schedule as the page describes it: `every Monday at 07:30 (America/New_York): the 7 days before, support, CSV, PDF`.
fn described(s: &crate::config::Schedule) -> String {
    use crate::config::Every;
    let when = match s.every {
        Every::Day => format!("every day at {} ({}): the day before", s.at.strftime("%H:%M"), s.zone.name),
        Every::Week(day) => {
            format!("every {day:?} at {} ({}): the 7 days before", s.at.strftime("%H:%M"), s.zone.name)
        }
        Every::Month(n) => {
            format!("on day {n} of each month at {} ({}): the month before", s.at.strftime("%H:%M"), s.zone.name)
        }
    };
    let formats: Vec<String> = s.formats.iter().map(|f| f.as_str().to_uppercase()).collect();
    let line = s.line.as_deref().map_or_else(|| "all lines".to_string(), |l| format!("the {l} line"));
    let calls = match s.call_lists.is_empty() {
        true => String::new(),
        false => format!(", with the calls of {} listed (customer data)", s.call_lists.join(", ")),
    };
    format!("{when}, {line}, by {}, as {}{calls}", s.by.as_str(), formats.join(", "))
}

/// `GET /reports/files`: the scheduled reports' files kept in the
/// database, for supervisors, newest first.
pub async fn files(state: web::Data<AppState>, who: Authenticated) -> HttpResponse {
    let session_user = who.session_user();
    let refused = |status: StatusCode, message: &str| {
        html(
            status,
            &MessagePage {
                session_user: session_user.clone(),
                title: "Scheduled reports unavailable".into(),
                message: message.into(),
            },
        )
    };
    if who.0.role != Role::Supervisor {
        return refused(StatusCode::FORBIDDEN, "Scheduled reports need the supervisor role.");
    }
    let Some(db) = state.store.db() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Scheduled reports are kept in the database: with DATABASE_URL=memory: there is none.",
        );
    };
    let stored = match db.report_files(FILES_PAGE).await {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(error = %e, "the scheduled reports could not be listed");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "The database did not answer: try again in a moment.");
        }
    };
    let zone = state.config.lines.default().time_zone.clone().unwrap_or_else(crate::config::LineTimeZone::utc);
    let page = ReportFilesPage {
        session_user,
        schedules: state.config.reports.schedules.iter().map(|s| (s.name.clone(), described(s))).collect(),
        files: stored
            .into_iter()
            .map(|f| {
                let period = if f.period_start == f.period_end {
                    f.period_start.clone()
                } else {
                    format!("{} to {}", f.period_start, f.period_end)
                };
                let size = if f.bytes < 10_240 { format!("{} B", f.bytes) } else { format!("{} KiB", f.bytes / 1024) };
                let what = match f.lists_calls {
                    true => format!("{}, call list", f.format.to_uppercase()),
                    false => f.format.to_uppercase(),
                };
                (f.name, f.schedule, period, what, size, zone.format_short(f.created_at))
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

/// `GET /reports/files/{name}`: one scheduled report's file, from the
/// database (any instance serves any file).
pub async fn file(state: web::Data<AppState>, who: Authenticated, name: web::Path<String>) -> HttpResponse {
    let plain = |status: StatusCode, message: String| super::refusal(status, &message);
    if who.0.role != Role::Supervisor {
        return plain(StatusCode::FORBIDDEN, "Scheduled reports need the supervisor role.".into());
    }
    let name = name.into_inner();
    if name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return plain(StatusCode::BAD_REQUEST, "name: not the name of a scheduled report's file".into());
    }
    let Some(db) = state.store.db() else {
        return plain(StatusCode::NOT_FOUND, format!("no scheduled report is named {name:?}"));
    };
    match db.report_file(&name).await {
        Ok(Some((f, body))) => {
            if f.lists_calls {
                // Customer data: the download is audited (as the calls behind a figure are).
                let detail = serde_json::json!({ "file": f.name, "schedule": f.schedule });
                let action = crate::audit::Action::CallListDownloaded;
                state.audit.record(&crate::audit::Actor::of(&who.0), action, crate::audit::Target::None, detail);
            }
            let format = Format::parse(&f.format).unwrap_or(Format::Csv);
            attachment(format.content_type(), &f.name).body(body)
        }
        Ok(None) => plain(StatusCode::NOT_FOUND, format!("no scheduled report is named {name:?}")),
        Err(e) => {
            tracing::warn!(error = %e, "a scheduled report could not be read");
            plain(StatusCode::SERVICE_UNAVAILABLE, "The database did not answer: try again in a moment.".into())
        }
    }
}

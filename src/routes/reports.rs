//! `/reports`: the ID&V figures of a range of dates, a row per day or per
//! hour, for one line or all, in a time zone (see [`crate::report`]), for
//! supervisors, with its charts drawn on the server as SVG; and
//! `/reports/export?…&format=csv|xlsx|pdf`, the same table (and, in a PDF,
//! the charts) as a file whose name carries the filters. Counts only: no
//! customer data.

use super::agent::{html, Authenticated, MessagePage};
use super::AppState;
use crate::config::Role;
use crate::report::chart::Chart;
use crate::report::{Filters, Format, Report, ReportQuery, COLUMNS};
use crate::store::Db;
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
    /// Each row's label and its cells as shown; the total last.
    pub rows: Vec<(String, Vec<String>)>,
    pub total: Vec<String>,
    /// The filters, for the form.
    pub from: String,
    pub to: String,
    pub line: String,
    pub lines: Vec<String>,
    pub zone: String,
    pub by_hour: bool,
    /// The exports of exactly this report: the format's name and the link.
    pub exports: Vec<(&'static str, String)>,
    /// The charts: their id, title and SVG document.
    pub charts: Vec<(&'static str, &'static str, String)>,
}

/// Why a report is refused, as a status and a sentence.
struct Refusal(StatusCode, String);

/// The checked report asked for, and the database to count it in.
fn asked(state: &AppState, who: &Authenticated, req: &HttpRequest) -> Result<(ReportQuery, Filters, Db), Refusal> {
    if who.0.role != Role::Supervisor {
        return Err(Refusal(StatusCode::FORBIDDEN, "Reports need the supervisor role.".into()));
    }
    let filters: Filters = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        Refusal(StatusCode::BAD_REQUEST, format!("{e}: reports take from, to, line, tz, by (and format to export)."))
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

fn cells(s: &crate::store::LineStats) -> Vec<String> {
    COLUMNS.iter().map(|(key, _)| crate::report::shown(s, key)).collect()
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
        rows: report.rows.iter().map(|(label, s)| (label.clone(), cells(s))).collect(),
        total: cells(&report.total),
        from: q.from.to_string(),
        to: q.to.to_string(),
        line: q.line.clone().unwrap_or_default(),
        lines: state.config.lines.iter().map(|l| l.name.clone()).collect(),
        zone: q.zone.name.clone(),
        by_hour: q.by == crate::report::Bucket::Hour,
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
        charts: Chart::ALL.into_iter().map(|c| (c.id(), c.title(), c.svg(&report))).collect(),
    };
    html(StatusCode::OK, &page)
}

/// `GET /reports/export?…&format=csv|xlsx|pdf`: the report as a file.
pub async fn export(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let refused = |Refusal(status, message): Refusal| {
        HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(format!("{message}\n"))
    };
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
        Ok(body) => HttpResponse::Ok()
            .content_type(format.content_type())
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a report could not be written");
            refused(Refusal(StatusCode::INTERNAL_SERVER_ERROR, "The report could not be written.".into()))
        }
    }
}

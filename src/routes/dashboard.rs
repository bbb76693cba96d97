//! `/dashboard`: how ID&V is doing today, for supervisors. Calls now (in
//! the IVR, waiting for an agent, with an agent), today's funnel (calls,
//! identified by caller ID or by keyed identifier, verified) and what fell
//! out of it, containment, time in the IVR and the CRM's latency and error
//! rate, per line and over all lines.
//!
//! The page is complete without JavaScript; with it, Vouch's own script
//! (`/static/dashboard.js`, nothing inline) keeps it current from
//! `/dashboard/events`, a server-sent event stream of the same cells. Every
//! figure is counted in the database ([`crate::store::Db::stats`]), so
//! every instance sharing it shows the same; an instance asks the database
//! at most once a second however many supervisors watch.
//!
//! "Today" starts at midnight in the dashboard's time zone: `?tz=` (an IANA
//! name), else the default line's `time_zone`, else UTC.

use super::agent::{html_with_script, Authenticated, MessagePage};
use super::health::Draining;
use super::AppState;
use crate::config::{LineTimeZone, Role};
use crate::store::{LineStats, Stats};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The script that keeps the page current, embedded like the stylesheet.
const DASHBOARD_JS: &str = include_str!("../../static/dashboard.js");

/// How often the event stream sends the figures.
const TICK: Duration = Duration::from_secs(2);
/// Figures younger than this are shared by every watcher of the same day.
const SHARED_FOR: Duration = Duration::from_secs(1);
/// A stream ends after this long and the browser opens another, so a
/// login that ended (a logout, a removed user) stops the figures soon.
const STREAM_FOR: Duration = Duration::from_secs(300);
/// How long a browser waits before reconnecting a stream that ended.
const RETRY_MS: u64 = 3_000;

/// One column of the dashboard's tables.
pub struct Column {
    /// The cell key's second half (`{line}.{key}`), a [`LineStats`] field.
    pub key: &'static str,
    pub head: &'static str,
    /// What the figure counts, for the header's tooltip.
    pub title: &'static str,
}

const fn col(key: &'static str, head: &'static str, title: &'static str) -> Column {
    Column { key, head, title }
}

/// The tables: calls now, today's funnel, what fell out of it, and timing.
pub const GROUPS: [(&str, &str, &[Column]); 4] = [
    (
        "now",
        "Calls now",
        &[
            col("in_ivr", "In the IVR", "Calls still in Vouch's prompts"),
            col("waiting", "Waiting", "Handed to an agent queue, waiting for an agent"),
            col("with_agent", "With an agent", "Connected to an agent"),
        ],
    ),
    (
        "funnel",
        "Today's ID&V funnel",
        &[
            col("calls", "Calls", "Calls started today"),
            col("identified_by_caller_id", "Identified by caller ID", "Found by the number they called from"),
            col("identified_by_keyed_id", "Identified by keyed ID", "Found by the identifier they keyed"),
            col("verified", "Verified", "Verified with their keyed secret"),
            col("containment", "Containment", "Self-service hand-offs ÷ calls"),
        ],
    ),
    (
        "out",
        "Fell out of the funnel today",
        &[
            col("opted_out", "Opted out", "Asked for an agent at a prompt"),
            col("failed_identification", "Failed identification", "Tried an identifier, never identified"),
            col("failed_verification", "Failed verification", "Identified, tried the secret, not verified"),
            col("locked", "Locked", "Their customer's verification was locked"),
            col("crm_unavailable", "CRM unavailable", "Handed on because the CRM did not answer"),
        ],
    ),
    (
        "timing",
        "Time in the IVR and the CRM today",
        &[
            col("ivr_seconds_avg", "IVR time, mean", "First webhook to hand-off, over calls handed on"),
            col("ivr_seconds_p90", "IVR time, p90", "90th percentile, first webhook to hand-off"),
            col("crm_wait_ms_avg", "CRM wait, mean", "Per CRM question a call asked, cached answers included"),
            col("crm_error_rate", "CRM errors", "CRM questions that failed or timed out ÷ questions"),
        ],
    ),
];

/// A line's row (or the total's, `all`): its cells' texts by key.
pub struct Row {
    /// The cell keys' first half: the line's name, or `all`.
    pub key: String,
    /// What the row header says.
    pub label: String,
    cells: Vec<(&'static str, String)>,
}

impl Row {
    fn of(key: &str, label: &str, s: &LineStats) -> Self {
        let cells = GROUPS
            .iter()
            .flat_map(|(_, _, cols)| cols.iter())
            .map(|c| (c.key, crate::report::shown(s, c.key)))
            .collect();
        Self { key: key.to_string(), label: label.to_string(), cells }
    }

    /// The text of the cell `key` names.
    pub fn cell(&self, key: &str) -> &str {
        self.cells.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str())
    }
}

/// A count as shown.
fn n(v: u64) -> String {
    v.to_string()
}

/// The funnel over all lines, drawn as bars: calls, identified, verified.
pub struct Bar {
    pub key: &'static str,
    pub label: &'static str,
    pub value: u64,
    /// The bar's whole: today's calls (at least 1, so an empty day draws).
    pub max: u64,
    pub text: String,
}

fn bars(total: &LineStats) -> [Bar; 3] {
    let max = total.calls.max(1);
    let identified = total.identified_by_caller_id + total.identified_by_keyed_id;
    let share = |v: u64| match total.calls {
        0 => format!("{v}"),
        calls => format!("{v} ({:.0}%)", v as f64 * 100.0 / calls as f64),
    };
    [
        Bar { key: "calls", label: "Calls", value: total.calls, max, text: n(total.calls) },
        Bar { key: "identified", label: "Identified", value: identified, max, text: share(identified) },
        Bar { key: "verified", label: "Verified", value: total.verified, max, text: share(total.verified) },
    ]
}

/// What the page and each event show.
pub struct Figures {
    pub rows: Vec<Row>,
    pub bars: [Bar; 3],
    /// When they were counted, in the dashboard's zone.
    pub as_of: String,
}

impl Figures {
    fn of(stats: &Stats, zone: &LineTimeZone) -> Self {
        let mut rows: Vec<Row> = stats.lines.iter().map(|l| Row::of(&l.line, &l.line, l)).collect();
        rows.push(Row::of("all", "All lines", &stats.total));
        Self { rows, bars: bars(&stats.total), as_of: zone.format(stats.now) }
    }

    /// The event's data: every cell by `{row}.{column}`, every bar by
    /// `all.{bar}` as `[value, max, text]`, and the time.
    fn json(&self) -> String {
        let mut cells = serde_json::Map::new();
        for row in &self.rows {
            for (key, text) in &row.cells {
                cells.insert(format!("{}.{key}", row.key), text.clone().into());
            }
        }
        let bars: serde_json::Map<String, serde_json::Value> =
            self.bars.iter().map(|b| (format!("all.{}", b.key), serde_json::json!([b.value, b.max, b.text]))).collect();
        serde_json::json!({ "as_of": self.as_of, "cells": cells, "bars": bars }).to_string()
    }
}

#[derive(Template)]
#[template(path = "agent/dashboard.html")]
pub struct DashboardPage {
    pub session_user: Option<String>,
    pub groups: &'static [(&'static str, &'static str, &'static [Column]); 4],
    pub figures: Figures,
    /// The zone "today" is in, and the query that keeps it (`?tz=…`).
    pub zone: String,
    pub events: String,
    /// The downloads of the table as it is now: each format and its link.
    pub exports: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardQuery {
    tz: Option<String>,
    /// A download's format (`/dashboard/export` only).
    format: Option<String>,
}

/// The figures last counted, shared by every watcher of the same day.
#[derive(Default)]
pub struct Shared(Mutex<Option<Counted>>);

/// Figures counted at `at`, for the day starting at `day` in `zone`.
struct Counted {
    at: Instant,
    zone: String,
    day: i64,
    stats: Arc<Stats>,
}

/// Why the dashboard cannot be shown.
struct Refusal(StatusCode, String);

/// What a dashboard request asked for, checked.
struct Asked {
    zone: LineTimeZone,
    /// The `?tz=` given, to keep in the event stream's URL.
    tz: Option<String>,
    format: Option<String>,
}

/// A page or its events, which take no `format`: that is a download's.
fn asked_page(state: &AppState, who: &Authenticated, req: &HttpRequest) -> Result<Asked, Refusal> {
    let asked = asked(state, who, req)?;
    match asked.format {
        Some(_) => Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!(
                "format: the page has none; its table downloads from {}",
                crate::paths::Route::DashboardExport.pattern()
            ),
        )),
        None => Ok(asked),
    }
}

fn asked(state: &AppState, who: &Authenticated, req: &HttpRequest) -> Result<Asked, Refusal> {
    if who.0.role != Role::Supervisor {
        return Err(Refusal(StatusCode::FORBIDDEN, "The dashboard needs the supervisor role.".into()));
    }
    let q: DashboardQuery = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("{e}: the dashboard takes only tz (a time zone), and format to export."),
        )
    })?;
    let zone = match &q.tz {
        Some(name) => LineTimeZone::named("tz", name).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))?,
        None => state.config.lines.default().time_zone.clone().unwrap_or_else(LineTimeZone::utc),
    };
    if state.store.db().is_none() {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "The dashboard counts calls in the database: with DATABASE_URL=memory: there is none.".into(),
        ));
    }
    Ok(Asked { zone, tz: q.tz, format: q.format })
}

/// Midnight today in `zone`, as Unix seconds (at a DST change, the day's
/// first instant): the day a report's row would show.
fn start_of_day(zone: &LineTimeZone, now: u64) -> u64 {
    crate::report::midnight(crate::report::today(zone, now), zone)
}

/// Today's figures in `zone`, counted at most once per [`SHARED_FOR`].
async fn figures(state: &AppState, zone: &LineTimeZone) -> Result<Figures, sqlx::Error> {
    Ok(Figures::of(&*counted(state, zone).await?, zone))
}

/// Today's counts in `zone`, counted at most once per [`SHARED_FOR`].
async fn counted(state: &AppState, zone: &LineTimeZone) -> Result<Arc<Stats>, sqlx::Error> {
    let now = crate::clock::now();
    let from = i64::try_from(start_of_day(zone, now)).unwrap_or(0);
    let fresh = {
        let shared = state.dashboard.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shared
            .as_ref()
            .filter(|c| c.at.elapsed() < SHARED_FOR && c.zone == zone.name && c.day == from)
            .map(|c| c.stats.clone())
    };
    let stats = match fresh {
        Some(stats) => stats,
        None => {
            let db = state.store.db().ok_or(sqlx::Error::PoolClosed)?;
            let lines: Vec<&str> = state.config.lines.iter().map(|l| l.name.as_str()).collect();
            let stats = Arc::new(db.stats(&lines, from.unsigned_abs(), now + 1, now).await?);
            let mut shared = state.dashboard.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *shared = Some(Counted { at: Instant::now(), zone: zone.name.clone(), day: from, stats: stats.clone() });
            stats
        }
    };
    Ok(stats)
}

fn message(status: StatusCode, who: Option<&Authenticated>, title: &str, message: String) -> HttpResponse {
    let page = MessagePage { session_user: who.and_then(Authenticated::session_user), title: title.into(), message };
    super::agent::html(status, &page)
}

/// `GET /dashboard`.
pub async fn page(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let asked = match asked_page(&state, &who, &req) {
        Ok(a) => a,
        Err(Refusal(status, why)) => return message(status, Some(&who), "Dashboard unavailable", why),
    };
    match figures(&state, &asked.zone).await {
        Ok(figures) => {
            let query = asked
                .tz
                .as_deref()
                .map(|tz| format!("?tz={}", url::form_urlencoded::byte_serialize(tz.as_bytes()).collect::<String>()))
                .unwrap_or_default();
            let export = crate::paths::Route::DashboardExport.pattern();
            let exports = crate::report::Format::ALL
                .into_iter()
                .map(|f| {
                    let tz = query.strip_prefix('?').map(|q| format!("&{q}")).unwrap_or_default();
                    (f.as_str(), format!("{export}?format={}{tz}", f.as_str()))
                })
                .collect();
            let page = DashboardPage {
                session_user: who.session_user(),
                groups: &GROUPS,
                figures,
                zone: asked.zone.name.clone(),
                events: format!("{}{query}", crate::paths::Route::DashboardEvents.pattern()),
                exports,
            };
            html_with_script(StatusCode::OK, &page)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the dashboard's figures could not be read");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&who),
                "Dashboard unavailable",
                "The database did not answer: reload in a moment.".into(),
            )
        }
    }
}

/// `GET /dashboard/events`: the figures every [`TICK`] as `stats` events
/// (an `unavailable` event while the database does not answer), until the
/// instance drains or [`STREAM_FOR`] passes; the browser then reconnects.
pub async fn events(
    state: web::Data<AppState>,
    who: Authenticated,
    req: HttpRequest,
    draining: Option<web::Data<Draining>>,
) -> HttpResponse {
    let asked = match asked_page(&state, &who, &req) {
        Ok(a) => a,
        Err(Refusal(status, why)) => return super::refusal(status, &why),
    };
    let started = Instant::now();
    let stream = futures_util::stream::unfold(0u64, move |sent| {
        let (state, zone, draining) = (state.clone(), asked.zone.clone(), draining.clone());
        async move {
            if sent > 0 {
                tokio::time::sleep(TICK).await;
            }
            if started.elapsed() >= STREAM_FOR || draining.as_ref().is_some_and(|d| d.is_draining()) {
                return None;
            }
            let event = match figures(&state, &zone).await {
                Ok(f) => format!("event: stats\ndata: {}\n\n", f.json()),
                Err(e) => {
                    tracing::warn!(error = %e, "the dashboard's figures could not be read");
                    "event: unavailable\ndata: {}\n\n".to_string()
                }
            };
            let event = match sent {
                0 => format!("retry: {RETRY_MS}\n{event}"),
                _ => event,
            };
            Some((Ok::<_, std::convert::Infallible>(web::Bytes::from(event)), sent + 1))
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .streaming(stream)
}

/// `GET /dashboard/export?format=csv|xlsx|pdf[&tz=…]`: the page's table as
/// it is now, a row per line and the total, as a file whose name carries
/// the time and the zone. Counts only, no customer data.
pub async fn export(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let plain = |status: StatusCode, why: String| super::refusal(status, &why);
    let asked = match asked(&state, &who, &req) {
        Ok(a) => a,
        Err(Refusal(status, why)) => return plain(status, why),
    };
    let Some(format) = asked.format.as_deref().map(str::trim).and_then(crate::report::Format::parse) else {
        let given = asked.format.as_deref().map_or_else(|| "no format".to_string(), |f| format!("{f:?}"));
        return plain(StatusCode::BAD_REQUEST, format!("format: {given}; exports are csv, xlsx or pdf"));
    };
    let stats = match counted(&state, &asked.zone).await {
        Ok(stats) => stats,
        Err(e) => {
            tracing::warn!(error = %e, "the dashboard's figures could not be read");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database did not answer: try again in a moment.".into(),
            );
        }
    };
    let name = file_name(&asked.zone, stats.now, format.as_str());
    let zone = asked.zone.clone();
    // Workbooks and PDFs take milliseconds of CPU: off the server's threads.
    match web::block(move || file(&stats, &zone, format)).await {
        Ok(Ok(body)) => super::reports::attachment(format.content_type(), &name).body(body),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the dashboard could not be written");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "The dashboard could not be written.".into())
        }
        Err(e) => {
            tracing::error!(error = %e, "the dashboard's export was cancelled");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "The dashboard could not be written.".into())
        }
    }
}

/// A download's name: when it was counted, in `zone`, and the zone:
/// `vouch-dashboard_2026-12-05_1430_Europe-London.xlsx`.
fn file_name(zone: &LineTimeZone, now: u64, extension: &str) -> String {
    let at = jiff::Timestamp::from_second(i64::try_from(now).unwrap_or(0))
        .map(|t| t.to_zoned_datetime(zone.zone.clone()).strftime("%Y-%m-%d_%H%M").to_string())
        .unwrap_or_default();
    let safe: String =
        zone.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("vouch-dashboard_{at}_{safe}.{extension}")
}

/// Every column of the page's tables: its group's title, its key, its header.
fn columns() -> Vec<(&'static str, &'static str, &'static str)> {
    GROUPS.iter().flat_map(|(_, group, cols)| cols.iter().map(move |c| (*group, c.key, c.head))).collect()
}

/// The table's rows: each line's figures and the total's, as the page labels them.
fn rows(stats: &Stats) -> Vec<(&str, &LineStats)> {
    let lines = stats.lines.iter().map(|l| (l.line.as_str(), l));
    lines.chain(std::iter::once(("All lines", &stats.total))).collect()
}

/// The dashboard's table as a file in `format`: CSV with a column per
/// figure's key and plain numbers (as a report's CSV); XLSX and PDF with
/// the page's headers, the time and the zone in their first rows.
#[cfg_attr(not(feature = "exports"), allow(unused_variables))]
fn file(
    stats: &Stats,
    zone: &LineTimeZone,
    format: crate::report::Format,
) -> Result<Vec<u8>, crate::report::ExportError> {
    use crate::report::Format;
    let columns = columns();
    let rows = rows(stats);
    let filters = [
        ("As of", zone.format(stats.now)),
        ("Since", zone.format_short(start_of_day(zone, stats.now))),
        ("Time zone", zone.name.clone()),
    ];
    let note = "Calls started since midnight, counted in Vouch's database. Counts only, no customer data.";
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let header = std::iter::once("line").chain(columns.iter().map(|(_, key, _)| *key));
            w.write_record(header)?;
            for (label, s) in &rows {
                let line = if std::ptr::eq(*s, &stats.total) { "all" } else { label };
                let values = columns.iter().map(|(_, key, _)| crate::report::value(s, key));
                w.write_record(std::iter::once(line.to_string()).chain(values))?;
            }
            w.into_inner().map_err(|e| crate::report::ExportError::Csv(e.into_error().into()))
        }
        #[cfg(feature = "exports")]
        Format::Xlsx => Ok(crate::report::xlsx::figures("ID&V today", &filters, note, &columns, &rows)?),
        #[cfg(feature = "exports")]
        Format::Pdf => {
            use crate::report::pdf;
            let heading = pdf::Heading {
                title: "Vouch: ID&V today".into(),
                lines: pdf::filter_lines(&filters, 3),
                note: note.into(),
            };
            let mut heads = vec!["Line".to_string()];
            heads.extend(columns.iter().map(|(_, _, head)| head.to_string()));
            let numeric = std::iter::once(false).chain(columns.iter().map(|_| true)).collect();
            let table_rows = rows
                .iter()
                .map(|(label, s)| {
                    let cells = columns.iter().map(|(_, key, _)| crate::report::shown(s, key));
                    std::iter::once(label.to_string()).chain(cells).collect()
                })
                .collect();
            let table = pdf::Table { name: "Table", heads, numeric, rows: table_rows, total: true, empty: "" };
            let bars = bars(&stats.total);
            let drawn: Vec<(&str, f64, &str)> =
                bars.iter().map(|b| (b.label, b.value as f64 / b.max as f64, b.text.as_str())).collect();
            pdf::with_bars(&heading, &drawn, &table)
        }
        #[cfg(not(feature = "exports"))]
        Format::Xlsx | Format::Pdf => Err(crate::report::ExportError::Unsupported(format.as_str())),
    }
}

/// `GET /static/dashboard.js`.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(DASHBOARD_JS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> LineTimeZone {
        LineTimeZone::named("tz", name).unwrap()
    }

    #[test]
    fn today_starts_at_local_midnight_across_dst() {
        // 2026-03-29 12:00 UTC: London is on BST (UTC+1) since 01:00 UTC.
        let noon = 1_774_785_600;
        assert_eq!(start_of_day(&zone("UTC"), noon), noon - 12 * 3600);
        assert_eq!(start_of_day(&zone("Europe/London"), noon), noon - 12 * 3600, "midnight was still GMT");
        // 2026-03-30 12:00 UTC = 13:00 BST: midnight BST is 23:00 UTC the day before.
        assert_eq!(start_of_day(&zone("Europe/London"), noon + 86_400), noon + 86_400 - 13 * 3600);
        // New York, EST (UTC-5) in January: 2026-01-15 03:00 UTC is 22:00 on the 14th.
        let early = 1_768_446_000;
        assert_eq!(start_of_day(&zone("America/New_York"), early), early - 22 * 3600);
    }

    #[test]
    fn cells_show_counts_shares_and_dashes_for_no_data() {
        let s = LineStats {
            calls: 8,
            verified: 3,
            containment: Some(0.25),
            ivr_seconds_avg: Some(23.75),
            ivr_seconds_p90: Some(50),
            crm_wait_ms_avg: Some(12.4),
            crm_error_rate: Some(0.0),
            ..LineStats::default()
        };
        let row = Row::of("support", "support", &s);
        let cells: Vec<&str> = [
            "calls",
            "verified",
            "containment",
            "ivr_seconds_avg",
            "ivr_seconds_p90",
            "crm_wait_ms_avg",
            "crm_error_rate",
        ]
        .iter()
        .map(|k| row.cell(k))
        .collect();
        assert_eq!(cells, ["8", "3", "25.0%", "23.8 s", "50 s", "12 ms", "0.0%"]);
        let empty = Row::of("sales", "sales", &LineStats::default());
        assert_eq!((empty.cell("containment"), empty.cell("crm_wait_ms_avg"), empty.cell("calls")), ("—", "—", "0"));
        for (_, _, cols) in GROUPS {
            for c in cols {
                assert!(!row.cell(c.key).is_empty(), "column {} has a cell", c.key);
            }
        }
    }

    #[test]
    fn the_funnel_bars_share_today_calls() {
        let s = LineStats {
            calls: 4,
            identified_by_caller_id: 2,
            identified_by_keyed_id: 1,
            verified: 1,
            ..LineStats::default()
        };
        let b = bars(&s);
        let texts: Vec<&str> = b.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["4", "3 (75%)", "1 (25%)"]);
        assert_eq!((b[1].value, b[1].max), (3, 4));
        assert_eq!(bars(&LineStats::default())[0].max, 1, "an empty day still draws");
    }
}

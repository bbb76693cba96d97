//! The supervisors' dashboard over real calls: the page shows today's
//! figures as `/api/stats` counts them, its event stream sends them again
//! as calls happen, and everyone else is refused with a reason.

use crate::desk_helpers::*;
use crate::helpers::*;
use serde_json::Value;

/// The text of the element carrying `data-cell="{key}"` in `html`.
pub fn cell(html: &str, key: &str) -> String {
    let marker = format!("data-cell=\"{key}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no cell {key} in the page")) + marker.len();
    html[at..].split('<').next().unwrap_or("").to_string()
}

/// A server-sent event stream, read an event at a time.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub async fn open(app: &TestApp, path: &str, session: &str) -> (u16, String, Self) {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .header("cookie", format!("vouch_session={session}"))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, kind, Self { response, buffer: String::new() })
    }

    /// The next event's name and data, within 10 s.
    pub async fn next(&mut self) -> (String, String) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field =
                    |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_start().to_string());
                if let Some(data) = field("data:") {
                    return (field("event:").unwrap_or_else(|| "message".into()), data);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads")
                .expect("the stream is still open");
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next `stats` event's data.
    pub async fn stats(&mut self) -> Value {
        let (event, data) = self.next().await;
        assert_eq!(event, "stats", "{data}");
        serde_json::from_str(&data).expect("JSON")
    }
}

/// Today's figures from `/api/stats`, from midnight UTC: a range holding
/// every call of the test, as the dashboard's day (from midnight in New
/// York, the desk's default line's zone) does.
async fn api_total(app: &TestApp, session: &str) -> Value {
    let now = vouch::clock::now();
    let r = app.page(&format!("/api/stats?from={}&to={}", now - now % 86_400, now + 1), Some(session), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str::<Value>(&r.body).unwrap()["total"].clone()
}

#[tokio::test]
async fn the_dashboard_shows_the_stats_apis_figures_and_streams_new_calls() {
    let app = spawn_desk().await;
    let session = app.calls_for_figures(true).await;
    let total = api_total(&app, &session).await;
    // Ada: her number and her PIN; the stranger: their number (twice, the
    // second from the cache), then Grace's identifier and PIN.
    assert_eq!((total["calls"].as_u64(), total["crm_asked"].as_u64()), (Some(3), Some(6)), "{total}");
    assert_eq!((total["crm_failed"].as_u64(), total["crm_error_rate"].as_f64()), (Some(0), Some(0.0)), "{total}");

    let page = app.page("/dashboard", Some(&session), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for (key, field) in [
        ("all.calls", "calls"),
        ("all.identified_by_caller_id", "identified_by_caller_id"),
        ("all.identified_by_keyed_id", "identified_by_keyed_id"),
        ("all.verified", "verified"),
        ("all.opted_out", "opted_out"),
        ("all.failed_verification", "failed_verification"),
        ("support.calls", "calls"),
    ] {
        assert_eq!(cell(&page.body, key), total[field].to_string(), "{key}");
    }
    assert_eq!(cell(&page.body, "sales.calls"), "0", "every line shows");
    assert_eq!(cell(&page.body, "all.crm_error_rate"), "0.0%");
    assert!(cell(&page.body, "all.crm_wait_ms_avg").ends_with(" ms"));
    assert_eq!(cell(&page.body, "all.bar.verified"), "2 (67%)");
    assert!(page.body.contains(r#"<script src="/static/dashboard.js" defer></script>"#));
    assert!(!page.body.contains("<script>"), "nothing inline");

    let headers =
        app.http.get(format!("{}/dashboard", app.address)).header("cookie", format!("vouch_session={session}"));
    let headers = headers.send().await.unwrap();
    let csp = headers.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let script = app.page("/static/dashboard.js", None, None).await;
    assert_eq!((script.status, script.content_type.as_str()), (200, "text/javascript; charset=utf-8"));
    assert!(script.body.contains("EventSource"));

    // The stream starts with today's figures, then follows a new call.
    let (status, kind, mut events) = Events::open(&app, "/dashboard/events", &session).await;
    assert_eq!((status, kind.as_str()), (200, "text/event-stream"));
    let first = events.stats().await;
    assert_eq!(first["cells"]["all.calls"], "3");
    assert_eq!(first["cells"]["support.verified"], total["verified"].to_string());
    assert_eq!(first["bars"]["all.verified"], serde_json::json!([2, 3, "2 (67%)"]));
    app.call(ADA_PHONE, SUPPORT_NUMBER, &["*"]).await;
    app.written().await;
    let mut seen = first;
    for _ in 0..5 {
        if seen["cells"]["all.calls"] == "4" {
            break;
        }
        seen = events.stats().await;
    }
    assert_eq!(seen["cells"]["all.calls"], "4", "the new call reaches the stream: {seen}");
    assert_eq!(seen["cells"]["all.opted_out"], "2");
}

#[tokio::test]
async fn the_dashboard_takes_a_time_zone_and_refuses_with_reasons() {
    let app = spawn_desk().await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let zoned = app.page("/dashboard?tz=America%2FNew_York", Some(&session), None).await;
    assert_eq!(zoned.status, 200, "{}", zoned.body);
    assert!(zoned.body.contains("since midnight (America/New_York)"), "{}", zoned.body);
    assert!(zoned.body.contains(r#"data-events="/dashboard/events?tz=America%2FNew_York""#));
    let (status, _, mut events) = Events::open(&app, "/dashboard/events?tz=America%2FNew_York", &session).await;
    assert_eq!(status, 200);
    let stats = events.stats().await;
    assert!(stats["as_of"].as_str().unwrap().ends_with(" EST") || stats["as_of"].as_str().unwrap().ends_with(" EDT"));

    for (query, reason) in [
        ("?tz=Mars%2FOlympus", "not an IANA time zone"),
        ("?line=support", "unknown field"),
        ("?format=csv", "format: the page has none; its table downloads from /dashboard/export"),
    ] {
        let r = app.page(&format!("/dashboard{query}"), Some(&session), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains(reason), "{query}: {}", r.body);
        let (status, _, _) = Events::open(&app, &format!("/dashboard/events{query}"), &session).await;
        assert_eq!(status, 400, "{query}");
    }
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    let refused = app.page("/dashboard", Some(&agent), None).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("supervisor role"), "{}", refused.body);
    assert_eq!(Events::open(&app, "/dashboard/events", &agent).await.0, 403);
    let anonymous = app.page("/dashboard", None, None).await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.body.contains("Log in to see this page."), "{}", anonymous.body);
    assert_eq!(app.page("/dashboard/events", None, None).await.status, 401);

    let memory = spawn_with(Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", users_toml())],
        database_url: Some("memory:".into()),
        ..Options::default()
    })
    .await;
    let session = memory.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let none = memory.page("/dashboard", Some(&session), None).await;
    assert_eq!(none.status, 503);
    assert!(none.body.contains("DATABASE_URL=memory:"), "{}", none.body);
}

/// The dashboard's first table's row labels, in order.
fn row_labels(html: &str) -> Vec<String> {
    let table = html.split("<tbody>").nth(1).unwrap().split("</tbody>").next().unwrap();
    table.split("<th scope=\"row\">").skip(1).map(|r| r.split('<').next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_dashboard_downloads_its_table_as_csv_xlsx_and_pdf() {
    use crate::exports::{cell_text, pdf_row, pdf_text, squeezed, xlsx_rows};
    use crate::reports::fetch;
    let app = spawn_desk().await;
    let session = app.calls_for_figures(true).await;
    let page = app.page("/dashboard?tz=UTC", Some(&session), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let labels = row_labels(&page.body);
    assert_eq!(labels.last().map(String::as_str), Some("All lines"), "{labels:?}");
    let keys: Vec<&str> =
        vouch::routes::dashboard::GROUPS.iter().flat_map(|(_, _, c)| c.iter().map(|c| c.key)).collect();
    let heads: Vec<&str> =
        vouch::routes::dashboard::GROUPS.iter().flat_map(|(_, _, c)| c.iter().map(|c| c.head)).collect();
    // Each row's key in the page's cells: a line's name, or `all`.
    let row_key = |label: &str| if label == "All lines" { "all".to_string() } else { label.to_string() };
    let shown = |label: &str, key: &str| cell(&page.body, &format!("{}.{key}", row_key(label)));
    let rates = ["containment", "ivr_seconds_avg", "ivr_seconds_p90", "crm_wait_ms_avg", "crm_error_rate"];

    // CSV: a column per figure's key, plain numbers.
    let (content_type, disposition, csv) = fetch(&app, &page.body, "export-dashboard", "csv", &session).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let day = vouch::report::today(&vouch::config::LineTimeZone::utc(), vouch::clock::now()).to_string();
    assert!(disposition.starts_with(&format!("attachment; filename=\"vouch-dashboard_{day}_")), "{disposition}");
    assert!(disposition.ends_with("_UTC.csv\""), "{disposition}");
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header[0], "line");
    assert_eq!(header[1..], keys);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), labels.len());
    for (record, label) in records.iter().zip(&labels) {
        assert_eq!(record[0], row_key(label));
        for (i, key) in keys.iter().enumerate().filter(|(_, k)| !rates.contains(k)) {
            assert_eq!(record[i + 1], shown(label, key), "{label} {key}");
        }
    }
    let total = records.last().unwrap();
    let containment = keys.iter().position(|k| *k == "containment").unwrap() + 1;
    assert_eq!(total[containment].parse::<f64>().ok(), Some(0.0), "a fraction: nobody went to self-service");
    assert_eq!(shown("All lines", "containment"), "0.0%");

    // XLSX: the time and zone first, the groups above the page's headers,
    // typed numbers.
    let (content_type, disposition, xlsx) = fetch(&app, &page.body, "export-dashboard", "xlsx", &session).await;
    assert_eq!(content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(disposition.ends_with("_UTC.xlsx\""), "{disposition}");
    let (sheet, cells) = xlsx_rows(&xlsx);
    assert_eq!(sheet, "ID&V today");
    let text = |r: usize, c: usize| cell_text(&cells[r][c]);
    assert_eq!(text(0, 0), "ID&V today");
    assert_eq!(
        (text(1, 0), text(2, 0), text(3, 0), text(3, 1)),
        ("As of".into(), "Since".into(), "Time zone".into(), "UTC".into())
    );
    assert!(text(1, 1).ends_with(" UTC"), "{}", text(1, 1));
    let header_row = cells.iter().position(|r| cell_text(&r[0]) == "Line").expect("the header row");
    let header: Vec<String> = cells[header_row].iter().map(cell_text).collect();
    assert_eq!(header[1..], heads);
    let groups: Vec<String> = cells[header_row - 1].iter().map(cell_text).collect();
    assert_eq!((groups[1].as_str(), groups[4].as_str()), ("Calls now", "Today's ID&V funnel"), "{groups:?}");
    assert_eq!(cells.len(), header_row + 1 + labels.len());
    for (i, label) in labels.iter().enumerate() {
        let row = &cells[header_row + 1 + i];
        assert_eq!(cell_text(&row[0]), *label);
        for (col, key) in (1..).zip(&keys).filter(|(_, k)| !rates.contains(k)) {
            let want: f64 = shown(label, key).parse().unwrap();
            assert_eq!(row[col], calamine::Data::Float(want), "{label} {key}");
        }
    }

    // PDF: the funnel's bars and each row as the page shows it.
    let (content_type, disposition, pdf) = fetch(&app, &page.body, "export-dashboard", "pdf", &session).await;
    assert_eq!(content_type, "application/pdf");
    assert!(disposition.ends_with("_UTC.pdf\""), "{disposition}");
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains("Time zone: UTC") && text.contains("2 (67%)"), "{text}");
        for label in &labels {
            let cells = keys.iter().map(|key| shown(label, key)).collect::<Vec<_>>();
            let want = squeezed(std::iter::once(label.as_str()).chain(cells.iter().map(String::as_str)));
            let first = label.split(' ').next().unwrap();
            assert_eq!(pdf_row(&text, first).as_deref(), Some(want.as_str()), "{label}'s row:\n{text}");
        }
    }

    // Supervisors only; a format it has not is refused naming the field.
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.page("/dashboard/export?format=csv", Some(&agent), None).await.status, 403);
    let r = app.page("/dashboard/export?format=docx", Some(&session), None).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("format: \"docx\""), "{}", r.body);
    assert!(app.page("/dashboard/export", Some(&session), None).await.body.contains("format: no format"));
}

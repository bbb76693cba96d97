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

    for (query, reason) in [("?tz=Mars%2FOlympus", "not an IANA time zone"), ("?line=support", "unknown field")] {
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

//! Reports over real calls: `/reports` shows the figures per day (or hour)
//! in the line's time zone, `/reports/export` gives exactly that table as a
//! CSV file named after its filters, and bad filters are refused naming the
//! field.

use crate::desk_helpers::*;

/// The CSV body's records (the header first).
fn records(body: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_string).collect())
        .collect()
}

fn header(body: &str) -> Vec<String> {
    csv::Reader::from_reader(body.as_bytes()).headers().expect("a header").iter().map(str::to_string).collect()
}

/// `html`'s text with the entities askama writes read back.
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"").replace("&#39;", "'").replace("&#38;", "&").replace("&amp;", "&")
}

/// Today in New York (the desk's default line's zone).
fn today() -> String {
    let zone = vouch::config::LineTimeZone::named("tz", "America/New_York").unwrap();
    vouch::report::today(&zone, vouch::clock::now()).to_string()
}

#[tokio::test]
async fn a_report_counts_real_calls_per_day_and_hour_and_exports_the_same_table() {
    let app = spawn_desk().await;
    let session = app.calls_for_figures(true).await;

    let page = app.page("/reports", Some(&session), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("America/New_York"), "the default line's zone");
    assert!(page.body.contains(&format!("<th scope=\"row\">{}</th>", today())), "today's row");
    let total = |body: &str, i: usize| -> String {
        let marker = format!("data-total=\"{i}\">");
        let at = body.find(&marker).unwrap_or_else(|| panic!("no total {i}")) + marker.len();
        body[at..].split('<').next().unwrap().to_string()
    };
    // Calls, by caller ID, by keyed ID, verified (the report's first columns).
    assert_eq!(
        [total(&page.body, 0), total(&page.body, 1), total(&page.body, 2), total(&page.body, 3)],
        ["3", "1", "1", "2"]
    );

    // The page's export link: the same filters, as CSV.
    let at = page.body.find("id=\"export\" href=\"").unwrap() + "id=\"export\" href=\"".len();
    let link = unescape(page.body[at..].split('"').next().unwrap());
    let r = app.http.get(format!("{}{link}", app.address)).header("cookie", format!("vouch_session={session}"));
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.ends_with(&format!("_{}_all-lines_by-day_America-New_York.csv\"", today())), "{disposition}");
    let body = r.text().await.unwrap();
    assert_eq!(&header(&body)[..4], ["date", "line", "calls", "identified_by_caller_id"]);
    let rows = records(&body);
    assert_eq!(rows.len(), 8, "7 days and the total");
    let calls: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(calls, ["0", "0", "0", "0", "0", "0", "3", "3"]);
    assert_eq!((rows[6][0].as_str(), rows[7][0].as_str(), rows[7][1].as_str()), (today().as_str(), "total", "all"));

    // By hour, one line: the hours add up to the day.
    let path = format!("/reports/export?from={d}&to={d}&line=support&by=hour&tz=UTC&format=csv", d = today());
    let hourly = app.page(&path, Some(&session), None).await;
    assert_eq!(hourly.status, 200, "{}", hourly.body);
    let rows = records(&hourly.body);
    assert!(rows.len() >= 24, "{} rows", rows.len());
    let sum: u64 = rows[..rows.len() - 1].iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!((sum, rows.last().unwrap()[1].as_str()), (3, "support"));
    let sales = app.page("/reports?line=sales", Some(&session), None).await;
    assert_eq!(total(&sales.body, 0), "0", "another line's report");
}

#[tokio::test]
async fn bad_report_filters_are_refused_naming_the_field() {
    let app = spawn_desk().await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    for (query, words) in [
        ("from=yesterday", "from: \"yesterday\" is not a date"),
        ("from=2026-03-10&to=2026-03-01", "from: the first date is after the last"),
        ("by=week", "by: \"week\": day or hour"),
        ("line=nope", "line: no line is named \"nope\""),
        ("tz=Mars%2FOlympus", "tz: "),
        ("colour=red", "unknown field"),
    ] {
        for path in ["/reports", "/reports/export"] {
            let r = app.page(&format!("{path}?{query}&format=csv"), Some(&session), None).await;
            assert_eq!(r.status, 400, "{path}?{query}: {}", r.body);
            assert!(unescape(&r.body).contains(words), "{path}?{query}: {}", r.body);
        }
    }
    let r = app.page("/reports/export?format=xlsx", Some(&session), None).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exports are format=csv"), "{}", r.body);
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.page("/reports", Some(&agent), None).await.status, 403);
    assert_eq!(app.page("/reports/export?format=csv", Some(&agent), None).await.status, 403);
    assert_eq!(app.page("/reports", None, None).await.status, 401);
}

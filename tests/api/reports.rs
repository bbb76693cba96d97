//! Reports over real calls: `/reports` shows the figures per day (or hour)
//! in the line's time zone with its charts, `/reports/export` gives exactly
//! that table as a CSV, XLSX or PDF file named after its filters (read back
//! here: parsed, opened with calamine, its text extracted), and bad
//! filters are refused naming the field.

use crate::desk_helpers::*;
use crate::exports::{cell_text, datetime_text, pdf_row, pdf_text, squeezed, xlsx_rows};
use crate::helpers::{spawn_with, Options, TestApp, ADA_PHONE, ADMIN_TOKEN, SALES_NUMBER, SUPPORT_NUMBER};

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
pub fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
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
    let total = |body: &str, i: usize| -> String { total_cell(body, i).0 };
    // Calls, by caller ID, by keyed ID, verified (the report's first columns).
    assert_eq!(
        [total(&page.body, 0), total(&page.body, 1), total(&page.body, 2), total(&page.body, 3)],
        ["3", "1", "1", "2"]
    );

    // The page's export link: the same filters, as CSV.
    let (content_type, disposition, body) = download(&app, &page.body, "csv", &session).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert!(disposition.ends_with(&format!("_{}_all-lines_by-day_America-New_York.csv\"", today())), "{disposition}");
    let body = String::from_utf8(body).unwrap();
    assert_eq!(&header(&body)[..4], ["date", "line", "calls", "identified_by_caller_id"]);
    let rows = records(&body);
    assert_eq!(rows.len(), 8, "7 days and the total");
    let calls: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(calls, ["0", "0", "0", "0", "0", "0", "3", "3"]);
    assert_eq!((rows[6][0].as_str(), rows[7][0].as_str(), rows[7][1].as_str()), (today().as_str(), "total", "all"));

    // By hour, one line: the hours add up to the day (today in New York,
    // so cut in New York's hours: in UTC it may already be tomorrow).
    let path =
        format!("/reports/export?from={d}&to={d}&line=support&by=hour&tz=America%2FNew_York&format=csv", d = today());
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
        ("outcome=won", "outcome: \"won\" is not one of any, self_service"),
        ("status=VERIFIED", "status: \"VERIFIED\" is not one of any, verified"),
        ("method=voice", "method: \"voice\" is not one of any, ani"),
        ("colour=red", "unknown field"),
    ] {
        for path in ["/reports", "/reports/export"] {
            let r = app.page(&format!("{path}?{query}&format=csv"), Some(&session), None).await;
            assert_eq!(r.status, 400, "{path}?{query}: {}", r.body);
            assert!(unescape(&r.body).contains(words), "{path}?{query}: {}", r.body);
        }
    }
    let r = app.page("/reports/export?format=docx", Some(&session), None).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("format: \"docx\"; exports are csv, xlsx or pdf"), "{}", r.body);
    let r = app.page("/reports/export", Some(&session), None).await;
    assert!(r.status == 400 && r.body.contains("format: no format"), "{}", r.body);
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.page("/reports", Some(&agent), None).await.status, 403);
    for format in ["csv", "xlsx", "pdf"] {
        assert_eq!(app.page(&format!("/reports/export?format={format}"), Some(&agent), None).await.status, 403);
    }
    assert_eq!(app.page("/reports", None, None).await.status, 401);
}

/// Follows the page's link to its `format` export: the file's type, its
/// `Content-Disposition` and its bytes.
async fn download(app: &TestApp, page: &str, format: &str, session: &str) -> (String, String, Vec<u8>) {
    fetch(app, page, "export", format, session).await
}

/// Follows the page's link `id="{prefix}-{format}"` to a file: its type,
/// its `Content-Disposition` and its bytes.
pub async fn fetch(app: &TestApp, page: &str, prefix: &str, format: &str, session: &str) -> (String, String, Vec<u8>) {
    let marker = format!("id=\"{prefix}-{format}\" href=\"");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no {prefix}-{format} link")) + marker.len();
    let link = unescape(page[at..].split('"').next().unwrap());
    assert!(link.contains(&format!("format={format}")), "{link}");
    let r = app.http.get(format!("{}{link}", app.address)).header("cookie", format!("vouch_session={session}"));
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{link}");
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    assert_eq!(header("cache-control"), "no-store");
    (content_type, disposition, r.bytes().await.unwrap().to_vec())
}

/// `html` without its tags.
pub fn text_of(html: &str) -> String {
    let mut out = String::new();
    for (i, part) in html.split('<').enumerate() {
        out.push_str(if i == 0 { part } else { part.split_once('>').map_or("", |(_, text)| text) });
    }
    out
}

/// The total row's cell `i`: its text, and the link to its calls.
fn total_cell(page: &str, i: usize) -> (String, Option<String>) {
    let marker = format!("data-total=\"{i}\">");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no total {i}")) + marker.len();
    let cell = page[at..].split("</td>").next().unwrap();
    let link = cell.split_once("<a href=\"").map(|(_, rest)| unescape(rest.split('"').next().unwrap()));
    (text_of(cell), link)
}

/// The page's table: each row's label and cells as shown, the total last.
fn page_rows(page: &str) -> Vec<(String, Vec<String>)> {
    let body = &page[page.find("<tbody>").unwrap()..page.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let label = row.split("<th scope=\"row\">").nth(1).unwrap().split('<').next().unwrap().to_string();
            let cells =
                row.split("<td").skip(1).map(|c| text_of(c.split_once('>').unwrap().1.split("</td>").next().unwrap()));
            (label, cells.collect())
        })
        .collect()
}

#[tokio::test]
async fn the_page_draws_its_charts_and_every_export_holds_its_table() {
    let app = spawn_desk().await;
    let session = app.calls_for_figures(true).await;
    let page = app.page("/reports?tz=UTC", Some(&session), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let rows = page_rows(&page.body);
    assert_eq!(rows.len(), 8, "7 days and the total");
    let (today_label, today_cells) = &rows[6];
    assert_eq!((today_cells[0].as_str(), rows[7].0.as_str()), ("3", "Total"));

    // The charts, drawn as SVG in the page (no script, no image requests).
    let chart = |id: &str| -> String {
        let at = page.body.find(&format!("<figure id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}"));
        page.body[at..].split("</figure>").next().unwrap().to_string()
    };
    let funnel = chart("chart-funnel");
    assert!(funnel.contains("<svg") && funnel.contains("ID&amp;V funnel"), "{funnel}");
    assert!(funnel.contains("3 (100%)"), "the calls' bar: {funnel}");
    assert!(funnel.contains("2 (67%)"), "the verified bar: {funnel}");
    let outcomes = chart("chart-outcomes");
    assert!(outcomes.contains("How calls ended") && outcomes.contains(&today_label[5..]), "today's bar's label");
    assert!(chart("chart-ivr-time").contains("seconds from the first webhook to the hand-off"));

    // XLSX: the filters in the first rows, the header frozen above typed
    // cells that read as the page's numbers.
    let (content_type, disposition, xlsx) = download(&app, &page.body, "xlsx", &session).await;
    assert_eq!(content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(disposition.ends_with("_all-lines_by-day_UTC.xlsx\""), "{disposition}");
    let (sheet, cells) = xlsx_rows(&xlsx);
    assert_eq!(sheet, "ID&V report");
    let text = |r: usize, c: usize| cell_text(&cells[r][c]);
    assert_eq!(
        (text(0, 0).as_str(), text(3, 0).as_str(), text(3, 1).as_str()),
        ("Vouch ID&V report", "Line", "all lines")
    );
    assert_eq!((text(1, 0).as_str(), text(2, 0).as_str(), text(2, 1)), ("From", "To", today_label.clone()));
    assert!(matches!(cells[1][1], calamine::Data::DateTime(_)), "From is a date: {:?}", cells[1][1]);
    assert_eq!((text(4, 1).as_str(), text(5, 1).as_str()), ("UTC", "per day"));
    let filters: Vec<(String, String)> = (6..9).map(|r| (text(r, 0), text(r, 1))).collect();
    let any = |name: &str| (name.to_string(), "any".to_string());
    assert_eq!(filters, [any("Outcome"), any("ID&V status"), any("Method")]);
    let head = vouch::report::xlsx::HEADER_ROW as usize;
    let header: Vec<String> = cells[head].iter().map(cell_text).collect();
    assert_eq!(&header[..5], ["Date", "Calls", "Identified by caller ID", "Identified by keyed ID", "Verified"]);
    assert_eq!(cells.len(), head + 1 + 8, "title, filters and a note, header, 7 days, total");
    let (today_row, total_row) = (head + 7, head + 8);
    assert!(matches!(cells[today_row][0], calamine::Data::DateTime(_)), "a day is a date: {:?}", cells[today_row][0]);
    assert_eq!(text(today_row, 0), *today_label);
    assert_eq!(cells[today_row][1], calamine::Data::Float(3.0), "calls are numbers");
    assert_eq!(cells[total_row][4], calamine::Data::Float(2.0), "verified in the total");
    let containment = header.iter().position(|h| h == "Containment").unwrap();
    let shown: f64 = today_cells[containment - 1].trim_end_matches('%').parse().unwrap();
    match &cells[today_row][containment] {
        calamine::Data::Float(v) => assert!((v * 100.0 - shown).abs() < 0.05, "{v} against {shown}%"),
        other => panic!("containment is a number: {other:?}"),
    }

    // PDF: the table as shown, each row on a line, and the charts.
    let (content_type, disposition, pdf) = download(&app, &page.body, "pdf", &session).await;
    assert_eq!(content_type, "application/pdf");
    assert!(disposition.ends_with("_all-lines_by-day_UTC.pdf\""), "{disposition}");
    assert!(pdf.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf) {
        for title in ["ID&V funnel", "How calls ended", "Time in the IVR", "3 (100%)", "Time zone: UTC"] {
            assert!(text.contains(title), "{title} in the PDF:\n{text}");
        }
        for (label, cells) in &rows {
            let want = squeezed(std::iter::once(label.as_str()).chain(cells.iter().map(String::as_str)));
            assert_eq!(pdf_row(&text, label).as_deref(), Some(want.as_str()), "{label}'s row:\n{text}");
        }
    }
}

#[tokio::test]
async fn a_figure_links_to_the_calls_behind_it_and_listing_them_is_audited() {
    let app = spawn_desk().await;
    let session = app.calls_for_figures(true).await;
    let page = app.page("/reports?tz=UTC", Some(&session), None).await;
    // The total's "verified" cell (the report's fourth figure) links to its calls.
    let (verified, link) = total_cell(&page.body, 3);
    let link = link.expect("a link to the verified calls");
    assert_eq!(verified, "2");
    assert!(link.starts_with("/reports/calls?figure=verified&start="), "{link}");
    let list = app.page(&link, Some(&session), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let sids: Vec<&str> = list.body.split("data-call=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(sids.len(), 2, "the two verified calls: {}", list.body);
    for sid in &sids {
        let record = app.page(&format!("/api/calls/{sid}"), None, Some(API_TOKEN)).await;
        let record: serde_json::Value = serde_json::from_str(&record.body).unwrap();
        assert_eq!(record["idv_status"], "verified", "{sid}");
        assert!(list.body.contains(&format!("href=\"/agent/calls/{sid}\"")), "each call opens its screen pop");
    }
    assert!(list.body.contains("Calls behind “Verified”") && list.body.contains("audit log"), "{}", list.body);
    // A figure with no calls has no link; the failed verifications here are none.
    assert_eq!(total_cell(&page.body, 7), ("0".to_string(), None));

    // Listing them is audited: who, which figure, how many; no customer data.
    let entries = app.audited("report_calls").await;
    let e = &entries[0];
    assert_eq!((e["actor"].as_str(), e["detail"]["figure"].as_str()), (Some(SUPERVISOR), Some("verified")), "{e}");
    assert_eq!(e["detail"]["calls"], 2, "{e}");
    assert!(!e.to_string().contains("Lovelace"), "{e}");

    // Downloading them is audited too, and the file has them all.
    let at = list.body.find("id=\"export-calls-csv\" href=\"").unwrap() + "id=\"export-calls-csv\" href=\"".len();
    let export = unescape(list.body[at..].split('"').next().unwrap());
    let csv = app.page(&export, Some(&session), None).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    let rows = records(&csv.body);
    assert_eq!(header(&csv.body)[..3], ["call_sid", "started", "line"]);
    let mut got: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let mut want = sids.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r[7] == "verified"), "{rows:?}");
    let entries = app.audited("report_calls_exported").await;
    assert_eq!(entries[0]["detail"]["figure"], "verified");

    // Refusals: the role, each bad field named, and a format it has not.
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.page(&link, Some(&agent), None).await.status, 403);
    assert_eq!(app.page(&link, None, None).await.status, 401);
    for (query, words) in [
        ("figure=in_ivr&start=0&end=10", "figure: \"in_ivr\" is not a report figure"),
        ("figure=calls&start=soon&end=10", "start: \"soon\" is not a time"),
        ("figure=calls&start=10&end=10", "end: the period ends before it starts"),
        ("figure=calls&start=0&end=99999999", "end: a period of at most 400 days"),
        ("figure=calls&start=0&end=10&line=nope", "line: no line is named"),
        ("figure=calls&start=0&end=10&after=x", "after: \"x\" is not a call"),
        ("figure=calls&start=0&end=10&format=docx", "format: \"docx\"; the calls download as csv, xlsx or pdf"),
        ("figure=calls&start=0&end=10&method=voice", "method: \"voice\" is not one of"),
        ("figure=calls&start=0&end=10&colour=red", "unknown field"),
    ] {
        let r = app.page(&format!("/reports/calls?{query}"), Some(&session), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(unescape(&r.body).contains(words), "{query}: {}", r.body);
    }
}

/// A list of calls' rows: each call's CallSid and its cells' texts (a
/// badge's symbol left out).
fn listed(page: &str) -> Vec<(String, Vec<String>)> {
    let body = &page[page.find("<tbody>").unwrap()..page.find("</tbody>").unwrap()];
    body.split("<tr data-call=\"")
        .skip(1)
        .map(|row| {
            let sid = row.split('"').next().unwrap().to_string();
            let mut cells = Vec::new();
            let mut rest = row;
            while let Some(at) = rest.find("<t") {
                let tag = &rest[at..];
                let close = match &tag[..3] {
                    "<td" => "</td>",
                    "<th" => "</th>",
                    _ => {
                        rest = &tag[2..];
                        continue;
                    }
                };
                let inner = tag.split_once('>').unwrap().1;
                let content = inner.split(close).next().unwrap();
                let text = unescape(&text_of(content));
                cells.push(text.trim_start_matches(['✓', '!', '?']).trim().to_string());
                rest = &inner[content.len()..];
            }
            (sid, cells)
        })
        .collect()
}

#[tokio::test]
async fn the_calls_behind_a_figure_download_as_xlsx_and_pdf_exactly_as_listed() {
    let app = spawn_desk().await;
    app.call(ZOE_PHONE, SUPPORT_NUMBER, &[&format!("{ZOE_PIN}#")]).await;
    let session = app.calls_for_figures(true).await;
    let page = app.page("/reports?tz=UTC", Some(&session), None).await;
    let (calls, link) = total_cell(&page.body, 0);
    assert_eq!(calls, "4");
    let list = app.page(&link.expect("a link to the calls"), Some(&session), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let rows = listed(&list.body);
    assert_eq!(rows.len(), 4, "{}", list.body);
    let zoe = rows
        .iter()
        .find(|(_, cells)| cells[1] == ZOE_NAME)
        .unwrap_or_else(|| panic!("Zoë's call, her name as it is: {rows:?}"));
    assert_eq!((zoe.1[4].as_str(), zoe.1[5].as_str()), ("caller ID", "Verified"), "{zoe:?}");

    // XLSX: the filters in the first rows, then the page's columns and the
    // CallSid, the start a date and time and the time in the IVR a number.
    let (content_type, disposition, xlsx) = fetch(&app, &list.body, "export-calls", "xlsx", &session).await;
    assert_eq!(content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(disposition.starts_with("attachment; filename=\"vouch-calls_calls_"), "{disposition}");
    assert!(disposition.ends_with("_all-lines.xlsx\""), "{disposition}");
    let (sheet, cells) = xlsx_rows(&xlsx);
    assert_eq!(sheet, "Calls");
    let text = |r: usize, c: usize| cell_text(&cells[r][c]);
    assert_eq!(text(0, 0), "Vouch: calls behind “Calls”");
    let filters: Vec<(String, String)> = (1..11).map(|r| (text(r, 0), text(r, 1))).collect();
    let names: Vec<&str> = filters.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["Figure", "From", "To", "Line", "Time zone", "Outcome", "ID&V status", "Method", "Queue", "Agent rung"]
    );
    assert_eq!((filters[0].1.as_str(), filters[3].1.as_str(), filters[4].1.as_str()), ("Calls", "all lines", "UTC"));
    let head = vouch::report::xlsx::CALLS_HEADER_ROW as usize;
    let header: Vec<String> = cells[head].iter().map(cell_text).collect();
    assert_eq!(header, vouch::report::calls::SHOWN_HEADER);
    assert_eq!(cells.len(), head + 1 + 4, "the heading, the header and the four calls");
    for (i, (sid, shown)) in rows.iter().enumerate() {
        let row = &cells[head + 1 + i];
        assert!(matches!(row[0], calamine::Data::DateTime(_)), "a start is a date and time: {:?}", row[0]);
        assert_eq!(format!("{} UTC", datetime_text(&row[0])), shown[0], "the start, to the second");
        for col in [1, 2, 3, 4, 5, 6, 8, 9] {
            assert_eq!(cell_text(&row[col]), shown[col], "{sid}'s column {}", header[col]);
        }
        match (&row[7], shown[7].strip_suffix(" s")) {
            (calamine::Data::Float(v), Some(seconds)) => assert_eq!(v.to_string(), seconds, "{sid}"),
            (other, _) => assert_eq!(cell_text(other), shown[7], "{sid}: no hand-off, as listed"),
        }
        assert_eq!(cell_text(&row[10]), *sid);
    }

    // PDF: the page's columns, each call's row as listed.
    let (content_type, disposition, pdf) = fetch(&app, &list.body, "export-calls", "pdf", &session).await;
    assert_eq!(content_type, "application/pdf");
    assert!(disposition.ends_with("_all-lines.pdf\""), "{disposition}");
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains("Figure: Calls") && text.contains("Time zone: UTC"), "{text}");
        assert!(text.contains("Identified by") && text.contains("Customer ID"), "{text}");
        for (sid, shown) in &rows {
            let want = squeezed(shown.iter().map(String::as_str));
            let line = text.lines().map(|l| squeezed([l])).find(|l| l.contains(&squeezed([shown[1].as_str()])));
            assert_eq!(line.as_deref(), Some(want.as_str()), "{sid}'s row:\n{text}");
        }
    }

    // Both downloads are audited: which list, the format, how many.
    let entries = app.audited_n("report_calls_exported", 2).await;
    let formats: Vec<(&str, u64)> = entries
        .iter()
        .map(|e| (e["detail"]["format"].as_str().unwrap(), e["detail"]["calls"].as_u64().unwrap()))
        .collect();
    assert!(formats.contains(&("xlsx", 4)) && formats.contains(&("pdf", 4)), "{entries:?}");
    assert!(!serde_json::json!(entries).to_string().contains("Lovelace"), "no customer data in the audit log");

    // A filtered list's files carry the filter in their name and rows.
    let link = total_cell(&app.page("/reports?tz=UTC&method=ani", Some(&session), None).await.body, 0).1.unwrap();
    let list = app.page(&link, Some(&session), None).await;
    assert_eq!(listed(&list.body).len(), 2, "Ada's and Zoë's calls");
    let (_, disposition, xlsx) = fetch(&app, &list.body, "export-calls", "xlsx", &session).await;
    assert!(disposition.ends_with("_all-lines_method-ani.xlsx\""), "{disposition}");
    let (_, cells) = xlsx_rows(&xlsx);
    assert_eq!((cell_text(&cells[8][0]), cell_text(&cells[8][1])), ("Method".into(), "Caller ID".into()));
    assert_eq!(cells.len(), head + 1 + 2);
    let (_, disposition, _) = fetch(&app, &list.body, "export-calls", "pdf", &session).await;
    assert!(disposition.ends_with("_all-lines_method-ani.pdf\""), "{disposition}");
}

/// `page`'s `<select name="name">`: the value of its selected option.
fn selected(page: &str, name: &str) -> String {
    let at = page.find(&format!("<select name=\"{name}\">")).unwrap_or_else(|| panic!("no {name} select"));
    let select = page[at..].split("</select>").next().unwrap();
    let option = select.split("<option").find(|o| o.contains(" selected>")).unwrap_or_else(|| panic!("{select}"));
    option.split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn filters_on_outcome_status_and_method_count_list_and_export_only_their_calls() {
    let app = spawn_desk().await;
    // Ada verified by caller ID, a stranger who opts out, Grace verified by keyed ID.
    let session = app.calls_for_figures(true).await;
    let page = app.page("/reports?tz=UTC&method=ani", Some(&session), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!((selected(&page.body, "method"), selected(&page.body, "outcome")), ("ani".into(), String::new()));
    let totals: Vec<String> = (0..4).map(|i| total_cell(&page.body, i).0).collect();
    assert_eq!(totals, ["1", "1", "0", "1"], "calls, by caller ID, by keyed ID, verified: Ada's call only");
    assert!(unescape(&page.body).contains("on all lines, with identified by Caller ID."), "{}", page.body);

    // The total's calls link carries the filter: it lists Ada's call alone.
    let link = total_cell(&page.body, 0).1.expect("a link to the calls");
    assert!(link.contains("&method=ani"), "{link}");
    let list = app.page(&link, Some(&session), None).await;
    let sids: Vec<&str> = list.body.split("data-call=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(sids.len(), 1, "{}", list.body);
    let record = app.page(&format!("/api/calls/{}", sids[0]), None, Some(API_TOKEN)).await;
    let record: serde_json::Value = serde_json::from_str(&record.body).unwrap();
    assert_eq!((record["idv_method"].as_str(), record["idv_status"].as_str()), (Some("ani"), Some("verified")));
    assert!(unescape(&list.body).contains("(identified by Caller ID)"), "{}", list.body);
    let entries = app.audited("report_calls").await;
    assert_eq!(entries[0]["detail"]["method"], "ani", "the audit log says which calls: {}", entries[0]);

    // The exports carry it in their name, their rows and their figures.
    let (_, disposition, csv) = download(&app, &page.body, "csv", &session).await;
    assert!(disposition.ends_with("_all-lines_by-day_UTC_method-ani.csv\""), "{disposition}");
    let rows = records(&String::from_utf8(csv).unwrap());
    assert_eq!((rows[7][0].as_str(), rows[7][2].as_str(), rows[7][5].as_str()), ("total", "1", "1"));
    let (_, _, xlsx) = download(&app, &page.body, "xlsx", &session).await;
    let (_, cells) = xlsx_rows(&xlsx);
    assert_eq!((cell_text(&cells[8][0]), cell_text(&cells[8][1])), ("Method".into(), "Caller ID".into()));

    // Filters combine; every verified call; the opted-out stranger alone.
    for (query, calls) in [
        ("status=verified", "2"),
        ("status=verified&method=keyed", "1"),
        ("outcome=opted_out", "1"),
        ("outcome=abandoned", "0"),
    ] {
        let page = app.page(&format!("/reports?tz=UTC&{query}"), Some(&session), None).await;
        assert_eq!((page.status, total_cell(&page.body, 0).0), (200, calls.to_string()), "{query}");
    }
    let stranger = app.page("/reports?tz=UTC&outcome=opted_out", Some(&session), None).await;
    let opted_out = page_rows(&stranger.body).last().unwrap().1[5].clone();
    assert_eq!(opted_out, "1", "the opted-out column of the opted-out calls");
}

/// Three calls put in the support queue and one in the sales queue, then
/// the queue filter on the page, the drill-down, the export and the API
/// agree, on `database_url` (`None`: a new SQLite file).
async fn a_queue_filter_counts_the_calls_put_in_that_queue(database_url: Option<String>) {
    let app = spawn_with(Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", users_toml())],
        database_url,
        ..Options::default()
    })
    .await;
    let sales = app.call(ADA_PHONE, SALES_NUMBER, &[]).await.call_sid;
    let session = app.calls_for_figures(true).await;
    let (_, record) = app.api_call(&sales, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["queue"], "sales", "{record}");

    let page = app.page("/reports?tz=UTC", Some(&session), None).await;
    assert_eq!(total_cell(&page.body, 0).0, "4", "every call");
    assert!(page.body.contains("<option value=\"sales\">sales</option>"), "the queues to choose from: {}", page.body);
    assert!(!page.body.contains("<select name=\"agent\">"), "no line dials an agent: no agent filter");
    for (queue, calls) in [("support", "3"), ("sales", "1")] {
        let page = app.page(&format!("/reports?tz=UTC&queue={queue}"), Some(&session), None).await;
        assert_eq!((page.status, total_cell(&page.body, 0).0), (200, calls.to_string()), "{queue}: {}", page.body);
        assert_eq!(selected(&page.body, "queue"), queue);
        assert!(unescape(&page.body).contains(&format!("with queue {queue}.")), "{}", page.body);
    }
    // The sales line asks for a customer ID (no caller-ID lookup): Ada keys
    // nothing and is put through unidentified.
    let none = app.page("/reports?tz=UTC&queue=sales&status=verified", Some(&session), None).await;
    assert_eq!(total_cell(&none.body, 0).0, "0", "filters combine");
    let page = app.page("/reports?tz=UTC&queue=sales&status=unidentified", Some(&session), None).await;
    assert_eq!(total_cell(&page.body, 0).0, "1", "filters combine: Ada, unidentified on sales");
    let link = total_cell(&page.body, 0).1.expect("a link to the calls");
    assert!(link.contains("&queue=sales"), "{link}");
    let list = app.page(&link, Some(&session), None).await;
    let sids: Vec<&str> = list.body.split("data-call=\"").skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
    assert_eq!(sids, [sales.as_str()], "{}", list.body);
    let (_, disposition, csv) = download(&app, &page.body, "csv", &session).await;
    assert!(disposition.ends_with("_status-unidentified_queue-sales.csv\""), "{disposition}");
    let rows = records(&String::from_utf8(csv).unwrap());
    assert_eq!((rows[7][0].as_str(), rows[7][2].as_str()), ("total", "1"));

    let refused = app.page("/reports?tz=UTC&queue=billing", Some(&session), None).await;
    assert_eq!(refused.status, 400);
    assert!(
        unescape(&refused.body).contains(r#"queue: "billing" is not one of any, sales, support"#),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn a_queue_filter_counts_the_calls_put_in_that_queue_in_sqlite() {
    a_queue_filter_counts_the_calls_put_in_that_queue(None).await;
}

#[tokio::test]
async fn a_queue_filter_counts_the_calls_put_in_that_queue_in_postgres() {
    let Some(pg) = crate::database::postgres().await else { return };
    a_queue_filter_counts_the_calls_put_in_that_queue(Some(pg.url.clone())).await;
}

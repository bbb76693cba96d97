//! Pages rendered by a real browser: headless Chromium opens a screen
//! pop's signed link and the rendered DOM must show the status and the
//! name; it opens the dashboard as a supervisor (driven over the DevTools
//! protocol, see [`crate::devtools`]) and a new call must appear on it
//! without a reload. Without Chromium each test says SKIPPED and passes,
//! unless `VOUCH_REQUIRE_BROWSER=1` (CI installs it and sets that).

use crate::desk_helpers::*;
use crate::devtools::Browser;
use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn chromium() -> Option<PathBuf> {
    let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"];
    std::env::var_os("VOUCH_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Runs Chromium headless with a fresh profile on `url`; its stdout.
fn run_chromium(bin: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut child = Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "chromium exited with {status}");
    out
}

/// Chromium, or `None` after saying SKIPPED (straight to stderr, past the
/// test harness's capture) when it is not installed and not required.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let bin = chromium();
    if bin.is_none() {
        assert!(
            std::env::var("VOUCH_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "VOUCH_REQUIRE_BROWSER=1 but no chromium binary was found"
        );
        let line = format!("SKIPPED {test} browser test: chromium not installed (apt-get install chromium)\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
    bin
}

/// Where the browser tests leave their screenshots: `target/tmp/screenshots`.
pub fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots directory");
    dir.join(name)
}

#[tokio::test]
async fn the_screen_pop_renders_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("screen pop") else { return };
    let app = spawn_desk().await;
    let sid = app.call(ZOE_PHONE, SUPPORT_NUMBER, &["1111#", "2222#", "3333#", "4444#"]).await.call_sid;
    let url = format!("{}{}", app.address, screen_pop_link(&sid, now()));
    let profile = std::env::temp_dir().join(format!("vouch-chromium-{}-{}", std::process::id(), &sid[2..10]));
    let shot = profile.join("screen-pop.png");

    // Chromium blocks its thread: run it off the runtime that serves Vouch.
    let (dom, png) = tokio::task::spawn_blocking({
        let (profile, shot) = (profile.clone(), shot.clone());
        move || {
            let dom = run_chromium(&bin, &profile, &["--dump-dom".into()], &url);
            let size = ["--window-size=1100,900".to_string(), format!("--screenshot={}", shot.display())];
            run_chromium(&bin, &profile, &size, &url);
            (dom, std::fs::read(&shot).unwrap_or_default())
        }
    })
    .await
    .unwrap();
    std::fs::write(screenshot_path("screen-pop.png"), &png).expect("keep the screenshot");
    let _ = std::fs::remove_dir_all(&profile);

    assert!(dom.contains("Identified only"), "the status, rendered:\n{dom}");
    // The DOM serialiser escapes text again: the name arrived as text, not markup.
    assert!(dom.contains("Zoë O'Brien &amp; &lt;Sons&gt; \"Ltd\""), "the name, rendered:\n{dom}");
    assert!(dom.contains("badge-identified"));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot of the page ({} bytes)", png.len());
}

#[tokio::test]
async fn the_dashboard_shows_a_new_call_live_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("dashboard") else { return };
    let app = spawn_desk().await;
    let session = app.calls_for_figures(false).await;
    let mut browser = Browser::logged_in(&bin, &app.address, &session, "/dashboard").await;
    // The stream connected and its first event applied (the script says so).
    browser.wait_for("document.querySelector('.dashboard').dataset.live === 'on'").await;
    let cells = browser.cells().await;
    let now = vouch::clock::now();
    let stats = app.page(&format!("/api/stats?from={}&to={}", now - now % 86_400, now + 1), Some(&session), None).await;
    let stats: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    for field in ["calls", "identified_by_caller_id", "verified", "opted_out", "in_ivr", "with_agent"] {
        assert_eq!(cells[&format!("all.{field}")], stats["total"][field].to_string(), "{field} on screen");
    }
    assert_eq!(cells["all.calls"], "2");

    // A new call, and no reload: a mark left on the page survives.
    browser.eval("window.vouchTestMark = 'still here'; true").await;
    app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await;
    browser.wait_for("document.querySelector('[data-cell=\"all.calls\"]').textContent === '3'").await;
    assert_eq!(browser.eval("window.vouchTestMark").await, "still here", "updated without a reload");
    assert_eq!(browser.cells().await["all.opted_out"], "2");
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot ({} bytes)", png.len());
    std::fs::write(screenshot_path("dashboard.png"), &png).expect("keep the screenshot");
}

#[tokio::test]
async fn the_reports_page_and_its_filters_work_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("reports") else { return };
    let app = spawn_desk().await;
    let session = app.calls_for_figures(false).await;
    let mut browser = Browser::logged_in(&bin, &app.address, &session, "/reports").await;
    let total = "document.querySelector('[data-total=\"0\"]').textContent";
    let now = vouch::clock::now();
    let stats = app.page(&format!("/api/stats?from={}&to={}", now - 2 * 86_400, now + 1), Some(&session), None).await;
    let stats: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(browser.eval(total).await, stats["total"]["calls"].to_string(), "the week's calls on screen");
    assert_eq!(browser.eval("document.querySelector('[data-total=\"3\"]').textContent").await, "1", "verified");
    // The three charts are drawn (SVG in the page, under its CSP), with
    // their bars and labels laid out at a readable size.
    let charts = "[...document.querySelectorAll('.charts svg')].map(s => s.getBoundingClientRect().width > 300 && s.querySelectorAll('rect').length > 1 && s.querySelectorAll('text').length > 4).join()";
    assert_eq!(browser.eval(charts).await, "true,true,true", "three charts, each wide, with bars and labels");
    let png = browser.screenshot().await;
    std::fs::write(screenshot_path("reports.png"), &png).expect("keep the screenshot");

    // The filters: the sales line, by hour, submitted as a person would.
    browser.eval("document.querySelector('select[name=line]').value = 'sales'; document.querySelector('select[name=by]').value = 'hour'; document.querySelector('form.filters button').click(); true").await;
    browser.wait_for("location.search.includes('line=sales') && document.readyState === 'complete'").await;
    browser.wait_for("document.querySelector('[data-total=\"0\"]') !== null").await;
    assert_eq!(browser.eval(total).await, "0", "no calls on the sales line");
    assert_eq!(browser.eval("document.querySelector('.report thead th').textContent").await, "Hour");
    assert!(
        browser.eval("document.getElementById('export-csv').href").await.contains("line=sales&tz="),
        "the export keeps the filters"
    );

    // A filter on calls: the unidentified ones, all lines, by day.
    browser.eval("location.href = '/reports'; true").await;
    // The page before has the same form: wait for the new one (no query).
    browser.wait_for("location.search === '' && document.readyState === 'complete' && document.querySelector('select[name=status]') !== null").await;
    browser.eval("document.querySelector('select[name=status]').value = 'unidentified'; document.querySelector('form.filters button').click(); true").await;
    browser.wait_for("location.search.includes('status=unidentified') && document.readyState === 'complete'").await;
    browser.wait_for("document.querySelector('[data-total=\"0\"]') !== null").await;
    assert_eq!(browser.eval(total).await, "1", "the stranger's call alone");
    assert_eq!(browser.eval("document.querySelector('[data-total=\"3\"]').textContent").await, "0", "none verified");
    assert_eq!(browser.eval("document.querySelector('select[name=status]').value").await, "unidentified", "kept");
    assert!(browser
        .eval("document.getElementById('export-pdf').href")
        .await
        .contains("&status=unidentified&format=pdf"));
    let png = browser.screenshot().await;
    std::fs::write(screenshot_path("reports-filtered.png"), &png).expect("keep the screenshot");

    // A figure opens the calls behind it: the week's verified call.
    browser.eval("location.href = '/reports'; true").await;
    browser
        .wait_for("location.search === '' && document.readyState === 'complete' && document.querySelector('[data-total=\"3\"] a') !== null")
        .await;
    browser.eval("document.querySelector('[data-total=\"3\"] a').click(); true").await;
    browser.wait_for("location.pathname === '/reports/calls' && document.readyState === 'complete'").await;
    assert_eq!(browser.eval("document.querySelectorAll('tr[data-call]').length").await, "1", "the verified call");
    assert!(browser.eval("document.querySelector('tr[data-call] a').href").await.contains("/agent/calls/CA"));
    let png = browser.screenshot().await;
    std::fs::write(screenshot_path("report-calls.png"), &png).expect("keep the screenshot");

    // The call opens on its screen pop, with its timeline for the supervisor.
    browser.eval("document.querySelector('tr[data-call] a').click(); true").await;
    browser.wait_for("location.pathname.startsWith('/agent/calls/') && document.readyState === 'complete'").await;
    let steps =
        "[...document.querySelectorAll('.timeline-table tbody tr td:nth-child(3)')].map(c => c.textContent).join()";
    assert_eq!(browser.eval(steps).await, "CRM,Played,Entry,CRM,Played,Hand-off", "Ada's verified call, step by step");
    let png = browser.screenshot().await;
    std::fs::write(screenshot_path("call-timeline.png"), &png).expect("keep the screenshot");
}

#[tokio::test]
async fn the_scheduled_reports_page_lists_a_report_and_a_call_list_in_headless_chromium() {
    let Some(bin) = chromium_or_skip("scheduled reports") else { return };
    let toml = agent_line_toml().replace("[lines.support]\n", "[lines.support]\nscheduled_call_lists = true\n")
        + "\n[[reports.schedule]]\nname = \"nightly\"\nevery = \"day\"\nat = \"00:00\"\ntz = \"UTC\"\n\
           formats = [\"csv\", \"xlsx\", \"pdf\"]\ncalls = true\n";
    let app = spawn_with(Options { toml, env: vec![("VOUCH_USERS", users_toml())], ..Options::default() }).await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    // The schedule fell due at midnight: its files are written at start.
    let rows = "document.querySelectorAll('tr[data-file]').length";
    let mut browser = Browser::logged_in(&bin, &app.address, &session, "/reports/files").await;
    for _ in 0..100 {
        if browser.eval(rows).await == "4" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        browser.eval("location.reload(); true").await;
        browser.wait_for("document.readyState === 'complete'").await;
    }
    assert_eq!(browser.eval(rows).await, "4", "the report as CSV, XLSX and PDF, and the call list");
    let kinds = "[...document.querySelectorAll('tr[data-file] td:nth-child(4)')].map(c => c.textContent).sort().join()";
    assert_eq!(browser.eval(kinds).await, "CSV,CSV, call list,PDF,XLSX");
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot ({} bytes)", png.len());
    std::fs::write(screenshot_path("report-files.png"), &png).expect("keep the screenshot");
}

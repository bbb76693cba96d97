//! Scheduled reports (`[[reports.schedule]]`): two instances sharing a
//! database write a report that fell due exactly once, keep it in the
//! database so each serves it at `/reports/files`, and write it to the
//! configured directory; racing writers of one period produce it once.

use crate::desk_helpers::*;
use crate::exports::{cell_text, xlsx_rows};
use crate::helpers::{spawn_with, sqlite_url, Options, TestApp, ADMIN_TOKEN};
use vouch::config::{Config, DatabaseUrl};
use vouch::store::{CallRecord, Db, RecordOutcome};

const DAY: u64 = 86_400;

/// Yesterday and the day before, in UTC.
fn days(now: u64) -> (String, String) {
    let date = |at: u64| vouch::report::today(&vouch::config::LineTimeZone::utc(), at).to_string();
    (date(now - DAY), date(now - 2 * DAY))
}

/// Two calls yesterday (UTC noon) and one the day before, in `url`'s database.
async fn seed(url: &str, now: u64) {
    let db = Db::open(&DatabaseUrl::parse(url, "DATABASE_URL").unwrap()).await.unwrap().unwrap();
    let noon = now - now % DAY - DAY / 2;
    let records: Vec<CallRecord> =
        [(noon, RecordOutcome::Agent), (noon + 60, RecordOutcome::SelfService), (noon - DAY, RecordOutcome::Agent)]
            .into_iter()
            .enumerate()
            .map(|(i, (at, outcome))| {
                let mut r = CallRecord::new(&format!("CA{i:032}"), "support", "+1********01".into(), at);
                (r.outcome, r.handed_off_at) = (outcome, Some(at + 20));
                r
            })
            .collect();
    db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
    db.close().await;
}

fn schedule_toml(name: &str, dir: &std::path::Path) -> String {
    format!(
        "{}\n[[reports.schedule]]\nname = \"{name}\"\nevery = \"day\"\nat = \"00:00\"\ntz = \"UTC\"\n\
         formats = [\"csv\", \"xlsx\"]\ndirectory = \"{}\"\n",
        agent_line_toml(),
        dir.display()
    )
}

async fn desk(url: &str, toml: &str) -> TestApp {
    spawn_with(Options {
        toml: toml.to_string(),
        env: vec![("VOUCH_USERS", users_toml())],
        database_url: Some(url.to_string()),
        ..Options::default()
    })
    .await
}

async fn written_once_and_served_by_every_instance(url: &str, name: &str) {
    let now = vouch::clock::now();
    seed(url, now).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = schedule_toml(name, dir.path());
    let (a, b) = (desk(url, &toml).await, desk(url, &toml).await);
    let (yesterday, before) = days(now);
    let csv_name = format!("{name}_vouch-report_{yesterday}_{yesterday}_all-lines_by-day_UTC.csv");

    // Each instance lists the files, whichever wrote them.
    let session_b = b.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let mut listed = String::new();
    for _ in 0..200 {
        listed = b.page("/reports/files", Some(&session_b), None).await.body;
        if listed.contains(&format!("data-file=\"{}", csv_name.replace(".csv", ".xlsx"))) && listed.contains(&csv_name)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(listed.contains(&format!("href=\"/reports/files/{csv_name}\"")), "{listed}");
    assert!(listed.contains(&format!("<strong>{name}</strong>: every day at 00:00 (UTC): the day before")), "{listed}");
    let stored = a.store.db().unwrap().report_files(10).await.unwrap();
    let names: Vec<&str> = stored.iter().filter(|f| f.schedule == name).map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 2, "one run, two formats: {names:?}");
    assert!(stored.iter().all(|f| f.period_start == yesterday && f.period_end == yesterday));

    // Served from the database by the other instance: yesterday's two calls.
    let session_a = a.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let csv = a.page(&format!("/reports/files/{csv_name}"), Some(&session_a), None).await;
    assert_eq!((csv.status, csv.content_type.as_str()), (200, "text/csv; charset=utf-8"), "{}", csv.body);
    let rows: Vec<Vec<String>> = csv.body.lines().map(|l| l.split(',').map(str::to_string).collect()).collect();
    assert_eq!((rows[1][0].as_str(), rows[1][2].as_str()), (yesterday.as_str(), "2"), "{}", csv.body);
    assert_eq!((rows[2][0].as_str(), rows[2][2].as_str(), rows.len()), ("total", "2", 3));
    let xlsx_name = csv_name.replace(".csv", ".xlsx");
    let r = b
        .http
        .get(format!("{}/reports/files/{xlsx_name}", b.address))
        .header("cookie", format!("vouch_session={session_b}"));
    let xlsx = r.send().await.unwrap().bytes().await.unwrap();
    let (_, cells) = xlsx_rows(&xlsx);
    let first = vouch::report::xlsx::HEADER_ROW as usize + 1;
    assert_eq!((cell_text(&cells[first][0]), cell_text(&cells[first][1])), (yesterday.clone(), "2".to_string()));

    // And in the directory, whole.
    let mut in_dir: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    in_dir.sort();
    assert_eq!(in_dir, [csv_name.clone(), xlsx_name]);

    // Two writers racing for one period (the day before): one writes it.
    let config = Config::from_toml(&toml, &std::collections::HashMap::new()).unwrap();
    let schedule = &config.reports.schedules[0];
    let due =
        vouch::report::schedule::Due { at: now - DAY, from: before.parse().unwrap(), to: before.parse().unwrap() };
    let (db_a, db_b) = (a.store.db().unwrap(), b.store.db().unwrap());
    let (one, two) = tokio::join!(
        vouch::report::schedule::run(&db_a, &config, schedule, &due, now),
        vouch::report::schedule::run(&db_b, &config, schedule, &due, now),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!((one.len() + two.len(), one.is_empty() || two.is_empty()), (2, true), "written once: {one:?} {two:?}");
    let again = vouch::report::schedule::run(&db_a, &config, schedule, &due, now + 60).await.unwrap();
    assert!(again.is_empty(), "a run done is not written again");

    // Supervisors only; a bad or unknown name is refused.
    let agent = a.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(a.page("/reports/files", Some(&agent), None).await.status, 403);
    assert_eq!(a.page(&format!("/reports/files/{csv_name}"), Some(&agent), None).await.status, 403);
    assert_eq!(a.page(&format!("/reports/files/{csv_name}"), None, None).await.status, 401);
    assert_eq!(a.page("/reports/files/nope.csv", Some(&session_a), None).await.status, 404);
    assert_eq!(a.page("/reports/files/..%2Fetc", Some(&session_a), None).await.status, 400);
}

#[tokio::test]
async fn a_scheduled_report_is_written_once_and_served_by_every_instance_sharing_sqlite() {
    let (url, _dir) = sqlite_url();
    written_once_and_served_by_every_instance(&url, "nightly-sqlite").await;
}

#[tokio::test]
async fn a_scheduled_report_is_written_once_and_served_by_every_instance_sharing_postgres() {
    let Some(pg) = crate::database::postgres().await else { return };
    written_once_and_served_by_every_instance(&pg.url, "nightly-postgres").await;
}

/// A line that opts in gets its calls listed by a schedule that asks for
/// them; the list is audited, marked on the page, and an erasure rewrites
/// it (in the database and in the directory) without the customer's calls.
async fn a_call_list_is_written_for_a_line_that_opts_in_and_an_erasure_reaches_it(url: &str, name: &str) {
    let now = vouch::clock::now();
    let noon = now - now % DAY - DAY / 2;
    let db = Db::open(&DatabaseUrl::parse(url, "DATABASE_URL").unwrap()).await.unwrap().unwrap();
    let customers = [("12345678", "Ada Lovelace"), ("87654321", "Grace Hopper"), ("12345678", "Ada Lovelace")];
    let records: Vec<CallRecord> = customers
        .iter()
        .enumerate()
        .map(|(i, (id, customer))| {
            let mut r =
                CallRecord::new(&format!("CA{:032}", 700 + i), "support", "+1********01".into(), noon + i as u64);
            (r.customer_id, r.customer_name) = (Some(id.to_string()), Some(customer.to_string()));
            (r.outcome, r.handed_off_at, r.queue) = (RecordOutcome::Agent, Some(noon + 30), Some("support".into()));
            r
        })
        .collect();
    db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
    db.close().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = schedule_toml(name, dir.path())
        .replace("[lines.support]\n", "[lines.support]\nscheduled_call_lists = true\n")
        + "calls = true\n";
    let app = desk(url, &toml).await;
    let (yesterday, _) = days(now);
    let list_name = format!("{name}_vouch-calls_{yesterday}_{yesterday}_support.csv");
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let mut listed = String::new();
    for _ in 0..200 {
        listed = app.page("/reports/files", Some(&session), None).await.body;
        if listed.contains(&format!("data-file=\"{list_name}\"")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(listed.contains("<td>CSV, call list</td>"), "{listed}");
    assert!(listed.contains("with the calls of support listed (customer data)"), "{listed}");
    let written = app.audited("call_list_written").await;
    assert_eq!(
        (written[0]["actor"].as_str(), written[0]["detail"]["file"].as_str()),
        (Some("scheduled reports"), Some(list_name.as_str())),
        "{written:?}"
    );

    let list = app.page(&format!("/reports/files/{list_name}"), Some(&session), None).await;
    assert_eq!(list.status, 200);
    let rows: Vec<&str> = list.body.lines().collect();
    assert!(rows[0].starts_with("call_sid,started,line,caller,customer_id,customer_name,"), "{}", list.body);
    assert_eq!(rows.len(), 4, "a header and the three calls: {}", list.body);
    assert_eq!(list.body.matches("Ada Lovelace").count(), 2);
    let downloaded = app.audited("call_list_downloaded").await;
    assert_eq!(downloaded[0]["detail"]["file"].as_str(), Some(list_name.as_str()));

    // Ada is erased: her calls leave the stored list and its copy.
    let r = app.http.delete(format!("{}/api/customers/12345678/records", app.address)).bearer_auth(ADMIN_TOKEN);
    let erased: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!((erased["records"].as_u64(), erased["report_files"].as_u64()), (Some(2), Some(1)), "{erased}");
    let after = app.page(&format!("/reports/files/{list_name}"), Some(&session), None).await;
    assert!(!after.body.contains("Ada") && !after.body.contains("12345678"), "{}", after.body);
    assert!(after.body.contains("Grace Hopper") && after.body.lines().count() == 2, "{}", after.body);
    let copy = std::fs::read_to_string(dir.path().join(&list_name)).unwrap();
    assert_eq!(copy, after.body, "the directory's copy too");
    let r = app.http.delete(format!("{}/api/customers/12345678/records", app.address)).bearer_auth(ADMIN_TOKEN);
    let again: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(again["report_files"].as_u64(), Some(0), "nothing left to erase: {again}");
    // The report of counts is unchanged: it holds no customer.
    let report = format!("{name}_vouch-report_{yesterday}_{yesterday}_all-lines_by-day_UTC.csv");
    let counts = app.page(&format!("/reports/files/{report}"), Some(&session), None).await;
    assert!(counts.body.lines().nth(1).is_some_and(|l| l.split(',').nth(2) == Some("3")), "{}", counts.body);
}

#[tokio::test]
async fn a_call_list_is_written_for_a_line_that_opts_in_and_an_erasure_reaches_it_in_sqlite() {
    let (url, _dir) = sqlite_url();
    a_call_list_is_written_for_a_line_that_opts_in_and_an_erasure_reaches_it(&url, "lists-sqlite").await;
}

#[tokio::test]
async fn a_call_list_is_written_for_a_line_that_opts_in_and_an_erasure_reaches_it_in_postgres() {
    let Some(pg) = crate::database::postgres().await else { return };
    a_call_list_is_written_for_a_line_that_opts_in_and_an_erasure_reaches_it(&pg.url, "lists-postgres").await;
}

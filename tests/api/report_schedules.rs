//! Scheduled reports (`[[reports.schedule]]`): two instances sharing a
//! database write a report that fell due exactly once, keep it in the
//! database so each serves it at `/reports/files`, and write it to the
//! configured directory; racing writers of one period produce it once.

use crate::desk_helpers::*;
use crate::exports::{cell_text, xlsx_rows};
use crate::helpers::{spawn_with, sqlite_url, Options, TestApp};
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

//! Retention (`[database] retention_days`): at start (and then hourly) Vouch
//! purges call records not updated within the retention, counter events
//! past every counter's window, and older recordings; what is recent stays,
//! and so do the figures of purged calls (rolled up first).

use crate::database::postgres;
use crate::helpers::*;
use vouch::config::DatabaseUrl;
use vouch::store::{CallRecord, Db};

const DAY: u64 = 86_400;

fn now() -> u64 {
    vouch::clock::now()
}

fn record(updated_at: u64) -> CallRecord {
    let mut r = CallRecord::new(&call_sid(), "support", "+1********01".into(), updated_at);
    r.customer_id = Some(ADA_ID.into());
    r.revision = 1;
    r
}

/// A recording file as `--record-dir` names them, made at `at` (unix seconds).
fn recording(dir: &std::path::Path, at: u64) -> std::path::PathBuf {
    let path = dir.join(format!("{}-{}-0000.json", at * 1_000, call_sid()));
    std::fs::write(&path, "{}\n").unwrap();
    path
}

async fn old_data_is_purged_at_start_and_recent_data_kept(database_url: String) {
    // 30 days' retention; counters: the lockout window (1 day) is the longest.
    let db = Db::open(&DatabaseUrl::parse(&database_url, "test").unwrap()).await.unwrap().unwrap();
    let (old, recent) = (record(now() - 31 * DAY), record(now() - 29 * DAY));
    db.upsert(&[old.clone(), recent.clone()]).await.unwrap();
    assert!(db.reserve_event("verify_failed", ADA_ID, "t1", now() - 2 * DAY, 0, 10).await.unwrap());
    assert!(db.reserve_event("unknown_id", "0123abcd", "t2", now() - 2 * DAY, 0, 10).await.unwrap());
    assert!(db.reserve_event("verify_failed", ADA_ID, "t3", now() - 60, 0, 10).await.unwrap());
    db.close().await;
    let recordings = tempfile::tempdir().unwrap();
    let (old_file, recent_file) = (recording(recordings.path(), now() - 31 * DAY), recording(recordings.path(), now()));

    let app = spawn_with(Options {
        toml: format!("{}\n[database]\nretention_days = 30\n", vouch::config::DEMO_CONFIG),
        database_url: Some(database_url.clone()),
        record_dir: Some(recordings.path().to_path_buf()),
        ..Options::default()
    })
    .await;
    wait_for("the purge at start", || async { !old_file.exists() }).await;
    assert_eq!(app.api_call(&old.call_sid, Some(ADMIN_TOKEN)).await.0, 404, "31 days old: purged");
    assert_eq!(app.api_call(&recent.call_sid, Some(ADMIN_TOKEN)).await.0, 200, "29 days old: kept");
    assert!(recent_file.exists(), "a recent recording is kept");
    // The purged call's hour was rolled up before the purge: still counted.
    let hour = old.started_at - old.started_at % 3_600;
    let stats = app.page(&format!("/api/stats?from={hour}&to={}", now() + 1), None, Some(ADMIN_TOKEN)).await;
    let stats: serde_json::Value = serde_json::from_str(&stats.body).expect("the figures");
    assert_eq!(stats["total"]["calls"], 2, "the purged call is in its hour's rollup: {stats}");
    let db = Db::open(&DatabaseUrl::parse(&database_url, "test").unwrap()).await.unwrap().unwrap();
    assert_eq!(db.count_events("verify_failed", ADA_ID, 0).await.unwrap(), 1, "only the recent failure is left");
    assert_eq!(db.count_events("unknown_id", "0123abcd", 0).await.unwrap(), 0);
    db.close().await;
}

#[tokio::test]
async fn old_records_counters_and_recordings_are_purged_from_sqlite() {
    let (url, _dir) = sqlite_url();
    old_data_is_purged_at_start_and_recent_data_kept(url).await;
}

#[tokio::test]
async fn old_records_counters_and_recordings_are_purged_from_postgres() {
    let Some(pg) = postgres().await else { return };
    old_data_is_purged_at_start_and_recent_data_kept(pg.url.clone()).await;
}

#[tokio::test]
async fn a_purge_counts_what_it_removed_and_keeps_a_short_retention_in_memory_too() {
    use vouch::store::retention::{purge_once, Retention};
    let app = spawn_app().await;
    let (old, recent) = (record(now() - 3 * DAY), record(now()));
    app.store.put(old.clone()).await;
    app.store.put(recent.clone()).await;
    app.written().await;
    let day = std::time::Duration::from_secs(DAY);
    let retention = Retention { records: day, counters: day, record_dir: None };
    let report = purge_once(&app.store, &retention, now()).await.unwrap();
    assert_eq!((report.store.call_records, report.recordings), (1, 0));
    assert_eq!(app.store.get(&old.call_sid).await, None, "gone from the cache as well as the database");
    assert!(app.store.get(&recent.call_sid).await.is_some());
    let again = purge_once(&app.store, &retention, now()).await.unwrap();
    assert_eq!(again.store.call_records, 0);
}

#[test]
fn a_bad_retention_is_refused_naming_the_key() {
    let env = std::collections::HashMap::new();
    for bad in ["0", "3651", "\"90\""] {
        let toml = format!("{}\n[database]\nretention_days = {bad}\n", vouch::config::DEMO_CONFIG);
        let e = vouch::config::Config::from_toml(&toml, &env).map(|_| ()).expect_err(bad);
        assert!(e.to_string().contains("database.retention_days"), "{bad}: {e}");
    }
}

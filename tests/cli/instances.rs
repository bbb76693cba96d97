//! The heartbeat guard rail: a second instance on the same SQLite file is
//! warned about loudly; on PostgreSQL each instance says how many share it.

use crate::database;
use crate::support::{Serve, TempDir};
use std::time::Duration;

const SHARED_SQLITE: &str = "another Vouch instance is live on this SQLite database";

#[test]
fn a_second_instance_on_one_sqlite_file_is_warned_about() {
    let dir = TempDir::new("instances-sqlite");
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}/vouch.db", dir.path());
    let first = Serve::start(&[], &[("DATABASE_URL", &url), ("RUST_LOG", "info")]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!first.logs().contains(SHARED_SQLITE), "alone, no warning: {}", first.logs());
    let second = Serve::start(&[], &[("DATABASE_URL", &url), ("RUST_LOG", "info")]);
    second.wait_for_lines(SHARED_SQLITE, 1, Duration::from_secs(10));
    let line = second.logs().lines().find(|l| l.contains(SHARED_SQLITE)).unwrap().to_string();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&format!("/{}", first.child.id())), "names the other instance's pid: {line}");
}

#[tokio::test]
async fn instances_sharing_postgres_are_counted_at_info() {
    let Some(pg) = database::postgres().await else { return };
    let first = Serve::start(&[], &[("DATABASE_URL", &pg.url), ("RUST_LOG", "info")]);
    first.wait_for_lines("\"instances\":1", 1, Duration::from_secs(10));
    let second = Serve::start(&[], &[("DATABASE_URL", &pg.url), ("RUST_LOG", "info")]);
    second.wait_for_lines("\"instances\":2", 1, Duration::from_secs(10));
    assert!(!second.logs().contains(SHARED_SQLITE), "{}", second.logs());
}

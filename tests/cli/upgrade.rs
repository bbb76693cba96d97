//! Rolling deploys: an instance of this release keeps starting on a
//! database that a newer release has already migrated (its migrations only
//! add), and says so. The mixed-version fleet itself is exercised by the
//! fleet drill's `upgrade` segment (scripts/fleet-drill).

use crate::support::{Serve, TempDir};
use std::time::Duration;

const NEWER: &str = "the database was migrated by a newer Vouch release";

#[tokio::test]
async fn an_instance_starts_on_a_database_a_newer_release_migrated() {
    let dir = TempDir::new("upgrade-sqlite");
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}/vouch.db", dir.path());
    let mut first = Serve::start(&[], &[("DATABASE_URL", &url), ("RUST_LOG", "info")]);
    assert!(!first.logs().contains(NEWER), "{}", first.logs());
    first.stop();

    // A newer release's migration, as sqlx records it.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000000, 'from a newer release', TRUE, X'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let again = Serve::start(&[], &[("DATABASE_URL", &url), ("RUST_LOG", "info")]);
    again.wait_for_lines(NEWER, 1, Duration::from_secs(10));
    let line = again.logs().lines().find(|l| l.contains(NEWER)).unwrap().to_string();
    assert!(line.contains("WARN") && line.contains("29991231000000"), "{line}");
    let health = reqwest::get(format!("{}/healthz", again.address)).await.unwrap();
    assert_eq!(health.status(), 200, "the older instance serves");
}

//! Database helpers: a PostgreSQL schema of its own per test (when
//! `VOUCH_TEST_POSTGRES_URL` is set), a TCP gate to cut a database off
//! mid-call, a SQLite lock, and direct reads of what was stored.

use sqlx::{Column, Connection, Row};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vouch::config::DatabaseUrl;
use vouch::store::{CallRecord, Db};

/// A schema of its own in the test PostgreSQL, dropped with this value.
pub struct TestPg {
    /// `DATABASE_URL` for Vouch: the test database with `search_path` set.
    pub url: String,
    base: String,
    schema: String,
}

/// The test PostgreSQL, or `None` (with a `SKIPPED` line) when
/// `VOUCH_TEST_POSTGRES_URL` is unset; `VOUCH_REQUIRE_POSTGRES=1` makes that
/// a failure.
pub async fn postgres() -> Option<TestPg> {
    let Some(base) = std::env::var("VOUCH_TEST_POSTGRES_URL").ok().filter(|v| !v.trim().is_empty()) else {
        assert!(
            std::env::var("VOUCH_REQUIRE_POSTGRES").map_or(true, |v| v != "1"),
            "postgres: VOUCH_TEST_POSTGRES_URL not set, and VOUCH_REQUIRE_POSTGRES=1 makes that a failure"
        );
        // Straight to stderr, past the test harness's capture.
        let _ = writeln!(std::io::stderr(), "SKIPPED postgres: VOUCH_TEST_POSTGRES_URL not set");
        return None;
    };
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("VOUCH_TEST_POSTGRES_URL is set but PostgreSQL is not reachable: {e}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Schemas left by tests that died more than an hour ago.
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'vouch\\_test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for name in stale {
        let born = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if born + 3600 < now {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(&mut conn).await;
        }
    }
    let schema = format!("vouch_test_{now}_{}", &vouch::sim::call::new_call_sid()[2..14]).to_lowercase();
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(&base).expect("VOUCH_TEST_POSTGRES_URL is a URL");
    url.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
    Some(TestPg { url: url.to_string(), base, schema })
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        // Drop is synchronous: a runtime of its own, on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                    // The test's runtime is blocked in this drop, so a
                    // transaction one of its tasks had open (a background
                    // purge, say) cannot finish: its locks would hold the
                    // drop forever. Its connection is ended first, and the
                    // drop waits for locks only so long.
                    let holders = "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                         JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()";
                    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::query("SET lock_timeout = '10s'").execute(&mut c).await;
                    for _ in 0..3 {
                        let _ = sqlx::query(holders).bind(&schema).execute(&mut c).await;
                        if sqlx::query(&drop).execute(&mut c).await.is_ok() {
                            break;
                        }
                    }
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// A TCP forwarder in front of a database that can be cut (every open
/// connection closed, new ones refused) and restored, as a network outage.
pub struct Gate {
    pub port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Forwards a local port to the host and port of `url`.
    pub async fn start(url: &str) -> Self {
        let u = url::Url::parse(url).unwrap();
        let target = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accept = {
            let (open, links) = (open.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: the connection closes at once
                    }
                    let target = target.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            })
        };
        Self { port, open, links, accept }
    }

    /// `url` with its host and port replaced by the gate's.
    pub fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Holds SQLite's write lock on a database file (another process writing,
/// a backup…) until released.
pub struct SqliteLock(sqlx::SqliteConnection);

impl SqliteLock {
    pub async fn take(url: &str) -> Self {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut c).await.unwrap();
        Self(c)
    }

    pub async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
        let _ = self.0.close().await;
    }
}

/// A call's record as stored, read from the database itself.
pub async fn stored(url: &str, call_sid: &str) -> Option<CallRecord> {
    let db = open(url).await;
    let r = db.get(call_sid).await.expect("the database answers");
    db.close().await;
    r
}

async fn open(url: &str) -> Db {
    Db::open(&DatabaseUrl::parse(url, "test").unwrap()).await.expect("the database opens").expect("not memory:")
}

/// Every row of `table`, each a JSON object of its columns (text as
/// strings, integers as numbers), as the leak scanner reads them.
pub async fn all_rows_json(url: &str, table: &str) -> Vec<String> {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(&mut c).await.unwrap();
        let _ = c.close().await;
        rows.iter()
            .map(|row| {
                let mut object = serde_json::Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v = match row.try_get::<Option<String>, _>(i) {
                        Ok(v) => v.map_or(serde_json::Value::Null, serde_json::Value::String),
                        Err(_) => row.try_get::<Option<i64>, _>(i).unwrap().map_or(serde_json::Value::Null, Into::into),
                    };
                    object.insert(col.name().to_string(), v);
                }
                serde_json::Value::Object(object).to_string()
            })
            .collect()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t")).fetch_all(&mut c).await.unwrap();
        let _ = c.close().await;
        rows
    }
}

/// The raw bytes of a SQLite database: the file, its WAL and shared memory.
pub fn sqlite_bytes(url: &str) -> Vec<u8> {
    let path = url.trim_start_matches("sqlite://");
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .flat_map(|ext| std::fs::read(format!("{path}{ext}")).unwrap_or_default())
        .collect()
}

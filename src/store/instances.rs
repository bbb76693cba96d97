//! A heartbeat row per running instance (random id, host, pid, start, last
//! seen, database kind), refreshed every [`HEARTBEAT_EVERY`]. Another
//! instance seen within [`LIVE_WITHIN`] on the same SQLite file is a
//! mistake (a fleet needs PostgreSQL: several processes on one file contend
//! for its lock, and instances on separate files split the records and the
//! lockout counts): it is logged at WARN at start and then periodically. On
//! PostgreSQL, how many instances share it is logged at INFO.

use super::db::{on_pool, to_i64, Db};
use rand::Rng;
use std::time::Duration;

/// How often an instance says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// Seen this recently, an instance is live.
pub const LIVE_WITHIN: u64 = 30;
/// Heartbeats older than this are deleted (instances killed, never back).
const FORGET_AFTER: u64 = 86_400;
/// A shared SQLite file is warned about at most this often after start.
const WARN_EVERY: Duration = Duration::from_secs(300);

/// The heartbeat task; dropping it stops the heartbeat (the row is deleted
/// by [`Heartbeat::stop`]).
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    db: Db,
    id: String,
}

impl Heartbeat {
    /// Stops the heartbeat and deletes this instance's row.
    pub async fn stop(self) {
        self.task.abort();
        let sql = "DELETE FROM instances WHERE id = $1";
        let delete =
            async { on_pool!(&self.db, pool => sqlx::query(sql).bind(&self.id).execute(pool).await.map(drop)) };
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(1), delete).await {
            tracing::debug!(error = %e, "the heartbeat row was not deleted");
        }
    }
}

/// Starts this instance's heartbeat on `db` (none with `memory:`).
pub fn spawn(db: Option<Db>) -> Option<Heartbeat> {
    let db = db?;
    let id = hex::encode(rand::thread_rng().gen::<[u8; 8]>());
    let task = tokio::spawn(beat(db.clone(), id.clone()));
    Some(Heartbeat { task, db, id })
}

fn host() -> String {
    std::env::var("FLY_MACHINE_ID")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

async fn beat(db: Db, id: String) {
    let kind = match &db {
        Db::Sqlite(_) => "sqlite",
        Db::Postgres(_) => "postgres",
    };
    let (host, pid, started) = (host(), i64::from(std::process::id()), crate::clock::now());
    let mut every = tokio::time::interval(HEARTBEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut first, mut last_warned, mut last_count) = (true, None::<tokio::time::Instant>, None);
    loop {
        every.tick().await;
        let now = crate::clock::now();
        let others = match refresh(&db, &id, &host, pid, started, now, kind, first).await {
            Ok(others) => others,
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat not written");
                continue;
            }
        };
        first = false;
        let n = others.len();
        match kind {
            "sqlite" if n > 0 && last_warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) => {
                last_warned = Some(tokio::time::Instant::now());
                tracing::warn!(
                    others = n,
                    hosts = %others.join(","),
                    "another Vouch instance is live on this SQLite database: instances contend for the file's lock, and instances on separate files split call records and lockout counts; run a fleet on PostgreSQL"
                );
            }
            "postgres" if last_count != Some(n) => {
                last_count = Some(n);
                tracing::info!(instances = n + 1, "Vouch instances sharing this PostgreSQL database");
            }
            _ => {}
        }
    }
}

/// Writes this instance's heartbeat; returns the other live instances
/// (`host/pid` each).
#[allow(clippy::too_many_arguments)]
async fn refresh(
    db: &Db,
    id: &str,
    host: &str,
    pid: i64,
    started: u64,
    now: u64,
    kind: &str,
    first: bool,
) -> Result<Vec<String>, sqlx::Error> {
    let forget = "DELETE FROM instances WHERE last_seen < $1";
    let upsert =
        "INSERT INTO instances (id, host, pid, started_at, last_seen, db_kind) VALUES ($1, $2, $3, $4, $5, $6) \
                  ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen";
    let live = "SELECT host, pid FROM instances WHERE id <> $1 AND last_seen >= $2";
    // One connection for the beat's statements: run one after another on
    // the pool, each could find the last one's still on its way back (sqlx
    // returns it in a task of its own) and open another.
    let rows: Vec<(String, i64)> = on_pool!(db, pool => {
        let mut conn = pool.acquire().await?;
        if first {
            sqlx::query(forget).bind(to_i64(now.saturating_sub(FORGET_AFTER))).execute(&mut *conn).await?;
        }
        sqlx::query(upsert)
            .bind(id).bind(host).bind(pid).bind(to_i64(started)).bind(to_i64(now)).bind(kind)
            .execute(&mut *conn).await?;
        sqlx::query_as(live).bind(id).bind(to_i64(now.saturating_sub(LIVE_WITHIN))).fetch_all(&mut *conn).await?
    });
    Ok(rows.into_iter().map(|(h, p)| format!("{h}/{p}")).collect())
}

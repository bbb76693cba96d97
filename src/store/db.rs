//! The database behind the store: SQLite (a file, WAL) or PostgreSQL, the
//! same migrations (`migrations/`) and the same SQL text for both. Queries
//! use `$N` placeholders, which SQLite reads as positional too.

use super::record::{AgentState, CallRecord, Merged};
use crate::config::DatabaseUrl;
use anyhow::Context as _;
use serde::de::{value::StrDeserializer, IntoDeserializer};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

/// This release's migrations, tolerating ones it doesn't know: during a
/// rolling deploy (or a rollback) an older instance must keep starting on a
/// database a newer one has already migrated. Migrations therefore only
/// add (tables, nullable columns, indexes); see docs/operations.md, "Running several
/// instances".
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!();
    migrator.set_ignore_missing(true);
    migrator
}

/// A counter's expired events, dropped as a reservation begins (on SQLite
/// this first write also takes the lock the reservation counts under).
pub(crate) const DELETE_EXPIRED: &str = "DELETE FROM guard_events WHERE kind = $1 AND subject = $2 AND at < $3";

/// One statement: the event goes in only while fewer than `$6` events of
/// the counter lie in the window (at or after `$5`).
pub(crate) const RESERVE: &str = "INSERT INTO guard_events (kind, subject, at, token) SELECT $1, $2, $3, $4 \
     WHERE (SELECT COUNT(*) FROM guard_events WHERE kind = $1 AND subject = $2 AND at >= $5) < $6";

/// Takes back the event a reservation stored under `$3`.
pub(crate) const RELEASE_EVENT: &str = "DELETE FROM guard_events WHERE kind = $1 AND subject = $2 AND token = $3";

/// Forgets every event of a counter.
pub(crate) const CLEAR_EVENTS: &str = "DELETE FROM guard_events WHERE kind = $1 AND subject = $2";

/// How long a pooled connection may be waited for (and so how long a write
/// attempt may hang while the database is unreachable).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// A SQLite file's pooled connection idle this long is closed.
const SQLITE_IDLE: Duration = Duration::from_secs(600);
/// A SQLite file's pooled connection is opened again after this long.
const SQLITE_LIFETIME: Duration = Duration::from_secs(1800);

/// How often a SQLite database's log is checkpointed (`claims/checkpoint.rs`,
/// or [`Db::checkpoint_in_background`]).
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Pages of SQLite log (4 KiB each) past which it should start again
/// rather than grow: the checkpoint thread then asks the batch thread to
/// finish the copy (`claims/checkpoint.rs`), and the pool's task waits
/// for readers with a RESTART ([`Db::checkpoint_in_background`]).
pub(crate) const CHECKPOINT_RESTART_PAGES: i64 = 16_384;

/// Bytes of SQLite log file kept when the log starts again
/// (`journal_size_limit`): four times what it holds when it should, so
/// that only a log that outgrew that (a checkpoint held up) is cut back.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 4 * CHECKPOINT_RESTART_PAGES * 4096;

/// [`Db::merge_all`]'s set statements, whose `$1` is a [`json`] array of
/// [`record_cells`] rows (or of call SIDs, for `read`).
struct RecordSetSql {
    /// The stored rows of the batch's calls.
    read: String,
    /// New rows, each unless its call has one; the call SIDs written.
    insert: String,
    /// Merged rows, each over the revision it was merged from (and only
    /// that one); the call SIDs written.
    update: String,
}

/// The columns of a [`record_cells`] row, in order, with their SQL types.
const RECORD_COLUMNS: [(&str, &str); 32] = [
    ("call_sid", "text"),
    ("service_line", "text"),
    ("caller", "text"),
    ("customer_id", "text"),
    ("customer_name", "text"),
    ("idv_status", "text"),
    ("idv_method", "text"),
    ("opted_out", "int8"),
    ("outcome", "text"),
    ("identify_attempts", "int8"),
    ("verify_attempts", "int8"),
    ("stir_verstat", "text"),
    ("call_status", "text"),
    ("call_duration", "int8"),
    ("status_sequence", "int8"),
    ("started_at", "int8"),
    ("identified_at", "int8"),
    ("verified_at", "int8"),
    ("handed_off_at", "int8"),
    ("ended_at", "int8"),
    ("updated_at", "int8"),
    ("revision", "int8"),
    ("lockout", "int8"),
    ("partial", "int8"),
    ("attributes", "text"),
    ("agent_state", "text"),
    ("crm_asked", "int8"),
    ("crm_failed", "int8"),
    ("crm_wait_ms", "int8"),
    ("timeline", "text"),
    ("queue", "text"),
    ("agent", "text"),
];

impl RecordSetSql {
    fn new(pg: bool) -> Self {
        let types: Vec<&str> = RECORD_COLUMNS.iter().map(|(_, t)| *t).collect();
        let rows = json_rows(pg, &types);
        let names: Vec<&str> = RECORD_COLUMNS.iter().map(|(n, _)| *n).collect();
        let values: Vec<String> = (0..RECORD_COLUMNS.len()).map(|i| format!("c{i}")).collect();
        let revision = names.iter().position(|n| *n == "revision").unwrap_or_default();
        let sets = record_sets("call_records.revision", |i| format!("v.c{i}"));
        Self {
            read: format!("{SELECT} WHERE call_sid IN (SELECT c0 FROM ({}) AS v)", json_rows(pg, &["text"])),
            insert: format!(
                "INSERT INTO call_records ({}) SELECT {} FROM ({rows}) AS v WHERE true \
                 ON CONFLICT (call_sid) DO NOTHING RETURNING call_sid",
                names.join(", "),
                values.join(", ")
            ),
            update: format!(
                "UPDATE call_records SET {} FROM ({rows}) AS v \
                 WHERE call_records.call_sid = v.c0 AND call_records.revision = v.c{revision} \
                 RETURNING call_records.call_sid",
                sets.join(", ")
            ),
        }
    }
}

/// An update's SET list: every column of [`RECORD_COLUMNS`] but the
/// CallSid set to `value` of its index, and the revision (`revision`, as
/// the statement names it) moved on by one.
fn record_sets(revision: &str, value: impl Fn(usize) -> String) -> Vec<String> {
    RECORD_COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, (n, _))| match *n {
            "revision" => format!("revision = {revision} + 1"),
            _ => format!("{n} = {}", value(i)),
        })
        .collect()
}

/// [`RecordSetSql`] for SQLite and for PostgreSQL.
static RECORD_SET_SQL: std::sync::LazyLock<[RecordSetSql; 2]> =
    std::sync::LazyLock::new(|| [RecordSetSql::new(false), RecordSetSql::new(true)]);

/// A value of one of [`RECORD_COLUMNS`]: a row of them is a JSON array
/// for the set statements ([`json`]), or parameters bound one by one
/// ([`RecordRowSql`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub(super) enum Cell<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

/// A record as a row of [`RECORD_COLUMNS`].
pub(super) fn record_cells(r: &CallRecord) -> [Cell<'_>; 32] {
    fn text(v: &str) -> Cell<'_> {
        Cell::Text(Some(Cow::Borrowed(v)))
    }
    fn opt(v: Option<&str>) -> Cell<'_> {
        Cell::Text(v.map(Cow::Borrowed))
    }
    let owned = |v: Option<String>| Cell::Text(v.map(Cow::Owned));
    let int = |v: u64| Cell::Int(Some(to_i64(v)));
    let opt_int = |v: Option<u64>| Cell::Int(v.map(to_i64));
    let flag = |v: bool| Cell::Int(Some(i64::from(v)));
    [
        text(&r.call_sid),
        text(&r.service_line),
        text(&r.caller),
        opt(r.customer_id.as_deref()),
        opt(r.customer_name.as_deref()),
        text(r.idv_status.as_str()),
        text(r.idv_method.as_str()),
        flag(r.opted_out),
        text(r.outcome.as_str()),
        int(u64::from(r.identify_attempts)),
        int(u64::from(r.verify_attempts)),
        opt(r.stir_verstat.as_deref()),
        opt(r.call_status.as_deref()),
        opt_int(r.call_duration),
        opt_int(r.status_sequence),
        int(r.started_at),
        opt_int(r.identified_at),
        opt_int(r.verified_at),
        opt_int(r.handed_off_at),
        opt_int(r.ended_at),
        int(r.updated_at),
        int(r.revision),
        flag(r.lockout),
        flag(r.partial),
        owned(super::attributes::to_column(&r.attributes)),
        opt(r.agent_state.as_column()),
        int(u64::from(r.crm_asked)),
        int(u64::from(r.crm_failed)),
        int(r.crm_wait_ms),
        owned(super::timeline::to_column(&r.timeline)),
        opt(r.queue.as_deref()),
        opt(r.agent.as_deref()),
    ]
}

/// [`Db::merge`]'s writes of one row of [`record_cells`], bound by
/// position (`?1` is its first column), for a connection where a statement
/// costs no hop to another thread (the SQLite batch thread,
/// claims/thread.rs): a new row unless its call has one, and a merged row
/// over the revision it was merged from. Each changes one row or none.
pub(super) struct RecordRowSql {
    pub(super) insert: String,
    pub(super) update: String,
}

pub(super) static RECORD_ROW_SQL: std::sync::LazyLock<RecordRowSql> = std::sync::LazyLock::new(|| {
    let names: Vec<&str> = RECORD_COLUMNS.iter().map(|(n, _)| *n).collect();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap_or_default() + 1;
    let values: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let sets = record_sets("revision", |i| format!("?{}", i + 1));
    RecordRowSql {
        insert: format!(
            "INSERT INTO call_records ({}) VALUES ({}) ON CONFLICT (call_sid) DO NOTHING",
            names.join(", "),
            values.join(", ")
        ),
        update: format!(
            "UPDATE call_records SET {} WHERE call_sid = ?{} AND revision = ?{}",
            sets.join(", "),
            at("call_sid"),
            at("revision")
        ),
    }
});

/// One call's row, `$1` its CallSid.
pub(super) static SELECT_BY_SID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{SELECT} WHERE call_sid = $1"));

/// How often a merge is retried when another writer changed the row
/// between its read and its update.
pub(super) const MERGE_TRIES: usize = 50;

pub(super) const SELECT: &str =
    "SELECT call_sid, service_line, caller, customer_id, customer_name, idv_status, idv_method, \
     opted_out, outcome, identify_attempts, verify_attempts, stir_verstat, call_status, call_duration, \
     status_sequence, started_at, identified_at, verified_at, handed_off_at, ended_at, updated_at, revision, lockout, \
     partial, attributes, agent_state, crm_asked, crm_failed, crm_wait_ms, timeline, queue, agent FROM call_records";

/// An open, migrated database.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool this is.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

pub(super) use on_pool;

/// How a transaction that will write begins: SQLite takes the write lock
/// at once (`BEGIN IMMEDIATE`), so a transaction that reads first cannot
/// fail with `SQLITE_BUSY_SNAPSHOT` when it comes to write; PostgreSQL
/// locks rows as it goes.
pub(super) trait WriteBegin {
    const BEGIN: &'static str;
}

impl WriteBegin for SqlitePool {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl WriteBegin for PgPool {
    const BEGIN: &'static str = "BEGIN";
}

/// `pool`'s [`WriteBegin::BEGIN`].
pub(super) fn write_begin<P: WriteBegin>(_pool: &P) -> &'static str {
    P::BEGIN
}

/// SQLite admits one writer at a time, and a transaction that finds the
/// write lock taken waits in SQLite's busy handler, which sleeps (1 ms,
/// 2 ms, 5 ms, … up to 100 ms) between tries: a batch of webhooks' claims
/// that met the call records' batch waited milliseconds after the lock
/// came free. This process's write transactions on a file take turns here
/// instead, each woken as soon as the one before it ends: one turn per
/// file, whatever the pools open on it. Another process on the same file
/// still meets the busy handler.
static SQLITE_WRITE_TURNS: std::sync::LazyLock<
    std::sync::Mutex<HashMap<std::path::PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>>,
> = std::sync::LazyLock::new(Default::default);

impl Db {
    /// Held from a write transaction's begin to its end ([`SQLITE_WRITE_TURNS`]).
    /// `None` for PostgreSQL, which locks rows, not the database, and for
    /// a pool of one connection (an in-memory database), which is its own turn.
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.sqlite_turn()?.lock_owned().await)
    }

    /// A SQLite file's write turn ([`SQLITE_WRITE_TURNS`]): `None` for
    /// PostgreSQL and for an in-memory database.
    fn sqlite_turn(&self) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
        let Db::Sqlite(pool) = self else { return None };
        turn_of(pool)
    }

    /// A SQLite file's path and its write turn, as [`Db::write_turn`] takes it.
    pub(super) fn sqlite_file(&self) -> Option<(std::path::PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>)> {
        let Db::Sqlite(pool) = self else { return None };
        Some((pool.connect_options().get_filename().to_path_buf(), turn_of(pool)?))
    }

    /// The same database through a pool of its own that holds one
    /// connection, opened when first used: for the background tasks
    /// (retention, rollups, the heartbeat, the start-up check of stored
    /// sessions). They run their statements one after another, and on the
    /// shared pool each would find the last one's connection still on its
    /// way back (sqlx returns it in a task of its own) and open another, up
    /// to the pool's limit, each then idle for minutes. Here they take
    /// turns on one, and leave the shared pool to pages. `None` for PostgreSQL and an in-memory SQLite database
    /// (which lives in its one connection): they keep their pool.
    pub(super) fn background(&self) -> Option<Db> {
        match self {
            Db::Sqlite(pool) if turn_of(pool).is_some() => Some(Db::Sqlite(
                SqlitePoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .max_connections(1)
                    .min_connections(0)
                    .idle_timeout(SQLITE_IDLE)
                    .max_lifetime(SQLITE_LIFETIME)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            )),
            _ => None,
        }
    }

    /// Closes a pool from [`Db::background`] (the shared pool closes with
    /// [`Db::close`]).
    pub(super) async fn close_background(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// The write turn of a SQLite pool's file: `None` for an in-memory
/// database, whose one connection no other can reach.
fn turn_of(pool: &SqlitePool) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
    let turns = SQLITE_WRITE_TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns.get(pool.connect_options().get_filename()).cloned()
}

/// Gives a SQLite file's pool its file's write turn ([`turn_of`]), shared
/// with every other pool this process opens on the file.
fn take_turns(pool: &SqlitePool) {
    let mut turns = SQLITE_WRITE_TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns.entry(pool.connect_options().get_filename().to_path_buf()).or_default();
}

/// Checks that the directory of a SQLite `file` exists and takes new files
/// (SQLite creates the file, its `-wal` and its `-shm` there), so that a
/// volume mounted read-only or owned by another user fails start-up with
/// its fix rather than SQLite's "unable to open database file".
fn writable_dir(file: &std::path::Path) -> anyhow::Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let shown = dir.display();
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => anyhow::bail!("DATABASE_URL: {shown} is not a directory, so the SQLite file {} cannot be created there", file.display()),
        Err(e) => anyhow::bail!(
            "DATABASE_URL: the directory {shown} for the SQLite file {} does not exist ({e}): create it (mkdir -p {shown}) \
             or point DATABASE_URL at another file",
            file.display()
        ),
    }
    let probe = dir.join(format!(".vouch-write-check-{}", std::process::id()));
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe);
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:").map(|v| v.split_whitespace().next().unwrap_or("").to_string()))
            })
            .map_or_else(String::new, |uid| format!(" (uid {uid})"));
        anyhow::bail!(
            "DATABASE_URL: Vouch cannot create files in {shown} ({e}); SQLite needs to write {} and its -wal and -shm \
             files there. Make the directory writable by the user Vouch runs as{uid} (e.g. chown 10001:10001 {shown} \
             for the Docker image), or point DATABASE_URL at a writable directory",
            file.display()
        );
    }
    Ok(())
}

/// A batch's rows as a table: `$1` is a JSON array of arrays, and column
/// `cN` is each array's N-th item, of SQL type `types[N]` ("text" or
/// "int8"). One statement then takes a whole batch, whatever its size, and
/// its text (so its prepared statement) is the same for every batch.
///
/// On SQLite each row's text is taken from `json_each` once, into a
/// materialized table, before its items are extracted: `json_each` renders
/// its `value` column again each time it is read, so extracting N items
/// straight from it rendered the row N times (the cost grew with the row's
/// length times its columns), where SQLite's JSON cache parses a row read
/// back from the table once.
pub(super) fn json_rows(pg: bool, types: &[&str]) -> String {
    let cols: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, ty)| match (pg, *ty) {
            (false, _) => format!("json_extract(j, '$[{i}]') AS c{i}"),
            (true, "text") => format!("e->>{i} AS c{i}"),
            (true, _) => format!("(e->>{i})::{ty} AS c{i}"),
        })
        .collect();
    if pg {
        format!("SELECT {} FROM jsonb_array_elements($1::jsonb) AS e", cols.join(", "))
    } else {
        format!("WITH r(j) AS MATERIALIZED (SELECT value FROM json_each($1)) SELECT {} FROM r", cols.join(", "))
    }
}

/// A batch's rows as the JSON array `$1` of a [`json_rows`] statement.
/// (Strings and integers always serialise; an empty string would fail the
/// statement.)
pub(super) fn json<T: serde::Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).unwrap_or_default()
}

/// A write to the security counters ([`super::guard`]): run alone
/// ([`Db::guard_write`]) or in a batch's transaction with the webhook claims
/// ([`super::claims`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GuardWrite {
    /// Counts an event at `at` under `token` unless `limit` events lie in
    /// the window (at or after `window_start`), forgetting older ones.
    Reserve { kind: &'static str, subject: String, token: String, at: u64, window_start: u64, limit: u64 },
    /// Takes back the event reserved under `token`.
    Release { kind: &'static str, subject: String, token: String },
    /// Forgets every event of the counter.
    Clear { kind: &'static str, subject: String },
}

impl GuardWrite {
    /// The counter written, which orders a batch's writes.
    pub(crate) fn counter(&self) -> (&'static str, &str) {
        match self {
            Self::Reserve { kind, subject, .. }
            | Self::Release { kind, subject, .. }
            | Self::Clear { kind, subject } => (kind, subject),
        }
    }
}

/// Runs a [`GuardWrite`]'s statements on an executor (inside a transaction
/// for a reservation, and for every write on PostgreSQL): true when a
/// reservation went in, and for the other writes. A reservation is atomic
/// across connections and processes: on SQLite the transaction holds the
/// write lock (its first write takes it, or `BEGIN IMMEDIATE` did), so the
/// count and the insert see no other writer; on PostgreSQL a
/// transaction-scoped advisory lock on the counter serialises its
/// reservations (READ COMMITTED alone would let two inserts through).
///
/// On PostgreSQL every write takes its counter's advisory lock before any
/// row of it, releases and clears too: a batch takes its counters in one
/// order ([`GuardWrite::counter`]), so two transactions wait for each
/// other's counters only in that order and never in a cycle. (A release
/// that deleted its row without the lock could hold that row while waiting
/// on a counter another batch had locked, and that batch wait on the row.)
macro_rules! guard_write_on {
    ($exec:expr, $pg:expr, $write:expr) => {{
        use $crate::store::db::{
            advisory_key, to_i64, GuardWrite, CLEAR_EVENTS, DELETE_EXPIRED, RELEASE_EVENT, RESERVE,
        };
        let write: &GuardWrite = $write;
        if $pg {
            let (kind, subject) = write.counter();
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(advisory_key(kind, subject)).execute($exec).await?;
        }
        match write {
            GuardWrite::Reserve { kind, subject, token, at, window_start, limit } => {
                sqlx::query(DELETE_EXPIRED)
                    .bind(*kind)
                    .bind(subject.as_str())
                    .bind(to_i64(*window_start))
                    .execute($exec)
                    .await?;
                sqlx::query(RESERVE)
                    .bind(*kind)
                    .bind(subject.as_str())
                    .bind(to_i64(*at))
                    .bind(token.as_str())
                    .bind(to_i64(*window_start))
                    .bind(to_i64(*limit))
                    .execute($exec)
                    .await?
                    .rows_affected()
                    == 1
            }
            GuardWrite::Release { kind, subject, token } => {
                sqlx::query(RELEASE_EVENT)
                    .bind(*kind)
                    .bind(subject.as_str())
                    .bind(token.as_str())
                    .execute($exec)
                    .await?;
                true
            }
            GuardWrite::Clear { kind, subject } => {
                sqlx::query(CLEAR_EVENTS).bind(*kind).bind(subject.as_str()).execute($exec).await?;
                true
            }
        }
    }};
}

pub(super) use guard_write_on;

/// What a write of a call's record takes, given its stored row.
pub(super) enum Write {
    /// Nothing: the row has all of it already.
    None(Merged),
    /// A new row (revision 1).
    Insert(CallRecord),
    /// The row merged, over the revision read.
    Update(CallRecord, Merged),
}

impl Write {
    pub(super) fn of(stored: Option<&CallRecord>, record: &CallRecord) -> Self {
        match stored {
            None => {
                let mut first = record.clone();
                first.revision = 1;
                Write::Insert(first)
            }
            Some(was) => {
                let mut merged = was.clone();
                let what = merged.merge(record);
                if merged == *was {
                    Write::None(what)
                } else {
                    Write::Update(merged, what)
                }
            }
        }
    }
}

impl Db {
    /// Opens the database (creating a SQLite file if missing) and migrates
    /// it. `None` for `memory:`.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Option<Self>> {
        let described = url.describe();
        let db = match url {
            DatabaseUrl::Memory => return Ok(None),
            DatabaseUrl::Sqlite(raw) => {
                if let Some(file) = url.sqlite_file() {
                    writable_dir(&file)?;
                }
                let options = SqliteConnectOptions::from_str(raw)
                    .with_context(|| format!("DATABASE_URL: not a usable SQLite URL ({described})"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // Deleted rows are overwritten, not left in free pages:
                    // an erased customer must not stay readable in the file.
                    .pragma("secure_delete", "ON")
                    // Temporary tables and statement journals in memory, not files.
                    .pragma("temp_store", "MEMORY")
                    // Checkpoints run on a thread of their own (claims/checkpoint.rs)
                    // or a task (Db::checkpoint_in_background),
                    // not in whichever webhook's commit crosses 1,000 pages.
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string())
                    // Another writer holding the file: fail the attempt soon
                    // and let the writer retry, rather than hold a connection.
                    .busy_timeout(Duration::from_secs(1));
                // An in-memory SQLite database lives only while a connection to it is open.
                let on_disk = !url.is_sqlite_in_memory();
                let pool = SqlitePoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .max_connections(if on_disk { 4 } else { 1 })
                    .min_connections(if on_disk { 0 } else { 1 })
                    .idle_timeout(on_disk.then_some(SQLITE_IDLE))
                    .max_lifetime(on_disk.then_some(SQLITE_LIFETIME))
                    .connect_lazy_with(options);
                if on_disk {
                    take_turns(&pool);
                }
                Db::Sqlite(pool)
            }
            DatabaseUrl::Postgres(raw) => {
                let options = PgConnectOptions::from_str(raw.expose())
                    .with_context(|| format!("DATABASE_URL: not a usable PostgreSQL URL ({described})"))?
                    .application_name("vouch");
                let pool =
                    PgPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT).max_connections(5).connect_lazy_with(options);
                Db::Postgres(pool)
            }
        };
        // The pool opens its first connection here, and both run on it:
        // statements one after another on the pool would each open another
        // (sqlx returns a connection in a task of its own), each then idle
        // for minutes.
        let failed = if matches!(db, Db::Postgres(_)) { "connect to" } else { "open" };
        let newest_applied = on_pool!(&db, pool => {
            let mut conn = pool
                .acquire()
                .await
                .with_context(|| format!("Failed to {failed} the database in DATABASE_URL ({described})"))?;
            migrator()
                .run(&mut *conn)
                .await
                .with_context(|| format!("Failed to migrate the database in DATABASE_URL ({described})"))?;
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&mut *conn).await
        });
        Self::warn_if_newer(newest_applied);
        Ok(Some(db))
    }

    /// Logs once when the database holds migrations this release doesn't
    /// know (`newest_applied`, read after migrating): a newer release
    /// migrated it (a rolling deploy or a rollback).
    fn warn_if_newer(newest_applied: Result<Option<i64>, sqlx::Error>) {
        let newest_known = migrator().iter().map(|m| m.version).max().unwrap_or(0);
        match newest_applied {
            Ok(Some(applied)) if applied > newest_known => tracing::warn!(
                applied,
                newest_known,
                "the database was migrated by a newer Vouch release: this instance is an older one \
                 (a rolling deploy or a rollback); it runs, since migrations only add"
            ),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "could not read the applied migrations"),
        }
    }

    /// Merges each record into its stored row, all in one transaction ([`Db::merge_all`]).
    pub async fn upsert(&self, records: &[CallRecord]) -> Result<(), sqlx::Error> {
        self.merge_all(&records.iter().collect::<Vec<_>>()).await.map(drop)
    }

    /// Merges a write into the call's stored row: the row is read, the
    /// write folded into it ([`CallRecord::merge`], each field only moving
    /// forward) and the result stored by compare-and-set on the revision,
    /// which the database assigns; another writer in between means a fresh
    /// read and another try. No instance's copy needs to be fresh. Returns
    /// what of the write was superseded by what the row already had.
    pub async fn merge(&self, record: &CallRecord) -> Result<Merged, sqlx::Error> {
        let found = self.merge_all(&[record]).await?;
        Ok(found.first().copied().unwrap_or_default())
    }

    /// [`Db::merge`] for each record, all in one transaction: one commit
    /// for a batch instead of one per record. Any error rolls the whole
    /// batch back (the caller then writes it record by record, so one bad
    /// record holds back no other).
    pub async fn merge_all(&self, records: &[&CallRecord]) -> Result<Vec<Merged>, sqlx::Error> {
        let pg = matches!(self, Db::Postgres(_));
        let set = &RECORD_SET_SQL[usize::from(pg)];
        let sids: Vec<(&str,)> = records.iter().map(|r| (r.call_sid.as_str(),)).collect();
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(pool)).await?;
            // Every stored row of the batch's calls in one read.
            let mut stored: HashMap<String, CallRecord> = HashMap::with_capacity(records.len());
            for row in sqlx::query(&set.read).bind(json(&sids)).fetch_all(&mut *tx).await? {
                let record = from_row(&row)?;
                stored.insert(record.call_sid.clone(), record);
            }
            // Each call's first record: a new row, or its merge into the
            // stored one. New rows go in with one statement, changed rows
            // with another; what either did not write (another writer got
            // there first, or a second record of the same call) is merged
            // below one by one, from a fresh read.
            let mut found: Vec<Option<Merged>> = vec![None; records.len()];
            let (mut inserts, mut updates) = (Vec::new(), Vec::new());
            let mut planned = HashSet::new();
            for (i, record) in records.iter().enumerate() {
                if planned.insert(record.call_sid.as_str()) {
                    match Write::of(stored.get(record.call_sid.as_str()), record) {
                        Write::None(what) => found[i] = Some(what),
                        Write::Insert(row) => inserts.push((i, row, Merged::default())),
                        Write::Update(row, what) => updates.push((i, row, what)),
                    }
                }
            }
            for (sql, writes) in [(&set.insert, inserts), (&set.update, updates)] {
                if writes.is_empty() {
                    continue;
                }
                let rows: Vec<_> = writes.iter().map(|(_, r, _)| record_cells(r)).collect();
                let done: HashSet<String> = sqlx::query_scalar(sql).bind(json(&rows)).fetch_all(&mut *tx).await?.into_iter().collect();
                for (i, _, what) in writes.iter().filter(|(_, r, _)| done.contains(&r.call_sid)) {
                    found[*i] = Some(*what);
                }
            }
            let mut merged_all = Vec::with_capacity(records.len());
            'records: for (record, found) in records.iter().zip(found) {
                if let Some(found) = found {
                    merged_all.push(found);
                    continue;
                }
                for _ in 0..MERGE_TRIES {
                    let row = sqlx::query(&SELECT_BY_SID).bind(record.call_sid.as_str()).fetch_optional(&mut *tx).await?;
                    let (sql, row, what) = match Write::of(row.as_ref().map(from_row).transpose()?.as_ref(), record) {
                        Write::None(what) => {
                            merged_all.push(what);
                            continue 'records;
                        }
                        Write::Insert(row) => (&set.insert, row, Merged::default()),
                        Write::Update(row, what) => (&set.update, row, what),
                    };
                    let written: Vec<String> = sqlx::query_scalar(sql).bind(json(&[record_cells(&row)])).fetch_all(&mut *tx).await?;
                    if !written.is_empty() {
                        merged_all.push(what);
                        continue 'records;
                    }
                }
                return Err(sqlx::Error::Protocol(format!("call record write kept conflicting after {MERGE_TRIES} tries")));
            }
            tx.commit().await?;
            Ok(merged_all)
        })
    }

    /// A call's record as shown (not a pending status alone).
    pub async fn get(&self, call_sid: &str) -> Result<Option<CallRecord>, sqlx::Error> {
        Ok(self.get_any(call_sid).await?.filter(|r| !r.partial))
    }

    /// A call's row, a pending status alone included.
    async fn get_any(&self, call_sid: &str) -> Result<Option<CallRecord>, sqlx::Error> {
        on_pool!(self, pool => {
            let row = sqlx::query(&SELECT_BY_SID).bind(call_sid).fetch_optional(pool).await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    /// The most recently updated calls, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<CallRecord>, sqlx::Error> {
        let sql = format!("{SELECT} WHERE partial = 0 ORDER BY updated_at DESC, started_at DESC, call_sid LIMIT $1");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(limit).fetch_all(pool).await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// Every subject with events of `kind` since `since` (unix seconds):
    /// how many, and the latest's time; most events first.
    pub async fn subjects_with_events(&self, kind: &str, since: u64) -> Result<Vec<(String, u64, u64)>, sqlx::Error> {
        let sql = "SELECT subject, COUNT(*), MAX(at) FROM guard_events WHERE kind = $1 AND at >= $2 \
                   GROUP BY subject ORDER BY COUNT(*) DESC, subject";
        let rows: Vec<(String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(kind).bind(to_i64(since)).fetch_all(pool).await?
        });
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows.into_iter().map(|(s, count, at)| (s, n(count), n(at))).collect())
    }

    /// Events of `kind` about `subject` since `since` (unix seconds).
    pub async fn count_events(&self, kind: &str, subject: &str, since: u64) -> Result<u64, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM guard_events WHERE kind = $1 AND subject = $2 AND at >= $3";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(kind).bind(subject).bind(to_i64(since)).fetch_one(pool).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Reserves one event of `kind` about `subject` at `at`, under `token`,
    /// unless `limit` events already lie in the window (at or after
    /// `window_start`): true when reserved. Atomic across connections and
    /// processes: on SQLite the transaction's first statement (a delete of
    /// the subject's expired events) takes the database's write lock, so
    /// the count and the insert see no other writer; on PostgreSQL a
    /// transaction-scoped advisory lock on the counter serialises its
    /// reservations (READ COMMITTED alone would let two inserts through).
    pub async fn reserve_event(
        &self,
        kind: &'static str,
        subject: &str,
        token: &str,
        at: u64,
        window_start: u64,
        limit: u64,
    ) -> Result<bool, sqlx::Error> {
        let write = GuardWrite::Reserve { kind, subject: subject.into(), token: token.into(), at, window_start, limit };
        self.guard_write(&write).await
    }

    /// Runs one write to the security counters: a reservation (and on
    /// PostgreSQL every write, for its advisory lock) in a transaction of
    /// its own, the others as one statement.
    pub(super) async fn guard_write(&self, write: &GuardWrite) -> Result<bool, sqlx::Error> {
        let pg = matches!(self, Db::Postgres(_));
        on_pool!(self, pool => {
            if pg || matches!(write, GuardWrite::Reserve { .. }) {
                let mut tx = pool.begin().await?;
                let reserved = guard_write_on!(&mut *tx, pg, write);
                tx.commit().await?;
                Ok(reserved)
            } else {
                Ok(guard_write_on!(pool, pg, write))
            }
        })
    }

    /// Closes the pool's connections (after a final flush). A SQLite
    /// file's log is copied into it and emptied first (TRUNCATE), so that
    /// a stop leaves no log for the next start to read back: the batch
    /// and checkpoint threads keep their connections until the process
    /// ends, so the pool's last one to close is not the file's last.
    pub async fn close(&self) {
        if let (Db::Sqlite(pool), Some(_turn)) = (self, self.write_turn().await) {
            match empty_log(pool, 1).await {
                Ok(true) => {}
                Ok(false) => tracing::debug!("SQLite log busy at close: the next start reads it back"),
                Err(e) => tracing::debug!(error = %e, "SQLite log not emptied at close: the next start reads it back"),
            }
        }
        on_pool!(self, pool => pool.close().await);
    }

    /// SQLite, when the claims' batch has no thread of its own (on a file
    /// it has, and its checkpoint thread keeps the log short instead:
    /// `claims/checkpoint.rs`): copies the write-ahead log into the
    /// database file every [`CHECKPOINT_EVERY`], on a task of its own,
    /// until the pool closes (its last connection then checkpoints what is
    /// left). SQLite's own checkpoint, off here, runs inside the commit that
    /// crosses 1,000 pages of log: a batch of webhooks' claims would wait
    /// for it. PASSIVE waits for no reader or writer; a log that still grew
    /// past [`CHECKPOINT_RESTART_PAGES`] (readers kept it from being reused)
    /// is checkpointed with RESTART, which waits for readers so that the
    /// next write starts the log again. Nothing for PostgreSQL.
    pub(crate) fn checkpoint_in_background(&self) {
        let Db::Sqlite(pool) = self else { return };
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    return;
                }
                let passive: Result<(i64, i64, i64), _> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
                let result = match passive {
                    Ok((_, log, _)) if log >= CHECKPOINT_RESTART_PAGES => {
                        sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&pool).await.map(drop)
                    }
                    other => other.map(drop),
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "SQLite checkpoint failed: retrying on the next tick");
                }
            }
        });
    }
}

// Retention and erasure: what the background purge and a supervisor's
// erasure delete. Kept together, apart from the call and counter queries.

/// What [`Db::purge_expired`] deletes: rows older than each cutoff (unix
/// seconds). Another table's purge adds its cutoff here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Call records last updated before this.
    pub records_before: u64,
    /// Counter events (`guard_events`) before this: past every counter's window.
    pub counters_before: u64,
    /// Login sessions that expired before this.
    pub sessions_before: u64,
}

/// How many rows [`Db::purge_expired`] deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub call_records: u64,
    pub guard_events: u64,
    pub sessions: u64,
    /// Scheduled call lists, which go with the records they list.
    pub call_lists: u64,
}

/// Call records deleted per statement, so a first purge of a large backlog
/// never holds SQLite's write lock (and so the record writer) for long.
const PURGE_BATCH: i64 = 1_000;

impl Db {
    /// Deletes every row past its table's cutoff. The one purge every table
    /// with personal data or expiring state joins, run by
    /// [`super::retention`].
    pub async fn purge_expired(&self, cutoffs: &Cutoffs) -> Result<Purged, sqlx::Error> {
        let mut purged = Purged::default();
        let records = "DELETE FROM call_records WHERE call_sid IN \
             (SELECT call_sid FROM call_records WHERE updated_at < $1 LIMIT $2)";
        loop {
            let n = on_pool!(self, pool => {
                sqlx::query(records)
                    .bind(to_i64(cutoffs.records_before))
                    .bind(PURGE_BATCH)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            purged.call_records += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
        }
        purged.guard_events = on_pool!(self, pool => {
            sqlx::query("DELETE FROM guard_events WHERE at < $1")
                .bind(to_i64(cutoffs.counters_before))
                .execute(pool)
                .await?
                .rows_affected()
        });
        purged.sessions = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(to_i64(cutoffs.sessions_before))
                .execute(pool)
                .await?
                .rows_affected()
        });
        purged.call_lists = self.purge_report_files(0, cutoffs.records_before).await?;
        Ok(purged)
    }

    /// The calls whose records name `customer_id`.
    pub async fn calls_of_customer(&self, customer_id: &str) -> Result<Vec<String>, sqlx::Error> {
        let sql = "SELECT call_sid FROM call_records WHERE customer_id = $1";
        on_pool!(self, pool => sqlx::query_scalar(sql).bind(customer_id).fetch_all(pool).await)
    }

    /// Deletes the records of `call_sids` and of every call naming
    /// `customer_id`, and the answers stored for their webhooks (one
    /// transaction), then, on SQLite, checkpoints the
    /// write-ahead log so no copy of them is left in it. Returns the call
    /// SIDs deleted.
    pub async fn erase_calls(&self, customer_id: &str, call_sids: &[String]) -> Result<Vec<String>, sqlx::Error> {
        // The transaction reads before it deletes: on SQLite it must hold
        // the write lock from its start, or a write committed between the
        // two by another connection (a batch of records, a report file)
        // fails the deletion with SQLITE_BUSY_SNAPSHOT ("database is
        // locked"), which no busy handler waits out.
        let turn = self.write_turn().await;
        let deleted: Vec<String> = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(pool)).await?;
            let mut deleted: Vec<String> =
                sqlx::query_scalar("SELECT call_sid FROM call_records WHERE customer_id = $1")
                    .bind(customer_id)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM call_records WHERE customer_id = $1").bind(customer_id).execute(&mut *tx).await?;
            for sid in call_sids {
                let n = sqlx::query("DELETE FROM call_records WHERE call_sid = $1")
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    deleted.push(sid.clone());
                }
            }
            // The answers stored for their webhooks name the customer too.
            for sid in deleted.iter().chain(call_sids) {
                sqlx::query("DELETE FROM webhook_claims WHERE call_sid = $1")
                    .bind(sid.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            deleted
        });
        drop(turn);
        // The log's frames (which held the rows before the delete) are
        // copied into the file and the log emptied; a reader in the way
        // makes it busy, so it is tried again, briefly.
        if let Db::Sqlite(pool) = self {
            if !empty_log(pool, 20).await? {
                tracing::warn!("erasure: the SQLite write-ahead log stayed busy; the next checkpoint empties it");
            }
        }
        Ok(deleted)
    }
}

/// Copies a SQLite file's write-ahead log into the file and empties it
/// (TRUNCATE), trying up to `tries` times 50 ms apart while a reader or
/// writer is in the way: whether it was emptied.
async fn empty_log(pool: &SqlitePool, tries: usize) -> Result<bool, sqlx::Error> {
    for tried in 1..=tries {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await?;
        if busy == 0 {
            return Ok(true);
        }
        if tried < tries {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(false)
}

/// Whether a failed write is worth retrying as it is: the database was
/// unreachable, busy or restarting, rather than refusing the data.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| match code.parse::<i64>() {
            // SQLite: BUSY, LOCKED, IOERR, FULL, CANTOPEN (the primary codes of extended ones).
            Ok(n) => matches!(n & 0xff, 5 | 6 | 10 | 13 | 14),
            // PostgreSQL SQLSTATE classes: connection exception, transaction
            // rollback, insufficient resources, object not in prerequisite
            // state (e.g. not accepting connections), operator intervention
            // (shutting down), system error.
            Err(_) => ["08", "40", "53", "55", "57", "58"].iter().any(|class| code.starts_with(class)),
        }),
        _ => false,
    }
}

/// The PostgreSQL advisory lock of one counter: 64 bits of a hash of its
/// kind and subject (the same in every Vouch).
pub(crate) fn advisory_key(kind: &str, subject: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"vouch guard\0")
        .chain_update(kind)
        .chain_update([0])
        .chain_update(subject)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored enum value, by its serde name.
fn parse_enum<'de, T: Deserialize<'de>>(column: &str, value: &'de str) -> Result<T, sqlx::Error> {
    let de: StrDeserializer<'de, serde::de::value::Error> = value.into_deserializer();
    T::deserialize(de).map_err(|e| sqlx::Error::ColumnDecode { index: column.to_string(), source: Box::new(e) })
}

fn from_u64(column: &str, v: i64) -> Result<u64, sqlx::Error> {
    u64::try_from(v).map_err(|e| sqlx::Error::ColumnDecode { index: column.to_string(), source: Box::new(e) })
}

/// A row of [`SELECT`], whichever driver read it: its columns by name.
pub(super) trait RecordRow {
    fn text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error>;
}

/// A row read through sqlx.
struct SqlxRow<'r, R>(&'r R);

impl<'r, R: Row> RecordRow for SqlxRow<'r, R>
where
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error> {
        self.0.try_get(column)
    }

    fn int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error> {
        self.0.try_get(column)
    }
}

pub(super) fn from_row<'r, R: Row>(row: &'r R) -> Result<CallRecord, sqlx::Error>
where
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    record_from(&SqlxRow(row))
}

/// The record a row of [`SELECT`] holds.
pub(super) fn record_from(row: &impl RecordRow) -> Result<CallRecord, sqlx::Error> {
    let null = |c: &str| sqlx::Error::ColumnDecode {
        index: c.to_string(),
        source: Box::new(sqlx::error::UnexpectedNullError),
    };
    let text = |c: &'static str| -> Result<String, sqlx::Error> { row.text(c)?.ok_or_else(|| null(c)) };
    let int = |c: &'static str| -> Result<u64, sqlx::Error> { from_u64(c, row.int(c)?.ok_or_else(|| null(c))?) };
    let opt_int =
        |c: &'static str| -> Result<Option<u64>, sqlx::Error> { row.int(c)?.map(|v| from_u64(c, v)).transpose() };
    let small = |c: &'static str| -> Result<u8, sqlx::Error> { Ok(u8::try_from(int(c)?).unwrap_or(u8::MAX)) };
    let idv_status = text("idv_status")?;
    let idv_method = text("idv_method")?;
    let outcome = text("outcome")?;
    let attributes = super::attributes::from_column(row.text("attributes")?.as_deref())
        .map_err(|e| sqlx::Error::ColumnDecode { index: "attributes".into(), source: Box::new(e) })?;
    let timeline = super::timeline::from_column(row.text("timeline")?.as_deref())
        .map_err(|e| sqlx::Error::ColumnDecode { index: "timeline".into(), source: Box::new(e) })?;
    Ok(CallRecord {
        call_sid: text("call_sid")?,
        service_line: text("service_line")?,
        caller: text("caller")?,
        customer_id: row.text("customer_id")?,
        customer_name: row.text("customer_name")?,
        attributes,
        idv_status: parse_enum("idv_status", &idv_status)?,
        idv_method: parse_enum("idv_method", &idv_method)?,
        opted_out: int("opted_out")? != 0,
        outcome: parse_enum("outcome", &outcome)?,
        identify_attempts: small("identify_attempts")?,
        verify_attempts: small("verify_attempts")?,
        stir_verstat: row.text("stir_verstat")?,
        call_status: row.text("call_status")?,
        call_duration: opt_int("call_duration")?,
        status_sequence: opt_int("status_sequence")?,
        started_at: int("started_at")?,
        identified_at: opt_int("identified_at")?,
        verified_at: opt_int("verified_at")?,
        handed_off_at: opt_int("handed_off_at")?,
        ended_at: opt_int("ended_at")?,
        updated_at: int("updated_at")?,
        revision: int("revision")?,
        lockout: int("lockout")? != 0,
        partial: int("partial")? != 0,
        agent_state: AgentState::from_column(row.text("agent_state")?.as_deref()),
        crm_asked: u32::try_from(int("crm_asked")?).unwrap_or(u32::MAX),
        crm_failed: u32::try_from(int("crm_failed")?).unwrap_or(u32::MAX),
        crm_wait_ms: int("crm_wait_ms")?,
        queue: row.text("queue")?,
        agent: row.text("agent")?,
        timeline,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::record::RecordOutcome;

    #[test]
    fn outcomes_are_stored_by_their_api_names() {
        for o in [
            RecordOutcome::InProgress,
            RecordOutcome::SelfService,
            RecordOutcome::Agent,
            RecordOutcome::OptedOut,
            RecordOutcome::CrmUnavailable,
            RecordOutcome::VerificationUnavailable,
            RecordOutcome::Abandoned,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
            assert_eq!(parse_enum::<RecordOutcome>("outcome", o.as_str()).unwrap(), o);
        }
        assert!(parse_enum::<RecordOutcome>("outcome", "nonsense").is_err());
    }

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_migrated_and_kept() {
        let db = Db::open(&DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap().unwrap();
        let r = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        db.upsert(std::slice::from_ref(&r)).await.unwrap();
        assert_eq!(db.get("CA1").await.unwrap().map(|r| r.call_sid), Some("CA1".to_string()));
    }

    #[tokio::test]
    async fn a_sqlite_file_opens_one_connection_and_its_background_tasks_one_of_their_own() {
        let (db, _dir) = sqlite_db().await;
        let Db::Sqlite(pool) = &db else { unreachable!() };
        // Migrating and reading the applied version share one connection.
        assert_eq!(pool.size(), 1);
        let background = db.background().expect("a file's background tasks have a pool of their own");
        let Db::Sqlite(own) = &background else { unreachable!() };
        assert_eq!(own.size(), 0, "opened when first used");
        // A purge's statements run one after another, each on that one connection.
        let cutoffs = Cutoffs { records_before: 1_000, counters_before: 1_000, sessions_before: 1_000 };
        for _ in 0..3 {
            assert_eq!(background.purge_expired(&cutoffs).await.unwrap(), Purged::default());
        }
        assert_eq!((pool.size(), own.size()), (1, 1));
        // Its writes take the file's one write turn.
        let (turn, its_turn) = (db.sqlite_turn().unwrap(), background.sqlite_turn().unwrap());
        assert!(std::sync::Arc::ptr_eq(&turn, &its_turn));
        background.close_background().await;
        assert!(own.is_closed() && !pool.is_closed());

        // An in-memory database lives in its one connection: no pool beside it, no turn.
        let memory = Db::open(&DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap().unwrap();
        assert!(memory.background().is_none() && memory.sqlite_turn().is_none());
    }

    #[tokio::test]
    async fn a_record_round_trips_through_sqlite_and_a_stale_write_loses_nothing() {
        let (db, _dir) = sqlite_db().await;
        let mut r = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        r.customer_name = Some("Zoë O'Brien & <Sons>".into());
        r.attributes = vec![("tier".into(), "Gold".into()), ("segment".into(), "SMB & <Co>".into())];
        r.call_duration = Some(42);
        r.verify_attempts = 2;
        r.outcome = RecordOutcome::SelfService;
        r.agent_state = AgentState::WithAgent;
        assert_eq!(db.merge(&r).await.unwrap(), Merged::default());
        let mut stored = r.clone();
        stored.revision = 1;
        assert_eq!(db.get("CA1").await.unwrap(), Some(stored.clone()));
        let mut stale = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        stale.verify_attempts = 1;
        stale.updated_at = 150;
        let found = db.merge(&stale).await.unwrap();
        assert!(found.flow_superseded && !found.status_superseded, "{found:?}");
        stored.updated_at = 150;
        stored.revision = 2;
        assert_eq!(
            db.get("CA1").await.unwrap(),
            Some(stored.clone()),
            "only the time moved; the revision is the database's"
        );
        assert_eq!(db.recent(10).await.unwrap(), vec![stored]);
        assert_eq!(db.get("CA2").await.unwrap(), None);
    }

    /// One batch with a stored call, a new one, and the same call twice:
    /// each merged as [`Db::merge`] would one by one, the second write of a
    /// call onto the first's row (its revision read in the batch's one read,
    /// then moved on by the first write).
    #[tokio::test]
    async fn a_batch_merges_each_record_onto_what_the_batch_wrote_before_it() {
        let db = Db::open(&DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap().unwrap();
        db.merge(&CallRecord::new("CA1", "support", "+1********01".into(), 100)).await.unwrap();
        let mut verified = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        verified.verify_attempts = 1;
        verified.updated_at = 120;
        let mut ended = CallRecord::pending_status("CA1", "completed", Some(3), Some(42), 160);
        ended.updated_at = 160;
        let (new, again) = (CallRecord::new("CA2", "sales", "+1********02".into(), 130), {
            let mut r = CallRecord::new("CA2", "sales", "+1********02".into(), 130);
            r.outcome = RecordOutcome::Agent;
            r
        });
        let found = db.merge_all(&[&verified, &ended, &new, &again]).await.unwrap();
        assert_eq!(found.len(), 4);
        let one = db.get("CA1").await.unwrap().unwrap();
        assert_eq!((one.verify_attempts, one.call_status.as_deref(), one.revision), (1, Some("completed"), 3));
        let two = db.get("CA2").await.unwrap().unwrap();
        assert_eq!((two.outcome, two.revision), (RecordOutcome::Agent, 2));
    }

    /// A record with every column set, to the limits of its types.
    fn full_record(sid: &str, at: u64) -> CallRecord {
        let mut r = CallRecord::new(sid, "support", "+1********01".into(), at);
        r.customer_id = Some("C-1 'x'".into());
        r.customer_name = Some("Zoë O'Brien & <Sons> \"Ltd\"".into());
        r.attributes = vec![("tier".into(), "Gold".into()), ("note".into(), "a\\b, [c] {d}".into())];
        r.idv_status = crate::flow::IdvStatus::Verified;
        r.idv_method = crate::flow::IdvMethod::KeyedAni;
        (r.opted_out, r.lockout) = (true, true);
        r.outcome = RecordOutcome::SelfService;
        (r.identify_attempts, r.verify_attempts) = (2, 3);
        r.stir_verstat = Some("TN-Validation-Passed-A".into());
        r.call_status = Some("in-progress".into());
        (r.call_duration, r.status_sequence) = (Some(u64::MAX), Some(7));
        (r.identified_at, r.verified_at, r.handed_off_at, r.ended_at) =
            (Some(at + 1), Some(at + 2), Some(at + 3), Some(at + 4));
        r.updated_at = at + 5;
        r.agent_state = AgentState::WithAgent;
        (r.queue, r.agent) = (Some("support 'tier 2'".into()), Some("client:alice".into()));
        use crate::store::timeline::{Answer, EntryKind, Event, Question, What};
        r.timeline = vec![
            Event {
                at: at * 1000,
                what: What::Crm { question: Question::CallerId, answer: Answer::Found, ms: u64::MAX },
            },
            Event {
                at: at * 1000 + 5,
                what: What::Entry { stage: crate::flow::Stage::Verify, entry: EntryKind::Refused },
            },
        ];
        r
    }

    /// A batch of new calls, changed ones, an unchanged one, a stale write
    /// and a second write of a call: the same results, and the same rows,
    /// as [`Db::merge`] one record at a time, every column carried.
    /// `merge_all` writes the batch to `batched` ([`Db::merge_all`], or
    /// the SQLite batch thread's).
    pub(crate) async fn a_batch_writes_what_one_by_one_writes(
        batched: Db,
        alone: Db,
        merge_all: impl AsyncFn(&[&CallRecord]) -> Vec<Merged>,
    ) {
        for db in [&batched, &alone] {
            db.merge(&CallRecord::new("CA1", "support", "+1********01".into(), 100)).await.unwrap();
            db.merge(&full_record("CA3", 100)).await.unwrap();
            db.merge(&full_record("CA4", 100)).await.unwrap();
        }
        let mut stale = CallRecord::new("CA4", "support", "+1********01".into(), 100);
        stale.updated_at = 90;
        let mut ended = CallRecord::pending_status("CA2", "completed", Some(9), Some(60), 400);
        ended.updated_at = 400;
        let writes =
            [full_record("CA2", 1 << 40), full_record("CA1", 200), full_record("CA3", 100), stale, ended.clone()];
        let refs: Vec<&CallRecord> = writes.iter().collect();
        let found = merge_all(&refs).await;
        let mut one_by_one = Vec::new();
        for w in &writes {
            one_by_one.push(alone.merge(w).await.unwrap());
        }
        assert_eq!(found, one_by_one);
        assert!(found[3].flow_superseded, "the stale write is behind the stored row");
        for sid in ["CA1", "CA2", "CA3", "CA4"] {
            assert_eq!(batched.get_any(sid).await.unwrap(), alone.get_any(sid).await.unwrap(), "{sid}");
        }
        let mut new = full_record("CA2", 1 << 40);
        (new.call_status, new.status_sequence, new.call_duration) = (Some("completed".into()), Some(9), Some(60));
        new.ended_at = Some(400);
        new.revision = 2;
        new.add_events(&ended.timeline);
        assert_eq!(batched.get("CA2").await.unwrap(), Some(new), "every column of a new row, then the status merged");
        let mut changed = full_record("CA1", 200);
        // The first start is kept, and a call's duration comes from its status callbacks only.
        (changed.started_at, changed.call_duration, changed.revision) = (100, None, 2);
        assert_eq!(batched.get("CA1").await.unwrap(), Some(changed), "every column of a changed row");
        assert_eq!(batched.get("CA3").await.unwrap().map(|r| r.revision), Some(1), "an unchanged row is not written");
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_writes_what_one_by_one_writes() {
        let ((batched, _a), (alone, _b)) = (sqlite_db().await, sqlite_db().await);
        let db = batched.clone();
        a_batch_writes_what_one_by_one_writes(batched, alone, async |refs| db.merge_all(refs).await.unwrap()).await;
    }

    #[tokio::test]
    async fn on_postgres_a_batch_writes_what_one_by_one_writes() {
        let Some(schemas) = postgres_schemas("call records batch", 2).await else { return };
        let db = schemas.dbs[0].clone();
        a_batch_writes_what_one_by_one_writes(db.clone(), schemas.dbs[1].clone(), async |refs| {
            db.merge_all(refs).await.unwrap()
        })
        .await;
        schemas.drop().await;
    }

    /// On PostgreSQL a release and a clear take their counter's advisory
    /// lock, as a reservation does, before touching its rows: while
    /// another transaction holds the lock they wait, and go in once it is
    /// let go. (Without it two batches could each hold what the other's
    /// next write waits for.)
    #[tokio::test]
    async fn on_postgres_a_release_and_a_clear_wait_for_their_counters_lock() {
        use sqlx::Connection;
        let Some(schemas) = postgres_schemas("counter locks", 1).await else { return };
        let db = schemas.dbs[0].clone();
        // Advisory locks are the whole database's: a subject no other test uses.
        let subject = format!("locks-{}", hex::encode(rand::random::<[u8; 6]>()));
        let base = std::env::var("VOUCH_TEST_POSTGRES_URL").unwrap();
        let Db::Postgres(pool) = &db else { unreachable!("a PostgreSQL schema") };
        let events =
            || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM guard_events WHERE subject = $1").bind(&subject);
        let writes = [
            GuardWrite::Release { kind: "verify_failed", subject: subject.clone(), token: "t1".into() },
            GuardWrite::Clear { kind: "verify_failed", subject: subject.clone() },
        ];
        // Two events before each write: t1 and t2 before the release of t1, t2 and t3 before the clear.
        assert!(db.reserve_event("verify_failed", &subject, "t1", 100, 0, 5).await.unwrap());
        for (i, write) in writes.into_iter().enumerate() {
            assert!(db.reserve_event("verify_failed", &subject, &format!("t{}", i + 2), 100, 0, 5).await.unwrap());
            let mut holder = sqlx::PgConnection::connect(&base).await.unwrap();
            sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(advisory_key("verify_failed", &subject))
                .execute(&mut holder)
                .await
                .unwrap();
            let (db2, w) = (db.clone(), write.clone());
            let mut task = tokio::spawn(async move { db2.guard_write(&w).await });
            let waited = tokio::time::timeout(std::time::Duration::from_millis(300), &mut task).await;
            assert!(waited.is_err(), "{write:?} waits for its counter's lock: {waited:?}");
            assert_eq!(events().fetch_one(pool).await.unwrap(), 2, "{write:?} deleted nothing yet");
            sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
            assert!(task.await.unwrap().unwrap(), "{write:?} goes in once the lock is let go");
            let left = events().fetch_one(pool).await.unwrap();
            assert_eq!(left, if i == 0 { 1 } else { 0 }, "{write:?}: the release takes one event, the clear all");
        }
        schemas.drop().await;
    }

    /// A migrated database in a new SQLite file, and the directory that
    /// holds it (the file goes when it is dropped).
    pub(crate) async fn sqlite_db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (Db::open(&DatabaseUrl::Sqlite(sqlite_url(&dir))).await.unwrap().unwrap(), dir)
    }

    fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("t.db").display())
    }

    /// Another connection to the file of [`sqlite_db`] (in `dir`), holding
    /// its write lock until `ROLLBACK`: every write waits meanwhile.
    pub(crate) async fn sqlite_write_lock(dir: &tempfile::TempDir) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        let mut lock = sqlx::SqliteConnection::connect(&sqlite_url(dir)).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut lock).await.unwrap();
        lock
    }

    /// `n` migrated databases, each in a schema of its own on the
    /// PostgreSQL of `VOUCH_TEST_POSTGRES_URL`; `None`, and a visible skip,
    /// when it is not set.
    pub(crate) async fn postgres_schemas(what: &str, n: usize) -> Option<PgSchemas> {
        use sqlx::Connection;
        let Some(base) = std::env::var("VOUCH_TEST_POSTGRES_URL").ok().filter(|v| !v.trim().is_empty()) else {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED postgres {what}: VOUCH_TEST_POSTGRES_URL not set");
            return None;
        };
        let mut conn = sqlx::PgConnection::connect(&base).await.expect("the test PostgreSQL");
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let (mut dbs, mut names) = (Vec::new(), Vec::new());
        for side in 0..n {
            let schema = format!("vouch_test_{tag}_{side}");
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&mut conn).await.unwrap();
            let mut url = url::Url::parse(&base).expect("a URL");
            url.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
            dbs.push(Db::open(&DatabaseUrl::parse(url.as_str(), "test").unwrap()).await.unwrap().unwrap());
            names.push(schema);
        }
        Some(PgSchemas { conn, dbs, names })
    }

    pub(crate) struct PgSchemas {
        conn: sqlx::PgConnection,
        pub dbs: Vec<Db>,
        names: Vec<String>,
    }

    impl PgSchemas {
        pub async fn drop(mut self) {
            for (db, schema) in self.dbs.iter().zip(&self.names) {
                db.close().await;
                sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE")).execute(&mut self.conn).await.unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_status_before_the_record_is_kept_hidden_and_completed_by_the_first_write() {
        let db = Db::open(&DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap().unwrap();
        db.merge(&CallRecord::pending_status("CA1", "completed", Some(3), Some(42), 160)).await.unwrap();
        assert_eq!(db.get("CA1").await.unwrap(), None, "a pending status alone is not a record");
        assert!(db.recent(10).await.unwrap().is_empty());
        let mut first = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        first.outcome = RecordOutcome::Agent;
        db.merge(&first).await.unwrap();
        let r = db.get("CA1").await.unwrap().unwrap();
        assert_eq!((r.service_line.as_str(), r.caller.as_str(), r.started_at), ("support", "+1********01", 100));
        assert_eq!((r.call_status.as_deref(), r.call_duration, r.ended_at), (Some("completed"), Some(42), Some(160)));
        assert_eq!((r.outcome, r.partial), (RecordOutcome::Agent, false));
    }

    #[tokio::test]
    async fn a_purge_deletes_a_large_backlog_in_batches_and_keeps_what_is_recent() {
        let db = Db::open(&DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap().unwrap();
        let old: Vec<CallRecord> =
            (0..2_500).map(|i| CallRecord::new(&format!("CA{i}"), "support", "+1********01".into(), 100)).collect();
        db.upsert(&old).await.unwrap();
        db.upsert(&[CallRecord::new("CAnew", "support", "+1********01".into(), 5_000)]).await.unwrap();
        assert!(db.reserve_event("unknown_id", "s", "t1", 100, 0, 10).await.unwrap());
        assert!(db.reserve_event("unknown_id", "s", "t2", 5_000, 0, 10).await.unwrap());
        let cutoffs = Cutoffs { records_before: 1_000, counters_before: 1_000, sessions_before: 1_000 };
        assert_eq!(
            db.purge_expired(&cutoffs).await.unwrap(),
            Purged { call_records: 2_500, guard_events: 1, sessions: 0, call_lists: 0 }
        );
        assert_eq!(db.recent(10).await.unwrap().len(), 1);
        assert_eq!(db.count_events("unknown_id", "s", 0).await.unwrap(), 1);
        assert_eq!(db.purge_expired(&cutoffs).await.unwrap(), Purged::default());
    }

    #[tokio::test]
    async fn an_erasure_waits_for_another_connections_write_rather_than_failing_on_it() {
        let (db, dir) = sqlite_db().await;
        let mut theirs = CallRecord::new("CA1", "support", "+1********01".into(), 100);
        theirs.customer_id = Some("12345678".into());
        db.upsert(&[theirs, CallRecord::new("CA2", "support", "+1********01".into(), 100)]).await.unwrap();
        // Another connection writes while the erasure runs: had the erasure
        // read before taking the write lock, its deletion would find its
        // snapshot stale when this commits (SQLITE_BUSY_SNAPSHOT).
        let mut lock = sqlite_write_lock(&dir).await;
        sqlx::query("INSERT INTO guard_events (kind, subject, at, token) VALUES ('unknown_id', 's', 1, 't')")
            .execute(&mut lock)
            .await
            .unwrap();
        let erasing = tokio::spawn(async move {
            let erased = db.erase_calls("12345678", &[]).await;
            (erased, db)
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
        let (erased, db) = erasing.await.unwrap();
        assert_eq!(erased.unwrap(), ["CA1"]);
        assert_eq!(db.get("CA1").await.unwrap(), None);
        assert!(db.get("CA2").await.unwrap().is_some(), "another customer's call is kept");
        assert_eq!(db.count_events("unknown_id", "s", 0).await.unwrap(), 1, "the other write landed too");
    }
}

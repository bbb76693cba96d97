//! The write batch on a SQLite file: a thread of its own that holds one
//! connection and runs each batch start to end.
//!
//! Through sqlx, every statement is a message to the connection's worker
//! thread and a wake-up back, and a batch is handed from the webhook's
//! thread to the runtime's and on to sqlx's: below full load, where a batch
//! is one or two jobs, these threads waking each other cost more than the
//! SQL. Here a job wakes this thread once and its answer wakes the webhook
//! once. The statements, their order and their results are those of the
//! batch through sqlx ([`super::run_batch`], [`super::Job::run_alone`]);
//! this process's write transactions on the file still take turns
//! ([`Db::sqlite_file`]), and another process meets the busy handler.

use super::checkpoint;
use super::{undecided, ClaimKey, Done, Gatherer, Job, Plan, Verdict, Woke, INSERT, READ, SETTLE, TAKE_OVER};
use crate::store::db::{
    record_cells, record_from, to_i64, Cell, GuardWrite, RecordRow, Write, CLEAR_EVENTS, DELETE_EXPIRED, MERGE_TRIES,
    RECORD_ROW_SQL, RELEASE_EVENT, RESERVE, SELECT_BY_SID,
};
use crate::store::record::{CallRecord, Merged};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, TransactionBehavior};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{mpsc, Arc};

/// How long the connection waits for another process's write lock (as
/// the pool's connections do).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the connection sleeps between two tries for that lock ([`busy`]).
const BUSY_STEP: std::time::Duration = std::time::Duration::from_micros(100);

/// Opens `file` (already created and migrated by the pool) and starts the
/// thread that runs the jobs sent on the returned sender until every
/// sender is gone, and with it the thread that keeps the file's log short
/// ([`checkpoint`]), which stops when it does.
pub(super) fn start(
    file: &Path,
    turn: Arc<tokio::sync::Mutex<()>>,
    gatherer: Gatherer,
    limits: checkpoint::Limits,
) -> Result<mpsc::Sender<Job>, String> {
    let conn = open(file).map_err(|e| e.to_string())?;
    let reset = Arc::new(checkpoint::Reset::default());
    let finisher = checkpoint::Finisher::new(&conn, reset.clone(), limits).map_err(|e| e.to_string())?;
    let alive = checkpoint::start(open(file).map_err(|e| e.to_string())?, reset, limits)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("vouch-sqlite-batch".into())
        .spawn(move || {
            let _alive = alive;
            batch_writes(conn, &turn, rx, gatherer, finisher)
        })
        .map_err(|e| e.to_string())?;
    Ok(tx)
}

/// While another connection holds the file's write lock (a checkpoint
/// that resets the log holds it for its copy and syncs), the batch waits
/// in steps of [`BUSY_STEP`], up to [`BUSY_TIMEOUT`] in all. SQLite's own
/// handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15… ms: a lock held 12 ms
/// kept every claim waiting about 20.
fn busy(tries: i32) -> bool {
    thread_local! {
        /// When this thread's current wait began (its first try).
        static SINCE: std::cell::Cell<std::time::Instant> = std::cell::Cell::new(std::time::Instant::now());
    }
    if tries == 0 {
        SINCE.set(std::time::Instant::now());
    }
    if SINCE.get().elapsed() >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// One connection with the pool's settings (db.rs, `Db::open`).
pub(super) fn open(file: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(file, flags)?;
    conn.busy_handler(Some(busy))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// [`super::batch_writes`], on this thread.
fn batch_writes(
    mut conn: Connection,
    turn: &tokio::sync::Mutex<()>,
    rx: mpsc::Receiver<Job>,
    mut gatherer: Gatherer,
    mut finisher: checkpoint::Finisher,
) {
    loop {
        let woke = match gatherer.wait() {
            None => rx.recv().map_or(Woke::Closed, Woke::Job),
            Some(left) => match rx.recv_timeout(left) {
                Ok(job) => Woke::Job(job),
                Err(mpsc::RecvTimeoutError::Timeout) => Woke::Timeout,
                Err(mpsc::RecvTimeoutError::Disconnected) => Woke::Closed,
            },
        };
        let closed = matches!(woke, Woke::Closed);
        if let Some((mut jobs, records)) = gatherer.woke(woke, &mut || rx.try_recv().ok()) {
            let awaited = jobs.iter().any(Job::awaited);
            let _turn = turn.blocking_lock();
            match jobs.len() {
                0 => {}
                1 => run_alone(&mut conn, jobs.pop().expect("one job")),
                _ => match run_batch(&mut conn, &jobs) {
                    Ok(done) => jobs.into_iter().zip(done).for_each(|(job, done)| job.reply(done)),
                    Err(e) => {
                        tracing::debug!(error = %e, jobs = jobs.len(), "a batch of webhook claims failed as one: running them one by one");
                        for job in jobs {
                            run_alone(&mut conn, job);
                        }
                    }
                },
            }
            for job in records {
                run_alone(&mut conn, job);
            }
            finisher.run(&conn);
            gatherer.ran(awaited);
        }
        if closed {
            break;
        }
    }
}

/// [`super::run_batch`] on the connection: the same statements in the
/// same order, but a row at a time through prepared statements where the
/// pool runs one set statement over a JSON array of rows. Here a statement
/// costs no hop to another thread, so the rows need not be rendered as
/// JSON and parsed back by SQLite, which cost more than the writes.
pub(super) fn run_batch(conn: &mut Connection, jobs: &[Job]) -> rusqlite::Result<Vec<Done>> {
    let plan = Plan::of(jobs);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut guarded = Vec::new();
    for job in jobs {
        if let Job::Guard { write, .. } = job {
            guarded.push(guard_write(&tx, write)?);
        }
    }
    let now = super::now_ms();
    let mut stored: HashSet<String> = HashSet::new();
    for (key, call_sid, claimed_at, answer) in &plan.settles {
        if execute(&tx, SETTLE, &[key, call_sid, claimed_at, answer, &now])? == 1 {
            stored.insert((*key).to_string());
        }
    }
    let mut won: HashSet<String> = HashSet::new();
    for (key, call_sid, now) in plan.claim_rows() {
        if execute(&tx, INSERT, &[&key, &call_sid, &now])? == 1 {
            won.insert(key.to_string());
        }
    }
    for (key, now, lapsed_before) in plan.lapsed(&won) {
        if execute(&tx, TAKE_OVER, &[&key, &now, &lapsed_before])? == 1 {
            won.insert(key.to_string());
        }
    }
    let (decided, unread) = undecided(jobs, &stored, &won);
    let mut read_back: HashMap<String, Option<String>> = HashMap::with_capacity(unread.len());
    for (key,) in unread {
        if let Some(answer) = read(&tx, key)? {
            read_back.insert(key.to_string(), answer);
        }
    }
    tx.commit()?;
    Ok(super::results(jobs, decided, &read_back, guarded))
}

/// [`super::Job::run_alone`] on the connection: each statement its own
/// transaction, but for a reservation's.
fn run_alone(conn: &mut Connection, job: Job) {
    match job {
        Job::Claim { key, now, lapsed_before, reply } => {
            let _ = reply.send(try_claim(conn, &key, now, lapsed_before).map_err(to_sqlx));
        }
        Job::Settle { key, claimed_at, answer, reply } => {
            reply.send(store_answer(conn, &key, claimed_at, answer.as_str()).map_err(to_sqlx));
        }
        Job::Guard { write, reply } => {
            let _ = reply.send(guard_write_alone(conn, &write).map_err(to_sqlx));
        }
        Job::Records { records, reply } => {
            let _ = reply.send(merge_records(conn, &records));
        }
    }
}

/// `Db::merge_all` on the connection: in one transaction, each record's
/// row read, the record merged into it ([`Write::of`]) and the result
/// written, a row at a time through prepared statements rather than set
/// statements over JSON arrays. A second record of one call is merged
/// into what the first wrote, as there. The transaction holds the write
/// lock from its start, so no other writer comes between a read and its
/// write; a write that changed nothing is tried again from a fresh read
/// all the same, as there.
pub(super) fn merge_records(conn: &mut Connection, records: &[CallRecord]) -> Result<Vec<Merged>, sqlx::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(to_sqlx)?;
    let mut found = Vec::with_capacity(records.len());
    'records: for record in records {
        for _ in 0..MERGE_TRIES {
            let stored = stored_record(&tx, &record.call_sid)?;
            let (sql, row, what) = match Write::of(stored.as_ref(), record) {
                Write::None(what) => {
                    found.push(what);
                    continue 'records;
                }
                Write::Insert(row) => (&RECORD_ROW_SQL.insert, row, Merged::default()),
                Write::Update(row, what) => (&RECORD_ROW_SQL.update, row, what),
            };
            let cells = record_cells(&row);
            let written = tx.prepare_cached(sql).and_then(|mut s| s.execute(rusqlite::params_from_iter(cells.iter())));
            if written.map_err(to_sqlx)? == 1 {
                found.push(what);
                continue 'records;
            }
        }
        return Err(sqlx::Error::Protocol(format!("call record write kept conflicting after {MERGE_TRIES} tries")));
    }
    tx.commit().map_err(to_sqlx)?;
    Ok(found)
}

/// A call's stored row, if it has one.
fn stored_record(conn: &Connection, call_sid: &str) -> Result<Option<CallRecord>, sqlx::Error> {
    let mut statement = conn.prepare_cached(&SELECT_BY_SID).map_err(to_sqlx)?;
    let mut rows = statement.query(&*named(&[&call_sid])).map_err(to_sqlx)?;
    match rows.next().map_err(to_sqlx)? {
        Some(row) => record_from(row).map(Some),
        None => Ok(None),
    }
}

impl RecordRow for rusqlite::Row<'_> {
    fn text(&self, column: &'static str) -> Result<Option<String>, sqlx::Error> {
        self.get(column).map_err(|e| decode(column, e))
    }

    fn int(&self, column: &'static str) -> Result<Option<i64>, sqlx::Error> {
        self.get(column).map_err(|e| decode(column, e))
    }
}

fn decode(column: &str, e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_string(), source: Box::new(e) }
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Cell::Int(Some(n)) => ToSqlOutput::Owned(Value::Integer(*n)),
            Cell::Text(None) | Cell::Int(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// [`super::try_claim`] on the connection.
pub(super) fn try_claim(conn: &Connection, key: &ClaimKey, now: i64, lapsed_before: i64) -> rusqlite::Result<Verdict> {
    if execute(conn, INSERT, &[&key.key, &key.call_sid, &now])? == 1 {
        return Ok(Verdict::Won(true));
    }
    if execute(conn, TAKE_OVER, &[&key.key, &now, &lapsed_before])? == 1 {
        return Ok(Verdict::Won(true));
    }
    Ok(match read(conn, &key.key)? {
        Some(Some(a)) => Verdict::Answered(a.into()),
        // Gone (purged or released between the statements): look again.
        _ => Verdict::Held,
    })
}

/// [`super::store_answer`] on the connection.
pub(super) fn store_answer(
    conn: &Connection,
    key: &ClaimKey,
    claimed_at: i64,
    answer: &str,
) -> rusqlite::Result<Option<String>> {
    if execute(conn, SETTLE, &[&key.key, &key.call_sid, &claimed_at, &answer, &super::now_ms()])? == 1 {
        return Ok(None);
    }
    Ok(read(conn, &key.key)?.flatten())
}

/// `Db::guard_write` on the connection: a reservation in a transaction of
/// its own (the count and the insert under one write lock).
pub(super) fn guard_write_alone(conn: &mut Connection, write: &GuardWrite) -> rusqlite::Result<bool> {
    if !matches!(write, GuardWrite::Reserve { .. }) {
        return guard_write(conn, write);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let reserved = guard_write(&tx, write)?;
    tx.commit()?;
    Ok(reserved)
}

/// `guard_write_on!` (db.rs) on the connection.
fn guard_write(conn: &Connection, write: &GuardWrite) -> rusqlite::Result<bool> {
    Ok(match write {
        GuardWrite::Reserve { kind, subject, token, at, window_start, limit } => {
            execute(conn, DELETE_EXPIRED, &[kind, subject, &to_i64(*window_start)])?;
            let reserve = [kind as &dyn ToSql, subject, &to_i64(*at), token, &to_i64(*window_start), &to_i64(*limit)];
            execute(conn, RESERVE, &reserve)? == 1
        }
        GuardWrite::Release { kind, subject, token } => {
            execute(conn, RELEASE_EVENT, &[kind, subject, token])?;
            true
        }
        GuardWrite::Clear { kind, subject } => {
            execute(conn, CLEAR_EVENTS, &[kind, subject])?;
            true
        }
    })
}

/// The statements are written with `$1`, `$2`, … as for PostgreSQL; SQLite
/// takes those as names, bound here by name (a name may come twice).
fn named<'a>(values: &[&'a dyn ToSql]) -> Vec<(&'static str, &'a dyn ToSql)> {
    const NAMES: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];
    NAMES.iter().copied().zip(values.iter().copied()).collect()
}

fn execute(conn: &Connection, sql: &str, values: &[&dyn ToSql]) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(&*named(values))
}

/// The answer stored for `key`: `None` when there is no claim, `Some(None)`
/// when it has no answer yet.
fn read(conn: &Connection, key: &str) -> rusqlite::Result<Option<Option<String>>> {
    conn.prepare_cached(READ)?.query_row(&*named(&[&key]), |r| r.get(0)).optional()
}

/// A SQLite error as the pool would have reported it: its extended result
/// code as the code, so that `is_transient` reads a busy or locked
/// database as one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct ThreadError {
    code: Option<i32>,
    message: String,
}

impl sqlx::error::DatabaseError for ThreadError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    };
    sqlx::Error::Database(Box::new(ThreadError { code, message: e.to_string() }))
}

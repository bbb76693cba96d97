//! A SQLite file's write-ahead log, copied into the file by a thread of
//! its own and started again by the batch thread, the file's one writer.
//!
//! A checkpoint copies the log's pages into the database file; the log
//! starts again from its beginning only when a write begins after a
//! checkpoint copied all of it. The batch thread writes without pause
//! under load, so the copies here (PASSIVE: they hold up no reader or
//! writer) never quite catch up, and the log would grow without end.
//! SQLite's remedy, a RESTART checkpoint from another connection, waits
//! for the write lock, then holds it while it copies everything written
//! since and syncs both files: every claim waited for it, 12–25 ms about
//! once a second at a few thousand webhooks a second.
//!
//! So once the log is long, this thread asks the batch thread to finish
//! the copy itself, between two batches, just after a copy here: it is the
//! only writer, so nothing is appended behind its checkpoint, which copies
//! what was written meanwhile, and its next write starts the log again.
//! Only when that did not happen (a reader kept an old snapshot) is it
//! asked for a RESTART, which waits for readers, as the checkpoint did.
//!
//! This thread runs at a lower priority ([`NICE`]): a copy is rarely
//! urgent, and on a busy core it would otherwise hold up the webhooks'
//! threads for milliseconds at a time. Not the lowest: on a machine busy
//! with webhooks it must still keep up, or the log grows until the batch
//! thread copies everything at once ([`Finisher`]).

use rusqlite::Connection;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often the log is copied into the file, and how long it may grow
/// before it must start again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub every: Duration,
    /// Pages (4 KiB each) of log past which it should start again.
    pub reset_pages: i64,
    /// The log's file past this many bytes: the batch thread finishes the
    /// copy without being asked ([`Finisher`]), and the file is cut back
    /// to it when the log starts again (`journal_size_limit`).
    pub most_bytes: i64,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        every: crate::store::db::CHECKPOINT_EVERY,
        reset_pages: crate::store::db::CHECKPOINT_RESTART_PAGES,
        most_bytes: crate::store::db::JOURNAL_SIZE_LIMIT,
    };
}

/// What the checkpoint thread asks of the batch thread ([`Finisher::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    Nothing = 0,
    /// Copy what is left of the log (PASSIVE), so that the next write
    /// starts it again.
    Finish = 1,
    /// Wait for readers (up to the busy limit), copy everything and start
    /// the log again (RESTART).
    Restart = 2,
}

/// The checkpoint thread's request to the batch thread, read between two
/// batches.
#[derive(Debug, Default)]
pub(super) struct Reset(AtomicU8);

impl Reset {
    fn ask(&self, ask: Ask) {
        self.0.store(ask as u8, Ordering::Release);
    }

    /// What was asked since the last time, and nothing more until asked again.
    fn take(&self) -> Ask {
        match self.0.swap(Ask::Nothing as u8, Ordering::AcqRel) {
            0 => Ask::Nothing,
            1 => Ask::Finish,
            _ => Ask::Restart,
        }
    }
}

/// The batch thread's side: does what the checkpoint thread asked, and
/// bounds the log by itself when that thread, at its lower priority, gets
/// too little of a busy machine to ask in time. Then the log's file grows
/// past [`Limits::most_bytes`] (it is cut back to that whenever the log
/// starts again), and the batch thread finishes the copy unasked.
pub(super) struct Finisher {
    reset: Arc<Reset>,
    wal: String,
    limits: Limits,
    looked: Instant,
}

impl Finisher {
    /// For the batch thread's `conn`, whose log's file it cuts back.
    pub(super) fn new(conn: &Connection, reset: Arc<Reset>, limits: Limits) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "journal_size_limit", limits.most_bytes)?;
        let wal = format!("{}-wal", conn.path().unwrap_or_default());
        Ok(Self { reset, wal, limits, looked: Instant::now() })
    }

    /// Between two batches, holding the write turn: does what was asked,
    /// or what the log's size asks ([`Limits::every`] at most), and says
    /// what that was.
    pub(super) fn run(&mut self, conn: &Connection) -> Ask {
        let mut ask = self.reset.take();
        if ask == Ask::Nothing && self.looked.elapsed() >= self.limits.every {
            self.looked = Instant::now();
            let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
            if size > u64::try_from(self.limits.most_bytes).unwrap_or(u64::MAX) {
                ask = Ask::Finish;
            }
        }
        let mode = match ask {
            Ask::Nothing => return ask,
            Ask::Finish => "PASSIVE",
            Ask::Restart => "RESTART",
        };
        if let Err(e) = checkpoint(conn, mode) {
            tracing::debug!(error = %e, mode, "the batch thread's checkpoint failed: the next one tries again");
        }
        ask
    }
}

/// After a copy here, the log `log` pages long (it was `before` at the
/// last one): what to ask the batch thread, given whether it was asked
/// last time. The copy's own figures cannot say the log is all copied:
/// it copies up to where the log ended when it began, and the batch
/// thread goes on writing meanwhile.
pub(super) fn next(limits: Limits, log: i64, before: i64, asked_before: bool) -> Ask {
    if log < limits.reset_pages {
        Ask::Nothing
    } else if asked_before && log > before {
        // Asked, and written to since, yet the log did not start again:
        // a reader keeps its beginning.
        Ask::Restart
    } else {
        Ask::Finish
    }
}

/// `PRAGMA wal_checkpoint(mode)`: the log's pages and how many of them
/// are copied into the file.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| Ok((row.get(1)?, row.get(2)?)))
}

/// Starts the checkpoint thread on `conn`, a connection of its own to the
/// file, until the returned sender is dropped.
pub(super) fn start(
    conn: Connection,
    reset: Arc<Reset>,
    limits: Limits,
) -> Result<mpsc::Sender<std::convert::Infallible>, String> {
    let (alive, stop) = mpsc::channel();
    std::thread::Builder::new()
        .name("vouch-sqlite-checkpoint".into())
        .spawn(move || copies(&conn, &reset, limits, &stop))
        .map_err(|e| e.to_string())?;
    Ok(alive)
}

/// The thread: a PASSIVE copy every [`Limits::every`], and a request to
/// the batch thread when the log should start again ([`next`]).
fn copies(conn: &Connection, reset: &Reset, limits: Limits, stop: &mpsc::Receiver<std::convert::Infallible>) {
    lower_priority();
    let (mut asked, mut before) = (false, 0);
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(limits.every) {
        match checkpoint(conn, "PASSIVE") {
            Ok((log, _)) => {
                let ask = next(limits, log, before, asked);
                (asked, before) = (ask != Ask::Nothing, log);
                if ask != Ask::Nothing {
                    catch_up(conn);
                }
                reset.ask(ask);
            }
            Err(e) => tracing::debug!(error = %e, "SQLite checkpoint failed: retrying on the next tick"),
        }
    }
}

/// Before the batch thread is asked, does here what can be done without
/// holding up its writes: both files synced, what was written meanwhile
/// copied, and both synced again. The batch thread's checkpoint syncs
/// both files while the webhooks' writes wait for it. A copy that did not
/// reach the log's end leaves the database file unsynced (SQLite syncs it
/// only with the copy that catches up, and under load none does), so
/// without this, that sync wrote out everything copied since the log last
/// started: 12–14 ms at 6,000 webhooks a second, 4–6 ms after one round
/// here, 1.5–2 ms after two.
fn catch_up(conn: &Connection) {
    sync(conn);
    if let Err(e) = checkpoint(conn, "PASSIVE") {
        tracing::debug!(error = %e, "SQLite checkpoint failed: the batch thread copies the rest");
    }
    sync(conn);
}

/// Writes the database file's and the log's pages out to the disk.
fn sync(conn: &Connection) {
    let Some(file) = conn.path().filter(|p| !p.is_empty()) else { return };
    for path in [file.to_string(), format!("{file}-wal")] {
        if let Err(e) = std::fs::File::open(&path).and_then(|f| f.sync_data()) {
            tracing::debug!(error = %e, "the checkpoint thread could not sync a SQLite file");
        }
    }
}

/// The checkpoint thread's nice value. At 8,000 first webhooks a second
/// on one core, its p99 was 6.5 ms at nice 19, 11.5–11.9 ms at 5 and
/// 20–134 ms at 0 (19–22 ms with the RESTART before). But at full load
/// nice 19 (and 10) starved it: the log reached its bound, the batch
/// thread's copy of it all held claims past their 250 ms, and RSS grew
/// to 140–180 MiB. At 5 the log peaked at 190–200 MiB, and RSS stayed at
/// 47 MiB.
const NICE: i32 = 5;

/// Lowers this thread's priority to [`NICE`]. Only on Linux, where the
/// nice value is a thread's own (elsewhere it is the whole process's);
/// where that fails the thread keeps the process's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, NICE) {
        tracing::debug!(error = %e, "the checkpoint thread keeps the process's priority");
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A connection to `file` in WAL mode with SQLite's own checkpoints off,
    /// as the batch thread's.
    fn open(file: &std::path::Path) -> Connection {
        let conn = Connection::open(file).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        conn
    }

    #[test]
    fn a_long_log_is_finished_by_the_writer_and_restarted_only_when_that_did_not_start_it_again() {
        let limits = Limits { every: Duration::from_millis(10), reset_pages: 100, most_bytes: 1 << 20 };
        // Short: nothing to ask, whatever was asked before.
        assert_eq!(next(limits, 99, 50, false), Ask::Nothing);
        assert_eq!(next(limits, 0, 5_000, true), Ask::Nothing, "the writer started it again");
        // Long: the writer finishes the copy first.
        assert_eq!(next(limits, 100, 0, false), Ask::Finish);
        assert_eq!(next(limits, 5_000, 4_000, false), Ask::Finish);
        // Asked, written to since and still long: a reader keeps it.
        assert_eq!(next(limits, 5_001, 5_000, true), Ask::Restart);
        // Asked, but nothing written since (the writer idle): its next
        // write starts the log again; asking again costs nothing.
        assert_eq!(next(limits, 5_000, 5_000, true), Ask::Finish);
    }

    /// How many times the log at `file` started again: its header's
    /// checkpoint sequence number (bytes 12..16), written with the first
    /// frame of each new start.
    pub(crate) fn restarts(file: &std::path::Path) -> u32 {
        let wal = format!("{}-wal", file.display());
        std::fs::read(wal)
            .ok()
            .filter(|b| b.len() >= 16)
            .map_or(0, |b| u32::from_be_bytes([b[12], b[13], b[14], b[15]]))
    }

    /// What the design rests on: a copy elsewhere that began while the
    /// writer was writing leaves the log to grow, and the writer's own
    /// copy between two of its writes lets its next write start it again.
    #[test]
    fn the_writers_own_copy_lets_its_next_write_start_the_log_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let (writer, copier) = (open(&file), open(&file));
        let write = |sql: &str| writer.execute_batch(sql).unwrap();
        write("CREATE TABLE t (v); INSERT INTO t VALUES (randomblob(5000))");
        write("BEGIN IMMEDIATE; INSERT INTO t VALUES (randomblob(5000))");
        let (log, copied) = checkpoint(&copier, "PASSIVE").unwrap();
        assert_eq!(log, copied, "it copied what was committed when it began");
        write("COMMIT");
        let before = restarts(&file);
        write("INSERT INTO t VALUES (randomblob(5000))");
        assert_eq!(restarts(&file), before, "the copy missed the last write: the log grew");

        let reset = Arc::new(Reset::default());
        let mut finisher = Finisher::new(&writer, reset.clone(), UNBOUNDED).unwrap();
        reset.ask(Ask::Finish);
        assert_eq!(finisher.run(&writer), Ask::Finish);
        write("INSERT INTO t VALUES (randomblob(5000))");
        assert_eq!(restarts(&file), before + 1, "the writer's copy let its next write start the log again");
        let rows: i64 = copier.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 4);
        assert_eq!(finisher.run(&writer), Ask::Nothing, "asked once, done once");
    }

    /// Limits under which only an ask makes the batch thread copy.
    const UNBOUNDED: Limits = Limits { every: Duration::ZERO, reset_pages: 64, most_bytes: i64::MAX };

    #[test]
    fn the_batch_thread_does_what_was_asked_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db"));
        conn.execute_batch("CREATE TABLE t (v); INSERT INTO t VALUES (1)").unwrap();
        let reset = Arc::new(Reset::default());
        let mut finisher = Finisher::new(&conn, reset.clone(), UNBOUNDED).unwrap();
        assert_eq!(finisher.run(&conn), Ask::Nothing);
        reset.ask(Ask::Restart);
        assert_eq!(finisher.run(&conn), Ask::Restart);
        assert_eq!(finisher.run(&conn), Ask::Nothing, "done once");
        reset.ask(Ask::Finish);
        reset.ask(Ask::Nothing);
        assert_eq!(finisher.run(&conn), Ask::Nothing, "the last ask stands");
    }

    /// With no checkpoint thread asking at all (one that gets no CPU), the
    /// batch thread still starts the log again once its file passes the
    /// bound, and the file is cut back to the bound.
    #[test]
    fn unasked_the_batch_thread_bounds_the_log_by_its_files_size() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let writer = open(&file);
        let most_bytes = 64 * 4096;
        let limits = Limits { every: Duration::ZERO, reset_pages: 16, most_bytes };
        let mut finisher = Finisher::new(&writer, Arc::default(), limits).unwrap();
        writer.execute_batch("CREATE TABLE t (v)").unwrap();
        let wal_size = || std::fs::metadata(format!("{}-wal", file.display())).unwrap().len();
        let (before, mut finished, mut largest) = (restarts(&file), 0, 0);
        for _ in 0..200 {
            // Each write about two pages of log: 400 pages in all.
            writer.execute_batch("INSERT INTO t VALUES (randomblob(6000))").unwrap();
            largest = largest.max(wal_size());
            if finisher.run(&writer) == Ask::Finish {
                finished += 1;
            }
        }
        assert!(restarts(&file) >= before + 3, "the log started again {} times", restarts(&file) - before);
        // About once per 32 writes: the file cut back each time, so a copy
        // is not asked again until the log has grown back.
        assert!((3..=20).contains(&finished), "{finished}");
        // Past the bound by one write at most before it was cut back.
        assert!(largest <= most_bytes as u64 + 4 * 4096, "{largest}");
        let rows: i64 = writer.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 200);
    }
}

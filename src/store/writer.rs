//! The write buffer between the webhooks and the database. A webhook only
//! queues its record (a short lock, never a database call); one background
//! task writes the queue in order, in batches, and keeps it while the
//! database is unavailable, retrying with backoff. The buffer is bounded:
//! past its capacity a new call's record is dropped, counted and logged,
//! rather than slowing a webhook or growing without end. Several versions
//! of one call's record take one place: only the newest is written.

use super::claims::Batch;
use super::db::{is_transient, Db};
use super::record::{CallRecord, Merged};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Records written per transaction, at most.
const BATCH: usize = 100;
/// How long records gather before a write that is not a full batch: one
/// transaction for many records costs the machine (and so the webhooks
/// sharing it) far less than one each.
const LINGER: Duration = Duration::from_millis(50);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// While the database stays unavailable, a reminder this often.
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(30);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records written to the database.
    pub written: AtomicU64,
    /// Write attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Record writes lost: the buffer was full, the database refused them,
    /// or the shutdown flush ran out of time.
    pub dropped: AtomicU64,
    /// Record writes whose content was partly behind the stored row (built
    /// on a stale copy, or an older status callback): the stored fields
    /// kept their newer values.
    pub superseded: AtomicU64,
    /// Whether the last write attempt failed.
    pub failing: AtomicBool,
}

/// Where the records go: the pool's [`Db::merge_all`], or the same on the
/// SQLite batch thread.
struct Target {
    db: Db,
    lane: Option<Batch>,
}

impl Target {
    async fn merge_all(&self, records: &[&CallRecord]) -> Result<Vec<Merged>, sqlx::Error> {
        if let Some(lane) = &self.lane {
            if let Some(done) = lane.merge_records(records.iter().map(|r| (*r).clone()).collect()).await {
                return done;
            }
        }
        self.db.merge_all(records).await
    }

    /// [`Db::merge`], by way of [`Target::merge_all`].
    async fn merge(&self, record: &CallRecord) -> Result<Merged, sqlx::Error> {
        let found = self.merge_all(&[record]).await?;
        Ok(found.first().copied().unwrap_or_default())
    }
}

/// A snapshot of the writer's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub written: u64,
    pub retried: u64,
    pub dropped: u64,
    pub superseded: u64,
    /// Records waiting to be written.
    pub depth: usize,
    pub capacity: usize,
    pub failing: bool,
}

#[derive(Default)]
struct Queue {
    /// Call SIDs in the order their first unwritten version arrived.
    order: VecDeque<String>,
    /// The unwritten writes of each, merged, and a version bumped by each
    /// write (so a write arriving during a flush is not forgotten).
    pending: HashMap<String, (u64, CallRecord)>,
    version: u64,
}

pub struct Writer {
    queue: Mutex<Queue>,
    wake: Notify,
    /// Cuts a retry's backoff short at shutdown.
    closed: Notify,
    closing: AtomicBool,
    capacity: usize,
    pub stats: Stats,
    /// Held while a batch is written: an erasure holds it too, so no batch
    /// taken before the erasure lands after it.
    flight: tokio::sync::Mutex<()>,
}

impl Writer {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            closed: Notify::new(),
            closing: AtomicBool::new(false),
            capacity,
            stats: Stats::default(),
            flight: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The lock is never held across a panic-prone call; recover anyway.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record for writing. Never waits: false when it was dropped.
    pub fn enqueue(&self, record: CallRecord) -> bool {
        let mut q = self.lock();
        q.version += 1;
        let version = q.version;
        if let Some(slot) = q.pending.get_mut(&record.call_sid) {
            // Writes merge field by field: their order does not matter.
            let merged = slot.1.merge(&record);
            if merged.superseded() {
                tracing::debug!(call_sid = %record.call_sid, "a buffered write was behind another buffered write");
            }
            slot.0 = version;
        } else if q.order.len() >= self.capacity {
            drop(q);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                call_sid = %record.call_sid,
                capacity = self.capacity,
                "call record dropped: the database write buffer is full"
            );
            return false;
        } else {
            q.order.push_back(record.call_sid.clone());
            q.pending.insert(record.call_sid.clone(), (version, record));
        }
        drop(q);
        self.wake.notify_one();
        true
    }

    /// The unwritten writes of a call, merged, if any.
    pub fn pending(&self, call_sid: &str) -> Option<CallRecord> {
        self.lock().pending.get(call_sid).map(|(_, r)| r.clone())
    }

    /// Every unwritten record.
    pub fn all_pending(&self) -> Vec<CallRecord> {
        self.lock().pending.values().map(|(_, r)| r.clone()).collect()
    }

    /// Waits for the batch being written, if any, and holds off the next
    /// until the guard drops.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flight.lock().await
    }

    /// Removes every unwritten record `matches` picks, returning their call
    /// SIDs. Only under [`Writer::hold`] is none of them being written.
    pub fn forget(&self, matches: impl Fn(&CallRecord) -> bool) -> Vec<String> {
        let mut q = self.lock();
        let gone: Vec<String> =
            q.pending.values().filter(|(_, r)| matches(r)).map(|(_, r)| r.call_sid.clone()).collect();
        for sid in &gone {
            q.pending.remove(sid);
        }
        let Queue { order, pending, .. } = &mut *q;
        order.retain(|sid| pending.contains_key(sid));
        gone
    }

    pub fn snapshot(&self) -> WriterStats {
        WriterStats {
            written: self.stats.written.load(Ordering::Relaxed),
            retried: self.stats.retried.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            superseded: self.stats.superseded.load(Ordering::Relaxed),
            depth: self.lock().order.len(),
            capacity: self.capacity,
            failing: self.stats.failing.load(Ordering::Relaxed),
        }
    }

    /// The oldest unwritten records (with their versions), left in the queue.
    fn next_batch(&self) -> Vec<(u64, CallRecord)> {
        let q = self.lock();
        q.order.iter().take(BATCH).filter_map(|sid| q.pending.get(sid).cloned()).collect()
    }

    /// Forgets written records, unless another write arrived meanwhile
    /// (it is merged into what was written: writing it again is harmless).
    fn written(&self, batch: &[(u64, CallRecord)]) {
        let mut q = self.lock();
        for (version, r) in batch {
            if q.pending.get(&r.call_sid).is_some_and(|p| p.0 == *version) {
                q.pending.remove(&r.call_sid);
            }
        }
        let Queue { order, pending, .. } = &mut *q;
        order.retain(|sid| pending.contains_key(sid));
        drop(q);
        self.stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }

    /// Drops records the database refused for what they are (not a retry).
    fn refused(&self, (version, record): &(u64, CallRecord), error: &sqlx::Error) {
        let mut q = self.lock();
        if q.pending.get(&record.call_sid).is_some_and(|p| p.0 == *version) {
            q.pending.remove(&record.call_sid);
            q.order.retain(|sid| sid != &record.call_sid);
        }
        drop(q);
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::error!(call_sid = %record.call_sid, error = %error, "call record dropped: the database refused it");
    }

    /// Counts and logs a write that was partly behind the stored row.
    fn superseded(&self, record: &CallRecord, merged: Merged) {
        self.stats.superseded.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            call_sid = %record.call_sid,
            flow = merged.flow_superseded,
            status = merged.status_superseded,
            "call record write superseded: the database already had newer values, which were kept"
        );
    }

    /// Writes the queue until [`Writer::close`] is called and the queue is
    /// empty: through `lane` when given (the SQLite batch thread,
    /// [`Batch::records`]), else through the pool.
    pub async fn run(self: Arc<Self>, db: Db, lane: Option<Batch>) {
        let db = Target { db, lane };
        let mut backoff = MIN_BACKOFF;
        let mut outage: Option<(Instant, Instant)> = None; // (since, last logged)
        loop {
            let mut batch = self.next_batch();
            if batch.is_empty() {
                if self.closing.load(Ordering::Acquire) {
                    return;
                }
                self.wake.notified().await;
                continue;
            }
            if batch.len() < BATCH && !self.closing.load(Ordering::Acquire) {
                tokio::select! {
                    () = tokio::time::sleep(LINGER) => {}
                    () = self.closed.notified() => {}
                }
            }
            let flight = self.hold().await;
            // Taken under the hold: an erasure may have emptied the queue.
            batch = self.next_batch();
            if batch.is_empty() {
                continue;
            }
            let result = self.write_batch(&db, &batch).await;
            drop(flight);
            match result {
                Ok(()) => {
                    backoff = MIN_BACKOFF;
                    self.stats.failing.store(false, Ordering::Relaxed);
                    if let Some((since, _)) = outage.take() {
                        tracing::info!(
                            unavailable_ms = since.elapsed().as_millis() as u64,
                            waiting = self.lock().order.len(),
                            "database available again: writing buffered call records"
                        );
                    }
                }
                Err(e) => {
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    self.stats.failing.store(true, Ordering::Relaxed);
                    let now = Instant::now();
                    match &mut outage {
                        None => {
                            tracing::warn!(error = %e, waiting = self.lock().order.len(), "database unavailable: keeping call records buffered and retrying");
                            outage = Some((now, now));
                        }
                        Some((since, logged)) if now.duration_since(*logged) >= OUTAGE_LOG_EVERY => {
                            tracing::warn!(error = %e, unavailable_ms = since.elapsed().as_millis() as u64, waiting = self.lock().order.len(), "database still unavailable");
                            *logged = now;
                        }
                        Some(_) => {}
                    }
                    if self.closing.load(Ordering::Acquire) {
                        // Shutting down: keep trying, often, until the flush deadline.
                        tokio::time::sleep(MIN_BACKOFF).await;
                    } else {
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = self.closed.notified() => {}
                        }
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Merges the batch into its rows in one transaction ([`Target::merge_all`]);
    /// if that fails, record by record, so that one bad record does not
    /// hold back the rest.
    async fn write_batch(&self, db: &Target, batch: &[(u64, CallRecord)]) -> Result<(), sqlx::Error> {
        if batch.len() > 1 {
            // In one order on every instance, so that two instances'
            // batches touching the same calls cannot deadlock.
            let mut records: Vec<&CallRecord> = batch.iter().map(|(_, r)| r).collect();
            records.sort_by(|a, b| a.call_sid.cmp(&b.call_sid));
            match db.merge_all(&records).await {
                Ok(found) => {
                    for (r, merged) in records.iter().zip(found) {
                        if merged.superseded() {
                            self.superseded(r, merged);
                        }
                    }
                    self.written(batch);
                    return Ok(());
                }
                Err(e) => tracing::debug!(error = %e, "a batch of call records failed as one: writing them one by one"),
            }
        }
        self.write_one_by_one(db, batch).await
    }

    /// Merges each record into its row ([`Target::merge`]): one bad record
    /// does not hold back the rest. A transient error stops and retries.
    async fn write_one_by_one(&self, db: &Target, batch: &[(u64, CallRecord)]) -> Result<(), sqlx::Error> {
        for r in batch {
            match db.merge(&r.1).await {
                Ok(merged) => {
                    if merged.superseded() {
                        self.superseded(&r.1, merged);
                    }
                    self.written(std::slice::from_ref(r));
                }
                Err(e) if is_transient(&e) => return Err(e),
                Err(e) => self.refused(r, &e),
            }
        }
        Ok(())
    }

    /// Asks the task to finish once the queue is empty.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
        self.closed.notify_one();
    }

    /// Counts what is left unwritten as dropped, when a flush gave up.
    pub fn abandon(&self) -> usize {
        let mut q = self.lock();
        let left = q.order.len();
        q.order.clear();
        q.pending.clear();
        drop(q);
        self.stats.dropped.fetch_add(left as u64, Ordering::Relaxed);
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sid: &str, verify_attempts: u8) -> CallRecord {
        let mut r = CallRecord::new(sid, "support", "+1********01".into(), 100);
        r.verify_attempts = verify_attempts;
        r
    }

    fn sids(batch: &[(u64, CallRecord)]) -> Vec<&str> {
        batch.iter().map(|(_, r)| r.call_sid.as_str()).collect()
    }

    #[test]
    fn writes_of_one_call_merge_in_one_place_and_a_full_buffer_drops_new_calls() {
        let w = Writer::new(2);
        assert!(w.enqueue(rec("CA1", 2)));
        assert!(w.enqueue(rec("CA2", 1)));
        assert!(w.enqueue(rec("CA1", 1)), "another write of a queued call always fits");
        assert!(!w.enqueue(rec("CA3", 1)), "a new call past the capacity is dropped");
        let s = w.snapshot();
        assert_eq!((s.depth, s.dropped), (2, 1));
        assert_eq!(w.pending("CA1").unwrap().verify_attempts, 2, "merged: the tries never go back");
        assert_eq!(sids(&w.next_batch()), ["CA1", "CA2"]);
    }

    #[test]
    fn a_write_that_arrived_during_a_flush_stays_queued() {
        let w = Writer::new(10);
        w.enqueue(rec("CA1", 1));
        w.enqueue(rec("CA2", 1));
        let batch = w.next_batch();
        w.enqueue(rec("CA1", 2));
        w.written(&batch);
        let left = w.next_batch();
        assert_eq!(sids(&left), ["CA1"]);
        assert_eq!(left[0].1.verify_attempts, 2);
        assert_eq!(w.snapshot().written, 2);
    }

    #[tokio::test]
    async fn forgotten_records_leave_the_queue_and_a_hold_waits_for_nothing_when_idle() {
        let w = Writer::new(10);
        w.enqueue(rec("CA1", 1));
        w.enqueue(rec("CA2", 1));
        let _held = w.hold().await;
        assert_eq!(w.forget(|r| r.call_sid == "CA1"), ["CA1"]);
        assert_eq!(sids(&w.next_batch()), ["CA2"]);
        assert_eq!(w.snapshot().depth, 1);
    }
}

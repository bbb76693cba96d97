//! Call records: one per call, created at its first webhook, updated at each
//! step and completed by Twilio's status callback; read by
//! `GET /api/calls/{CallSid}` and the agent pages.
//!
//! [`CallStore`] keeps live calls in memory (with expiry, [`live`]) and makes
//! every record durable in a database (SQLite or PostgreSQL, see [`db`])
//! through a bounded write buffer ([`writer`]). A webhook never waits for the
//! database: `put` updates the cache and queues the write. The database
//! decides: each write is merged field by field into the stored row
//! ([`CallRecord::merge`], [`Db::merge`]), so no instance's copy needs to be
//! fresh, and reads come from the database with this instance's buffered
//! writes merged in (the cache only when the database does not answer).
//!
//! The webhook claims ([`claims`]) are the exception: a voice webhook's claim
//! and its answer are written before it is answered, so that a copy of it
//! on any instance gets the same answer (bounded; see there).

mod attributes;
pub mod audit;
pub mod claims;
mod db;
mod erasure;
pub mod guard;
pub mod instances;
mod live;
mod record;
pub mod report_files;
pub mod retention;
pub mod sessions;
mod stats;
pub mod timeline;
mod writer;

pub use db::{Cutoffs, Db, Purged};
pub use erasure::{EraseError, Erased};
pub use record::{
    AgentState, CallRecord, CrmAsk, Merged, Placement, RecordChange, RecordOutcome, FINAL_STATUSES, LIVE_FOR_SECS,
};
pub use stats::{CallFilter, FigurePages, LineStats, Stats, FIGURE_CALLS};
pub use writer::WriterStats;

use crate::config::Database;
use crate::keyring::counters::CallerSubjects;
use crate::keyring::Keyring;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use writer::Writer;

/// A read from the database that takes longer than this is given up (the
/// caller gets what memory has), so an unreachable database cannot hold up
/// a webhook for long.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Memory only, the memory is the store: at most this many calls, each
/// kept `server.call_record_ttl_secs` from its last write, the least
/// recently stepped leaving first when it is full.
const MEMORY_ONLY_CALLS: u64 = 1_000_000;

/// With a database, memory only spares a call's steps a read: at most
/// about this many bytes of calls ([`ENTRY_BYTES`] and
/// [`CallRecord::approx_bytes`] each), the calls least recently stepped
/// leaving first. 16 MiB is some 15,000 calls of about 1.1 KiB, more than
/// one instance has in progress. A call that left is stepped as a step on
/// another instance steps it: its write is merged into the stored row
/// without a copy here, and what a step reads back (the customer's
/// attributes) comes from the database. The bound costs reads, never a
/// write, and keeps memory flat under any load.
const LIVE_CALLS_BYTES: u64 = 16 << 20;

/// What a kept call costs besides its key and record: its slot in the
/// hash map, its entries in the queue of writes, the allocator's
/// rounding. Measured (with moka, whose entries were larger): RSS grew
/// 1.1 KiB per call, a first webhook's record weighs about 700 bytes.
const ENTRY_BYTES: u64 = 400;

#[derive(Clone)]
pub struct CallStore {
    inner: Arc<Inner>,
}

struct Inner {
    cache: live::LiveCalls,
    /// Calls erased lately, until when: a webhook of one still in progress
    /// writes no record again while the cache would have kept it. A put
    /// checks it and queues its write under the read lock; an erasure
    /// marks calls under the write lock, so no put slips between the two.
    erased: std::sync::RwLock<HashMap<String, std::time::Instant>>,
    ttl: Duration,
    guard: guard::Guard,
    durable: Option<Durable>,
    description: String,
}

struct Durable {
    db: Db,
    /// The background tasks' one connection ([`Db::background`]), if not `db`.
    background: Option<Db>,
    /// The claims' and the security counters' shared write batch.
    batch: claims::Batch,
    writer: Arc<Writer>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl CallStore {
    /// Memory only: records last `ttl` and are lost on restart.
    pub fn in_memory(ttl: Duration) -> Self {
        Self::build(ttl, None, "memory only".to_string(), CallerSubjects::new(&Keyring::single("memory")))
    }

    /// Opens (creates, migrates) the configured database and starts the
    /// background writer; `memory:` gives [`CallStore::in_memory`].
    /// `subjects` hashes caller numbers for the security counters.
    pub async fn open(config: &Database, cache_ttl: Duration, subjects: CallerSubjects) -> anyhow::Result<Self> {
        let description = config.url.describe();
        let Some(db) = Db::open(&config.url).await? else {
            return Ok(Self::build(cache_ttl, None, description, subjects));
        };
        let batch = anyhow::Context::context(claims::Batch::start(&db), "the store opens inside a runtime")?;
        let writer = Writer::new(config.buffer_capacity);
        let task = tokio::spawn(writer.clone().run(db.clone(), batch.records()));
        if !batch.keeps_the_log() {
            // Ends when the pool closes.
            db.checkpoint_in_background();
        }
        let background = db.background();
        let durable = Durable { db, background, batch, writer, task: Mutex::new(Some(task)) };
        Ok(Self::build(cache_ttl, Some(durable), description, subjects))
    }

    fn build(ttl: Duration, durable: Option<Durable>, description: String, subjects: CallerSubjects) -> Self {
        let budget = match durable {
            None => live::Budget::Calls(MEMORY_ONLY_CALLS),
            Some(_) => live::Budget::Bytes { total: LIVE_CALLS_BYTES, per_call: ENTRY_BYTES },
        };
        let cache = live::LiveCalls::new(ttl, budget);
        let guard = guard::Guard::new(
            durable.as_ref().map(|d| d.db.clone()),
            subjects,
            durable.as_ref().map(|d| d.batch.clone()),
        );
        Self { inner: Arc::new(Inner { cache, erased: Default::default(), ttl, guard, durable, description }) }
    }

    /// The security counters (lockouts, enumeration), on the same database.
    pub fn guard(&self) -> &guard::Guard {
        &self.inner.guard
    }

    /// The database, if there is one: the session store and the audit log
    /// keep their tables in it.
    pub fn db(&self) -> Option<Db> {
        self.inner.durable.as_ref().map(|d| d.db.clone())
    }

    /// The database for background tasks (retention, rollups, the
    /// heartbeat, the start-up check of stored sessions): on a SQLite file,
    /// one connection of its own ([`Db::background`]); otherwise
    /// [`CallStore::db`].
    pub fn background_db(&self) -> Option<Db> {
        self.inner.durable.as_ref().map(|d| d.background.as_ref().unwrap_or(&d.db).clone())
    }

    /// The webhook claims, on the same database: each lapsing `deadline`
    /// (plus a margin) after it is taken, kept for `state_ttl`.
    pub fn claims(&self, deadline: Duration, state_ttl: Duration) -> claims::Claims {
        let batch = self.inner.durable.as_ref().map(|d| d.batch.clone());
        claims::Claims::on_batch(self.db(), deadline, state_ttl, batch)
    }

    /// What the records are kept in, for logs (no password).
    pub fn describe(&self) -> &str {
        &self.inner.description
    }

    pub async fn get(&self, call_sid: &str) -> Option<CallRecord> {
        self.get_within(call_sid, READ_TIMEOUT).await
    }

    /// [`CallStore::get`], giving the database up after `timeout`. With a
    /// database, it decides: the stored row, with the writes still buffered
    /// on this instance merged in; this instance's cached copy only when
    /// the database does not answer in time.
    pub async fn get_within(&self, call_sid: &str, timeout: Duration) -> Option<CallRecord> {
        let Some(durable) = self.inner.durable.as_ref() else {
            return self.inner.cache.get(call_sid);
        };
        // A partial write (a status callback for a call whose record is
        // already written) is merged onto the stored row, as the database
        // will merge it: dropping it would show the call without the status
        // this instance has just taken, until the write lands.
        let pending = durable.writer.pending(call_sid);
        let stored = match tokio::time::timeout(timeout, durable.db.get(call_sid)).await {
            Ok(Ok(found)) => found,
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::warn!(error = %e, "could not read a call record from the database: using this instance's copy");
                } else {
                    tracing::warn!("reading a call record from the database timed out: using this instance's copy");
                }
                self.inner.cache.get(call_sid)
            }
        };
        match (stored, pending) {
            (Some(mut stored), Some(pending)) => {
                stored.merge(&pending);
                Some(stored)
            }
            (None, Some(pending)) if !pending.partial => Some(pending),
            (stored, _) => stored,
        }
    }

    /// This instance's copy of a call (its cache, with its buffered writes
    /// merged in), without asking the database. Enough as the base of a
    /// step's write: writes merge field by field into the stored row, so a
    /// stale or missing copy loses nothing.
    pub async fn local(&self, call_sid: &str) -> Option<CallRecord> {
        let cached = self.inner.cache.get(call_sid);
        let pending = self.inner.durable.as_ref().and_then(|d| d.writer.pending(call_sid)).filter(|r| !r.partial);
        match (cached, pending) {
            (Some(mut cached), Some(pending)) => {
                cached.merge(&pending);
                Some(cached)
            }
            (cached, pending) => cached.or(pending),
        }
    }

    /// The most recently updated calls, newest first: from the database
    /// (with this instance's buffered writes merged in) when there is one.
    pub async fn recent(&self, limit: usize) -> Vec<CallRecord> {
        let (found, pending): (Vec<CallRecord>, Vec<CallRecord>) = match &self.inner.durable {
            None => (self.cached(), Vec::new()),
            Some(d) => match tokio::time::timeout(READ_TIMEOUT, d.db.recent(limit)).await {
                Ok(Ok(rows)) => (rows, d.writer.all_pending()),
                failed => {
                    if let Ok(Err(e)) = failed {
                        tracing::warn!(error = %e, "could not read recent calls from the database: showing those in memory");
                    } else {
                        tracing::warn!("reading recent calls from the database timed out: showing those in memory");
                    }
                    (self.cached(), d.writer.all_pending())
                }
            },
        };
        let mut merged: HashMap<String, CallRecord> = HashMap::with_capacity(found.len());
        for r in found.into_iter().chain(pending.into_iter().filter(|r| !r.partial)) {
            match merged.get_mut(&r.call_sid) {
                Some(have) => {
                    have.merge(&r);
                }
                None => {
                    merged.insert(r.call_sid.clone(), r);
                }
            }
        }
        let mut all: Vec<CallRecord> = merged.into_values().collect();
        all.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.started_at.cmp(&a.started_at))
                .then_with(|| a.call_sid.cmp(&b.call_sid))
        });
        all.truncate(limit);
        all
    }

    fn cached(&self) -> Vec<CallRecord> {
        self.inner.cache.records()
    }

    /// Saves a call's record: in memory at once, in the database in the
    /// background, merged field by field into the stored row (so a write
    /// built on a stale copy loses nothing newer). Never waits for the
    /// database.
    pub async fn put(&self, record: CallRecord) {
        {
            let erased = self.inner.erased.read().unwrap_or_else(|e| e.into_inner());
            if erased.get(&record.call_sid).is_some_and(|until| *until > std::time::Instant::now()) {
                return;
            }
            if let Some(d) = &self.inner.durable {
                d.writer.enqueue(record.clone());
            }
        }
        let sid = record.call_sid.clone();
        self.inner.cache.write(record);
        // Erased meanwhile: its erasure may have cleared the cache before
        // this write.
        if self.inner.erased.read().unwrap_or_else(|e| e.into_inner()).contains_key(&sid) {
            self.inner.cache.invalidate(&sid);
        }
    }

    /// Applies a status callback: one write, merged into the stored row by
    /// its `SequenceNumber` ([`CallRecord::apply_status`]), whatever this
    /// instance holds. A call with no record yet gets a pending status,
    /// applied when its first webhook's record is written. Returns this
    /// instance's copy of the record as it now reads (`None` while only the
    /// status is known, or when the call is not in this instance's cache:
    /// the write is merged into the stored row all the same).
    pub async fn apply_status(
        &self,
        call_sid: &str,
        status: &str,
        sequence: Option<u64>,
        duration: Option<u64>,
        now: u64,
    ) -> Option<CallRecord> {
        let mut write = CallRecord::pending_status(call_sid, status, sequence, duration, now);
        timeline::stamp_ms(&mut write.timeline, now);
        // Memory only, a call with no record has nothing to complete: `put`
        // drops a partial write it has no copy to merge into.
        self.put(write).await;
        self.inner.cache.get(call_sid)
    }

    /// Notes where a handed-off call is with the agents (a route Twilio
    /// requested for it). Twilio requests the hold route again and again:
    /// a state already known and noted in the last minute is not written
    /// again.
    pub async fn note_agent_state(&self, call_sid: &str, state: AgentState, now: u64) {
        const AGAIN_AFTER: u64 = 60;
        let cached = self.inner.cache.get(call_sid);
        if cached.as_ref().is_some_and(|c| c.agent_state >= state && now.saturating_sub(c.updated_at) < AGAIN_AFTER) {
            return;
        }
        let mut write = CallRecord::agent_state_only(call_sid, state, now);
        timeline::stamp_ms(&mut write.timeline, now);
        self.put(write).await;
    }

    /// Notes the queue a handed-off call was put in later (a `dial`
    /// hand-off nobody answered falls back to a queue).
    pub async fn note_queue(&self, call_sid: &str, queue: &str) {
        self.put(CallRecord::queue_only(call_sid, queue, timeline::now_ms())).await;
    }

    /// The write buffer's counters; `None` without a database.
    pub fn stats(&self) -> Option<WriterStats> {
        self.inner.durable.as_ref().map(|d| d.writer.snapshot())
    }

    /// Waits, at most `timeout`, until the webhook answers sent are stored
    /// (they are written just after being sent); whether they are. At once
    /// without a database.
    pub async fn answers_stored(&self, timeout: Duration) -> bool {
        match &self.inner.durable {
            Some(d) => d.batch.settled(timeout).await,
            None => true,
        }
    }

    /// Writes what is buffered (the webhook answers being stored, then the
    /// call records), waiting at most `timeout` in all, then closes the
    /// database. What could not be written in time is counted as dropped and
    /// logged. Returns how many records were lost.
    pub async fn close(&self, timeout: Duration) -> usize {
        let Some(d) = &self.inner.durable else { return 0 };
        let task = d.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut task) = task else { return 0 };
        // One budget for both waits: the shutdown budget counts it once.
        let until = tokio::time::Instant::now() + timeout;
        if !self.answers_stored(timeout).await {
            tracing::warn!(
                "webhook answers still being stored at shutdown: a retry elsewhere waits for their claims to lapse"
            );
        }
        let waiting = d.writer.snapshot().depth;
        d.writer.close();
        let lost = match tokio::time::timeout_at(until, &mut task).await {
            Ok(_) => {
                tracing::info!(flushed = waiting, "call records written: the store is closed");
                0
            }
            Err(_) => {
                task.abort();
                let lost = d.writer.abandon();
                tracing::error!(
                    lost,
                    timeout_ms = timeout.as_millis() as u64,
                    "call records dropped: the database did not take them before shutdown"
                );
                lost
            }
        };
        if let Some(background) = &d.background {
            background.close_background().await;
        }
        d.db.close().await;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, events: usize) -> CallRecord {
        let mut r = CallRecord::new(&format!("CA{i:032}"), "support", "+1********01".into(), 100);
        for n in 0..events {
            let what = timeline::What::Fallback { queue: format!("queue-{n}") };
            r.timeline.push(timeline::Event { at: n as u64, what });
        }
        r
    }

    #[test]
    fn a_records_weight_grows_with_what_it_holds() {
        let (bare, busy) = (record(1, 0), record(1, 8));
        assert!(bare.approx_bytes() >= std::mem::size_of::<CallRecord>() + 34 + 7 + 12);
        assert!(busy.approx_bytes() >= bare.approx_bytes() + 8 * (std::mem::size_of::<timeline::Event>() + 7));
    }
}

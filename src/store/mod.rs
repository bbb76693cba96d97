//! Call records: one per call, created at its first webhook, updated at each
//! step and completed by Twilio's status callback; read by
//! `GET /api/calls/{CallSid}` and the agent pages.
//!
//! [`CallStore`] keeps live calls in memory (moka, with expiry) and makes
//! every record durable in a database (SQLite or PostgreSQL, see [`db`])
//! through a bounded write buffer ([`writer`]). A webhook never waits for the
//! database: `put` updates the cache and queues the write. Reads look in the
//! cache, then the buffer, then the database.
//!
//! The webhook claims ([`claims`]) are the exception: a voice webhook's claim
//! and its answer are written before it is answered, so that a copy of it
//! on any instance gets the same answer (bounded; see there).

pub mod audit;
pub mod claims;
mod db;
mod erasure;
pub mod guard;
pub mod instances;
mod record;
pub mod retention;
pub mod sessions;
mod writer;

pub use db::{Cutoffs, Db, Purged};
pub use erasure::{EraseError, Erased};
pub use record::{CallRecord, RecordChange, RecordOutcome, FINAL_STATUSES};
pub use writer::WriterStats;

use crate::config::Database;
use crate::keyring::counters::CallerSubjects;
use crate::keyring::Keyring;
use moka::future::Cache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use writer::Writer;

/// A read from the database that takes longer than this is given up (the
/// caller gets what memory has), so an unreachable database cannot hold up
/// a webhook for long.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct CallStore {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache<String, CallRecord>,
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
        let writer = Writer::new(config.buffer_capacity);
        let task = tokio::spawn(writer.clone().run(db.clone()));
        let durable = Durable { db, writer, task: Mutex::new(Some(task)) };
        Ok(Self::build(cache_ttl, Some(durable), description, subjects))
    }

    fn build(ttl: Duration, durable: Option<Durable>, description: String, subjects: CallerSubjects) -> Self {
        let cache = Cache::builder().max_capacity(1_000_000).time_to_live(ttl).build();
        let guard = guard::Guard::new(durable.as_ref().map(|d| d.db.clone()), subjects);
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

    /// The webhook claims, on the same database: each lapsing `deadline`
    /// (plus a margin) after it is taken, kept for `state_ttl`.
    pub fn claims(&self, deadline: Duration, state_ttl: Duration) -> claims::Claims {
        claims::Claims::new(self.db(), deadline, state_ttl)
    }

    /// What the records are kept in, for logs (no password).
    pub fn describe(&self) -> &str {
        &self.inner.description
    }

    pub async fn get(&self, call_sid: &str) -> Option<CallRecord> {
        self.get_within(call_sid, READ_TIMEOUT).await
    }

    /// [`CallStore::get`], giving the database up after `timeout`.
    pub async fn get_within(&self, call_sid: &str, timeout: Duration) -> Option<CallRecord> {
        if let Some(r) = self.inner.cache.get(call_sid).await {
            return Some(r);
        }
        let durable = self.inner.durable.as_ref()?;
        if let Some(r) = durable.writer.pending(call_sid) {
            return Some(r);
        }
        match tokio::time::timeout(timeout, durable.db.get(call_sid)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read a call record from the database");
                None
            }
            Err(_) => {
                tracing::warn!("reading a call record from the database timed out");
                None
            }
        }
    }

    /// The most recently updated calls, newest first.
    pub async fn recent(&self, limit: usize) -> Vec<CallRecord> {
        let mut found: Vec<CallRecord> = match &self.inner.durable {
            None => self.cached(),
            Some(d) => match tokio::time::timeout(READ_TIMEOUT, d.db.recent(limit)).await {
                Ok(Ok(mut rows)) => {
                    rows.extend(d.writer.all_pending());
                    rows
                }
                failed => {
                    if let Ok(Err(e)) = failed {
                        tracing::warn!(error = %e, "could not read recent calls from the database: showing those in memory");
                    } else {
                        tracing::warn!("reading recent calls from the database timed out: showing those in memory");
                    }
                    self.cached()
                }
            },
        };
        // The newest revision of each call.
        let mut newest: HashMap<String, CallRecord> = HashMap::with_capacity(found.len());
        for r in found.drain(..) {
            match newest.get(&r.call_sid) {
                Some(have) if have.revision >= r.revision => {}
                _ => {
                    newest.insert(r.call_sid.clone(), r);
                }
            }
        }
        let mut all: Vec<CallRecord> = newest.into_values().collect();
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
        self.inner.cache.iter().map(|(_, r)| r).collect()
    }

    /// Saves a new version of a call's record: in memory at once, in the
    /// database in the background. Never waits for the database.
    pub async fn put(&self, mut record: CallRecord) {
        record.revision += 1;
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
        self.inner.cache.insert(sid.clone(), record).await;
        // Erased meanwhile: its erasure may have cleared the cache before
        // this insert.
        if self.inner.erased.read().unwrap_or_else(|e| e.into_inner()).contains_key(&sid) {
            self.inner.cache.invalidate(&sid).await;
        }
    }

    /// The write buffer's counters; `None` without a database.
    pub fn stats(&self) -> Option<WriterStats> {
        self.inner.durable.as_ref().map(|d| d.writer.snapshot())
    }

    /// Writes what is buffered, waiting at most `timeout`, then closes the
    /// database. What could not be written in time is counted as dropped and
    /// logged. Returns how many records were lost.
    pub async fn close(&self, timeout: Duration) -> usize {
        let Some(d) = &self.inner.durable else { return 0 };
        let task = d.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut task) = task else { return 0 };
        let waiting = d.writer.snapshot().depth;
        d.writer.close();
        let lost = match tokio::time::timeout(timeout, &mut task).await {
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
        d.db.close().await;
        lost
    }
}

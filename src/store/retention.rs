//! Retention (`[database] retention_days`): a background task that, at
//! start and then every hour, purges call records not updated within the
//! retention, security counter events past every counter's window, and
//! `--record-dir` recordings older than the retention. Every Vouch on a
//! database purges it; a purge is idempotent, so several do no harm.
//!
//! The same task rolls up the settled hours' figures ([`Db::roll_up`]) at
//! start and every [`ROLL_UP_EVERY`], and always before a purge, so no
//! record is purged before its hour is rolled up: the rollups outlive the
//! retention.
//!
//! [`Db::roll_up`]: super::Db::roll_up
//!
//! With `DATABASE_URL=memory:` records already expire from memory after
//! `server.call_record_ttl_secs`; the purge then only trims recordings.

use super::db::{Cutoffs, Purged};
use super::CallStore;
use crate::config::Config;
use std::path::PathBuf;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the purge runs after the first, at start.
pub const PURGE_EVERY: Duration = Duration::from_secs(3_600);

/// How often settled hours are rolled up.
pub const ROLL_UP_EVERY: Duration = Duration::from_secs(600);

/// How long each kind of data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Call records (and recordings) after their last update.
    pub records: Duration,
    /// Counter events: the longest counter window, past which no count
    /// reads them.
    pub counters: Duration,
    /// Where recordings are written, if anywhere (`serve --record-dir`).
    pub record_dir: Option<PathBuf>,
}

impl Retention {
    pub fn of(config: &Config) -> Self {
        let sec = &config.security;
        Self {
            records: config.database.retention(),
            counters: sec.lockout_window.max(sec.enumeration_window),
            record_dir: config.server.record_dir.clone(),
        }
    }

    /// What is expired at `now` (unix seconds).
    pub fn cutoffs(&self, now: u64) -> Cutoffs {
        Cutoffs {
            records_before: now.saturating_sub(self.records.as_secs()),
            counters_before: now.saturating_sub(self.counters.as_secs()),
            sessions_before: now,
        }
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub store: Purged,
    /// Recording files.
    pub recordings: usize,
}

impl CallStore {
    /// Deletes what is past `cutoffs`: from the database, and from memory
    /// (the cache may keep a record longer than a short retention).
    pub async fn purge_expired(&self, cutoffs: &Cutoffs) -> Result<Purged, sqlx::Error> {
        let expired = self.inner.cache.sids_where(|r| r.updated_at < cutoffs.records_before);
        for sid in &expired {
            self.inner.cache.invalidate(sid);
        }
        match self.background_db() {
            Some(db) => db.purge_expired(cutoffs).await,
            None => Ok(Purged::default()),
        }
    }
}

/// Rolls up the hours settled at `now` (none with `DATABASE_URL=memory:`);
/// how many.
pub async fn roll_up(store: &CallStore, now: u64) -> Result<usize, sqlx::Error> {
    let Some(db) = store.background_db() else { return Ok(0) };
    let hours = db.roll_up(now).await?;
    if hours > 0 {
        tracing::info!(hours, "figures of settled hours rolled up");
    }
    Ok(hours)
}

/// One purge at `now`, logged at INFO with what it removed, after rolling
/// up the settled hours (if that fails, nothing is purged).
pub async fn purge_once(store: &CallStore, retention: &Retention, now: u64) -> anyhow::Result<Report> {
    roll_up(store, now).await.map_err(|e| anyhow::anyhow!("the settled hours could not be rolled up: {e}"))?;
    let cutoffs = retention.cutoffs(now);
    let store_purged = store.purge_expired(&cutoffs).await?;
    let recordings = match &retention.record_dir {
        Some(dir) => {
            let (dir, before_ms) = (dir.clone(), cutoffs.records_before.saturating_mul(1_000));
            tokio::task::spawn_blocking(move || crate::recording::remove_older_than(&dir, before_ms)).await??
        }
        None => 0,
    };
    let report = Report { store: store_purged, recordings };
    tracing::info!(
        call_records = report.store.call_records,
        guard_events = report.store.guard_events,
        sessions = report.store.sessions,
        call_lists = report.store.call_lists,
        recordings = report.recordings,
        retention_days = retention.records.as_secs() / 86_400,
        "retention: expired data purged"
    );
    Ok(report)
}

/// The purge task; dropping it stops it.
pub struct Purger(JoinHandle<()>);

impl Drop for Purger {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the purge: now, then every [`PURGE_EVERY`]; and the rollups
/// between purges, every [`ROLL_UP_EVERY`]. A failed purge is logged and
/// tried again at the next run.
pub fn spawn(store: CallStore, retention: Retention) -> Purger {
    Purger(tokio::spawn(async move {
        let mut every = tokio::time::interval(ROLL_UP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purged_at: Option<tokio::time::Instant> = None;
        loop {
            every.tick().await;
            let now = crate::clock::now();
            if purged_at.is_some_and(|at| at.elapsed() < PURGE_EVERY) {
                if let Err(e) = roll_up(&store, now).await {
                    tracing::warn!(error = %e, "the settled hours could not be rolled up; trying again later");
                }
                continue;
            }
            purged_at = Some(tokio::time::Instant::now());
            if let Err(e) = purge_once(&store, &retention, now).await {
                tracing::warn!(error = %e, "retention: the purge failed; trying again in an hour");
            }
        }
    }))
}

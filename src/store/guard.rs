//! Counters that defend verification across calls: failed verifications per
//! customer (a lockout after too many) and unknown identifiers per caller
//! number (an enumeration throttle). They live in the call database, so every
//! Vouch sharing it counts together and counts survive restarts; with
//! `DATABASE_URL=memory:` they are per process. A database that is slow or
//! unreachable never holds up a webhook: each process also counts what it
//! saw itself, and answers from that.

use super::db::Db;
use crate::keyring::counters::CallerSubjects;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A counter read from the database that takes longer is given up (the
/// process's own counts answer): a slow database must not slow the webhook.
const READ_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a database count serves [`Guard::count_soon`] checks.
const SHARED_TTL: Duration = Duration::from_secs(15);
/// Writes happen in the background, bounded by this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A verification the CRM rejected; the subject is the customer id.
    VerifyFailed,
    /// An identifier the CRM did not know; the subject is a caller key.
    UnknownId,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyFailed => "verify_failed",
            Self::UnknownId => "unknown_id",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("security counters unavailable: {0}")]
pub struct GuardError(String);

type Events = HashMap<(Kind, String), Vec<u64>>;
/// Event writes still in the background, with the counter each is for.
type Writes = Vec<((Kind, String), tokio::task::JoinHandle<()>)>;

/// The counters: this process's own events in memory, and every instance's
/// in the database when there is one. A count is the larger of the two, so
/// while the database is unreachable the process still counts what it saw.
#[derive(Clone)]
pub struct Guard {
    db: Option<Db>,
    local: Arc<Mutex<Events>>,
    /// Recent database counts, for checks that must not wait for it.
    shared: moka::future::Cache<(Kind, String), u64>,
    /// Keys caller numbers so the database never holds them.
    subjects: CallerSubjects,
    /// Event writes still in the background, by counter: a clear waits for
    /// them, or an earlier failure stored after the clear would count again.
    writing: Arc<Mutex<Writes>>,
}

impl Guard {
    pub(super) fn new(db: Option<Db>, subjects: CallerSubjects) -> Self {
        let shared = moka::future::Cache::builder().max_capacity(100_000).time_to_live(SHARED_TTL).build();
        Self { db, local: Arc::default(), shared, subjects, writing: Arc::default() }
    }

    /// The stored stand-in for a caller's number: a keyed hash, so the
    /// counters identify a number without holding it.
    pub fn caller_subject(&self, number: &str) -> String {
        self.subjects.subject(number)
    }

    fn local_count(&self, kind: Kind, subject: &str, since: u64) -> u64 {
        let m = self.local.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(kind, subject.to_string())).map_or(0, |v| v.iter().filter(|at| **at >= since).count() as u64)
    }

    /// Events about `subject` at or after `since`, across instances when the
    /// database answers in time, else this process's own.
    pub async fn count(&self, kind: Kind, subject: &str, since: u64) -> u64 {
        let local = self.local_count(kind, subject, since);
        let Some(db) = &self.db else { return local };
        match tokio::time::timeout(READ_TIMEOUT, db.count_events(kind.as_str(), subject, since)).await {
            Ok(Ok(shared)) => shared.max(local),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "security counters: database unavailable, counting this process's events only");
                local
            }
            Err(_) => {
                tracing::warn!("security counters: database too slow, counting this process's events only");
                local
            }
        }
    }

    /// Like [`Guard::count`], but never waits for the database: it answers
    /// from the last database count of this subject (at most 15 s old) or
    /// this process's own events, and refreshes the database count in the
    /// background. For checks on every call's first webhook.
    pub async fn count_soon(&self, kind: Kind, subject: &str, since: u64) -> u64 {
        let local = self.local_count(kind, subject, since);
        let Some(db) = &self.db else { return local };
        let key = (kind, subject.to_string());
        if let Some(shared) = self.shared.get(&key).await {
            return shared.max(local);
        }
        let (db, shared) = (db.clone(), self.shared.clone());
        tokio::spawn(async move {
            if let Ok(Ok(n)) = tokio::time::timeout(WRITE_TIMEOUT, db.count_events(kind.as_str(), &key.1, since)).await
            {
                shared.insert(key, n).await;
            }
        });
        local
    }

    /// Notes an event now; events older than `window_start` are forgotten.
    /// The database write happens in the background.
    pub fn note(&self, kind: Kind, subject: &str, now: u64, window_start: u64) {
        {
            let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
            let events = m.entry((kind, subject.to_string())).or_default();
            events.retain(|at| *at >= window_start);
            events.push(now);
        }

        if let Some(db) = self.db.clone() {
            let key = (kind, subject.to_string());
            let shared = self.shared.clone();
            let write = tokio::spawn({
                let key = key.clone();
                async move {
                    shared.invalidate(&key).await;
                    let write = db.add_event(kind.as_str(), &key.1, now, window_start);
                    if let Err(e) = bounded(write).await {
                        tracing::warn!(error = %e, "security counters: an event was not stored");
                    }
                    // The next check reads the count again, this event included.
                    shared.invalidate(&key).await;
                }
            });
            let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            writing.retain(|(_, w)| !w.is_finished());
            writing.push((key, write));
        }
    }

    /// Forgets `subject`'s events (a success, or an unlock), waiting for
    /// the database so an unlock is known to have happened.
    pub async fn clear(&self, kind: Kind, subject: &str) -> Result<(), GuardError> {
        let key = (kind, subject.to_string());
        self.local.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        // Events recorded before the clear are stored before it (each write
        // is bounded), so none of them lands after it and counts again.
        let earlier: Vec<_> = {
            let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            let (mine, others) = writing.drain(..).partition(|(k, _)| *k == key);
            *writing = others;
            mine
        };
        for (_, write) in earlier {
            let _ = write.await;
        }
        self.shared.invalidate(&key).await;
        match &self.db {
            Some(db) => bounded(db.clear_events(kind.as_str(), subject)).await,
            None => Ok(()),
        }
    }
}

async fn bounded<T>(fut: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> Result<T, GuardError> {
    match tokio::time::timeout(WRITE_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(GuardError(e.to_string())),
        Err(_) => Err(GuardError("timed out".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::Keyring;

    #[tokio::test]
    async fn memory_counters_count_within_the_window_and_clear() {
        let g = Guard::new(None, CallerSubjects::new(&Keyring::single("k")));
        for at in [100, 200, 300] {
            g.note(Kind::VerifyFailed, "12345678", at, 0);
        }
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 150).await, 2);
        assert_eq!(g.count(Kind::UnknownId, "12345678", 0).await, 0, "kinds are separate");
        g.note(Kind::VerifyFailed, "12345678", 400, 250);
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 0).await, 2, "events before the window are forgotten");
        g.clear(Kind::VerifyFailed, "12345678").await.unwrap();
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 0).await, 0);
    }

    #[tokio::test]
    async fn a_clear_is_not_undone_by_the_writes_of_earlier_events() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("guard.db").display());
        let db = Db::open(&crate::config::DatabaseUrl::Sqlite(url)).await.unwrap().unwrap();
        let g = Guard::new(Some(db.clone()), CallerSubjects::new(&Keyring::single("k")));
        for round in 0..10 {
            // Failures, then at once the success that clears them (each
            // failure's write is still in the background).
            for at in 0..3 {
                g.note(Kind::VerifyFailed, "12345678", 1000 + at, 0);
            }
            g.clear(Kind::VerifyFailed, "12345678").await.unwrap();
            // No earlier write may land after the clear: watch a while.
            for _ in 0..10 {
                assert_eq!(db.count_events("verify_failed", "12345678", 0).await.unwrap(), 0, "round {round}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    #[test]
    fn caller_subjects_are_keyed_hashes() {
        let g = Guard::new(None, CallerSubjects::new(&Keyring::single("k")));
        let s = g.caller_subject("+15551230001");
        assert_eq!(s.len(), 32);
        assert!(!s.contains("5551230001"));
        assert_eq!(s, g.caller_subject("+15551230001"));
        assert_ne!(s, Guard::new(None, CallerSubjects::new(&Keyring::single("other"))).caller_subject("+15551230001"));
    }
}

//! Counters that defend verification across calls: failed verifications per
//! customer (a lockout after too many) and unknown identifiers per caller
//! number (an enumeration throttle). They live in the call database, so every
//! Vouch sharing it counts together and counts survive restarts; with
//! `DATABASE_URL=memory:` they are per process.
//!
//! A try is **reserved** before the CRM is asked: one atomic step counts it
//! unless the limit is reached ([`Guard::reserve`]), so simultaneous tries,
//! on one Vouch or on several sharing the database, never slip past the
//! limit. A reservation the CRM's answer does not count (an identifier
//! found, a CRM error) is taken back ([`Guard::release`]). When the database
//! cannot reserve in time the caller of `reserve` decides: verification
//! fails closed; the enumeration throttle counts in this process instead.

use super::claims::Batch;
use super::db::{on_pool, Db, GuardWrite};
use crate::keyring::counters::CallerSubjects;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A counter read from the database that takes longer is given up (the
/// process's own counts answer): a slow database must not slow the webhook.
const READ_TIMEOUT: Duration = Duration::from_millis(250);
/// A reservation the database has not made within this is given up: the
/// store counts as unreachable for this try.
const RESERVE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a database count serves [`Guard::count_soon`] checks.
const SHARED_TTL: Duration = Duration::from_secs(15);
/// Clears, releases and background reads are bounded by this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A verification the CRM rejected (or is checking); the subject is the
    /// customer id.
    VerifyFailed,
    /// An identifier the CRM did not know (or is looking up); the subject is
    /// a caller key.
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

/// Whose unknown identifiers a throttle counted: one caller number, or
/// every withheld or unusable caller ID on a line together. The label of
/// the `vouch_enumeration_throttled_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enumerator {
    Caller,
    Withheld,
}

impl Enumerator {
    pub fn label(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Withheld => "withheld",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("security counters unavailable: {0}")]
pub struct GuardError(String);

/// One counted try, until released (or cleared, or aged out of the window).
#[derive(Debug)]
pub struct Reservation {
    kind: Kind,
    subject: String,
    token: String,
}

/// What a reservation found.
#[derive(Debug)]
pub enum Reserve {
    Reserved(Reservation),
    /// The limit is reached: nothing was counted.
    AtLimit,
}

/// A process's own events: when each happened, and its reservation token.
type Events = HashMap<(Kind, String), Vec<(u64, String)>>;

/// This process's own events, kept from growing with every subject ever
/// counted: a subject's events are dropped once no count looks back that
/// far, and a subject with none left is forgotten.
#[derive(Default)]
struct Local {
    events: Events,
    /// The longest any count or reservation looked back, in seconds; older
    /// events count nowhere. `None` until one has looked back.
    horizon: Option<u64>,
    /// Events added since the map was last purged.
    added: usize,
}

impl Local {
    /// Notes a count (or a reservation) at `now` of the events since `since`.
    fn looks_back(&mut self, now: u64, since: u64) {
        // Since 0: every event still kept (an erasure's count), not a window.
        if since > 0 {
            let back = now.saturating_sub(since);
            self.horizon = Some(self.horizon.map_or(back, |h| h.max(back)));
        }
    }

    /// Adds `subject`'s event of `kind` at `now`, unless `limit` events lie
    /// in the window from `window_start` (older ones are forgotten);
    /// whether it was added.
    fn add(&mut self, kind: Kind, subject: &str, now: u64, window_start: u64, limit: u64, token: String) -> bool {
        self.looks_back(now, window_start);
        let events = self.events.entry((kind, subject.to_string())).or_default();
        events.retain(|(at, _)| *at >= window_start);
        if events.len() as u64 >= limit {
            return false;
        }
        events.push((now, token));
        self.added(now);
        true
    }

    /// Notes an event added at `now`; after a quarter of the subjects (at
    /// least 1024 events), drops the events past the horizon and the
    /// subjects left with none.
    fn added(&mut self, now: u64) {
        self.added += 1;
        if self.added < (self.events.len() / 4).max(1024) {
            return;
        }
        self.added = 0;
        let before = self.horizon.map_or(0, |h| now.saturating_sub(h));
        self.events.retain(|_, events| {
            events.retain(|(at, _)| *at >= before);
            !events.is_empty()
        });
    }
}

/// The counters: every instance's in the database when there is one, and
/// this process's own in memory (the whole count with `memory:`, and what
/// the enumeration throttle falls back to while the database is away).
#[derive(Clone)]
pub struct Guard {
    db: Option<Db>,
    /// The store's write batch, shared with the webhook claims: a
    /// reservation commits with the writes waiting beside it.
    batch: Option<Batch>,
    local: Arc<Mutex<Local>>,
    /// Recent database counts, for checks that must not wait for it.
    shared: moka::future::Cache<(Kind, String), u64>,
    /// Keys caller numbers so the database never holds them.
    subjects: CallerSubjects,
    /// Calls the enumeration throttle sent to an agent: by a caller's
    /// number, and by a line's withheld caller IDs.
    throttled: Arc<[AtomicU64; 2]>,
    /// Events counted here while the database was away, retried until it
    /// takes them, so they reach every instance's count.
    unsent: Arc<Unsent>,
}

/// Events waiting for the database, and whether a task is retrying them.
#[derive(Default)]
struct Unsent {
    events: Mutex<Vec<(Kind, String, u64, String)>>,
    retrying: std::sync::atomic::AtomicBool,
}

/// The first retry of unsent events waits this long, doubling up to [`MAX_RETRY`].
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(200);
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Guard {
    pub(super) fn new(db: Option<Db>, subjects: CallerSubjects, batch: Option<Batch>) -> Self {
        let shared = moka::future::Cache::builder().max_capacity(100_000).time_to_live(SHARED_TTL).build();
        Self { db, batch, local: Arc::default(), shared, subjects, throttled: Arc::default(), unsent: Arc::default() }
    }

    /// Runs `write` in the store's batch when there is one, else alone.
    async fn write(&self, db: &Db, write: GuardWrite) -> Result<bool, sqlx::Error> {
        if let Some(batch) = &self.batch {
            if let Some(done) = batch.guard_write(write.clone()).await {
                return done;
            }
        }
        db.guard_write(&write).await
    }

    /// The stored stand-in for a caller's number: a keyed hash, so the
    /// counters identify a number without holding it.
    pub fn caller_subject(&self, number: &str) -> String {
        self.subjects.subject(number)
    }

    /// The one subject every withheld or unusable caller ID on `line` is
    /// counted under (a keyed hash too).
    pub fn withheld_subject(&self, line: &str) -> String {
        self.subjects.subject(&format!("withheld:{line}"))
    }

    /// Counts a call the enumeration throttle sent to an agent.
    pub fn note_throttled(&self, by: Enumerator) {
        self.throttled[by as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls the enumeration throttle sent to an agent, since start-up.
    pub fn throttled_total(&self, by: Enumerator) -> u64 {
        self.throttled[by as usize].load(Ordering::Relaxed)
    }

    fn local_count(&self, kind: Kind, subject: &str, since: u64) -> u64 {
        let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
        m.looks_back(crate::clock::now(), since);
        let events = m.events.get(&(kind, subject.to_string()));
        events.map_or(0, |v| v.iter().filter(|(at, _)| *at >= since).count() as u64)
    }

    /// Events about `subject` at or after `since`: the database's (every
    /// instance's) when it answers in time, else this process's own.
    pub async fn count(&self, kind: Kind, subject: &str, since: u64) -> u64 {
        let local = self.local_count(kind, subject, since);
        let Some(db) = &self.db else { return local };
        match tokio::time::timeout(READ_TIMEOUT, db.count_events(kind.as_str(), subject, since)).await {
            Ok(Ok(shared)) => shared,
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

    /// Every subject with events of `kind` at or after `since`: how many,
    /// and when the latest was (unix seconds); most first. From the
    /// database when there is one, else this process's own.
    pub async fn subjects(&self, kind: Kind, since: u64) -> Result<Vec<(String, u64, u64)>, GuardError> {
        if let Some(db) = &self.db {
            return bounded(db.subjects_with_events(kind.as_str(), since)).await;
        }
        let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
        m.looks_back(crate::clock::now(), since);
        let mut found: Vec<(String, u64, u64)> = m
            .events
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .filter_map(|((_, subject), events)| {
                let recent = events.iter().filter(|(at, _)| *at >= since);
                let (n, last) = recent.fold((0, 0), |(n, last), (at, _)| (n + 1, last.max(*at)));
                (n > 0).then(|| (subject.clone(), n, last))
            })
            .collect();
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(found)
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
        self.spawn(async move {
            if let Ok(Ok(n)) = tokio::time::timeout(WRITE_TIMEOUT, db.count_events(kind.as_str(), &key.1, since)).await
            {
                shared.insert(key, n).await;
            }
        });
        local
    }

    /// Counts one try about `subject` now, unless `limit` events already lie
    /// in the window (at or after `window_start`; older ones are forgotten).
    /// Atomic in the database (across instances), or under this process's
    /// lock with `memory:`. An error: the database did not reserve within a
    /// short bound, and nothing was counted there.
    pub async fn reserve(
        &self,
        kind: Kind,
        subject: &str,
        limit: u64,
        now: u64,
        window_start: u64,
    ) -> Result<Reserve, GuardError> {
        let Some(db) = &self.db else { return Ok(self.reserve_here(kind, subject, limit, now, window_start)) };
        let token = new_token();
        let write = GuardWrite::Reserve {
            kind: kind.as_str(),
            subject: subject.to_string(),
            token: token.clone(),
            at: now,
            window_start,
            limit,
        };
        let reserve = self.write(db, write);
        let reserved = match tokio::time::timeout(RESERVE_TIMEOUT, reserve).await {
            Ok(Ok(reserved)) => reserved,
            Ok(Err(e)) => return Err(GuardError(e.to_string())),
            Err(_) => return Err(GuardError("the database did not answer in time".into())),
        };
        self.shared.invalidate(&(kind, subject.to_string())).await;
        if !reserved {
            return Ok(Reserve::AtLimit);
        }
        // This process's own copy, for when the database is away.
        self.remember(kind, subject, now, window_start, token.clone());
        Ok(Reserve::Reserved(Reservation { kind, subject: subject.to_string(), token }))
    }

    /// [`Guard::reserve`] in this process's own counts only: the whole
    /// count with `memory:`, or a stand-in while the database is away.
    pub fn reserve_here(&self, kind: Kind, subject: &str, limit: u64, now: u64, window_start: u64) -> Reserve {
        let token = new_token();
        let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if !m.add(kind, subject, now, window_start, limit, token.clone()) {
            return Reserve::AtLimit;
        }
        drop(m);
        if self.db.is_some() {
            // Counted here while the database is away: kept until it takes it.
            self.unsent.events.lock().unwrap_or_else(|e| e.into_inner()).push((
                kind,
                subject.to_string(),
                now,
                token.clone(),
            ));
            self.retry_unsent();
        }
        Reserve::Reserved(Reservation { kind, subject: subject.to_string(), token })
    }

    /// How many events counted here still wait for the database.
    pub fn unsent(&self) -> usize {
        self.unsent.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Runs background work on the store's runtime ([`Batch::spawn`]), or
    /// on this one without a batch.
    pub(crate) fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        drop(Batch::spawn_on(self.batch.as_ref(), work));
    }

    /// Starts retrying the unsent events, unless a task already does.
    fn retry_unsent(&self) {
        let Some(db) = self.db.clone() else { return };
        if self.unsent.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let (unsent, shared) = (self.unsent.clone(), self.shared.clone());
        self.spawn(async move {
            let mut wait = FIRST_RETRY;
            loop {
                tokio::time::sleep(wait).await;
                let batch = unsent.events.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if batch.is_empty() {
                    unsent.retrying.store(false, Ordering::Release);
                    // One may have arrived after the check: it is picked up next time.
                    if unsent.events.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
                        || unsent.retrying.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                    continue;
                }
                match bounded(insert_events(&db, &batch)).await {
                    Ok(()) => {
                        let sent: std::collections::HashSet<&str> = batch.iter().map(|e| e.3.as_str()).collect();
                        unsent
                            .events
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .retain(|e| !sent.contains(e.3.as_str()));
                        for (kind, subject, _, _) in &batch {
                            shared.invalidate(&(*kind, subject.clone())).await;
                        }
                        tracing::info!(
                            events = batch.len(),
                            "security counters: events counted during a database outage are stored"
                        );
                        wait = FIRST_RETRY;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, waiting = batch.len(), "security counters: events counted during a database outage are not stored yet; retrying");
                        wait = (wait * 2).min(MAX_RETRY);
                    }
                }
            }
        });
    }

    fn remember(&self, kind: Kind, subject: &str, now: u64, window_start: u64, token: String) {
        let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
        m.add(kind, subject, now, window_start, u64::MAX, token);
    }

    /// Takes a reservation back: the try does not count.
    pub async fn release(&self, r: Reservation) -> Result<(), GuardError> {
        let key = (r.kind, r.subject);
        {
            let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(events) = m.events.get_mut(&key) {
                events.retain(|(_, token)| *token != r.token);
                if events.is_empty() {
                    m.events.remove(&key);
                }
            }
        }
        self.unsent.events.lock().unwrap_or_else(|e| e.into_inner()).retain(|e| e.3 != r.token);
        let Some(db) = &self.db else { return Ok(()) };
        let write = GuardWrite::Release { kind: r.kind.as_str(), subject: key.1.clone(), token: r.token };
        let released = bounded(self.write(db, write)).await.map(drop);
        self.shared.invalidate(&key).await;
        released
    }

    /// Forgets `subject`'s events (a success, or an unlock), waiting for
    /// the database so an unlock is known to have happened.
    pub async fn clear(&self, kind: Kind, subject: &str) -> Result<(), GuardError> {
        let key = (kind, subject.to_string());
        self.local.lock().unwrap_or_else(|e| e.into_inner()).events.remove(&key);
        let cleared = match &self.db {
            Some(db) => bounded(self.write(db, GuardWrite::Clear { kind: kind.as_str(), subject: subject.into() }))
                .await
                .map(drop),
            None => Ok(()),
        };
        self.shared.invalidate(&key).await;
        cleared
    }
}

/// Stores events counted while the database was away, in one transaction.
async fn insert_events(db: &Db, events: &[(Kind, String, u64, String)]) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO guard_events (kind, subject, at, token) VALUES ($1, $2, $3, $4)";
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for (kind, subject, at, token) in events {
            sqlx::query(sql).bind(kind.as_str()).bind(subject).bind(super::db::to_i64(*at)).bind(token)
                .execute(&mut *tx).await?;
        }
        tx.commit().await
    })
}

/// A reservation's token: random, so one try can be taken back alone.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 12]>())
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

    fn reserved(r: Reserve) -> Reservation {
        match r {
            Reserve::Reserved(r) => r,
            Reserve::AtLimit => panic!("at the limit"),
        }
    }

    #[tokio::test]
    async fn memory_counters_reserve_up_to_the_limit_within_the_window_release_and_clear() {
        let g = Guard::new(None, CallerSubjects::new(&Keyring::single("k")), None);
        for at in [100, 200, 300] {
            reserved(g.reserve(Kind::VerifyFailed, "12345678", 3, at, 0).await.unwrap());
        }
        assert!(matches!(g.reserve(Kind::VerifyFailed, "12345678", 3, 350, 0).await, Ok(Reserve::AtLimit)));
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 150).await, 2);
        assert_eq!(g.count(Kind::UnknownId, "12345678", 0).await, 0, "kinds are separate");
        let r = reserved(g.reserve(Kind::VerifyFailed, "12345678", 3, 400, 250).await.unwrap());
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 0).await, 2, "events before the window are forgotten");
        g.release(r).await.unwrap();
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 0).await, 1, "a release takes back its own try only");
        g.clear(Kind::VerifyFailed, "12345678").await.unwrap();
        assert_eq!(g.count(Kind::VerifyFailed, "12345678", 0).await, 0);
    }

    /// Every caller counted once leaves a subject: those whose events no
    /// window reaches any more, and those whose tries were all taken back,
    /// are forgotten rather than kept for the life of the process.
    #[tokio::test]
    async fn memory_counters_forget_subjects_no_window_reaches() {
        let g = Guard::new(None, CallerSubjects::new(&Keyring::single("k")), None);
        let subjects = |g: &Guard| g.local.lock().unwrap().events.len();
        // A try taken back leaves nothing.
        let r = reserved(g.reserve(Kind::UnknownId, "caller-taken-back", 10, 1_000, 400).await.unwrap());
        g.release(r).await.unwrap();
        assert_eq!(subjects(&g), 0);
        // 5,000 callers within a 600 s window, then 3,000 more an hour later.
        for i in 0..5_000 {
            reserved(g.reserve(Kind::UnknownId, &format!("early-{i}"), 10, 1_000, 400).await.unwrap());
        }
        assert_eq!(subjects(&g), 5_000, "all within the window");
        for i in 0..3_000 {
            reserved(g.reserve(Kind::UnknownId, &format!("late-{i}"), 10, 4_600, 4_000).await.unwrap());
        }
        let left = subjects(&g);
        assert!((3_000..5_000).contains(&left), "the early callers are forgotten as the map is purged: {left}");
        assert_eq!(g.count(Kind::UnknownId, "late-7", 4_000).await, 1, "the late callers' tries still count");
    }

    /// Many tries at once, through guards on separate pools of one
    /// database (as separate Vouch processes): exactly `limit` are counted.
    async fn simultaneous_reservations_stop_at_the_limit(url: crate::config::DatabaseUrl) {
        let subjects = CallerSubjects::new(&Keyring::single("k"));
        // Each writes through a batch of its own, so tries waiting together
        // commit together.
        let (da, db) = (Db::open(&url).await.unwrap().unwrap(), Db::open(&url).await.unwrap().unwrap());
        let a = Guard::new(Some(da.clone()), subjects.clone(), Batch::start(&da));
        let b = Guard::new(Some(db.clone()), subjects, Batch::start(&db));
        let tries = (0..40).map(|i| {
            let g = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { g.reserve(Kind::VerifyFailed, "12345678", 5, 1000, 0).await })
        });
        let mut counted = 0;
        for t in tries {
            if let Reserve::Reserved(_) = t.await.unwrap().expect("the database answers") {
                counted += 1;
            }
        }
        assert_eq!(counted, 5);
        assert_eq!(a.count(Kind::VerifyFailed, "12345678", 0).await, 5);
        b.clear(Kind::VerifyFailed, "12345678").await.unwrap();
        assert_eq!(a.count(Kind::VerifyFailed, "12345678", 0).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_reservations_are_atomic_across_pools() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("guard.db").display());
        simultaneous_reservations_stop_at_the_limit(crate::config::DatabaseUrl::Sqlite(url)).await;
    }

    #[tokio::test]
    async fn a_release_in_the_database_takes_back_one_try() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        let g = Guard::new(Some(db.clone()), CallerSubjects::new(&Keyring::single("k")), None);
        let first = reserved(g.reserve(Kind::UnknownId, "s", 2, 1000, 0).await.unwrap());
        reserved(g.reserve(Kind::UnknownId, "s", 2, 1000, 0).await.unwrap());
        assert!(matches!(g.reserve(Kind::UnknownId, "s", 2, 1000, 0).await, Ok(Reserve::AtLimit)));
        g.release(first).await.unwrap();
        assert_eq!(db.count_events("unknown_id", "s", 0).await.unwrap(), 1);
        reserved(g.reserve(Kind::UnknownId, "s", 2, 1000, 0).await.unwrap());
    }

    #[test]
    fn caller_subjects_are_keyed_hashes() {
        let g = Guard::new(None, CallerSubjects::new(&Keyring::single("k")), None);
        let s = g.caller_subject("+15551230001");
        assert_eq!(s.len(), 32);
        assert!(!s.contains("5551230001"));
        assert_eq!(s, g.caller_subject("+15551230001"));
        assert_ne!(
            s,
            Guard::new(None, CallerSubjects::new(&Keyring::single("other")), None).caller_subject("+15551230001")
        );
        assert_ne!(g.withheld_subject("support"), g.withheld_subject("sales"), "one withheld subject per line");
        assert_eq!(g.withheld_subject("support").len(), 32);
    }
}

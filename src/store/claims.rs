//! Webhook claims: each flow state, and each call's first webhook, is used
//! once. The first request carrying it claims it; the answer it gives is
//! kept with the claim, and every later request carrying the same state (a
//! Twilio retry, a load balancer's retry, or a captured request replayed
//! with new idempotency headers) gets those bytes back: the step never runs
//! twice, so nothing is counted, asked or minted again.
//!
//! Claims live in the call database when there is one, so they hold across
//! every Vouch sharing it; a copy that arrives while the first is still
//! being answered polls until the answer is there. A claim whose holder
//! died (no answer within the webhook deadline and a margin) lapses and the
//! next copy takes it over atomically. With `DATABASE_URL=memory:`, or when
//! the database is unreachable or slow, the claims of this process decide.

mod checkpoint;
mod thread;

use super::db::{guard_write_on, Db, GuardWrite};
use super::record::{CallRecord, Merged};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// A claim the database has not decided within this is decided by this
/// process, so a slow or locked database cannot hold up a webhook for long.
const DB_TIMEOUT: Duration = Duration::from_millis(250);
/// After the database failed a claim, this process decides alone for this
/// long before asking it again (one webhook then pays [`DB_TIMEOUT`]).
const DOWN_FOR: Duration = Duration::from_secs(5);
/// An answer still not stored this long after it was sent is given up.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a copy waiting for another instance's answer looks again.
const POLL: Duration = Duration::from_millis(25);
/// Past the webhook deadline, how long a claim's holder may still take to
/// store its answer (the record and the answer writes) before it lapses.
pub const LAPSE_MARGIN: Duration = Duration::from_secs(2);
/// In front of a database, how long this process remembers answers (the
/// database has them for the state's whole lifetime).
const LOCAL_KEEP: Duration = Duration::from_secs(300);
/// How often old claims are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

const INSERT: &str =
    "INSERT INTO webhook_claims (key, call_sid, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING";
const TAKE_OVER: &str =
    "UPDATE webhook_claims SET claimed_at = $2 WHERE key = $1 AND answer IS NULL AND claimed_at < $3";
const READ: &str = "SELECT answer FROM webhook_claims WHERE key = $1";
const SETTLE: &str = "INSERT INTO webhook_claims (key, call_sid, claimed_at, answer, answered_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET answer = excluded.answer, \
     answered_at = excluded.answered_at WHERE webhook_claims.answer IS NULL";
const RELEASE: &str = "DELETE FROM webhook_claims WHERE key = $1 AND answer IS NULL AND claimed_at = $2";
const PURGE: &str = "DELETE FROM webhook_claims WHERE claimed_at < $1";

/// Runs the same body against whichever pool this is.
macro_rules! each_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// What a webhook is claimed by: its flow state, or for a call's first
/// webhook (which has none) its CallSid.
#[derive(Debug, Clone)]
pub struct ClaimKey {
    key: String,
    call_sid: String,
}

impl ClaimKey {
    /// A step's: the SHA-256 of the state token (the token itself is never stored).
    pub fn state(token: &str, call_sid: &str) -> Self {
        Self { key: hex::encode(Sha256::digest(token.as_bytes())), call_sid: call_sid.to_string() }
    }

    /// A call's first webhook.
    pub fn start(call_sid: &str) -> Self {
        Self { key: format!("start:{call_sid}"), call_sid: call_sid.to_string() }
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }
}

/// The outcome of claiming a webhook.
#[derive(Debug)]
pub enum Claim {
    /// This request holds the claim: run the step, then
    /// [`Claims::settle`] (or [`Claims::release`] if it could not run).
    Ours(Ticket),
    /// An earlier request answered: send these bytes again.
    Answered(AnswerBody),
}

/// A webhook's answer (its TwiML), shared by the claims that keep it and
/// the response that sends it: a clone copies no text, and a response
/// sends it without a copy ([`AnswerBody::into_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerBody(Arc<String>);

impl AnswerBody {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The answer as a response body, sharing its text.
    pub fn into_bytes(self) -> actix_web::web::Bytes {
        actix_web::web::Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for AnswerBody {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for AnswerBody {
    fn from(text: String) -> Self {
        Self(Arc::new(text))
    }
}

impl From<&str> for AnswerBody {
    fn from(text: &str) -> Self {
        Self(Arc::new(text.to_string()))
    }
}

impl PartialEq<&str> for AnswerBody {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Proof of holding a claim.
#[derive(Debug)]
pub struct Ticket {
    key: ClaimKey,
    claimed_at: i64,
    /// Taken in the database (not by this process alone, the database
    /// failing): its answer is waited for there.
    shared: bool,
}

/// What one look at the claims found.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Ours; `true` when taken in the database.
    Won(bool),
    Answered(AnswerBody),
    /// Claimed by a request still within its time: wait for its answer.
    Held,
}

/// This process's claims by key, hashed with a fast keyed hash (a claim
/// looks a key up two or three times).
type LocalMap = HashMap<String, Local, foldhash::fast::RandomState>;

/// This process's view: the claims it holds, and the answers it knows.
struct Local {
    claimed_at: i64,
    answer: Option<AnswerBody>,
}

/// The claims: in the database when there is one, and in this process.
#[derive(Clone)]
pub struct Claims {
    inner: Arc<Inner>,
}

struct Inner {
    db: Option<Db>,
    /// The claim-table writes, batched into shared transactions (with a
    /// database, inside a runtime).
    batch: Option<Batch>,
    local: Mutex<LocalMap>,
    /// Woken whenever this process stores an answer.
    settled: Notify,
    /// A claim with no answer this long after it was taken has lapsed.
    lapse: Duration,
    /// Claims are kept this long (the state lifetime, and the lapse).
    keep: Duration,
    /// This process keeps what it knows this long: as long as the claims
    /// without a database, a few minutes in front of one.
    keep_local: Duration,
    /// Local claims made since the map was last purged.
    made: AtomicU64,
    /// Unix ms until which the database is not asked (it failed a claim).
    down_until: AtomicI64,
}

impl Claims {
    /// Claims on `db` (or only in this process), lapsing after `deadline`
    /// plus [`LAPSE_MARGIN`] and kept for `state_ttl` beyond that. With a
    /// database, purges old rows in the background.
    pub fn new(db: Option<Db>, deadline: Duration, state_ttl: Duration) -> Self {
        let batch = db.as_ref().and_then(Batch::start);
        Self::on_batch(db, deadline, state_ttl, batch)
    }

    /// [`Claims::new`], writing through `batch` (the store's, shared with
    /// the security counters) when there is one.
    pub(crate) fn on_batch(db: Option<Db>, deadline: Duration, state_ttl: Duration, batch: Option<Batch>) -> Self {
        let lapse = deadline + LAPSE_MARGIN;
        let keep = state_ttl + lapse + Duration::from_secs(60);
        let keep_local = if db.is_some() { keep.min(lapse + LOCAL_KEEP) } else { keep };
        let inner = Arc::new(Inner {
            db,
            batch,
            local: Mutex::default(),
            settled: Notify::new(),
            lapse,
            keep,
            keep_local,
            made: AtomicU64::new(0),
            down_until: AtomicI64::new(0),
        });
        if inner.db.is_some() && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(purge(Arc::downgrade(&inner)));
        }
        Self { inner }
    }

    /// Claims `key`: ours if no request had it (or its claim lapsed), else
    /// the answer stored for it, waiting while another request is still
    /// answering it.
    pub async fn claim(&self, key: &ClaimKey) -> Claim {
        let waiting_since = Instant::now();
        let mut waited = false;
        loop {
            let now = now_ms();
            // Without a database, deciding is this same look at the map.
            let known = self.inner.db.as_ref().and_then(|_| self.inner.peek(&key.key, now));
            match known {
                Some(Verdict::Answered(a)) => return Claim::Answered(a),
                Some(Verdict::Held) => {}
                _ => match self.decide(key, now).await {
                    Verdict::Won(shared) => {
                        if waited {
                            tracing::warn!(
                                waited_ms = waiting_since.elapsed().as_millis() as u64,
                                "an earlier copy of this webhook was never answered: its claim lapsed, running the step"
                            );
                        }
                        return Claim::Ours(Ticket { key: key.clone(), claimed_at: now, shared });
                    }
                    Verdict::Answered(a) => {
                        self.inner.remember(&key.key, now, a.clone());
                        return Claim::Answered(a);
                    }
                    Verdict::Held => {}
                },
            }
            // A claim lapses within `lapse` of being taken, so waiting longer
            // means clocks disagree: answer the caller rather than hang.
            if waiting_since.elapsed() > self.inner.lapse + LAPSE_MARGIN {
                tracing::warn!("a webhook's claim neither answered nor lapsed in time: running the step");
                return Claim::Ours(Ticket { key: key.clone(), claimed_at: now_ms(), shared: false });
            }
            if !waited {
                tracing::info!("a copy of a webhook being answered: waiting for its answer");
                waited = true;
            }
            let settled = self.inner.settled.notified();
            let _ = tokio::time::timeout(POLL, settled).await;
        }
    }

    /// Stores the answer for a claim this request holds, and returns the
    /// answer to send: this one, or the one already stored if another
    /// request took the claim over and answered first.
    ///
    /// The database write finishes in the background. It is waited for (up
    /// to [`DB_TIMEOUT`]) only when the claim was taken in the database and
    /// the step took more than half its lapse: only then can another copy
    /// have found it lapsed, taken it over and answered first (a claim
    /// taken over within half the lapse would take clocks half a lapse
    /// apart). A claim this process took alone is never waited for; while
    /// the database is failing, such an answer stays in this process.
    /// Until the write is done, another instance's copy sees the claim held
    /// and polls for the answer, as it does while the step runs.
    pub async fn settle(&self, ticket: Ticket, answer: String) -> AnswerBody {
        let Ticket { key, claimed_at, shared } = ticket;
        let mut sent = self.inner.remember(&key.key, claimed_at, AnswerBody::from(answer));
        self.inner.settled.notify_waiters();
        let now = now_ms();
        // While the database is failing, answers of claims taken here stay
        // here: writes that would wait for it would only starve its pool.
        let failing = self.inner.down_until.load(Ordering::Relaxed) > now;
        if let Some(db) = self.inner.db.as_ref().filter(|_| shared || !failing) {
            let overtaken = shared && now - claimed_at >= millis(self.inner.lapse) / 2;
            // Held until the write is done, so a shutdown waits for it.
            let pending = self.inner.batch.as_ref().map(Batch::pending);
            if let (false, Some(batch)) = (overtaken, &self.inner.batch) {
                // No webhook waits for this write: what became of it is
                // handled where it ran, and no thread is woken to hear it.
                let (inner, answer, key_kept) = (self.inner.clone(), sent.clone(), key.clone());
                let then = move |stored: Result<Option<String>, sqlx::Error>| {
                    let _pending = pending;
                    inner.answer_written(&key_kept, answer.as_str(), false, Some(stored).as_ref());
                };
                let job = Job::Settle { key, claimed_at, answer: sent.clone(), reply: Reply::Then(Box::new(then)) };
                if let Err(job) = batch.send(job) {
                    // The batch's writer is gone: the write runs alone.
                    let db = db.clone();
                    batch.spawn(async move { job.run_alone(&db).await });
                }
                return sent;
            }
            let (db, key, answer, inner) = (db.clone(), key.clone(), sent.clone(), self.inner.clone());
            let write = async move {
                let _pending = pending;
                let stored =
                    tokio::time::timeout(STORE_TIMEOUT, inner.store_answer(&db, &key, claimed_at, answer.as_str()))
                        .await;
                inner.answer_written(&key, answer.as_str(), overtaken, stored.as_ref().ok());
                stored
            };
            let write = Batch::spawn_on(self.inner.batch.as_ref(), write);
            if !overtaken {
                return sent;
            }
            if let Ok(Ok(Ok(Ok(Some(stored))))) = tokio::time::timeout(DB_TIMEOUT, write).await {
                // The write forgot this process's copy: later copies read
                // the stored answer.
                if stored != sent.as_str() {
                    tracing::warn!("another copy of this webhook answered first: sending its answer");
                    sent = AnswerBody::from(stored);
                }
            }
        }
        sent
    }

    /// Gives up a claim whose step could not run (a refused request), so it
    /// binds nothing.
    pub async fn release(&self, ticket: Ticket) {
        let Ticket { key, claimed_at, .. } = ticket;
        {
            let mut local = self.inner.lock();
            if local.get(&key.key).is_some_and(|l| l.answer.is_none() && l.claimed_at == claimed_at) {
                local.remove(&key.key);
            }
        }
        if let Some(db) = &self.inner.db {
            let release = async {
                each_pool!(db, pool => sqlx::query(RELEASE).bind(&key.key).bind(claimed_at).execute(pool).await.map(|_| ()))
            };
            if let Ok(Err(e)) = tokio::time::timeout(DB_TIMEOUT, release).await {
                tracing::warn!(error = %e, "could not release a webhook's claim: it will lapse");
            }
        }
        self.inner.settled.notify_waiters();
    }

    /// Takes the claim in the database (or, while it fails, in this process).
    async fn decide(&self, key: &ClaimKey, now: i64) -> Verdict {
        let lapsed_before = now - millis(self.inner.lapse);
        let Some(db) = &self.inner.db else { return self.inner.try_local(&key.key, now, lapsed_before) };
        if self.inner.down_until.load(Ordering::Relaxed) > now {
            return self.inner.try_local(&key.key, now, lapsed_before);
        }
        let failed = match tokio::time::timeout(DB_TIMEOUT, self.inner.try_claim(db, key, now, lapsed_before)).await {
            Ok(Ok(verdict)) => {
                if matches!(verdict, Verdict::Won(_)) {
                    self.inner.hold(&key.key, now);
                }
                return verdict;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", DB_TIMEOUT.as_millis()),
        };
        tracing::warn!(
            error = %failed,
            for_secs = DOWN_FOR.as_secs(),
            "could not claim a webhook in the database: this process decides alone for now"
        );
        self.inner.down_until.store(now + millis(DOWN_FOR), Ordering::Relaxed);
        self.inner.try_local(&key.key, now, lapsed_before)
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, LocalMap> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What this process knows: an answer, a claim held here and not
    /// lapsed, or nothing (`None`: ask the store).
    fn peek(&self, key: &str, now: i64) -> Option<Verdict> {
        let local = self.lock();
        let l = local.get(key)?;
        match &l.answer {
            Some(a) => Some(Verdict::Answered(a.clone())),
            None if l.claimed_at >= now - millis(self.lapse) => Some(Verdict::Held),
            None => None,
        }
    }

    /// Claims `key` in this process: the memory-only store, or the
    /// fallback while the database is out of reach.
    fn try_local(&self, key: &str, now: i64, lapsed_before: i64) -> Verdict {
        let mut local = self.lock();
        match local.get(key) {
            Some(Local { answer: Some(a), .. }) => return Verdict::Answered(a.clone()),
            Some(l) if l.claimed_at >= lapsed_before => return Verdict::Held,
            _ => {}
        }
        local.insert(key.to_string(), Local { claimed_at: now, answer: None });
        self.purge_local(&mut local, now);
        Verdict::Won(false)
    }

    /// Notes a claim won in the database, so copies in this process wait
    /// for it here.
    fn hold(&self, key: &str, now: i64) {
        let mut local = self.lock();
        local.insert(key.to_string(), Local { claimed_at: now, answer: None });
        self.purge_local(&mut local, now);
    }

    /// Keeps an answer (the first one kept wins) and returns the one kept.
    fn remember(&self, key: &str, claimed_at: i64, answer: AnswerBody) -> AnswerBody {
        let mut local = self.lock();
        let l = match local.get_mut(key) {
            Some(l) => l,
            None => local.entry(key.to_string()).or_insert(Local { claimed_at, answer: None }),
        };
        l.answer.get_or_insert(answer).clone()
    }

    /// What became of the write of `answer`, which this process sent for
    /// `key` (`None`: it timed out): logged when it failed, or when another
    /// copy's answer was stored first and this one's was sent all the same.
    /// Once stored, later copies read it there, so this process need not
    /// hold every answer (about 1 KiB each) for minutes.
    fn answer_written(
        &self,
        key: &ClaimKey,
        answer: &str,
        overtaken: bool,
        stored: Option<&Result<Option<String>, sqlx::Error>>,
    ) {
        match stored {
            Some(Err(e)) => tracing::warn!(error = %e, "could not store a webhook's answer: kept in this process"),
            None => tracing::warn!("storing a webhook's answer timed out: kept in this process"),
            // Not waited for: this answer was sent. Clocks half a lapse
            // apart can do this; later copies get the stored one.
            Some(Ok(Some(other))) if !overtaken && other != answer => {
                tracing::warn!("another copy of this webhook answered first, and this one's answer was sent too: instances' clocks disagree");
            }
            Some(Ok(_)) => {}
        }
        if matches!(stored, Some(Ok(_))) {
            self.forget(&key.key);
        }
    }

    /// Forgets the answer kept for `key`, once the database has it.
    fn forget(&self, key: &str) {
        let mut local = self.lock();
        if local.get(key).is_some_and(|l| l.answer.is_some()) {
            local.remove(key);
        }
    }

    /// Forgets what is older than `keep_local`, once the claims made since
    /// the last purge are a quarter of what the map holds ([`purge_due`]).
    fn purge_local(&self, local: &mut LocalMap, now: i64) {
        let made = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        if purge_due(made, local.len()) {
            self.made.store(0, Ordering::Relaxed);
            self.forget_stale(local, now);
        }
    }

    /// Forgets what was claimed more than `keep_local` before `now`.
    fn forget_stale(&self, local: &mut LocalMap, now: i64) {
        let before = now - millis(self.keep_local);
        local.retain(|_, l| l.claimed_at >= before);
    }
}

/// Whether this process's map of claims, holding `held`, is purged after
/// `made` claims since its last purge: after a quarter of what it holds,
/// and at least 1024. A purge walks the whole map, so each claim pays for
/// about four entries however many the map holds (without a database it
/// holds every answer for the claims' keeping time: with the default
/// 30-minute state lifetime, nearly two million at 1,000 claims a second),
/// and an entry stays at most about a quarter of that time past it.
fn purge_due(made: u64, held: usize) -> bool {
    made >= (u64::try_from(held).unwrap_or(u64::MAX) / 4).max(1024)
}

/// One attempt at the claim in the database: insert it, else take over a
/// lapsed one, else read what is there.
/// Claims `key` on an executor (a pool, or a batch's transaction):
/// inserted, taken over from a lapsed holder, or found answered or held.
macro_rules! claim_on {
    ($exec:expr, $key:expr, $now:expr, $lapsed_before:expr) => {{
        let key: &ClaimKey = $key;
        let inserted =
            sqlx::query(INSERT).bind(&key.key).bind(&key.call_sid).bind($now).execute($exec).await?.rows_affected();
        if inserted == 1 {
            Verdict::Won(true)
        } else if sqlx::query(TAKE_OVER)
            .bind(&key.key)
            .bind($now)
            .bind($lapsed_before)
            .execute($exec)
            .await?
            .rows_affected()
            == 1
        {
            Verdict::Won(true)
        } else {
            let answer: Option<Option<String>> = sqlx::query_scalar(READ).bind(&key.key).fetch_optional($exec).await?;
            // Gone (purged or released between the statements): look again.
            match answer {
                Some(Some(a)) => Verdict::Answered(a.into()),
                _ => Verdict::Held,
            }
        }
    }};
}

/// Stores `answer` on an executor unless one is stored already; the
/// stored one if so.
macro_rules! settle_on {
    ($exec:expr, $key:expr, $claimed_at:expr, $answer:expr) => {{
        let key: &ClaimKey = $key;
        let stored = sqlx::query(SETTLE)
            .bind(&key.key)
            .bind(&key.call_sid)
            .bind($claimed_at)
            .bind($answer)
            .bind(now_ms())
            .execute($exec)
            .await?
            .rows_affected();
        if stored == 1 {
            None
        } else {
            let kept: Option<Option<String>> = sqlx::query_scalar(READ).bind(&key.key).fetch_optional($exec).await?;
            kept.flatten()
        }
    }};
}

async fn try_claim(db: &Db, key: &ClaimKey, now: i64, lapsed_before: i64) -> Result<Verdict, sqlx::Error> {
    each_pool!(db, pool => Ok(claim_on!(pool, key, now, lapsed_before)))
}

/// Stores `answer` unless one is stored already; returns the stored one.
async fn store_answer(db: &Db, key: &ClaimKey, claimed_at: i64, answer: &str) -> Result<Option<String>, sqlx::Error> {
    each_pool!(db, pool => Ok(settle_on!(pool, key, claimed_at, answer)))
}

/// A write waiting for its batch: to the claim table, or to the security
/// counters ([`GuardWrite`], whose webhooks await it the same way).
enum Job {
    Claim {
        key: ClaimKey,
        now: i64,
        lapsed_before: i64,
        reply: oneshot::Sender<Result<Verdict, sqlx::Error>>,
    },
    Settle {
        key: ClaimKey,
        claimed_at: i64,
        answer: AnswerBody,
        reply: Reply<Option<String>>,
    },
    Guard {
        write: GuardWrite,
        reply: oneshot::Sender<Result<bool, sqlx::Error>>,
    },
    /// Call records to merge into their rows ([`Db::merge_all`]), from the
    /// records' writer ([`Batch::merge_records`]): each in a transaction
    /// of its own, after the batch of claims it came with.
    Records {
        records: Vec<CallRecord>,
        reply: oneshot::Sender<Result<Vec<Merged>, sqlx::Error>>,
    },
}

/// Where a job's result goes: to whoever waits for it, or into a function
/// run where the job ran, for a write no webhook waits for (an answer
/// stored after it was sent), so that no thread is woken to hear it.
pub(super) enum Reply<T> {
    Waiting(oneshot::Sender<Result<T, sqlx::Error>>),
    Then(Box<dyn FnOnce(Result<T, sqlx::Error>) + Send + Sync>),
}

impl<T> Reply<T> {
    pub(super) fn send(self, result: Result<T, sqlx::Error>) {
        match self {
            Reply::Waiting(tx) => {
                let _ = tx.send(result);
            }
            Reply::Then(then) => then(result),
        }
    }

    /// Whoever waited stopped waiting (a function is never abandoned).
    fn is_closed(&self) -> bool {
        match self {
            Reply::Waiting(tx) => tx.is_closed(),
            Reply::Then(_) => false,
        }
    }
}

/// What a job's statements found.
#[derive(Debug, PartialEq)]
enum Done {
    Claim(Verdict),
    Settle(Option<String>),
    Guard(bool),
    /// Not run in the batch (the call records' jobs run after it).
    Apart,
}

impl Job {
    /// The security counters first, by counter (each reservation locks
    /// its counter), then the claims in key order (an answer before a
    /// claim of the same key): the same order on every instance.
    fn order(&self) -> (u8, &str, &str, u8) {
        match self {
            Job::Guard { write, .. } => {
                let (kind, subject) = write.counter();
                (0, kind, subject, 0)
            }
            Job::Settle { key, .. } => (1, &key.key, "", 0),
            Job::Claim { key, .. } => (1, &key.key, "", 1),
            Job::Records { .. } => (2, "", "", 0),
        }
    }

    /// Whoever asked stopped waiting (its timeout passed).
    fn abandoned(&self) -> bool {
        match self {
            Job::Claim { reply, .. } => reply.is_closed(),
            Job::Settle { reply, .. } => reply.is_closed(),
            Job::Guard { reply, .. } => reply.is_closed(),
            Job::Records { reply, .. } => reply.is_closed(),
        }
    }

    async fn run_alone(self, db: &Db) {
        if let Job::Records { records, reply } = self {
            // Takes the write turn itself.
            let _ = reply.send(db.merge_all(&records.iter().collect::<Vec<_>>()).await);
            return;
        }
        let _turn = db.write_turn().await;
        match self {
            Job::Claim { key, now, lapsed_before, reply } => {
                let _ = reply.send(try_claim(db, &key, now, lapsed_before).await);
            }
            Job::Settle { key, claimed_at, answer, reply } => {
                reply.send(store_answer(db, &key, claimed_at, answer.as_str()).await);
            }
            Job::Guard { write, reply } => {
                let _ = reply.send(db.guard_write(&write).await);
            }
            Job::Records { .. } => {}
        }
    }

    fn is_records(&self) -> bool {
        matches!(self, Job::Records { .. })
    }

    /// Whether a webhook may be waiting on this job before it answers: a
    /// claim, a security counter's reservation, or its clear (a verified
    /// caller's, awaited so that the next call sees it). Not an answer
    /// being stored, nor a reservation taken back (always in the
    /// background: until it runs, the try still counts, which errs on the
    /// safe side), nor the call records.
    fn awaited(&self) -> bool {
        match self {
            Job::Claim { .. } => true,
            Job::Guard { write, .. } => !matches!(write, GuardWrite::Release { .. }),
            Job::Settle { .. } | Job::Records { .. } => false,
        }
    }

    fn reply(self, done: Done) {
        match (self, done) {
            (Job::Claim { reply, .. }, Done::Claim(v)) => {
                let _ = reply.send(Ok(v));
            }
            (Job::Settle { reply, .. }, Done::Settle(a)) => reply.send(Ok(a)),
            (Job::Guard { reply, .. }, Done::Guard(d)) => {
                let _ = reply.send(Ok(d));
            }
            // A batch's results are in its jobs' order.
            _ => {}
        }
    }
}

/// The store's write batch: the webhook claims' writes and the security
/// counters' wait in one queue, and those waiting when a batch ends are
/// committed together in the next ([`batch_writes`]).
#[derive(Clone)]
pub(crate) struct Batch {
    jobs: Queue,
    /// Where jobs no webhook waits for are left while the writer is busy or
    /// waits with a deadline.
    parking: Arc<Parking>,
    /// Answers being stored that no webhook waits for ([`Claims::settle`]).
    pending: Arc<AtomicUsize>,
    /// The runtime the batch started on, for the store's background work
    /// ([`Batch::spawn`]).
    runtime: tokio::runtime::Handle,
}

/// Where a batch's jobs wait: for a SQLite file's thread of its own
/// ([`thread`], which then writes the call records too: [`Batch::records`]),
/// or for the task that runs them through the pool ([`batch_writes`]).
#[derive(Clone)]
enum Queue {
    Thread(std::sync::mpsc::Sender<Job>),
    Task(mpsc::UnboundedSender<Job>),
}

impl Queue {
    /// Queues `job`; gives it back when the writer is gone.
    fn send(&self, job: Job) -> Result<(), Job> {
        match self {
            Queue::Thread(tx) => tx.send(job).map_err(|e| e.0),
            Queue::Task(tx) => tx.send(job).map_err(|e| e.0),
        }
    }
}

/// An answer's write in progress: counted while it lives.
pub(crate) struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Batch {
    /// Starts the batch writer on `db`; `None` outside a runtime (each
    /// write then runs alone).
    pub(crate) fn start(db: &Db) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let parking = Arc::new(Parking::default());
        let on_thread = db.sqlite_file().and_then(|(file, turn)| {
            thread::start(&file, turn, Gatherer::new(parking.clone()), checkpoint::Limits::DEFAULT)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "the SQLite write batch could not have a thread of its own: it runs through the pool")
                })
                .ok()
        });
        let jobs = on_thread.map(Queue::Thread).unwrap_or_else(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(batch_writes(db.clone(), rx, Gatherer::new(parking.clone())));
            Queue::Task(tx)
        });
        Some(Self { jobs, parking, pending: Arc::default(), runtime })
    }

    /// Runs `work` on the runtime the batch started on (`vouch serve`'s
    /// main runtime), not on the calling request's. That runtime outlives
    /// the server's workers, which stop before the final flush: work left
    /// on a worker would be cut short as it stops, and a database
    /// connection it opened would belong to a runtime that is gone when the
    /// final flush takes it from the pool.
    pub(crate) fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(work)
    }

    /// [`Batch::spawn`] on `batch`, or on this runtime without one.
    pub(crate) fn spawn_on<F>(batch: Option<&Batch>, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match batch {
            Some(batch) => batch.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// Where the call records' writer should send its batches: this batch
    /// when it runs on a SQLite file's thread, so that one connection makes
    /// every write to the file (another writing connection would empty
    /// its page cache with each commit) without a hop per statement. On
    /// other databases the records go through the pool, so that a batch
    /// of records never holds up the claims behind it.
    pub(crate) fn records(&self) -> Option<Self> {
        self.keeps_the_log().then(|| self.clone())
    }

    /// Whether the batch runs on a SQLite file's thread, whose checkpoint
    /// thread keeps the file's log short (`checkpoint.rs`); elsewhere
    /// [`Db::checkpoint_in_background`] does.
    pub(crate) fn keeps_the_log(&self) -> bool {
        matches!(self.jobs, Queue::Thread(_))
    }

    /// Merges `records` into their rows, on the batch's thread
    /// ([`Batch::records`]); `None` when the thread is gone.
    pub(crate) async fn merge_records(&self, records: Vec<CallRecord>) -> Option<Result<Vec<Merged>, sqlx::Error>> {
        self.run(|reply| Job::Records { records, reply }).await
    }

    /// Leaves `job` for the writer ([`Parking`]) when no webhook waits for
    /// it and the writer is busy or waits with a deadline, else queues it;
    /// gives it back when the writer is gone.
    fn send(&self, job: Job) -> Result<(), Job> {
        if job.awaited() {
            return self.jobs.send(job);
        }
        match self.parking.park(job) {
            Ok(()) => Ok(()),
            Err(job) => self.jobs.send(job),
        }
    }

    /// Counts a write in progress until the returned guard drops.
    fn pending(&self) -> Pending {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Pending(self.pending.clone())
    }

    /// Waits, at most `timeout`, until no answer is being stored: before
    /// the database closes at shutdown. Whether they all were.
    pub(crate) async fn settled(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.pending.load(Ordering::Acquire) > 0 {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Runs the job `make` builds (around the sender its result comes
    /// back on) in the next batch and waits for it; `None` when the writer
    /// is gone (the caller runs it alone).
    async fn run<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, sqlx::Error>>) -> Job,
    ) -> Option<Result<T, sqlx::Error>> {
        let (reply, done) = oneshot::channel();
        self.send(make(reply)).ok()?;
        done.await.ok()
    }

    /// Runs a security-counter `write` in the next batch ([`Batch::run`]).
    pub(crate) async fn guard_write(&self, write: GuardWrite) -> Option<Result<bool, sqlx::Error>> {
        self.run(|reply| Job::Guard { write, reply }).await
    }
}

/// The most writes one transaction takes.
const MAX_BATCH: usize = 128;

/// How long a batch of writes no webhook waits for (answers being stored,
/// call records) waits for one that a webhook does wait for (a claim, a
/// counter's write) to share its transaction. Below full load each
/// webhook's answer would otherwise commit alone, between two claims that
/// each commit alone too. An answer stored this much later only keeps a
/// copy of its webhook on another instance polling a little longer
/// ([`POLL`]); it is counted as pending meanwhile, so a shutdown waits for it.
/// After a batch that held a claim, the writer waits as long for that
/// claim's answer ([`Gatherer`]).
const LINGER: Duration = Duration::from_millis(5);

/// Group commit: the claims and answers waiting when the previous batch
/// finishes go into one transaction, so a busy instance commits once for
/// many webhooks instead of once each. A batch that fails is run again
/// job by job, so one bad write fails alone.
async fn batch_writes(db: Db, mut rx: mpsc::UnboundedReceiver<Job>, mut gatherer: Gatherer) {
    loop {
        let woke = match gatherer.wait() {
            None => rx.recv().await.map_or(Woke::Closed, Woke::Job),
            Some(left) => match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(job)) => Woke::Job(job),
                Ok(None) => Woke::Closed,
                Err(_) => Woke::Timeout,
            },
        };
        let closed = matches!(woke, Woke::Closed);
        if let Some((mut jobs, records)) = gatherer.woke(woke, &mut || rx.try_recv().ok()) {
            let awaited = jobs.iter().any(Job::awaited);
            match jobs.len() {
                0 => {}
                1 => jobs.pop().expect("one job").run_alone(&db).await,
                _ => match run_batch(&db, &jobs).await {
                    Ok(done) => jobs.into_iter().zip(done).for_each(|(job, done)| job.reply(done)),
                    Err(e) => {
                        tracing::debug!(error = %e, jobs = jobs.len(), "a batch of webhook claims failed as one: running them one by one");
                        for job in jobs {
                            job.run_alone(&db).await;
                        }
                    }
                },
            }
            for job in records {
                job.run_alone(&db).await;
            }
            gatherer.ran(awaited);
        }
        if closed {
            break;
        }
    }
}

/// Jobs no webhook waits for ([`Job::awaited`]), left for the writer
/// while it is busy or waits with a deadline ([`Gatherer`]): sent on its
/// queue, each would wake it only to be held back until then. Below full
/// load that is an answer between two claims: left here, it costs the
/// writer no wake-up, and goes with the next claim (or at the deadline).
#[derive(Default)]
pub(super) struct Parking(Mutex<Parked>);

#[derive(Default)]
struct Parked {
    /// The writer will look here before it sleeps without a deadline.
    open: bool,
    /// The writer is gone (it never opens again).
    gone: bool,
    jobs: Vec<Job>,
}

impl Parking {
    fn lock(&self) -> std::sync::MutexGuard<'_, Parked> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves `job` for the writer if it will look here; gives it back
    /// otherwise (to be queued, which wakes the writer).
    fn park(&self, job: Job) -> Result<(), Job> {
        let mut parked = self.lock();
        if !parked.open {
            return Err(job);
        }
        parked.jobs.push(job);
        Ok(())
    }

    fn open(&self) {
        let mut parked = self.lock();
        parked.open = !parked.gone;
    }

    /// Takes what was left; `open` says whether it stays open.
    fn take(&self, open: bool) -> Vec<Job> {
        let mut parked = self.lock();
        parked.open = open && !parked.gone;
        std::mem::take(&mut parked.jobs)
    }
}

/// What the writer's wait for its queue ended with.
enum Woke {
    Job(Job),
    /// The deadline passed.
    Timeout,
    /// Every sender is gone.
    Closed,
}

/// The writer's side of its queue, between its waits: the jobs it holds
/// back, and until when. A batch of jobs none of which a webhook waits for
/// waits, at most [`LINGER`], for one that is, to share its transaction:
/// below full load, each webhook's answer would otherwise commit alone,
/// between two claims that each commit alone too. After a batch that held
/// a claim, the writer waits with the same deadline, since that claim's
/// answer is coming. While the writer runs a batch or waits with a
/// deadline, such jobs are parked ([`Parking`]) rather than queued. A
/// batch holds at most [`MAX_BATCH`] jobs, except the last, run once the
/// queue has closed: it holds everything left.
pub(super) struct Gatherer {
    parking: Arc<Parking>,
    held: Vec<Job>,
    until: Option<Instant>,
}

impl Gatherer {
    pub(super) fn new(parking: Arc<Parking>) -> Self {
        Self { parking, held: Vec::new(), until: None }
    }

    /// How long the next wait may last; `None`: until a job comes.
    fn wait(&self) -> Option<Duration> {
        self.until.map(|until| until.saturating_duration_since(Instant::now()))
    }

    /// Takes what a wait brought, with the jobs parked meanwhile and those
    /// `queued` without waiting. The batch to run now, if any: the jobs
    /// whose webhook still waits, in [`Job::order`], and apart, the call
    /// records' jobs among them, each run alone after the batch. Then
    /// [`Gatherer::ran`].
    fn woke(&mut self, woke: Woke, queued: &mut dyn FnMut() -> Option<Job>) -> Option<(Vec<Job>, Vec<Job>)> {
        let closed = matches!(woke, Woke::Closed);
        let mut jobs = std::mem::take(&mut self.held);
        jobs.extend(self.parking.take(!closed));
        if let Woke::Job(job) = woke {
            jobs.push(job);
            while jobs.len() < MAX_BATCH {
                match queued() {
                    Some(job) => jobs.push(job),
                    None => break,
                }
            }
        }
        let now = Instant::now();
        if jobs.is_empty() {
            self.until = None;
            self.next_wait();
            return None;
        }
        let over = self.until.is_some_and(|until| now >= until);
        if !closed && !over && jobs.len() < MAX_BATCH && !jobs.iter().any(Job::awaited) {
            self.until.get_or_insert(now + LINGER);
            self.held = jobs;
            return None;
        }
        // Closing, the writer runs what it has and stops: all of it now.
        if jobs.len() > MAX_BATCH && !closed {
            self.held = jobs.split_off(MAX_BATCH);
        }
        jobs.retain(|j| !j.abandoned());
        jobs.sort_by(|a, b| a.order().cmp(&b.order()));
        let records = jobs.iter().position(Job::is_records).map_or_else(Vec::new, |at| jobs.split_off(at));
        if jobs.is_empty() && records.is_empty() {
            // Every webhook stopped waiting: no batch, and no write turn.
            self.ran(false);
            return None;
        }
        Some((jobs, records))
    }

    /// After a batch: one that held a job a webhook waited for is followed
    /// by that webhook's answer, so the writer waits for it with a
    /// deadline; jobs held over from a full batch run at once.
    fn ran(&mut self, awaited: bool) {
        let now = Instant::now();
        self.until = if !self.held.is_empty() {
            Some(now)
        } else if awaited {
            Some(now + LINGER)
        } else {
            None
        };
        self.next_wait();
    }

    /// Before a wait without a deadline, the parking closes; jobs parked
    /// until then are held, and the wait gets their deadline.
    fn next_wait(&mut self) {
        if self.until.is_some() {
            return;
        }
        let parked = self.parking.take(false);
        if !parked.is_empty() {
            self.held = parked;
            self.until = Some(Instant::now() + LINGER);
            self.parking.open();
        }
    }
}

impl Drop for Gatherer {
    fn drop(&mut self) {
        let mut parked = self.parking.lock();
        (parked.open, parked.gone) = (false, true);
    }
}

/// The set statements of a batch, in one database's dialect.
struct BatchSql {
    /// Rows (key, call_sid, claimed_at, answer) and `$2` the time: stores
    /// each answer unless one is stored; the keys stored.
    settle: String,
    /// Rows (key, call_sid, now): the keys newly claimed.
    insert: String,
    /// Rows (key, now, lapsed_before): the keys taken over from lapsed holders.
    take_over: String,
    /// Rows (key): each key's stored answer.
    read: String,
}

impl BatchSql {
    fn new(pg: bool) -> Self {
        let rows = |types: &[&str]| super::db::json_rows(pg, types);
        Self {
            settle: format!(
                "INSERT INTO webhook_claims (key, call_sid, claimed_at, answer, answered_at) \
                 SELECT c0, c1, c2, c3, CAST($2 AS BIGINT) FROM ({}) AS v WHERE true \
                 ON CONFLICT (key) DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at \
                 WHERE webhook_claims.answer IS NULL RETURNING key",
                rows(&["text", "text", "int8", "text"])
            ),
            insert: format!(
                "INSERT INTO webhook_claims (key, call_sid, claimed_at) SELECT c0, c1, c2 FROM ({}) AS v WHERE true \
                 ON CONFLICT (key) DO NOTHING RETURNING key",
                rows(&["text", "text", "int8"])
            ),
            take_over: format!(
                "UPDATE webhook_claims SET claimed_at = v.c1 FROM ({}) AS v WHERE webhook_claims.key = v.c0 \
                 AND webhook_claims.answer IS NULL AND webhook_claims.claimed_at < v.c2 RETURNING webhook_claims.key",
                rows(&["text", "int8", "int8"])
            ),
            read: format!(
                "SELECT key, answer FROM webhook_claims WHERE key IN (SELECT c0 FROM ({}) AS v)",
                rows(&["text"])
            ),
        }
    }
}

/// [`BatchSql`] for SQLite and for PostgreSQL.
static BATCH_SQL: std::sync::LazyLock<[BatchSql; 2]> =
    std::sync::LazyLock::new(|| [BatchSql::new(false), BatchSql::new(true)]);

/// What a batch's set statements take: the first answer and the first
/// claim of each key (a later job of the same key sees what they left, as
/// it would run after them).
struct Plan<'a> {
    /// (key, call_sid, claimed_at, answer).
    settles: Vec<(&'a str, &'a str, i64, &'a str)>,
    /// (key, now, lapsed_before).
    claims: Vec<(&'a ClaimKey, i64, i64)>,
}

impl<'a> Plan<'a> {
    fn of(jobs: &'a [Job]) -> Self {
        let (mut settles, mut claims) = (Vec::new(), Vec::new());
        let (mut settle_keys, mut claim_keys) = (HashSet::new(), HashSet::new());
        for job in jobs {
            match job {
                Job::Settle { key, claimed_at, answer, .. } if settle_keys.insert(key.key.as_str()) => {
                    settles.push((key.key.as_str(), key.call_sid.as_str(), *claimed_at, answer.as_str()));
                }
                Job::Claim { key, now, lapsed_before, .. } if claim_keys.insert(key.key.as_str()) => {
                    claims.push((key, *now, *lapsed_before));
                }
                _ => {}
            }
        }
        Self { settles, claims }
    }

    /// The insert's rows: (key, call_sid, now).
    fn claim_rows(&self) -> Vec<(&'a str, &'a str, i64)> {
        self.claims.iter().map(|(k, now, _)| (k.key.as_str(), k.call_sid.as_str(), *now)).collect()
    }

    /// The takeover's rows, for the claims the insert did not win: (key, now, lapsed_before).
    fn lapsed(&self, won: &HashSet<String>) -> Vec<(&'a str, i64, i64)> {
        self.claims
            .iter()
            .filter(|(k, ..)| !won.contains(&k.key))
            .map(|(k, now, lapsed_before)| (k.key.as_str(), *now, *lapsed_before))
            .collect()
    }
}

/// Which claim-table job the set statements decided (the first of its key
/// only, and only if its statement wrote): `None` for those, and for the
/// security counters' jobs; the others' keys, to read what is stored. Also
/// the keys to read, sorted and once each.
fn undecided<'a>(
    jobs: &'a [Job],
    stored: &HashSet<String>,
    won: &HashSet<String>,
) -> (Vec<Option<&'a str>>, Vec<(&'a str,)>) {
    let (mut settled, mut granted) = (HashSet::new(), HashSet::new());
    let mut unread: Vec<(&str,)> = Vec::new();
    let decided: Vec<Option<&str>> = jobs
        .iter()
        .map(|job| {
            let (key, decided) = match job {
                Job::Settle { key, .. } => (key, stored.contains(&key.key) && settled.insert(key.key.as_str())),
                Job::Claim { key, .. } => (key, won.contains(&key.key) && granted.insert(key.key.as_str())),
                Job::Guard { .. } | Job::Records { .. } => return None,
            };
            if !decided {
                unread.push((key.key.as_str(),));
            }
            Some(key.key.as_str()).filter(|_| !decided)
        })
        .collect();
    unread.sort_unstable();
    unread.dedup();
    (decided, unread)
}

/// Each job's result, in order, from what the batch's statements found:
/// the security counters' writes (in order), the keys [`undecided`] left
/// and what was read for them.
fn results(
    jobs: &[Job],
    undecided: Vec<Option<&str>>,
    read: &HashMap<String, Option<String>>,
    guarded: Vec<bool>,
) -> Vec<Done> {
    let mut guarded = guarded.into_iter();
    jobs.iter()
        .zip(undecided)
        .map(|(job, unread)| {
            let kept = unread.and_then(|key| read.get(key).cloned().flatten());
            match (job, unread) {
                (Job::Guard { .. }, _) => Done::Guard(guarded.next().unwrap_or(false)),
                (Job::Records { .. }, _) => Done::Apart,
                (Job::Settle { .. }, None) => Done::Settle(None),
                (Job::Settle { .. }, Some(_)) => Done::Settle(kept),
                (Job::Claim { .. }, None) => Done::Claim(Verdict::Won(true)),
                (Job::Claim { .. }, Some(_)) => {
                    Done::Claim(kept.map_or(Verdict::Held, |a| Verdict::Answered(a.into())))
                }
            }
        })
        .collect()
}

/// Every job of a batch in one transaction. The security counters' writes
/// first, each its own statements, in order. Then the claims, a few
/// statements for them all rather than a few each ([`Plan`]): the answers
/// (so a key's answer comes before its claim, as in key order), the new
/// claims, takeovers of lapsed ones, and one read of what is stored for
/// every job those did not decide. The results are those of running the
/// jobs one by one, in order.
async fn run_batch(db: &Db, jobs: &[Job]) -> Result<Vec<Done>, sqlx::Error> {
    let pg = matches!(db, Db::Postgres(_));
    let sql = &BATCH_SQL[usize::from(pg)];
    let plan = Plan::of(jobs);
    let _turn = db.write_turn().await;
    each_pool!(db, pool => {
        let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
        let mut guarded = Vec::new();
        for job in jobs {
            if let Job::Guard { write, .. } = job {
                guarded.push(guard_write_on!(&mut *tx, pg, write));
            }
        }
        let stored: HashSet<String> = if plan.settles.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar(&sql.settle)
                .bind(super::db::json(&plan.settles))
                .bind(now_ms())
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect()
        };
        let mut won: HashSet<String> = HashSet::new();
        if !plan.claims.is_empty() {
            let rows = super::db::json(&plan.claim_rows());
            won.extend(sqlx::query_scalar::<_, String>(&sql.insert).bind(rows).fetch_all(&mut *tx).await?);
            let lapsed = plan.lapsed(&won);
            if !lapsed.is_empty() {
                won.extend(
                    sqlx::query_scalar::<_, String>(&sql.take_over)
                        .bind(super::db::json(&lapsed))
                        .fetch_all(&mut *tx)
                        .await?,
                );
            }
        }
        let (decided, unread) = undecided(jobs, &stored, &won);
        let read: HashMap<String, Option<String>> = if unread.is_empty() {
            HashMap::new()
        } else {
            sqlx::query_as(&sql.read).bind(super::db::json(&unread)).fetch_all(&mut *tx).await?.into_iter().collect()
        };
        tx.commit().await?;
        Ok(results(jobs, decided, &read, guarded))
    })
}

impl Inner {
    /// [`try_claim`], batched with other claim-table writes when it can be.
    async fn try_claim(&self, db: &Db, key: &ClaimKey, now: i64, lapsed_before: i64) -> Result<Verdict, sqlx::Error> {
        if let Some(batch) = &self.batch {
            if let Some(done) = batch.run(|reply| Job::Claim { key: key.clone(), now, lapsed_before, reply }).await {
                return done;
            }
        }
        try_claim(db, key, now, lapsed_before).await
    }

    /// [`store_answer`], batched with other claim-table writes when it can be.
    async fn store_answer(
        &self,
        db: &Db,
        key: &ClaimKey,
        claimed_at: i64,
        answer: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        if let Some(batch) = &self.batch {
            let job = |reply| Job::Settle {
                key: key.clone(),
                claimed_at,
                answer: answer.into(),
                reply: Reply::Waiting(reply),
            };
            if let Some(done) = batch.run(job).await {
                return done;
            }
        }
        store_answer(db, key, claimed_at, answer).await
    }
}

/// Deletes claims past their keeping time, every [`PURGE_EVERY`], for as
/// long as the claims are in use.
async fn purge(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(PURGE_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let Some(db) = &inner.db else { return };
        let before = now_ms() - millis(inner.keep);
        let purge = async {
            each_pool!(db, pool => sqlx::query(PURGE).bind(before).execute(pool).await.map(|r| r.rows_affected()))
        };
        match tokio::time::timeout(PURGE_EVERY, purge).await {
            Ok(Ok(purged)) if purged > 0 => tracing::debug!(purged, "old webhook claims purged"),
            Ok(Err(sqlx::Error::PoolClosed)) => return,
            Ok(Err(e)) => tracing::warn!(error = %e, "could not purge old webhook claims"),
            _ => {}
        }
        inner.forget_stale(&mut inner.lock(), now_ms());
    }
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, millis)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(1);
    const TTL: Duration = Duration::from_secs(60);

    use crate::store::db::tests::{sqlite_db as sqlite, sqlite_write_lock};

    fn answered(c: Claim) -> String {
        match c {
            Claim::Answered(a) => a.to_string(),
            Claim::Ours(_) => panic!("expected the stored answer"),
        }
    }

    fn ours(c: Claim) -> Ticket {
        match c {
            Claim::Ours(t) => t,
            Claim::Answered(a) => panic!("expected the claim, got {a}"),
        }
    }

    #[test]
    fn writes_no_webhook_waits_for_linger_for_one_it_does_and_no_longer() {
        // Each job's webhook waits for it still (a job whose receiver is
        // gone would be dropped from its batch).
        type Waiting = std::cell::RefCell<Vec<Box<dyn std::any::Any>>>;
        fn waited<T: 'static>(waiting: &Waiting) -> oneshot::Sender<Result<T, sqlx::Error>> {
            let (tx, rx) = oneshot::channel();
            waiting.borrow_mut().push(Box::new(rx));
            tx
        }
        let waiting = Waiting::default();
        let key = |k: &str| ClaimKey { key: k.into(), call_sid: "CA1".into() };
        let settle =
            || Job::Settle { key: key("a"), claimed_at: 1, answer: "x".into(), reply: Reply::Then(Box::new(drop)) };
        let records = || Job::Records { records: Vec::new(), reply: waited(&waiting) };
        let claim = || Job::Claim { key: key("b"), now: 1, lapsed_before: 0, reply: waited(&waiting) };
        let guard = |write| Job::Guard { write, reply: waited(&waiting) };
        let clear = || guard(GuardWrite::Clear { kind: "k", subject: "s".into() });
        let release = || guard(GuardWrite::Release { kind: "k", subject: "s".into(), token: "t".into() });
        let reserve = || {
            guard(GuardWrite::Reserve {
                kind: "k",
                subject: "s".into(),
                token: "t".into(),
                at: 1,
                window_start: 0,
                limit: 1,
            })
        };
        let none = &mut || None;
        let count = |batch: Option<(Vec<Job>, Vec<Job>)>| batch.map(|(jobs, records)| (jobs.len(), records.len()));

        // Claims, reservations and clears are waited for; answers, records
        // and reservations taken back are not.
        assert!(claim().awaited() && reserve().awaited() && clear().awaited());
        assert!(!settle().awaited() && !records().awaited() && !release().awaited());

        // The writer asleep: the parking is closed (a job would be queued,
        // waking it). An answer wakes it: held, at most LINGER, parking open.
        let parking = Arc::new(Parking::default());
        let mut gatherer = Gatherer::new(parking.clone());
        assert_eq!(gatherer.wait(), None);
        assert!(parking.park(settle()).is_err(), "nothing parks while the writer sleeps");
        assert_eq!(count(gatherer.woke(Woke::Job(settle()), none)), None, "an answer alone waits");
        assert!(gatherer.wait().is_some_and(|left| left <= LINGER));
        assert!(parking.park(records()).is_ok(), "records park while it waits");
        assert!(parking.park(release()).is_ok());
        assert_eq!(count(gatherer.woke(Woke::Job(release()), none)), None, "nothing waited for yet");
        // A claim arrives: the batch runs now, with everything held and
        // parked, the records apart.
        assert_eq!(count(gatherer.woke(Woke::Job(claim()), none)), Some((4, 1)));
        // The claim's answer is coming: the writer waits for it with a
        // deadline, and it parks instead of waking the writer.
        gatherer.ran(true);
        assert!(gatherer.wait().is_some_and(|left| left <= LINGER && !left.is_zero()));
        assert!(parking.park(settle()).is_ok());
        // A reservation or a clear ends the wait too, taking the answer along.
        assert_eq!(count(gatherer.woke(Woke::Job(clear()), none)), Some((2, 0)));
        gatherer.ran(true);
        assert!(parking.park(settle()).is_ok());
        assert_eq!(count(gatherer.woke(Woke::Job(reserve()), none)), Some((2, 0)));
        gatherer.ran(true);

        // No longer than LINGER, however long nothing comes: the answer
        // parked runs at the deadline.
        assert!(parking.park(settle()).is_ok());
        std::thread::sleep(LINGER + Duration::from_millis(1));
        assert_eq!(gatherer.wait(), Some(Duration::ZERO), "the wait is over");
        assert_eq!(count(gatherer.woke(Woke::Timeout, none)), Some((1, 0)));
        // After a batch nothing waited for, the writer sleeps: parking closes.
        gatherer.ran(false);
        assert_eq!(gatherer.wait(), None);
        assert!(parking.park(settle()).is_err());
        // A deadline passing with nothing parked puts it to sleep too.
        gatherer.ran(true);
        assert_eq!(count(gatherer.woke(Woke::Timeout, none)), None);
        assert_eq!(gatherer.wait(), None);
        assert!(parking.park(settle()).is_err());

        // A job parked as the writer finishes a batch is not left behind:
        // held, with a deadline of its own.
        assert_eq!(count(gatherer.woke(Woke::Job(claim()), none)), Some((1, 0)));
        assert!(parking.park(settle()).is_ok(), "parking is open while a batch runs");
        gatherer.ran(false);
        assert!(gatherer.wait().is_some_and(|left| left <= LINGER && !left.is_zero()));
        assert_eq!(count(gatherer.woke(Woke::Job(claim()), none)), Some((2, 0)));
        gatherer.ran(true);

        // A batch holds at most MAX_BATCH: what is queued behind stays
        // queued, what was parked beyond runs next, at once.
        let mut left = MAX_BATCH + 10;
        let mut queued = || {
            left -= 1;
            (left > 0).then(settle)
        };
        assert_eq!(count(gatherer.woke(Woke::Job(settle()), &mut queued)), Some((MAX_BATCH, 0)));
        gatherer.ran(true);
        for _ in 0..MAX_BATCH + 5 {
            assert!(parking.park(settle()).is_ok());
        }
        assert_eq!(count(gatherer.woke(Woke::Job(claim()), none)), Some((MAX_BATCH, 0)));
        gatherer.ran(true);
        assert_eq!(gatherer.wait(), Some(Duration::ZERO), "the rest runs at once");
        assert_eq!(count(gatherer.woke(Woke::Timeout, none)), Some((6, 0)));
        gatherer.ran(false);

        // A batch whose webhooks all stopped waiting does not run: the
        // writer sleeps, as after a batch nothing waited for.
        let given_up = || Job::Claim { key: key("c"), now: 1, lapsed_before: 0, reply: oneshot::channel().0 };
        assert!(given_up().awaited() && given_up().abandoned());
        assert_eq!(count(gatherer.woke(Woke::Job(given_up()), none)), None);
        assert_eq!(gatherer.wait(), None);
        assert!(parking.park(settle()).is_err());

        // The queue closed: everything held or parked runs, and nothing
        // parks any more, even once the writer is gone.
        assert_eq!(count(gatherer.woke(Woke::Job(settle()), none)), None);
        for _ in 0..MAX_BATCH + 5 {
            assert!(parking.park(settle()).is_ok());
        }
        assert_eq!(count(gatherer.woke(Woke::Closed, none)), Some((MAX_BATCH + 6, 0)), "none is left behind");
        assert!(parking.park(settle()).is_err());
        drop(gatherer);
        parking.open();
        assert!(parking.park(settle()).is_err(), "the writer is gone");
    }

    #[test]
    fn a_state_is_keyed_by_its_hash_and_never_stored() {
        let k = ClaimKey::state("v1.secret-state", "CA1");
        assert_eq!(k.as_str().len(), 64);
        assert!(!k.as_str().contains("secret"));
        assert_eq!(ClaimKey::start("CA1").as_str(), "start:CA1");
    }

    #[test]
    fn the_map_in_this_process_is_purged_after_a_quarter_of_what_it_holds() {
        assert!(!purge_due(1023, 0));
        assert!(purge_due(1024, 0));
        assert!(purge_due(1024, 4096));
        assert!(!purge_due(1024, 4100));
        assert!(!purge_due(249_999, 1_000_000));
        assert!(purge_due(250_000, 1_000_000));
    }

    #[test]
    fn without_a_database_claims_past_their_keeping_time_leave_the_map() {
        let claims = Claims::new(None, DEADLINE, TTL);
        let inner = &claims.inner;
        for i in 0..8192 {
            assert!(matches!(inner.try_local(&format!("start:CA{i}"), 0, 0), Verdict::Won(false)));
        }
        assert_eq!(inner.lock().len(), 8192, "purges along the way kept what is within its time");
        let later = millis(inner.keep_local) + 1;
        for i in 0..4096 {
            inner.try_local(&format!("start:CB{i}"), later, later);
        }
        let local = inner.lock();
        assert!(!local.keys().any(|k| k.starts_with("start:CA")), "a purge ran within a quarter of the map");
        assert!(local.len() <= 4096 && local.contains_key("start:CB4095"));
    }

    #[tokio::test]
    async fn in_memory_a_claim_is_taken_once_and_its_answer_returned() {
        let claims = Claims::new(None, DEADLINE, TTL);
        let key = ClaimKey::start("CA1");
        let ticket = ours(claims.claim(&key).await);
        let waiting = {
            let (claims, key) = (claims.clone(), key.clone());
            tokio::spawn(async move { claims.claim(&key).await })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!waiting.is_finished(), "a copy waits for the first answer");
        assert_eq!(claims.settle(ticket, "<Response/>".into()).await, "<Response/>");
        assert_eq!(answered(waiting.await.unwrap()), "<Response/>");
        assert_eq!(answered(claims.claim(&key).await), "<Response/>");
    }

    #[tokio::test]
    async fn two_processes_on_one_database_share_claims_and_a_lapsed_claim_is_taken_over() {
        let (db, _dir) = sqlite().await;
        let (a, b) = (Claims::new(Some(db.clone()), DEADLINE, TTL), Claims::new(Some(db.clone()), DEADLINE, TTL));
        let key = ClaimKey::state("token", "CA1");
        let ticket = ours(a.claim(&key).await);
        let copy = {
            let (b, key) = (b.clone(), key.clone());
            tokio::spawn(async move { b.claim(&key).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.settle(ticket, "first".into()).await;
        assert_eq!(answered(copy.await.unwrap()), "first", "the other process waited for it");

        // A holder that never answers: its claim lapses, once.
        let key = ClaimKey::state("another", "CA1");
        let _dead = ours(a.claim(&key).await);
        let started = Instant::now();
        let late = ours(b.claim(&key).await);
        assert!(started.elapsed() >= DEADLINE, "taken over only after the lapse");
        assert_eq!(b.settle(late, "second".into()).await, "second");
        assert_eq!(answered(a.claim(&key).await), "second");
    }

    /// An answer is sent before its write commits (the database is locked
    /// meanwhile); copies here get it from memory, and once the database
    /// has it this process forgets it and copies read it there.
    #[tokio::test]
    async fn an_answer_is_sent_before_it_is_stored_and_kept_here_only_until_then() {
        let (db, dir) = sqlite().await;
        let a = Claims::new(Some(db.clone()), DEADLINE, TTL);
        let key = ClaimKey::state("token", "CA1");
        let ticket = ours(a.claim(&key).await);
        assert!(ticket.shared, "taken in the database");
        let mut lock = sqlite_write_lock(&dir).await;

        let started = Instant::now();
        assert_eq!(a.settle(ticket, "first".into()).await, "first");
        assert!(started.elapsed() < DB_TIMEOUT, "not waited for ({:?})", started.elapsed());
        assert_eq!(answered(a.claim(&key).await), "first", "a copy here, from memory");
        assert!(a.inner.lock().contains_key(key.as_str()));
        let stored: Option<Option<String>> =
            sqlx::query_scalar(READ).bind(key.as_str()).fetch_optional(&mut lock).await.unwrap();
        assert_eq!(stored, Some(None), "not stored while the database is locked");

        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while a.inner.lock().contains_key(key.as_str()) {
            assert!(Instant::now() < until, "stored and forgotten here");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stored: Option<String> = sqlx::query_scalar(READ).bind(key.as_str()).fetch_one(&mut lock).await.unwrap();
        assert_eq!(stored.as_deref(), Some("first"));
        assert_eq!(answered(a.claim(&key).await), "first", "a copy here, from the database");
        let b = Claims::new(Some(db), DEADLINE, TTL);
        assert_eq!(answered(b.claim(&key).await), "first", "and on another instance");
    }

    /// What a shutdown waits for before the database closes.
    #[tokio::test]
    async fn a_batch_is_settled_once_the_answers_sent_are_stored() {
        let (db, dir) = sqlite().await;
        let batch = Batch::start(&db).unwrap();
        let a = Claims::on_batch(Some(db.clone()), DEADLINE, TTL, Some(batch.clone()));
        assert!(batch.settled(Duration::ZERO).await, "nothing pending");
        let key = ClaimKey::start("CA2");
        let ticket = ours(a.claim(&key).await);
        let mut lock = sqlite_write_lock(&dir).await;
        assert_eq!(a.settle(ticket, "sent".into()).await, "sent");
        assert!(!batch.settled(Duration::from_millis(100)).await, "its write is pending");
        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
        assert!(batch.settled(Duration::from_secs(5)).await, "and then done");
        let stored: Option<String> = sqlx::query_scalar(READ).bind(key.as_str()).fetch_one(&mut lock).await.unwrap();
        assert_eq!(stored.as_deref(), Some("sent"));
    }

    #[tokio::test]
    async fn a_released_claim_binds_nothing() {
        let (db, _dir) = sqlite().await;
        let claims = Claims::new(Some(db), DEADLINE, TTL);
        let key = ClaimKey::start("CA2");
        claims.release(ours(claims.claim(&key).await)).await;
        let t = ours(claims.claim(&key).await);
        assert_eq!(claims.settle(t, "x".into()).await, "x");
    }

    /// Jobs of every kind a batch can meet: new claims, answered, held and
    /// lapsed ones, answers for claims held, stored and new, and the same
    /// key twice. Returns the jobs, in the order `batch_writes` sorts them.
    async fn seed_and_jobs(db: &Db, now: i64) -> Vec<Job> {
        let seed = [
            ("answered", now - 10, Some("kept")),
            ("held", now - 10, None),
            ("held2", now - 10, None),
            ("lapsed", now - 60_000, None),
        ];
        for (key, at, answer) in seed {
            each_pool!(db, pool => {
                sqlx::query("INSERT INTO webhook_claims (key, call_sid, claimed_at, answer) VALUES ($1, 'CA0', $2, $3)")
                    .bind(key).bind(at).bind(answer).execute(pool).await.unwrap();
            });
        }
        let key = |k: &str| ClaimKey { key: k.into(), call_sid: format!("CA-{k}") };
        let claim = |k: &str| Job::Claim { key: key(k), now, lapsed_before: now - 30_000, reply: oneshot::channel().0 };
        let settle = |k: &str, a: &str| Job::Settle {
            key: key(k),
            claimed_at: now - 10,
            answer: a.into(),
            reply: Reply::Waiting(oneshot::channel().0),
        };
        let mut jobs = vec![
            claim("new"),
            claim("new"),
            claim("answered"),
            claim("held"),
            claim("lapsed"),
            claim("lapsed"),
            settle("held2", "mine"),
            claim("held2"),
            settle("answered", "other"),
            settle("fresh", "first"),
            settle("fresh", "second"),
            claim("both"),
            settle("both", "both's"),
        ];
        let at = u64::try_from(now / 1000).unwrap();
        let reserve = |kind, subject: &str, token: &str, limit| Job::Guard {
            write: GuardWrite::Reserve {
                kind,
                subject: subject.into(),
                token: token.into(),
                at,
                window_start: at - 60,
                limit,
            },
            reply: oneshot::channel().0,
        };
        jobs.extend([
            reserve("unknown_id", "caller", "t1", 1),
            reserve("unknown_id", "caller", "t2", 1),
            reserve("unknown_id", "other", "t3", 2),
            Job::Guard {
                write: GuardWrite::Release { kind: "unknown_id", subject: "other".into(), token: "t3".into() },
                reply: oneshot::channel().0,
            },
            reserve("unknown_id", "other", "t4", 2),
            reserve("verify_failed", "customer", "t5", 5),
            Job::Guard {
                write: GuardWrite::Clear { kind: "verify_failed", subject: "customer".into() },
                reply: oneshot::channel().0,
            },
        ]);
        jobs.sort_by(|a, b| a.order().cmp(&b.order()));
        jobs
    }

    async fn rows(db: &Db) -> Vec<(String, String, i64, Option<String>)> {
        each_pool!(db, pool => sqlx::query_as("SELECT key, call_sid, claimed_at, answer FROM webhook_claims ORDER BY key")
            .fetch_all(pool).await.unwrap())
    }

    /// The security counters' events: (kind, subject, token).
    async fn events(db: &Db) -> Vec<(String, String, String)> {
        each_pool!(db, pool => sqlx::query_as("SELECT kind, subject, token FROM guard_events ORDER BY token")
            .fetch_all(pool).await.unwrap())
    }

    /// The jobs of [`seed_and_jobs`] on `db`, each alone through the pool.
    async fn one_by_one(db: &Db, now: i64) -> Vec<Done> {
        let mut done = Vec::new();
        for job in seed_and_jobs(db, now).await {
            done.push(match &job {
                Job::Claim { key, now, lapsed_before, .. } => {
                    Done::Claim(try_claim(db, key, *now, *lapsed_before).await.unwrap())
                }
                Job::Settle { key, claimed_at, answer, .. } => {
                    Done::Settle(store_answer(db, key, *claimed_at, answer.as_str()).await.unwrap())
                }
                Job::Guard { write, .. } => Done::Guard(db.guard_write(write).await.unwrap()),
                Job::Records { .. } => Done::Apart,
            });
        }
        done
    }

    /// The set statements of one batch leave the table as, and answer
    /// each job as, the jobs run one by one in the batch's order would.
    async fn a_batch_decides_as_its_jobs_one_by_one_would(batched: Db, alone: Db) {
        let now = now_ms();
        let jobs = seed_and_jobs(&batched, now).await;
        let done = run_batch(&batched, &jobs).await.expect("the batch runs");
        assert_eq!(done, one_by_one(&alone, now).await);
        assert!(done.contains(&Done::Claim(Verdict::Won(true))), "{done:?}");
        assert!(done.contains(&Done::Claim(Verdict::Held)), "{done:?}");
        assert!(done.contains(&Done::Claim(Verdict::Answered("kept".into()))), "{done:?}");
        assert!(done.contains(&Done::Settle(Some("first".into()))), "the second answer of a key gets the first");
        assert!(done.contains(&Done::Guard(false)), "a reservation past the limit is refused");
        assert_eq!(rows(&batched).await, rows(&alone).await);
        let stored = events(&batched).await;
        assert_eq!(stored, events(&alone).await);
        let tokens: Vec<&str> = stored.iter().map(|e| e.2.as_str()).collect();
        assert_eq!(tokens, ["t1", "t4"], "t2 refused, t3 released, t5 cleared");
    }

    /// The batch's connection waits out another connection's write lock
    /// (a checkpoint resetting the log holds it while it copies and syncs),
    /// and fails busy once the lock outlasts its limit.
    #[tokio::test]
    async fn the_batch_thread_waits_for_a_write_lock_held_elsewhere_up_to_its_limit() {
        let (db, _dir) = sqlite().await;
        let file = db.sqlite_file().unwrap().0;
        let (holder, writer) = (thread::open(&file).unwrap(), thread::open(&file).unwrap());
        let held = Duration::from_millis(40);
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let releases = std::thread::spawn(move || {
            std::thread::sleep(held);
            holder.execute_batch("COMMIT").unwrap();
            holder
        });
        let asked = std::time::Instant::now();
        writer.execute_batch("BEGIN IMMEDIATE; COMMIT").expect("the lock came free within the limit");
        assert!(asked.elapsed() >= held - Duration::from_millis(5), "it waited for the lock: {:?}", asked.elapsed());
        let holder = releases.join().unwrap();

        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let asked = std::time::Instant::now();
        let busy = writer.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert_eq!(busy.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy), "{busy}");
        assert!(asked.elapsed() >= Duration::from_secs(1), "it gave up after its limit: {:?}", asked.elapsed());
        assert!(asked.elapsed() < Duration::from_secs(5), "and not much later: {:?}", asked.elapsed());
    }

    /// Under claims without pause, the file's log starts again and again:
    /// the checkpoint thread asks, and the batch thread finishes the copy
    /// between two batches (checkpoint.rs). Every claim is in the table.
    #[tokio::test]
    async fn on_a_sqlite_file_the_log_starts_again_while_the_batch_thread_writes() {
        let (db, _dir) = sqlite().await;
        let (file, turn) = db.sqlite_file().unwrap();
        let limits =
            checkpoint::Limits { every: Duration::from_millis(10), reset_pages: 64, ..checkpoint::Limits::DEFAULT };
        let jobs = thread::start(&file, turn, Gatherer::new(Arc::default()), limits).unwrap();
        let restarts = || checkpoint::tests::restarts(&file);
        let (began, first) = (Instant::now(), restarts());
        let (mut claimed, mut waiting) = (0, std::collections::VecDeque::new());
        while restarts() < first + 3 && began.elapsed() < Duration::from_secs(30) {
            // 64 waiting at every moment, so that the thread writes without pause.
            claimed += 1;
            let (reply, rx) = oneshot::channel();
            let key = ClaimKey { key: format!("{:x}", rand::random::<u128>()), call_sid: format!("CA{claimed}") };
            jobs.send(Job::Claim { key, now: now_ms(), lapsed_before: 0, reply }).unwrap();
            waiting.push_back(rx);
            if waiting.len() > 64 {
                assert_eq!(waiting.pop_front().unwrap().await.unwrap().unwrap(), Verdict::Won(true));
            }
        }
        for rx in waiting {
            assert_eq!(rx.await.unwrap().unwrap(), Verdict::Won(true));
        }
        assert!(restarts() >= first + 3, "the log started again {} times in {claimed} claims", restarts() - first);
        let Db::Sqlite(pool) = &db else { unreachable!() };
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_claims").fetch_one(pool).await.unwrap();
        assert_eq!(rows, claimed);
    }

    /// The batch's thread on a SQLite file (thread.rs) decides as the
    /// pool does: its batch and its jobs one by one each leave the table,
    /// and answer each job, as the pool's jobs one by one do.
    #[tokio::test]
    async fn on_sqlite_the_batch_thread_decides_as_the_pool_does() {
        let now = now_ms();
        let (alone, _a) = sqlite().await;
        let expected = one_by_one(&alone, now).await;
        let (batched, _b) = sqlite().await;
        let jobs = seed_and_jobs(&batched, now).await;
        let mut conn = thread::open(&batched.sqlite_file().unwrap().0).unwrap();
        assert_eq!(thread::run_batch(&mut conn, &jobs).unwrap(), expected);
        assert_eq!(rows(&batched).await, rows(&alone).await);
        assert_eq!(events(&batched).await, events(&alone).await);

        let (one_by_one, _c) = sqlite().await;
        let mut conn = thread::open(&one_by_one.sqlite_file().unwrap().0).unwrap();
        let mut done = Vec::new();
        for job in seed_and_jobs(&one_by_one, now).await {
            done.push(match &job {
                Job::Claim { key, now, lapsed_before, .. } => {
                    Done::Claim(thread::try_claim(&conn, key, *now, *lapsed_before).unwrap())
                }
                Job::Settle { key, claimed_at, answer, .. } => {
                    Done::Settle(thread::store_answer(&conn, key, *claimed_at, answer.as_str()).unwrap())
                }
                Job::Guard { write, .. } => Done::Guard(thread::guard_write_alone(&mut conn, write).unwrap()),
                Job::Records { .. } => Done::Apart,
            });
        }
        assert_eq!(done, expected);
        assert_eq!(rows(&one_by_one).await, rows(&alone).await);
        assert_eq!(events(&one_by_one).await, events(&alone).await);
    }

    /// The call records' batch on the thread writes the rows, and finds
    /// what each write did, as the pool's set statements do.
    #[tokio::test]
    async fn on_sqlite_the_batch_thread_writes_records_as_the_pool_does() {
        let ((batched, _a), (alone, _b)) = (sqlite().await, sqlite().await);
        let conn = Mutex::new(thread::open(&batched.sqlite_file().unwrap().0).unwrap());
        crate::store::db::tests::a_batch_writes_what_one_by_one_writes(batched, alone, async |refs| {
            let records: Vec<CallRecord> = refs.iter().map(|r| (*r).clone()).collect();
            thread::merge_records(&mut conn.lock().unwrap(), &records).unwrap()
        })
        .await;
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_decides_as_its_jobs_one_by_one_would() {
        let ((a, _a), (b, _b)) = (sqlite().await, sqlite().await);
        a_batch_decides_as_its_jobs_one_by_one_would(a, b).await;
    }

    /// The same on PostgreSQL, in two schemas of their own, when
    /// `VOUCH_TEST_POSTGRES_URL` is set.
    #[tokio::test]
    async fn on_postgres_a_batch_decides_as_its_jobs_one_by_one_would() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("claims batch", 2).await else { return };
        a_batch_decides_as_its_jobs_one_by_one_would(schemas.dbs[0].clone(), schemas.dbs[1].clone()).await;
        schemas.drop().await;
    }
}

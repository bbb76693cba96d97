//! The audit log: who opened which call's screen pop, who lifted a
//! lockout, who erased what, and every login, success or failure. Durable
//! in the store (the `audit_log` table; in process with `memory:`),
//! readable by supervisors at `GET /api/audit`.
//!
//! The actor is always named: a user or API token by its name, `admin
//! token` for `VOUCH_ADMIN_TOKEN`, `command line` for the CLI, `screen-pop
//! link` for a page opened by a signed link, and `unknown user` for a
//! failed login whose typed name is no user's (people type passwords into
//! the name field: that text is never stored). A customer id is stored only
//! as a keyed hash ([`Keyring::customer_hash`]).
//!
//! [`Audit::record`] never waits (a bounded background write, for pages);
//! [`Audit::record_now`] returns once the entry is stored (for low-rate API
//! actions that must not happen unrecorded).

use crate::auth::{Principal, Via};
use crate::keyring::Keyring;
use crate::store::audit::{AuditFilter, AuditRow, AuditStore, AuditStoreError};
use futures_util::FutureExt as _;
use rand::RngCore;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Entries waiting for the background writer at most; more are dropped
/// (and counted) rather than held in memory.
const QUEUE: usize = 4096;
/// Entries written per transaction at most.
const BATCH: usize = 200;
/// Attempts at a background write before its entries are given up.
const ATTEMPTS: u32 = 3;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user (logged in, or at their login) or an API token, by name.
    User(String),
    /// `VOUCH_ADMIN_TOKEN`.
    AdminToken,
    /// A `vouch` subcommand.
    CommandLine,
    /// Somebody holding a signed screen-pop link.
    ScreenPopLink,
    /// A failed login whose typed name is no user's.
    UnknownUser,
    /// Vouch's scheduled reports (`[[reports.schedule]]`).
    Scheduler,
}

impl Actor {
    /// The actor a request proved to be.
    pub fn of(principal: &Principal) -> Self {
        match principal.via {
            Via::AdminToken => Self::AdminToken,
            Via::Session | Via::ApiToken => Self::User(principal.name.clone()),
        }
    }

    /// The name stored.
    pub fn name(&self) -> &str {
        match self {
            Self::User(name) => name,
            Self::AdminToken => "admin token",
            Self::CommandLine => "command line",
            Self::ScreenPopLink => "screen-pop link",
            Self::UnknownUser => "unknown user",
            Self::Scheduler => "scheduled reports",
        }
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    LoginFailed,
    Logout,
    ScreenPop,
    LockoutLifted,
    /// A customer's records erased (`DELETE /api/customers/{id}/records`).
    Erasure,
    /// The calls behind a report's figure listed (`/reports/calls`).
    ReportCalls,
    /// The calls behind a report's figure downloaded as CSV.
    ReportCallsExported,
    /// A schedule's call list written (`calls = true`).
    CallListWritten,
    /// A stored call list downloaded from `/reports/files`.
    CallListDownloaded,
    /// A call's timeline downloaded (`/agent/calls/{CallSid}/timeline`).
    TimelineExported,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::ScreenPop => "screen_pop",
            Self::LockoutLifted => "lockout_lifted",
            Self::Erasure => "erasure",
            Self::ReportCalls => "report_calls",
            Self::ReportCallsExported => "report_calls_exported",
            Self::CallListWritten => "call_list_written",
            Self::CallListDownloaded => "call_list_downloaded",
            Self::TimelineExported => "timeline_exported",
        }
    }

    /// Every action, for the API's filter.
    pub const ALL: [Self; 11] = [
        Self::Login,
        Self::LoginFailed,
        Self::Logout,
        Self::ScreenPop,
        Self::LockoutLifted,
        Self::Erasure,
        Self::ReportCalls,
        Self::ReportCallsExported,
        Self::CallListWritten,
        Self::CallListDownloaded,
        Self::TimelineExported,
    ];
}

/// What it was done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    None,
    Call(&'a str),
    /// A customer id: stored as a keyed hash, never in the clear.
    Customer(&'a str),
    User(&'a str),
}

/// Records and reads audit entries; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: AuditStore,
    ring: Keyring,
    queue: Option<mpsc::Sender<AuditRow>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    /// Entries queued and not yet written (or given up).
    pending: AtomicUsize,
    dropped: AtomicU64,
}

impl Audit {
    /// An audit log in `store`, hashing customer ids with `ring`. With a
    /// database, starts the background writer (inside a tokio runtime).
    pub fn new(store: AuditStore, ring: &Keyring) -> Self {
        let counts = Arc::new(Counts::default());
        let queue = store.is_durable().then(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(write_in_background(store.clone(), rx, counts.clone()));
            tx
        });
        Self { store, ring: ring.clone(), queue, counts }
    }

    /// The stored form of a target.
    pub fn target(&self, target: Target) -> String {
        match target {
            Target::None => String::new(),
            Target::Call(sid) => format!("call:{sid}"),
            Target::Customer(id) => format!("customer:{}", self.ring.customer_hash(id)),
            Target::User(name) => format!("user:{name}"),
        }
    }

    fn row(&self, actor: &Actor, action: Action, target: Target, detail: serde_json::Value) -> AuditRow {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut random = [0u8; 4];
        rand::thread_rng().fill_bytes(&mut random);
        AuditRow {
            id: format!("{:014x}{}", now.as_micros(), hex::encode(random)),
            at: now.as_secs(),
            actor: actor.name().to_string(),
            action: action.as_str().to_string(),
            target: self.target(target),
            detail: if detail.is_null() { "{}".to_string() } else { detail.to_string() },
        }
    }

    /// Records an entry without waiting: written in the background (at
    /// once without a database). If the queue is full the entry is dropped,
    /// logged and counted.
    pub fn record(&self, actor: &Actor, action: Action, target: Target, detail: serde_json::Value) {
        let row = self.row(actor, action, target, detail);
        let Some(queue) = &self.queue else {
            let _ = self.store.insert(std::slice::from_ref(&row)).now_or_never();
            return;
        };
        self.counts.pending.fetch_add(1, Ordering::SeqCst);
        if queue.try_send(row).is_err() {
            self.counts.pending.fetch_sub(1, Ordering::SeqCst);
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(action = action.as_str(), "an audit entry was dropped: the audit writer is behind");
        }
    }

    /// Records an entry and waits until it is stored.
    pub async fn record_now(
        &self,
        actor: &Actor,
        action: Action,
        target: Target<'_>,
        detail: serde_json::Value,
    ) -> Result<(), AuditStoreError> {
        let row = self.row(actor, action, target, detail);
        self.store.insert(std::slice::from_ref(&row)).await.inspect_err(|e| {
            tracing::error!(error = %e, action = action.as_str(), "an audit entry was not stored");
        })
    }

    /// Entries, newest first.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, AuditStoreError> {
        self.store.query(filter).await
    }

    /// Entries dropped because the background writer was behind.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) for background entries to be written.
    pub async fn flush(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.counts.pending.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn write_in_background(store: AuditStore, mut rx: mpsc::Receiver<AuditRow>, counts: Arc<Counts>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let mut attempt = 1;
        loop {
            match store.insert(&batch).await {
                Ok(()) => break,
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "audit entries not written yet: retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    counts.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(error = %e, lost = batch.len(), "audit entries were not stored");
                    break;
                }
            }
        }
        counts.pending.fetch_sub(batch.len(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    #[tokio::test]
    async fn entries_name_their_actor_and_never_hold_a_customer_id() {
        let ring = Keyring::single("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        let audit = Audit::new(AuditStore::new(None), &ring);
        let admin = Principal { name: "admin".into(), role: Role::Supervisor, via: Via::AdminToken, session: None };
        audit.record(&Actor::of(&admin), Action::LockoutLifted, Target::Customer("12345678"), serde_json::json!({}));
        audit
            .record_now(&Actor::UnknownUser, Action::LoginFailed, Target::None, serde_json::Value::Null)
            .await
            .unwrap();
        let rows = audit.query(&AuditFilter { limit: 10, ..AuditFilter::default() }).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].actor.as_str(), rows[0].action.as_str()), ("unknown user", "login_failed"));
        assert_eq!(rows[0].detail, "{}");
        assert_eq!(rows[1].actor, "admin token");
        assert_eq!(rows[1].target, format!("customer:{}", ring.customer_hash("12345678")));
        assert!(!rows[1].target.contains("12345678"));
        assert!(rows[0].id > rows[1].id, "ids sort by time");
        assert_eq!(Actor::CommandLine.name(), "command line");
    }
}

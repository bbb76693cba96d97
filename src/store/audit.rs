//! The audit log's storage: the `audit_log` table when there is a
//! database, else the most recent entries in this process. Entries are
//! written by [`crate::audit::Audit`]; this is only rows in and rows out.

use super::db::{on_pool, to_i64, Db};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries kept without a database.
const MEMORY_ENTRIES: usize = 10_000;
/// A read or write that takes longer fails.
const TIMEOUT: Duration = Duration::from_secs(3);

/// One entry, as stored and as `GET /api/audit` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Sorts by time: microseconds since 1970 in hex, then random digits.
    pub id: String,
    /// Unix seconds.
    pub at: u64,
    pub actor: String,
    pub action: String,
    /// `call:<CallSid>`, `user:<name>`, `customer:<keyed hash>`, or empty.
    pub target: String,
    /// A JSON object, as text.
    pub detail: String,
}

/// Which entries to read: all given conditions hold. Newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<u64>,
    /// Unix seconds, inclusive.
    pub until: Option<u64>,
    pub limit: usize,
}

impl AuditFilter {
    fn admits(&self, r: &AuditRow) -> bool {
        self.action.as_ref().is_none_or(|a| *a == r.action)
            && self.actor.as_ref().is_none_or(|a| *a == r.actor)
            && self.target.as_ref().is_none_or(|t| *t == r.target)
            && self.since.is_none_or(|s| r.at >= s)
            && self.until.is_none_or(|u| r.at <= u)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the audit log is unavailable: {0}")]
pub struct AuditStoreError(String);

/// Where entries go.
#[derive(Clone)]
pub struct AuditStore {
    db: Option<Db>,
    memory: Arc<Mutex<VecDeque<AuditRow>>>,
}

async fn bounded<T>(f: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> Result<T, AuditStoreError> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| AuditStoreError(e.to_string())),
        Err(_) => Err(AuditStoreError(format!("no answer within {} s", TIMEOUT.as_secs()))),
    }
}

impl AuditStore {
    pub fn new(db: Option<Db>) -> Self {
        Self { db, memory: Arc::default() }
    }

    /// Whether entries outlive the process.
    pub fn is_durable(&self) -> bool {
        self.db.is_some()
    }

    /// Stores entries (one transaction).
    pub async fn insert(&self, rows: &[AuditRow]) -> Result<(), AuditStoreError> {
        let Some(db) = &self.db else {
            let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            for r in rows {
                if memory.len() >= MEMORY_ENTRIES {
                    memory.pop_front();
                }
                memory.push_back(r.clone());
            }
            return Ok(());
        };
        let sql = "INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6) \
                   ON CONFLICT (id) DO NOTHING";
        bounded(async {
            on_pool!(db, pool => {
                let mut tx = pool.begin().await?;
                for r in rows {
                    sqlx::query(sql)
                        .bind(&r.id).bind(to_i64(r.at)).bind(&r.actor).bind(&r.action).bind(&r.target).bind(&r.detail)
                        .execute(&mut *tx).await?;
                }
                tx.commit().await
            })
        })
        .await
    }

    /// The entries `filter` admits, newest first.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, AuditStoreError> {
        let Some(db) = &self.db else {
            let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            let mut rows: Vec<AuditRow> = memory.iter().filter(|r| filter.admits(r)).cloned().collect();
            rows.sort_by(|a, b| b.id.cmp(&a.id));
            rows.truncate(filter.limit);
            return Ok(rows);
        };
        let sql = "SELECT id, at, actor, action, target, detail FROM audit_log \
                   WHERE ($1 IS NULL OR action = $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR target = $3) \
                   AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at <= $5) \
                   ORDER BY id DESC LIMIT $6";
        let rows: Vec<(String, i64, String, String, String, String)> = bounded(async {
            on_pool!(db, pool => sqlx::query_as(sql)
                .bind(filter.action.as_deref())
                .bind(filter.actor.as_deref())
                .bind(filter.target.as_deref())
                .bind(filter.since.map(to_i64))
                .bind(filter.until.map(to_i64))
                .bind(i64::try_from(filter.limit).unwrap_or(i64::MAX))
                .fetch_all(pool).await)
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at, actor, action, target, detail)| AuditRow {
                id,
                at: u64::try_from(at).unwrap_or(0),
                actor,
                action,
                target,
                detail,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, at: u64, actor: &str, action: &str) -> AuditRow {
        AuditRow {
            id: id.into(),
            at,
            actor: actor.into(),
            action: action.into(),
            target: String::new(),
            detail: "{}".into(),
        }
    }

    async fn filters(store: AuditStore) {
        let rows =
            [row("01", 100, "ada", "login"), row("02", 200, "sam", "login"), row("03", 300, "sam", "lockout_lifted")];
        store.insert(&rows).await.unwrap();
        let ids = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let all = AuditFilter { limit: 10, ..AuditFilter::default() };
        assert_eq!(ids(store.query(&all).await.unwrap()), ["03", "02", "01"]);
        let f = AuditFilter { actor: Some("sam".into()), ..all.clone() };
        assert_eq!(ids(store.query(&f).await.unwrap()), ["03", "02"]);
        let f = AuditFilter { action: Some("login".into()), since: Some(150), ..all.clone() };
        assert_eq!(ids(store.query(&f).await.unwrap()), ["02"]);
        let f = AuditFilter { until: Some(200), limit: 1, ..all.clone() };
        assert_eq!(ids(store.query(&f).await.unwrap()), ["02"]);
    }

    #[tokio::test]
    async fn entries_are_filtered_in_memory_and_in_sqlite() {
        filters(AuditStore::new(None)).await;
        let db = Db::open(&crate::config::DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap();
        filters(AuditStore::new(db)).await;
    }
}

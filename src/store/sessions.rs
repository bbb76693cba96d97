//! Login sessions in the store, so revoking one holds on every instance
//! sharing the database: a logout, and at start-up the sessions of users
//! who are gone or whose password changed. Each authenticated request with
//! a cookie asks [`SessionStore::is_live`]. With `DATABASE_URL=memory:` the
//! sessions live in this process. A database that cannot answer in time
//! refuses the session (fail closed): a screen-pop link still opens its call.

use super::db::{on_pool, to_i64, Db};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A session read or write that takes longer fails.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Sessions expired this long are deleted at start-up.
const KEEP_EXPIRED_SECS: u64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub struct SessionStoreError(String);

impl From<sqlx::Error> for SessionStoreError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.to_string())
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: String,
    pub user: String,
    pub fingerprint: String,
    pub expires_at: u64,
    pub revoked: bool,
}

/// The sessions: in the database when there is one, else in this process.
#[derive(Clone)]
pub struct SessionStore {
    db: Option<Db>,
    local: Arc<Mutex<HashMap<String, StoredSession>>>,
}

async fn bounded<T>(f: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> Result<T, SessionStoreError> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(SessionStoreError(format!("no answer within {} s", TIMEOUT.as_secs()))),
    }
}

impl SessionStore {
    pub fn new(db: Option<Db>) -> Self {
        Self { db, local: Arc::default() }
    }

    /// Records a new live session.
    pub async fn create(&self, s: &StoredSession, now: u64) -> Result<(), SessionStoreError> {
        let Some(db) = &self.db else {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            local.retain(|_, v| v.expires_at + KEEP_EXPIRED_SECS >= now);
            local.insert(s.id.clone(), s.clone());
            return Ok(());
        };
        let sql = "INSERT INTO sessions (id, user_name, fingerprint, created_at, expires_at, revoked_at) \
                   VALUES ($1, $2, $3, $4, $5, NULL)";
        bounded(async {
            on_pool!(db, pool => sqlx::query(sql)
                .bind(&s.id).bind(&s.user).bind(&s.fingerprint).bind(to_i64(now)).bind(to_i64(s.expires_at))
                .execute(pool).await.map(drop))?;
            Ok(())
        })
        .await
    }

    /// Whether session `id` exists, is unexpired and was not revoked.
    pub async fn is_live(&self, id: &str, now: u64) -> Result<bool, SessionStoreError> {
        let Some(db) = &self.db else {
            let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(local.get(id).is_some_and(|s| !s.revoked && s.expires_at >= now));
        };
        let sql = "SELECT COUNT(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at >= $2";
        let n: i64 = bounded(async {
            on_pool!(db, pool => sqlx::query_scalar(sql).bind(id).bind(to_i64(now)).fetch_one(pool).await)
        })
        .await?;
        Ok(n > 0)
    }

    /// Revokes session `id` (a logout). Revoking twice is harmless.
    pub async fn revoke(&self, id: &str, now: u64) -> Result<(), SessionStoreError> {
        let Some(db) = &self.db else {
            if let Some(s) = self.local.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
                s.revoked = true;
            }
            return Ok(());
        };
        let sql = "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        bounded(async {
            on_pool!(db, pool => sqlx::query(sql).bind(id).bind(to_i64(now)).execute(pool).await.map(drop))?;
            Ok(())
        })
        .await
    }

    /// At start-up: revokes every live session that `keep` refuses (its
    /// user is gone, or their password changed), and deletes sessions long
    /// expired. Returns how many were revoked.
    pub async fn revoke_unless(
        &self,
        now: u64,
        keep: impl Fn(&StoredSession) -> bool,
    ) -> Result<usize, SessionStoreError> {
        let Some(db) = &self.db else {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            let stale: Vec<_> = local.values_mut().filter(|s| !s.revoked && !keep(s)).collect();
            let n = stale.len();
            stale.into_iter().for_each(|s| s.revoked = true);
            return Ok(n);
        };
        let select = "SELECT id, user_name, fingerprint, expires_at FROM sessions \
                      WHERE revoked_at IS NULL AND expires_at >= $1";
        let rows: Vec<(String, String, String, i64)> =
            bounded(async { on_pool!(db, pool => sqlx::query_as(select).bind(to_i64(now)).fetch_all(pool).await) })
                .await?;
        let mut revoked = 0;
        for (id, user, fingerprint, expires_at) in rows {
            let s = StoredSession {
                id,
                user,
                fingerprint,
                expires_at: u64::try_from(expires_at).unwrap_or(0),
                revoked: false,
            };
            if !keep(&s) {
                self.revoke(&s.id, now).await?;
                revoked += 1;
            }
        }
        let purge = "DELETE FROM sessions WHERE expires_at < $1";
        let before = now.saturating_sub(KEEP_EXPIRED_SECS);
        bounded(async {
            on_pool!(db, pool => sqlx::query(purge).bind(to_i64(before)).execute(pool).await.map(drop))?;
            Ok(())
        })
        .await?;
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, user: &str) -> StoredSession {
        StoredSession { id: id.into(), user: user.into(), fingerprint: "fp".into(), expires_at: 2000, revoked: false }
    }

    async fn revocations(store: SessionStore) {
        store.create(&session("s1", "ada"), 1000).await.unwrap();
        store.create(&session("s2", "grace"), 1000).await.unwrap();
        store.create(&session("s3", "alan"), 1000).await.unwrap();
        assert!(store.is_live("s1", 1000).await.unwrap());
        assert!(!store.is_live("nope", 1000).await.unwrap());
        assert!(!store.is_live("s1", 2001).await.unwrap(), "expired");
        store.revoke("s1", 1001).await.unwrap();
        assert!(!store.is_live("s1", 1001).await.unwrap());
        assert_eq!(store.revoke_unless(1002, |s| s.user != "grace").await.unwrap(), 1);
        assert!(!store.is_live("s2", 1002).await.unwrap());
        assert!(store.is_live("s3", 1002).await.unwrap());
    }

    #[tokio::test]
    async fn sessions_are_revoked_in_memory() {
        revocations(SessionStore::new(None)).await;
    }

    #[tokio::test]
    async fn sessions_are_revoked_in_sqlite() {
        let db = Db::open(&crate::config::DatabaseUrl::Sqlite("sqlite::memory:".into())).await.unwrap();
        revocations(SessionStore::new(db)).await;
    }
}

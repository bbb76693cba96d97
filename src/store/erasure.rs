//! Erasing one customer's call records (`DELETE /api/customers/{id}/records`):
//! from the database, the cache and the write buffer (so a write still
//! buffered cannot bring them back afterwards), with their lockout counter.
//! A call erased while still in progress writes no record again on this
//! instance for as long as the cache would have kept it.
//!
//! On SQLite the deleted rows are overwritten (`secure_delete`) and the
//! write-ahead log is emptied, so the file keeps no copy; PostgreSQL keeps
//! dead rows in its data files until vacuum reuses the space.

use super::guard::Kind;
use super::record::CallRecord;
use super::CallStore;
use std::collections::BTreeSet;
use std::time::Duration;

/// The database part of an erasure is given up after this (the supervisor
/// gets a 503 and may try again: an erasure can be repeated).
const ERASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an erasure waits for webhook answers still being stored.
const ANSWERS_WAIT: Duration = Duration::from_secs(2);

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The calls whose records were removed, in order.
    pub call_sids: Vec<String>,
    /// Failed verifications of the customer that were counted, now cleared.
    pub counters: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("the database did not erase the call records: {0}")]
    Database(String),
    #[error("the lockout counter was not cleared: {0}")]
    Counters(String),
}

impl CallStore {
    /// The calls whose records name `customer_id`: in memory, in the write
    /// buffer and in the database.
    pub async fn calls_of_customer(&self, customer_id: &str) -> Result<BTreeSet<String>, EraseError> {
        let mut sids = self.calls_in_memory(customer_id);
        if let Some(d) = &self.inner.durable {
            let stored = tokio::time::timeout(ERASE_TIMEOUT, d.db.calls_of_customer(customer_id))
                .await
                .map_err(|_| EraseError::Database("timed out".into()))?
                .map_err(|e| EraseError::Database(e.to_string()))?;
            sids.extend(stored);
        }
        Ok(sids)
    }

    fn calls_in_memory(&self, customer_id: &str) -> BTreeSet<String> {
        let theirs = |r: &CallRecord| r.customer_id.as_deref() == Some(customer_id);
        let mut sids: BTreeSet<String> = self.inner.cache.sids_where(theirs).into_iter().collect();
        if let Some(d) = &self.inner.durable {
            sids.extend(d.writer.all_pending().into_iter().filter(theirs).map(|r| r.call_sid));
        }
        sids
    }

    /// Marks calls erased: no later put records them again (forgetting
    /// marks that have lapsed).
    fn mark_erased<'a>(&self, sids: impl IntoIterator<Item = &'a String>) {
        let now = std::time::Instant::now();
        let mut erased = self.inner.erased.write().unwrap_or_else(|e| e.into_inner());
        erased.retain(|_, until| *until > now);
        for sid in sids {
            erased.insert(sid.clone(), now + self.inner.ttl);
        }
    }

    /// Removes every record naming `customer_id`, and those of `known`
    /// (calls found before, e.g. by [`CallStore::calls_of_customer`],
    /// whose stored revision may predate the identification), and clears
    /// the customer's lockout counter. Erasing again finds nothing.
    pub async fn erase_customer(&self, customer_id: &str, known: &BTreeSet<String>) -> Result<Erased, EraseError> {
        let inner = &self.inner;
        // The counter first: the records' deletion then empties SQLite's
        // write-ahead log of both.
        let guard = self.guard();
        let counters = guard.count(Kind::VerifyFailed, customer_id, 0).await;
        guard.clear(Kind::VerifyFailed, customer_id).await.map_err(|e| EraseError::Counters(e.to_string()))?;
        let mut gone = self.calls_in_memory(customer_id);
        gone.extend(known.iter().cloned());
        // From here no put queues or caches a record of these calls.
        self.mark_erased(&gone);
        if let Some(d) = &inner.durable {
            let listed: Vec<String> = gone.iter().cloned().collect();
            let erase = async {
                // Answers already sent are stored just after: let them land,
                // so that the deletion takes them too.
                if !self.answers_stored(ANSWERS_WAIT).await {
                    tracing::warn!("erasure: webhook answers still being stored; erasing without waiting longer");
                }
                // No batch is in flight while this is held, so none taken
                // before the erasure is written after it.
                let _held = d.writer.hold().await;
                let deleted = d.db.erase_calls(customer_id, &listed).await?;
                // `listed` is sorted: it came from a set.
                let buffered = d.writer.forget(|r| {
                    r.customer_id.as_deref() == Some(customer_id) || listed.binary_search(&r.call_sid).is_ok()
                });
                Ok::<_, sqlx::Error>((deleted, buffered))
            };
            let (deleted, buffered) = tokio::time::timeout(ERASE_TIMEOUT, erase)
                .await
                .map_err(|_| EraseError::Database("timed out".into()))?
                .map_err(|e| EraseError::Database(e.to_string()))?;
            let found: Vec<String> = deleted.into_iter().chain(buffered).filter(|s| !gone.contains(s)).collect();
            self.mark_erased(&found);
            gone.extend(found);
        }
        for sid in &gone {
            inner.cache.invalidate(sid);
        }

        Ok(Erased { call_sids: gone.into_iter().collect(), counters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Database, DatabaseUrl};
    use crate::keyring::counters::CallerSubjects;
    use crate::keyring::Keyring;

    fn record(sid: &str, customer: Option<&str>) -> CallRecord {
        let mut r = CallRecord::new(sid, "support", "+1********01".into(), crate::clock::now());
        r.customer_id = customer.map(str::to_string);
        r
    }

    #[tokio::test]
    async fn a_buffered_write_does_not_land_after_the_erasure_nor_a_later_put() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("erase.db").display());
        let config = Database { url: DatabaseUrl::Sqlite(url), buffer_capacity: 100, retention_days: 90 };
        let subjects = CallerSubjects::new(&Keyring::single("k"));
        let store = CallStore::open(&config, Duration::from_secs(60), subjects).await.unwrap();
        // An earlier revision, written before the customer was known.
        store.put(record("CA1", None)).await;
        while store.stats().unwrap().depth > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The identified revision, still in the buffer (it lingers 50 ms).
        let mut identified = record("CA1", Some("12345678"));
        identified.revision = 1;
        store.put(identified).await;
        store.put(record("CA2", Some("87654321"))).await;
        let known = store.calls_of_customer("12345678").await.unwrap();
        assert_eq!(known.iter().collect::<Vec<_>>(), ["CA1"]);
        let erased = store.erase_customer("12345678", &known).await.unwrap();
        assert_eq!(erased.call_sids, ["CA1"]);
        // A step of the call still in progress: not recorded again.
        store.put(record("CA1", Some("12345678"))).await;
        while store.stats().unwrap().depth > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let db = &store.inner.durable.as_ref().unwrap().db;
        assert_eq!(db.get("CA1").await.unwrap(), None, "neither revision is in the database");
        assert_eq!(store.get("CA1").await, None);
        assert!(db.get("CA2").await.unwrap().is_some(), "another customer's call is kept");
        let again = store.erase_customer("12345678", &store.calls_of_customer("12345678").await.unwrap()).await;
        assert_eq!(again.unwrap(), Erased::default());
    }
}

//! Call records: one per call, created at its first webhook and updated at
//! each step, read by `GET /api/calls/{CallSid}`. In process, with expiry.

use crate::flow::{Context, IdvMethod, IdvStatus};
use moka::future::Cache;
use serde::Serialize;
use std::time::Duration;

/// How a call left (or has not yet left) the IVR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    InProgress,
    SelfService,
    Agent,
    OptedOut,
    CrmUnavailable,
}

/// What the admin API returns for a call. Nothing the caller keyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub call_sid: String,
    pub service_line: String,
    /// Masked.
    pub caller: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub idv_status: IdvStatus,
    pub idv_method: IdvMethod,
    pub opted_out: bool,
    pub outcome: RecordOutcome,
    pub identify_attempts: u8,
    pub verify_attempts: u8,
    /// Unix seconds.
    pub started_at: u64,
    pub updated_at: u64,
}

impl CallRecord {
    pub fn new(call_sid: &str, line: &str, caller: String, now: u64) -> Self {
        Self {
            call_sid: call_sid.to_string(),
            service_line: line.to_string(),
            caller,
            customer_id: None,
            customer_name: None,
            idv_status: IdvStatus::Unidentified,
            idv_method: IdvMethod::None,
            opted_out: false,
            outcome: RecordOutcome::InProgress,
            identify_attempts: 0,
            verify_attempts: 0,
            started_at: now,
            updated_at: now,
        }
    }

    /// Applies a handed-on context.
    pub fn finish(&mut self, context: &Context, outcome: RecordOutcome) {
        self.customer_id.clone_from(&context.customer_id);
        self.customer_name.clone_from(&context.customer_name);
        self.idv_status = context.idv_status;
        self.idv_method = context.idv_method;
        self.opted_out = context.opted_out;
        self.outcome = outcome;
    }
}

#[derive(Clone)]
pub struct CallStore {
    records: Cache<String, CallRecord>,
}

impl CallStore {
    pub fn new(ttl: Duration) -> Self {
        Self { records: Cache::builder().max_capacity(1_000_000).time_to_live(ttl).build() }
    }

    pub async fn get(&self, call_sid: &str) -> Option<CallRecord> {
        self.records.get(call_sid).await
    }

    /// The most recently updated calls, newest first.
    pub async fn recent(&self, limit: usize) -> Vec<CallRecord> {
        let mut all: Vec<CallRecord> = self.records.iter().map(|(_, r)| r).collect();
        all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| b.started_at.cmp(&a.started_at)));
        all.truncate(limit);
        all
    }

    pub async fn put(&self, record: CallRecord) {
        self.records.insert(record.call_sid.clone(), record).await;
    }
}

//! Defences across calls, inside the step: the verification lockout (too
//! many failed verifications of one customer, across calls and Vouch
//! instances) and the enumeration throttle (one number keying many unknown
//! identifiers). The counters live in the store ([`crate::store::guard`]);
//! the flow only sees their verdicts (`Verification::Locked`,
//! `Input::Throttled`).
//!
//! When the database cannot be read in time, each process's own counts
//! decide (see the guard): the per-call try limit holds regardless.

use super::CallService;
use crate::clock::now;
use crate::config::Secret;
use crate::flow::phone::mask;
use crate::flow::{CallerNumber, Verification};
use crate::store::guard::{GuardError, Kind};

impl CallService {
    /// Whether this caller's number has keyed too many unknown identifiers lately.
    pub(super) async fn throttled(&self, caller: &CallerNumber) -> bool {
        let Some(number) = caller.usable() else { return false };
        let sec = &self.config.security;
        let guard = self.store.guard();
        let since = now().saturating_sub(sec.enumeration_window.as_secs());
        // Every call's first webhook passes here: never wait for the database.
        let n = guard.count_soon(Kind::UnknownId, &guard.caller_subject(number.as_str()), since).await;
        if n >= sec.enumeration_unknown_ids {
            tracing::warn!(caller = %number, unknown_ids = n, "enumeration throttle: caller goes straight to an agent");
        }
        n >= sec.enumeration_unknown_ids
    }

    /// Counts an identifier the CRM did not know against the caller's number.
    pub(super) fn note_unknown_id(&self, caller: &CallerNumber) {
        let Some(number) = caller.usable() else { return };
        let guard = self.store.guard();
        let now = now();
        let window_start = now.saturating_sub(self.config.security.enumeration_window.as_secs());
        guard.note(Kind::UnknownId, &guard.caller_subject(number.as_str()), now, window_start);
    }

    /// Verifies `value` for `customer_id` unless the customer is locked;
    /// counts a rejection, and clears the count on success.
    pub(super) async fn verify(&self, customer_id: &str, factor: &str, value: &Secret) -> Verification {
        let sec = &self.config.security;
        let guard = self.store.guard();
        let now = now();
        let window_start = now.saturating_sub(sec.lockout_window.as_secs());
        let failures = guard.count(Kind::VerifyFailed, customer_id, window_start).await;
        if failures >= sec.lockout_failures {
            tracing::warn!(customer = %mask(customer_id), failures, "verification locked: not asking the CRM");
            return Verification::Locked;
        }
        let verification =
            self.within_deadline(self.crm.verify(customer_id, factor, value), Verification::Failed).await;
        match verification {
            Verification::Rejected => guard.note(Kind::VerifyFailed, customer_id, now, window_start),
            Verification::Verified if failures > 0 => {
                // In the background: the caller need not wait for the reset.
                let (guard, id) = (guard.clone(), customer_id.to_string());
                tokio::spawn(async move {
                    if let Err(e) = guard.clear(Kind::VerifyFailed, &id).await {
                        tracing::warn!(error = %e, customer = %mask(&id), "could not reset the lockout counter");
                    }
                });
            }
            _ => {}
        }
        verification
    }

    /// Lifts a customer's lockout (an authenticated API call).
    pub async fn unlock(&self, customer_id: &str) -> Result<(), GuardError> {
        self.store.guard().clear(Kind::VerifyFailed, customer_id).await
    }

    /// A customer's failed verifications within the window, and whether locked.
    pub async fn lockout_status(&self, customer_id: &str) -> (u64, bool) {
        let sec = &self.config.security;
        let since = now().saturating_sub(sec.lockout_window.as_secs());
        let n = self.store.guard().count(Kind::VerifyFailed, customer_id, since).await;
        (n, n >= sec.lockout_failures)
    }
}

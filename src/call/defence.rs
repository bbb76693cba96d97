//! Defences across calls, inside the step: the verification lockout (too
//! many failed verifications of one customer, across calls and Vouch
//! instances) and the enumeration throttle (one number, or a line's withheld
//! caller IDs together, keying many unknown identifiers). The counters live
//! in the store ([`crate::store::guard`]); the flow only sees their verdicts
//! (`Verification::Locked`, `Verification::Unavailable`, `Input::Throttled`).
//!
//! Each try is reserved in the store before the CRM is asked, so
//! simultaneous tries never slip past a limit. A verification whose try
//! cannot be reserved fails closed (an agent, identified; no guess spent).
//! An identifier try that cannot be reserved in the database is counted in
//! this process instead (the per-call try limit holds regardless).

use super::CallService;
use crate::clock::now;
use crate::config::{Line, Secret};
use crate::flow::phone::mask;
use crate::flow::{CallerNumber, Lookup, Verification};
use crate::store::guard::{Enumerator, GuardError, Kind, Reservation, Reserve};
use crate::store::CrmAsk;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many recent CRM verify durations the typical one is taken from.
const LATENCY_SAMPLES: usize = 32;
/// The typical verify duration before any has been measured.
const FIRST_GUESS: Duration = Duration::from_millis(250);

/// Recent CRM verify durations: a locked (or failed-closed) answer is
/// padded to their median, so how long an answer takes does not tell a
/// lock from a wrong PIN.
pub(super) struct VerifyLatency(Mutex<VecDeque<Duration>>);

impl VerifyLatency {
    pub(super) fn new() -> Self {
        Self(Mutex::new(VecDeque::with_capacity(LATENCY_SAMPLES)))
    }

    fn record(&self, took: Duration) {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == LATENCY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(took);
    }

    /// The median of the recent durations, at most `cap`.
    fn typical(&self, cap: Duration) -> Duration {
        let mut sorted: Vec<Duration> = self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or(FIRST_GUESS).min(cap)
    }
}

/// Where an identifier try is counted, against which limit.
struct Counter {
    subject: String,
    limit: u64,
    by: Enumerator,
}

/// An identifier try at the prompt: allowed (and counted until the CRM's
/// answer says otherwise), or throttled.
pub(super) enum IdentifierTry {
    Allowed(Reservation),
    Throttled,
}

impl CallService {
    /// Whose unknown identifiers this caller's tries count with: their
    /// number's, or, withheld or unusable, every such caller's on the line.
    fn enumeration_counter(&self, line: &Line, caller: &CallerNumber) -> Counter {
        let (sec, guard) = (&self.config.security, self.store.guard());
        match caller.usable() {
            Some(number) => Counter {
                subject: guard.caller_subject(number.as_str()),
                limit: sec.enumeration_unknown_ids,
                by: Enumerator::Caller,
            },
            None => Counter {
                subject: guard.withheld_subject(&line.name),
                limit: sec.enumeration_withheld_ids,
                by: Enumerator::Withheld,
            },
        }
    }

    /// Whether this caller (their number, or a line's withheld caller IDs)
    /// has keyed too many unknown identifiers lately: checked at the call's
    /// first webhook, from counts that never wait for the database.
    pub(super) async fn throttled(&self, line: &Line, caller: &CallerNumber) -> bool {
        let c = self.enumeration_counter(line, caller);
        let since = now().saturating_sub(self.config.security.enumeration_window.as_secs());
        let n = self.store.guard().count_soon(Kind::UnknownId, &c.subject, since).await;
        let throttled = n >= c.limit;
        if throttled {
            self.note_throttled(line, caller, c.by, n);
        }
        throttled
    }

    fn note_throttled(&self, line: &Line, caller: &CallerNumber, by: Enumerator, unknown_ids: u64) {
        self.store.guard().note_throttled(by);
        let caller = caller.usable().map_or_else(|| "withheld".to_string(), |n| mask(n.as_str()));
        tracing::warn!(
            line = %line.name, %caller, counted_by = by.label(), unknown_ids,
            "enumeration throttle: too many unknown identifiers lately; the caller goes straight to an agent"
        );
    }

    /// Counts an identifier try before the CRM is asked, unless the limit
    /// is reached (then: throttled, and the CRM is not asked).
    pub(super) async fn identifier_try(&self, line: &Line, caller: &CallerNumber) -> IdentifierTry {
        let c = self.enumeration_counter(line, caller);
        let guard = self.store.guard();
        let now = now();
        let window_start = now.saturating_sub(self.config.security.enumeration_window.as_secs());
        let reserved = match guard.reserve(Kind::UnknownId, &c.subject, c.limit, now, window_start).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "enumeration throttle: counting this try in this process only");
                guard.reserve_here(Kind::UnknownId, &c.subject, c.limit, now, window_start)
            }
        };
        match reserved {
            Reserve::Reserved(r) => IdentifierTry::Allowed(r),
            Reserve::AtLimit => {
                self.note_throttled(line, caller, c.by, c.limit);
                IdentifierTry::Throttled
            }
        }
    }

    /// Keeps an identifier try counted only if the CRM did not know the
    /// identifier; any other answer takes it back (in the background).
    pub(super) fn settle_identifier_try(&self, reservation: Reservation, lookup: &Lookup) {
        if *lookup == Lookup::NotFound {
            return;
        }
        self.release_in_background(reservation);
    }

    fn release_in_background(&self, reservation: Reservation) {
        let guard = self.store.guard().clone();
        self.store.guard().spawn(async move {
            if let Err(e) = guard.release(reservation).await {
                tracing::warn!(error = %e, "security counters: a try that does not count could not be taken back");
            }
        });
    }

    /// Verifies `value` for `customer_id`. The try is reserved against the
    /// customer's lockout first (atomically, across instances); at the limit
    /// the CRM is not asked (`Locked`), and when the store cannot reserve it
    /// the verification fails closed (`Unavailable`). Both take about as
    /// long as the CRM usually does.
    ///
    /// After the CRM: a rejection keeps the reservation as the failure; a
    /// success clears the count (awaited, so the next call sees it); an
    /// error the CRM answered in time (an error status, a refused
    /// connection, too many requests in flight, the hash checkers busy)
    /// takes the reservation back,
    /// since the CRM did not check the value; a timeout keeps it, since the
    /// CRM may have checked it.
    ///
    /// With the verification comes the CRM question asked, if one was.
    pub(super) async fn verify(
        &self,
        line: &Line,
        customer_id: &str,
        value: &Secret,
    ) -> (Verification, Option<CrmAsk>) {
        let sec = &self.config.security;
        let guard = self.store.guard();
        let now = now();
        let window_start = now.saturating_sub(sec.lockout_window.as_secs());
        let started = Instant::now();
        let reserved = guard.reserve(Kind::VerifyFailed, customer_id, sec.lockout_failures, now, window_start).await;
        let reservation = match reserved {
            Ok(Reserve::Reserved(r)) => r,
            Ok(Reserve::AtLimit) => {
                tracing::warn!(customer = %mask(customer_id), limit = sec.lockout_failures, "verification locked: not asking the CRM");
                // As long as the reservation and a CRM verify would have taken.
                self.as_long_as_a_verify(Instant::now()).await;
                return (Verification::Locked, None);
            }
            Err(e) => {
                tracing::warn!(
                    customer = %mask(customer_id), error = %e,
                    "verification fails closed: the lockout counter cannot count this try, so the CRM is not asked; the caller goes to an agent as identified"
                );
                self.as_long_as_a_verify(started).await;
                return (Verification::Unavailable, None);
            }
        };
        let asked = Instant::now();
        let answer =
            tokio::time::timeout(self.config.server.webhook_deadline, self.crm.verify(line, customer_id, value)).await;
        let took = asked.elapsed();
        let verification = match answer {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!("CRM call exceeded the webhook deadline");
                Verification::Failed
            }
        };
        match verification {
            Verification::Verified => {
                self.verify_latency.record(took);
                if let Err(e) = guard.clear(Kind::VerifyFailed, customer_id).await {
                    tracing::warn!(error = %e, customer = %mask(customer_id), "could not reset the lockout counter");
                }
            }
            Verification::Rejected => self.verify_latency.record(took),
            // The line's verify action may have its own timeout.
            Verification::Failed if answer.is_ok() && took < self.crm.verify_action(line).request().timeout => {
                self.release_in_background(reservation);
            }
            _ => {}
        }
        (verification, Some(CrmAsk { wait: took, failed: matches!(verification, Verification::Failed) }))
    }

    /// Waits until `started` is as long ago as a CRM verify usually takes
    /// (capped well below the webhook deadline).
    async fn as_long_as_a_verify(&self, started: Instant) {
        let cap = self.config.crm.timeout.min(self.config.server.webhook_deadline / 2);
        tokio::time::sleep_until((started + self.verify_latency.typical(cap)).into()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typical_verify_is_the_median_of_recent_ones_capped() {
        let l = VerifyLatency::new();
        let cap = Duration::from_secs(1);
        assert_eq!(l.typical(cap), FIRST_GUESS);
        for ms in [300, 10, 320, 290, 5_000] {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.typical(cap), Duration::from_millis(300));
        for _ in 0..LATENCY_SAMPLES {
            l.record(Duration::from_secs(3));
        }
        assert_eq!(l.typical(cap), cap, "older samples leave; the cap holds");
    }
}

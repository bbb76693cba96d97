//! The CRM circuit breaker. After `failures` consecutive failures callers
//! skip the CRM for `cool_down` and take the fallback path at once, instead
//! of each waiting out a timeout; then exactly one probe request goes
//! through: its success closes the breaker, its failure opens it again.
//!
//! Failures are what the transport sees (no answer, a 5xx, a rate limit,
//! refused credentials) and what the engine judges after an answer the
//! transport let through (`judged_failure`: a body that does not fit, a 404
//! on a search). An answer counts as a success when it arrives, so a judged
//! failure first takes back the reset that success made: a CRM answering
//! every request with a useless body still opens the breaker.

use super::metrics::CrmMetrics;
use crate::clock::Clock;
use crate::config::CrmBreaker;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// The cool-down is over; `probing`: the one probe is in flight.
    HalfOpen {
        probing: bool,
    },
}

struct State {
    phase: Phase,
    /// Consecutive failures while closed.
    failures: u32,
    /// What the last success reset `failures` from, for a judged failure
    /// of that same answer to take back.
    undo: u32,
}

pub struct Breaker {
    settings: CrmBreaker,
    clock: Arc<dyn Clock>,
    metrics: Arc<CrmMetrics>,
    state: Mutex<State>,
}

/// Leave to send one request. Resolve it with [`Ticket::succeeded`] or
/// [`Ticket::failed`]; a probe dropped unresolved (its caller gave up)
/// counts as failed, so the breaker never waits for a probe that is gone.
pub struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    resolved: bool,
}

impl Ticket<'_> {
    pub fn succeeded(mut self) {
        self.resolved = true;
        self.breaker.success(self.probe);
    }

    pub fn failed(mut self) {
        self.resolved = true;
        self.breaker.failure(self.probe);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.resolved && self.probe {
            self.breaker.failure(true);
        }
    }
}

impl Breaker {
    pub fn new(settings: CrmBreaker, clock: Arc<dyn Clock>, metrics: Arc<CrmMetrics>) -> Self {
        let state = State { phase: Phase::Closed, failures: 0, undo: 0 };
        Self { settings, clock, metrics, state: Mutex::new(state) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket to send, or `None` while open (or while the probe is out).
    pub fn admit(&self) -> Option<Ticket<'_>> {
        let mut s = self.lock();
        let probe = match s.phase {
            Phase::Closed => false,
            Phase::Open { until } if self.clock.now() < until => return None,
            Phase::Open { .. } | Phase::HalfOpen { probing: false } => {
                s.phase = Phase::HalfOpen { probing: true };
                true
            }
            Phase::HalfOpen { probing: true } => return None,
        };
        Some(Ticket { breaker: self, probe, resolved: false })
    }

    /// Whether callers are being turned away (open, or half-open).
    pub fn is_open(&self) -> bool {
        self.lock().phase != Phase::Closed
    }

    fn success(&self, probe: bool) {
        let mut s = self.lock();
        match s.phase {
            Phase::Closed => {
                s.undo = s.failures;
                s.failures = 0;
            }
            Phase::HalfOpen { probing: true } if probe => {
                s.phase = Phase::Closed;
                // A judged failure of the probe's answer opens it again.
                s.undo = s.failures;
                s.failures = 0;
                self.metrics.set_breaker_open(false);
                tracing::info!("CRM circuit breaker closed: the probe request succeeded");
            }
            // An answer to a request sent before the breaker opened.
            _ => {}
        }
    }

    fn failure(&self, probe: bool) {
        let mut s = self.lock();
        match s.phase {
            Phase::Closed => {
                s.failures = s.failures.saturating_add(1);
                s.undo = 0;
                self.open_if_due(&mut s);
            }
            Phase::HalfOpen { probing: true } if probe => {
                s.phase = Phase::Open { until: self.clock.now() + self.settings.cool_down };
                tracing::info!(
                    cool_down_secs = self.settings.cool_down.as_secs(),
                    "CRM circuit breaker stays open: the probe request failed"
                );
            }
            _ => {}
        }
    }

    /// A failure the engine found in an answer that reached it.
    pub fn judged_failure(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Closed {
            s.failures = s.failures.max(s.undo).saturating_add(1);
            s.undo = 0;
            self.open_if_due(&mut s);
        }
    }

    fn open_if_due(&self, s: &mut State) {
        if s.failures >= self.settings.failures {
            s.phase = Phase::Open { until: self.clock.now() + self.settings.cool_down };
            self.metrics.set_breaker_open(true);
            tracing::warn!(
                failures = s.failures,
                cool_down_secs = self.settings.cool_down.as_secs(),
                "CRM circuit breaker open: consecutive CRM failures; callers skip the CRM until one probe succeeds"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn breaker(failures: u32) -> (Breaker, Arc<ManualClock>, Arc<CrmMetrics>) {
        let clock = Arc::new(ManualClock::default());
        let metrics = Arc::new(CrmMetrics::default());
        let settings = CrmBreaker { failures, cool_down: Duration::from_secs(30) };
        (Breaker::new(settings, clock.clone(), metrics.clone()), clock, metrics)
    }

    fn fail(b: &Breaker, n: u32) {
        for _ in 0..n {
            b.admit().expect("admitted").failed();
        }
    }

    #[test]
    fn it_opens_after_n_consecutive_failures_and_a_success_resets_the_count() {
        let (b, _, m) = breaker(3);
        fail(&b, 2);
        b.admit().expect("closed").succeeded();
        fail(&b, 2);
        assert!(!b.is_open(), "2 + 2 failures split by a success are not 3 in a row");
        fail(&b, 1);
        assert!(b.is_open() && b.admit().is_none());
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("\nvouch_crm_breaker_open 1\n"));
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_through_and_its_success_closes_it() {
        let (b, clock, m) = breaker(1);
        fail(&b, 1);
        clock.advance(Duration::from_secs(29));
        assert!(b.admit().is_none(), "still cooling down");
        clock.advance(Duration::from_secs(1));
        let probe = b.admit().expect("the probe");
        assert!(b.admit().is_none(), "only one probe at a time");
        probe.succeeded();
        assert!(!b.is_open());
        assert!(b.admit().is_some());
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("\nvouch_crm_breaker_open 0\n"));
    }

    #[test]
    fn a_failed_or_abandoned_probe_opens_it_for_another_cool_down() {
        let (b, clock, _) = breaker(1);
        fail(&b, 1);
        clock.advance(Duration::from_secs(30));
        b.admit().expect("probe").failed();
        assert!(b.admit().is_none());
        clock.advance(Duration::from_secs(30));
        drop(b.admit().expect("second probe"));
        assert!(b.admit().is_none(), "an abandoned probe counts as failed");
        clock.advance(Duration::from_secs(30));
        assert!(b.admit().is_some());
    }

    #[test]
    fn judged_failures_of_answers_count_as_consecutive() {
        let (b, _, _) = breaker(3);
        for _ in 0..2 {
            b.admit().expect("closed").succeeded();
            b.judged_failure();
        }
        assert!(!b.is_open());
        b.admit().expect("closed").succeeded();
        b.judged_failure();
        assert!(b.is_open(), "three answers judged failures in a row open it");
    }
}

//! The CRM's metrics, defined once: per-action latency histograms, errors
//! by action and class, and whether the circuit breaker is open. Atomics
//! only (a request never takes a lock to count itself), and every label is
//! one of the fixed strings below: no identifier can become a label.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The `action` label. `token` is the OAuth token request; an action name
/// not listed is counted as `other`.
pub const ACTIONS: [&str; 5] = ["find_by_phone", "find_by_identifier", "verify", "token", "other"];
/// The `class` label of `vouch_crm_errors_total`.
pub const CLASSES: [&str; 11] = [
    "timeout",
    "connect",
    "rate_limited",
    "unavailable",
    "auth",
    "status",
    "body",
    "too_large",
    "saturated",
    "breaker_open",
    "misconfigured",
];
/// Bucket upper bounds in microseconds, and as Prometheus prints them.
const BUCKETS: [(u64, &str); 10] = [
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
];
/// The actions whose series are printed even at zero (so `rate()` sees the
/// first increment); `token` and `other` appear once they are used.
const ALWAYS_SHOWN: usize = 3;

#[derive(Default)]
struct PerAction {
    /// Non-cumulative: `buckets[i]` counts durations in (BUCKETS[i-1], BUCKETS[i]];
    /// the last slot counts those over the largest bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
    errors: [AtomicU64; CLASSES.len()],
    /// Identification lookups answered from the cache, and those that were
    /// not (asked, or waiting on the same lookup already asked).
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

/// Counters for every CRM request; shared by the transport and `/metrics`.
#[derive(Default)]
pub struct CrmMetrics {
    actions: [PerAction; ACTIONS.len()],
    breaker_open: AtomicU64,
}

fn action_index(action: &str) -> usize {
    ACTIONS.iter().position(|a| *a == action).unwrap_or(ACTIONS.len() - 1)
}

impl CrmMetrics {
    /// A request for `action` took `elapsed` (answered or failed; requests
    /// refused before leaving — saturated, breaker open — are not timed).
    pub fn observe(&self, action: &str, elapsed: Duration) {
        let a = &self.actions[action_index(action)];
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = BUCKETS.iter().position(|(le, _)| micros <= *le).unwrap_or(BUCKETS.len());
        a.buckets[slot].fetch_add(1, Relaxed);
        a.sum_micros.fetch_add(micros, Relaxed);
        a.count.fetch_add(1, Relaxed);
    }

    /// One error of `class` (one of [`CLASSES`]) for `action`.
    pub fn error(&self, action: &str, class: &str) {
        match CLASSES.iter().position(|c| *c == class) {
            Some(i) => {
                self.actions[action_index(action)].errors[i].fetch_add(1, Relaxed);
            }
            None => tracing::warn!(class, "unknown CRM error class: not counted"),
        }
    }

    /// An identification lookup for `action` answered from the cache (`hit`) or not.
    pub fn cache_lookup(&self, action: &str, hit: bool) {
        let a = &self.actions[action_index(action)];
        match hit {
            true => a.cache_hits.fetch_add(1, Relaxed),
            false => a.cache_misses.fetch_add(1, Relaxed),
        };
    }

    pub fn set_breaker_open(&self, open: bool) {
        self.breaker_open.store(u64::from(open), Relaxed);
    }

    /// Errors counted so far for `action` and `class`.
    pub fn errors(&self, action: &str, class: &str) -> u64 {
        CLASSES
            .iter()
            .position(|c| *c == class)
            .map_or(0, |i| self.actions[action_index(action)].errors[i].load(Relaxed))
    }

    /// Requests timed so far for `action`.
    pub fn requests(&self, action: &str) -> u64 {
        self.actions[action_index(action)].count.load(Relaxed)
    }

    /// Appends the three metrics in Prometheus' text exposition format.
    pub fn render(&self, out: &mut String) {
        let shown = |i: usize, a: &PerAction| {
            i < ALWAYS_SHOWN || a.count.load(Relaxed) > 0 || a.errors.iter().any(|e| e.load(Relaxed) > 0)
        };
        let name = "vouch_crm_request_duration_seconds";
        let _ = write!(
            out,
            "# HELP {name} CRM requests by data action (token: the OAuth token request), answered or failed, \
             from sending to the last byte read.\n# TYPE {name} histogram\n"
        );
        for (i, a) in self.actions.iter().enumerate().filter(|(i, a)| shown(*i, a)) {
            let action = ACTIONS[i];
            let mut cumulative = 0;
            for (slot, (_, le)) in BUCKETS.iter().enumerate() {
                cumulative += a.buckets[slot].load(Relaxed);
                let _ = writeln!(out, "{name}_bucket{{action=\"{action}\",le=\"{le}\"}} {cumulative}");
            }
            cumulative += a.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{action=\"{action}\",le=\"+Inf\"}} {cumulative}");
            let sum = a.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{action=\"{action}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{action=\"{action}\"}} {cumulative}");
        }
        let name = "vouch_crm_errors_total";
        let _ = write!(
            out,
            "# HELP {name} CRM requests that failed, by data action and class (breaker_open and saturated: \
             not sent).\n# TYPE {name} counter\n"
        );
        for (i, a) in self.actions.iter().enumerate().filter(|(i, a)| shown(*i, a)) {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = a.errors[c].load(Relaxed);
                let _ = writeln!(out, "{name}{{action=\"{}\",class=\"{class}\"}} {n}", ACTIONS[i]);
            }
        }
        let name = "vouch_crm_cache_lookups_total";
        let _ = write!(
            out,
            "# HELP {name} Identification lookups by data action, answered from the cache (hit) or not (miss: \
             asked, or joined the same lookup in flight). Verifications are never cached.\n# TYPE {name} counter\n"
        );
        for action in ["find_by_phone", "find_by_identifier"] {
            let a = &self.actions[action_index(action)];
            for (result, n) in [("hit", &a.cache_hits), ("miss", &a.cache_misses)] {
                let _ = writeln!(out, "{name}{{action=\"{action}\",result=\"{result}\"}} {}", n.load(Relaxed));
            }
        }
        let name = "vouch_crm_breaker_open";
        let _ = write!(
            out,
            "# HELP {name} 1 while the CRM circuit breaker is open or half-open (callers skip the CRM), else 0.\n\
             # TYPE {name} gauge\n{name} {}\n",
            self.breaker_open.load(Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(m: &CrmMetrics) -> std::collections::HashMap<String, f64> {
        let mut out = String::new();
        m.render(&mut out);
        out.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').expect("name value"))
            .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
            .collect()
    }

    #[test]
    fn a_histogram_is_cumulative_with_sum_and_count() {
        let m = CrmMetrics::default();
        m.observe("verify", Duration::from_millis(3));
        m.observe("verify", Duration::from_millis(30));
        m.observe("verify", Duration::from_secs(7));
        let s = samples(&m);
        let b = |le: &str| s[&format!("vouch_crm_request_duration_seconds_bucket{{action=\"verify\",le=\"{le}\"}}")];
        assert_eq!((b("0.005"), b("0.025"), b("0.05"), b("5"), b("+Inf")), (1.0, 1.0, 2.0, 2.0, 3.0));
        assert_eq!(s["vouch_crm_request_duration_seconds_count{action=\"verify\"}"], 3.0);
        assert!((s["vouch_crm_request_duration_seconds_sum{action=\"verify\"}"] - 7.033).abs() < 1e-9);
    }

    #[test]
    fn unknown_actions_count_as_other_and_unknown_classes_are_not_counted() {
        let m = CrmMetrics::default();
        m.error("find_by_phone", "timeout");
        m.error("made_up", "timeout");
        m.error("verify", "no such class");
        let s = samples(&m);
        assert_eq!(s["vouch_crm_errors_total{action=\"find_by_phone\",class=\"timeout\"}"], 1.0);
        assert_eq!(s["vouch_crm_errors_total{action=\"other\",class=\"timeout\"}"], 1.0);
        assert_eq!(s["vouch_crm_errors_total{action=\"verify\",class=\"timeout\"}"], 0.0);
        assert!(
            !s.contains_key("vouch_crm_request_duration_seconds_count{action=\"token\"}"),
            "token unused: not shown"
        );
        assert_eq!(s["vouch_crm_breaker_open"], 0.0);
        m.set_breaker_open(true);
        assert_eq!(samples(&m)["vouch_crm_breaker_open"], 1.0);
    }
}

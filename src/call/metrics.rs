//! What calls did, for `/metrics`: calls started per line, calls handed on
//! per line by outcome and ID&V result, and calls handed on while their
//! customer was locked out. Counted where a step's answer is decided
//! ([`super::CallService::answer`]): a step runs once whichever instance
//! takes it, so the sum of every instance's series counts each call once.
//! A call that hangs up in the IVR is started and never handed on (its
//! record says `abandoned` once the status callback comes). Labels are the
//! configured line names and fixed strings: nothing about a caller.

use super::Turn;
use crate::store::RecordChange;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// A handed-on call's labels after its line: outcome, ID&V status, ID&V method.
type HandedOn = (&'static str, &'static str, &'static str);

#[derive(Default)]
struct Counts {
    started: BTreeMap<String, u64>,
    /// By line, then by [`HandedOn`].
    handed_on: BTreeMap<String, BTreeMap<HandedOn, u64>>,
    locked_out: BTreeMap<String, u64>,
}

/// The entry for `line`, allocating its name only the first time.
fn of_line<'m, V: Default>(map: &'m mut BTreeMap<String, V>, line: &str) -> &'m mut V {
    if !map.contains_key(line) {
        map.insert(line.to_string(), V::default());
    }
    map.get_mut(line).expect("inserted above")
}

/// The call counters. A step takes the lock once, briefly.
#[derive(Default)]
pub struct CallMetrics {
    counts: Mutex<Counts>,
}

impl CallMetrics {
    /// Counters for `lines`, each shown from zero (so that `rate()` sees
    /// the first call).
    pub fn for_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut counts = Counts::default();
        for line in lines {
            counts.started.insert(line.to_string(), 0);
            counts.locked_out.insert(line.to_string(), 0);
        }
        Self { counts: Mutex::new(counts) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts what `turn` does: a call's first webhook starts it, a
    /// hand-off ends its time in the IVR.
    pub fn count(&self, turn: &Turn<'_>) {
        let line = turn.line.name.as_str();
        let mut counts = self.lock();
        if turn.first {
            *of_line(&mut counts.started, line) += 1;
        }
        if let RecordChange::HandedOff { context, outcome, .. } = &turn.change {
            let key = (outcome.as_str(), context.idv_status.as_str(), context.idv_method.as_str());
            *of_line(&mut counts.handed_on, line).entry(key).or_insert(0) += 1;
            if context.lockout {
                *of_line(&mut counts.locked_out, line) += 1;
            }
        }
    }

    /// Appends the three metrics in Prometheus' text exposition format.
    pub fn render(&self, out: &mut String) {
        let counts = self.lock();
        let name = "vouch_calls_started_total";
        let _ = write!(out, "# HELP {name} Calls whose first webhook was answered, by line.\n# TYPE {name} counter\n");
        for (line, n) in &counts.started {
            let _ = writeln!(out, "{name}{{line=\"{}\"}} {n}", label(line));
        }
        let name = "vouch_calls_handed_on_total";
        let _ = write!(
            out,
            "# HELP {name} Calls handed on from the IVR, by line, outcome (self_service, agent, opted_out, \
             crm_unavailable, verification_unavailable) and ID&V result (status and method).\n# TYPE {name} counter\n"
        );
        for (line, by) in &counts.handed_on {
            for ((outcome, status, method), n) in by {
                let _ = writeln!(
                    out,
                    "{name}{{line=\"{}\",outcome=\"{outcome}\",idv_status=\"{status}\",idv_method=\"{method}\"}} {n}",
                    label(line)
                );
            }
        }
        let name = "vouch_calls_locked_out_total";
        let _ = write!(
            out,
            "# HELP {name} Calls handed on while their customer was locked out (too many failed verifications), \
             by line.\n# TYPE {name} counter\n"
        );
        for (line, n) in &counts.locked_out {
            let _ = writeln!(out, "{name}{{line=\"{}\"}} {n}", label(line));
        }
    }
}

/// A label value escaped as Prometheus' text format asks.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_value_is_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_line_is_shown_from_zero() {
        let m = CallMetrics::for_lines(["support", "sales"]);
        let mut out = String::new();
        m.render(&mut out);
        for line in ["support", "sales"] {
            assert!(out.contains(&format!("vouch_calls_started_total{{line=\"{line}\"}} 0\n")), "{out}");
            assert!(out.contains(&format!("vouch_calls_locked_out_total{{line=\"{line}\"}} 0\n")), "{out}");
        }
    }
}

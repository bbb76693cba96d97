//! How ID&V is doing, aggregated in the database from the call records
//! (so every instance sharing it gives the same figures): for calls started
//! in a time range, per line, the funnel (calls, identified by caller ID or
//! by keyed identifier, verified), what fell out of it (opted out, failed
//! identification, failed verification, locked, CRM or verification
//! unavailable), how calls left (self-service, agent, abandoned) and their
//! time in the IVR; and the calls live now. No customer data: counts only.
//!
//! Settled hours are rolled up ([`Db::roll_up`]: per hour and line, the
//! same counts and sums, and the time-in-IVR distribution), so a range
//! reads the rollups of its whole settled hours and the call records only
//! for the rest (the last hours, and partial hours at its ends). The
//! rollups outlive the records' retention.

use super::db::{on_pool, Db};
use super::record::{FINAL_STATUSES, LIVE_FOR_SECS};
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::{BTreeMap, BTreeSet};

/// One line's figures (or every line's, as `total`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LineStats {
    pub line: String,
    /// Calls started in the range.
    pub calls: u64,
    /// Identified by their caller ID (`ani`), verified or not.
    pub identified_by_caller_id: u64,
    /// Identified by a keyed identifier (`keyed`, `keyed_ani`), verified or not.
    pub identified_by_keyed_id: u64,
    pub verified: u64,
    pub opted_out: u64,
    /// Ended unidentified after at least one try at the identifier, and
    /// did not opt out (an opt-out is counted as one).
    pub failed_identification: u64,
    /// Ended identified, not verified, after at least one try at the PIN,
    /// and did not opt out.
    pub failed_verification: u64,
    /// Their customer was locked out.
    pub locked: u64,
    pub crm_unavailable: u64,
    pub verification_unavailable: u64,
    /// Handed to a self-service app ([`Self::containment`]'s numerator).
    pub self_service: u64,
    /// Handed to an agent after completing or failing ID&V.
    pub agent: u64,
    /// Hung up in the IVR.
    pub abandoned: u64,
    /// Handed on from the IVR, by whatever outcome.
    pub handed_on: u64,
    /// Self-service hand-offs ÷ calls; `None` without calls.
    pub containment: Option<f64>,
    /// From the first webhook to the hand-off, over the calls handed on.
    pub ivr_seconds_avg: Option<f64>,
    pub ivr_seconds_p90: Option<u64>,
    /// CRM questions the calls' steps asked (cached answers included, as
    /// callers waited on them too), and those that failed.
    pub crm_asked: u64,
    pub crm_failed: u64,
    /// Mean milliseconds a caller waited on a CRM question; `None` without.
    pub crm_wait_ms_avg: Option<f64>,
    /// Failed CRM questions ÷ questions; `None` without.
    pub crm_error_rate: Option<f64>,
    /// Live now, whenever started: still in the IVR, waiting for an agent,
    /// with an agent (as the agent desk tells them).
    pub in_ivr: u64,
    pub waiting: u64,
    pub with_agent: u64,
    /// The calls handed on, by whole seconds in the IVR (the p90's
    /// distribution, for reports' charts); not in the API's JSON.
    #[serde(skip)]
    pub ivr_distribution: BTreeMap<u64, u64>,
}

/// The figures of a range: per line (every configured line, with or without
/// calls), and over them all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Unix seconds: calls started at or after `from` and before `to`.
    pub from: u64,
    pub to: u64,
    /// Unix seconds: what "live" was measured at.
    pub now: u64,
    pub lines: Vec<LineStats>,
    pub total: LineStats,
    /// With a [`CallFilter`]: calls in the range whose hours were rolled
    /// up before rollups were kept by slice and whose records are gone, so
    /// they cannot be filtered (counted in no filtered figure). Not in the
    /// API's JSON.
    #[serde(skip)]
    pub unsliced: u64,
}

/// Which of a range's calls its figures count, beyond their line: an
/// outcome, an ID&V status, a method of identification, each as stored
/// (`in_progress`, `verified`, `keyed_ani`…), and where a hand-off put the
/// call (its queue, the agent rung: see [`super::Placement`]); `None` is
/// any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub outcome: Option<&'static str>,
    pub idv_status: Option<&'static str>,
    pub idv_method: Option<&'static str>,
    pub queue: Option<String>,
    pub agent: Option<String>,
}

impl CallFilter {
    /// Whether it counts every call.
    pub fn is_any(&self) -> bool {
        self == &Self::default()
    }

    /// Whether it filters by queue or agent: figures come from the
    /// rollups' placements (or the records, for hours without them).
    pub fn by_placement(&self) -> bool {
        self.queue.is_some() || self.agent.is_some()
    }

    /// `sql` (which ends in a `GROUP BY`, or has none) with the queue and
    /// agent conditions, their binds from `$n`, and the binds in order;
    /// `agent` names the agent's column (`agent` in the records).
    fn placed(&self, sql: &str, n: usize, agent: &str) -> (String, Vec<&str>) {
        let mut conditions = String::new();
        let mut binds = Vec::new();
        for (column, value) in [("queue", &self.queue), (agent, &self.agent)] {
            if let Some(v) = value {
                conditions.push_str(&format!(" AND {column} = ${}", n + binds.len()));
                binds.push(v.as_str());
            }
        }
        let sql = match sql.find(" GROUP BY ") {
            Some(at) => format!("{}{conditions}{}", &sql[..at], &sql[at..]),
            None => format!("{sql}{conditions}"),
        };
        (sql, binds)
    }

    /// Whether it counts the calls of `slice` (a concrete one: from the
    /// records, or a sliced rollup row).
    fn matches(&self, slice: &Slice) -> bool {
        let fits = |want: Option<&str>, got: &str| want.is_none_or(|w| w == got);
        fits(self.outcome, &slice.outcome)
            && fits(self.idv_status, &slice.idv_status)
            && fits(self.idv_method, &slice.idv_method)
            && fits(self.queue.as_deref(), &slice.queue)
            && fits(self.agent.as_deref(), &slice.agent)
    }

    /// The binds of [`filtered`]'s condition: each value, or `''` for any.
    fn binds(&self) -> [&'static str; 3] {
        [self.outcome.unwrap_or(""), self.idv_status.unwrap_or(""), self.idv_method.unwrap_or("")]
    }
}

/// The calls of one outcome, ID&V status, method, queue and agent: a
/// rollup's slice. The empty slice ([`Slice::default`]) is all the calls
/// (`call_rollups`' rows); `call_rollup_slices` keeps slices without a
/// queue or agent, `call_rollup_placements` those with one.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Slice {
    outcome: String,
    idv_status: String,
    idv_method: String,
    /// Where a hand-off put the calls (`""`: nowhere Vouch knows).
    queue: String,
    agent: String,
}

/// A query's condition on [`CallFilter`]'s binds, from `$n`: `''` is any.
fn filtered(n: usize) -> String {
    format!(
        "(${n} = '' OR outcome = ${n}) AND (${} = '' OR idv_status = ${}) AND (${} = '' OR idv_method = ${})",
        n + 1,
        n + 1,
        n + 2,
        n + 2
    )
}

/// The funnel's columns after `service_line`, in [`LineStats`]' order,
/// then the slice, per line and slice.
const FUNNEL: &str = "SELECT service_line, COUNT(*), \
    SUM(CASE WHEN idv_method = 'ani' AND idv_status <> 'unidentified' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN idv_method IN ('keyed', 'keyed_ani') AND idv_status <> 'unidentified' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN idv_status = 'verified' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN opted_out = 1 THEN 1 ELSE 0 END), \
    SUM(CASE WHEN idv_status = 'unidentified' AND identify_attempts > 0 AND opted_out = 0 THEN 1 ELSE 0 END), \
    SUM(CASE WHEN idv_status = 'identified' AND verify_attempts > 0 AND opted_out = 0 THEN 1 ELSE 0 END), \
    SUM(CASE WHEN lockout = 1 THEN 1 ELSE 0 END), \
    SUM(CASE WHEN outcome = 'crm_unavailable' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN outcome = 'verification_unavailable' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN outcome = 'self_service' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN outcome = 'agent' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN handed_off_at IS NOT NULL THEN 1 ELSE 0 END), \
    CAST(SUM(CASE WHEN handed_off_at IS NOT NULL THEN handed_off_at - started_at ELSE 0 END) AS BIGINT), \
    CAST(SUM(crm_asked) AS BIGINT), CAST(SUM(crm_failed) AS BIGINT), CAST(SUM(crm_wait_ms) AS BIGINT), \
    outcome, idv_status, idv_method, COALESCE(queue, ''), COALESCE(agent, '') \
    FROM call_records WHERE partial = 0 AND started_at >= $1 AND started_at < $2 \
    GROUP BY service_line, outcome, idv_status, idv_method, COALESCE(queue, ''), COALESCE(agent, '')";

/// Each report figure's calls: the condition on a record that puts a call
/// behind the figure (the funnel's own conditions, above; a rate or a time
/// links to the calls it is worked out over).
pub const FIGURE_CALLS: [(&str, &str); 17] = [
    ("calls", "1 = 1"),
    ("identified_by_caller_id", "idv_method = 'ani' AND idv_status <> 'unidentified'"),
    ("identified_by_keyed_id", "idv_method IN ('keyed', 'keyed_ani') AND idv_status <> 'unidentified'"),
    ("verified", "idv_status = 'verified'"),
    ("containment", "outcome = 'self_service'"),
    ("opted_out", "opted_out = 1"),
    ("failed_identification", "idv_status = 'unidentified' AND identify_attempts > 0 AND opted_out = 0"),
    ("failed_verification", "idv_status = 'identified' AND verify_attempts > 0 AND opted_out = 0"),
    ("locked", "lockout = 1"),
    ("crm_unavailable", "outcome = 'crm_unavailable'"),
    ("self_service", "outcome = 'self_service'"),
    ("agent", "outcome = 'agent'"),
    ("abandoned", "outcome = 'abandoned'"),
    ("ivr_seconds_avg", "handed_off_at IS NOT NULL"),
    ("ivr_seconds_p90", "handed_off_at IS NOT NULL"),
    ("crm_wait_ms_avg", "crm_asked > 0"),
    ("crm_error_rate", "crm_asked > 0"),
];

/// How many calls handed on spent each whole number of seconds in the IVR,
/// per line and slice: the distribution the p90 is read from (one pass, no
/// sort of the calls themselves).
const IVR_SECONDS: &str = "SELECT service_line, outcome, idv_status, idv_method, COALESCE(queue, ''), \
    COALESCE(agent, ''), handed_off_at - started_at, COUNT(*) FROM call_records \
    WHERE partial = 0 AND started_at >= $1 AND started_at < $2 AND handed_off_at IS NOT NULL \
    GROUP BY service_line, outcome, idv_status, idv_method, COALESCE(queue, ''), COALESCE(agent, ''), \
    handed_off_at - started_at";

/// The calls live now, per line: as [`crate::routes::agent`]'s presence
/// tells them (not ended, no final status, not abandoned, heard of within
/// [`LIVE_FOR_SECS`]); `$1` is the oldest `updated_at` still live.
static LIVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let finals: Vec<String> = FINAL_STATUSES.iter().map(|s| format!("'{s}'")).collect();
    format!(
        "SELECT service_line, \
         SUM(CASE WHEN agent_state IS NULL AND outcome = 'in_progress' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN agent_state = 'waiting' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN agent_state = 'with_agent' THEN 1 ELSE 0 END) \
         FROM call_records WHERE partial = 0 AND updated_at >= $1 AND ended_at IS NULL AND outcome <> 'abandoned' \
         AND (call_status IS NULL OR call_status NOT IN ({})) GROUP BY service_line",
        finals.join(", ")
    )
});

/// A funnel row's sums, from which its means are worked out: seconds in
/// the IVR (over the calls handed on) and milliseconds waited on the CRM.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    ivr_seconds: i64,
    crm_wait_ms: i64,
}

/// How a rolled-up hour is kept: with its slices, and its placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rolled {
    sliced: bool,
    placed: bool,
}

/// An hour, in seconds: the rollups' bucket.
const HOUR: u64 = 3_600;

/// An hour is rolled up once it ended this long ago: its calls have been
/// handed on or have gone (a call still in the IVR after this long is
/// counted as ended).
pub const SETTLED_AFTER: u64 = LIVE_FOR_SECS;

/// One line's figures over part of a range: counts, the sums their means
/// come from, and the calls handed on by seconds in the IVR.
#[derive(Debug, Clone, Default)]
struct Part {
    stats: LineStats,
    sums: Sums,
    ivr: BTreeMap<i64, i64>,
}

impl Part {
    fn add(&mut self, o: &Part) {
        self.stats.add(&o.stats);
        self.sums.ivr_seconds += o.sums.ivr_seconds;
        self.sums.crm_wait_ms += o.sums.crm_wait_ms;
        for (secs, n) in &o.ivr {
            *self.ivr.entry(*secs).or_default() += n;
        }
    }

    /// The figures, their means and p90 worked out.
    fn finish(mut self) -> LineStats {
        self.stats.finish(self.sums);
        self.stats.ivr_seconds_p90 = p90(&self.ivr);
        self.stats.ivr_distribution = self.ivr.iter().map(|(secs, n)| (count(*secs), count(*n))).collect();
        self.stats
    }
}

/// A rollup's distribution as stored: `seconds:calls` pairs.
fn histogram_text(h: &BTreeMap<i64, i64>) -> String {
    h.iter().map(|(secs, n)| format!("{secs}:{n}")).collect::<Vec<_>>().join(" ")
}

fn histogram_of(text: &str) -> BTreeMap<i64, i64> {
    text.split_whitespace()
        .filter_map(|pair| pair.split_once(':'))
        .filter_map(|(secs, n)| Some((secs.parse().ok()?, n.parse().ok()?)))
        .collect()
}

/// A rollup's columns, in [`FUNNEL`]'s order after `service_line`.
const ROLLUP_COLUMNS: &str = "service_line, calls, identified_by_caller_id, identified_by_keyed_id, verified, \
    opted_out, failed_identification, failed_verification, locked, crm_unavailable, verification_unavailable, \
    self_service, agent, abandoned, handed_on, ivr_seconds, crm_asked, crm_failed, crm_wait_ms";

/// The rollups of the hours starting in `[$1, $2)`, each row as
/// [`FUNNEL`]'s (with the empty slice: all the calls of its hour and
/// line), then its hour and distribution.
static ROLLUPS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {ROLLUP_COLUMNS}, '', '', '', '', '', hour_start, ivr_histogram FROM call_rollups \
         WHERE hour_start >= $1 AND hour_start < $2"
    )
});

/// The slices of the hours starting in `[$1, $2)` that a filter counts
/// (its binds from `$3`), as [`ROLLUPS`]' rows.
static SLICES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {ROLLUP_COLUMNS}, outcome, idv_status, idv_method, '', '', hour_start, ivr_histogram \
         FROM call_rollup_slices WHERE hour_start >= $1 AND hour_start < $2 AND {}",
        filtered(3)
    )
});

/// The placements (slices with a queue or an agent) of the hours starting
/// in `[$1, $2)` that a filter counts (its binds from `$3`; its queue and
/// agent conditions are added from `$6`), as [`ROLLUPS`]' rows.
static PLACEMENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {ROLLUP_COLUMNS}, outcome, idv_status, idv_method, queue, agent_rung, hour_start, ivr_histogram \
         FROM call_rollup_placements WHERE hour_start >= $1 AND hour_start < $2 AND {}",
        filtered(3)
    )
});

static INSERT_ROLLUP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let binds: Vec<String> = (1..=21).map(|i| format!("${i}")).collect();
    format!("INSERT INTO call_rollups (hour_start, {ROLLUP_COLUMNS}, ivr_histogram) VALUES ({})", binds.join(", "))
});

static INSERT_SLICE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let binds: Vec<String> = (1..=24).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO call_rollup_slices (hour_start, {ROLLUP_COLUMNS}, outcome, idv_status, idv_method, \
         ivr_histogram) VALUES ({})",
        binds.join(", ")
    )
});

static INSERT_PLACEMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let binds: Vec<String> = (1..=26).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO call_rollup_placements (hour_start, {ROLLUP_COLUMNS}, outcome, idv_status, idv_method, \
         queue, agent_rung, ivr_histogram) VALUES ({})",
        binds.join(", ")
    )
});

/// A line's calls of a slice handed on after a number of seconds in the IVR.
type IvrRow = (String, String, String, String, String, String, i64, i64);

/// A line's live calls: in the IVR, waiting, with an agent.
type LiveRow = (String, i64, i64, i64);

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl LineStats {
    /// `line`'s figures, all zero.
    fn named(line: &str) -> Self {
        Self { line: line.to_string(), ..Self::default() }
    }

    /// A row of [`FUNNEL`] (or of [`ROLLUPS`]), in its column order.
    fn from_funnel<'r, R: Row>(row: &'r R) -> Result<(Self, Sums, Slice), sqlx::Error>
    where
        usize: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        let mut col = 0;
        let mut next = || -> Result<u64, sqlx::Error> {
            col += 1;
            Ok(count(row.try_get::<i64, _>(col)?))
        };
        let mut s = Self::named(&row.try_get::<String, _>(0)?);
        for field in [
            &mut s.calls,
            &mut s.identified_by_caller_id,
            &mut s.identified_by_keyed_id,
            &mut s.verified,
            &mut s.opted_out,
            &mut s.failed_identification,
            &mut s.failed_verification,
            &mut s.locked,
            &mut s.crm_unavailable,
            &mut s.verification_unavailable,
            &mut s.self_service,
            &mut s.agent,
            &mut s.abandoned,
            &mut s.handed_on,
        ] {
            *field = next()?;
        }
        let ivr_seconds = row.try_get::<i64, _>(15)?;
        (s.crm_asked, s.crm_failed) = (count(row.try_get(16)?), count(row.try_get(17)?));
        let crm_wait_ms = row.try_get::<i64, _>(18)?;
        let slice = Slice {
            outcome: row.try_get(19)?,
            idv_status: row.try_get(20)?,
            idv_method: row.try_get(21)?,
            queue: row.try_get(22)?,
            agent: row.try_get(23)?,
        };
        Ok((s, Sums { ivr_seconds, crm_wait_ms }, slice))
    }

    /// Adds `other`'s counts (not its time in the IVR, which is worked out
    /// over all the calls).
    fn add(&mut self, o: &Self) {
        self.calls += o.calls;
        self.identified_by_caller_id += o.identified_by_caller_id;
        self.identified_by_keyed_id += o.identified_by_keyed_id;
        self.verified += o.verified;
        self.opted_out += o.opted_out;
        self.failed_identification += o.failed_identification;
        self.failed_verification += o.failed_verification;
        self.locked += o.locked;
        self.crm_unavailable += o.crm_unavailable;
        self.verification_unavailable += o.verification_unavailable;
        self.self_service += o.self_service;
        self.agent += o.agent;
        self.abandoned += o.abandoned;
        self.handed_on += o.handed_on;
        self.crm_asked += o.crm_asked;
        self.crm_failed += o.crm_failed;
        self.in_ivr += o.in_ivr;
        self.waiting += o.waiting;
        self.with_agent += o.with_agent;
    }

    fn finish(&mut self, sums: Sums) {
        self.containment = (self.calls > 0).then(|| self.self_service as f64 / self.calls as f64);
        self.ivr_seconds_avg = (self.handed_on > 0).then(|| sums.ivr_seconds as f64 / self.handed_on as f64);
        self.crm_wait_ms_avg = (self.crm_asked > 0).then(|| sums.crm_wait_ms as f64 / self.crm_asked as f64);
        self.crm_error_rate = (self.crm_asked > 0).then(|| self.crm_failed as f64 / self.crm_asked as f64);
    }
}

/// The nearest-rank 90th percentile of a distribution (seconds, and how
/// many calls took them): the `ceil(0.9 n)`-th smallest.
fn p90(histogram: &BTreeMap<i64, i64>) -> Option<u64> {
    let n: i64 = histogram.values().sum();
    let rank = n.saturating_mul(9).saturating_add(9) / 10;
    let mut seen = 0;
    histogram
        .iter()
        .find(|(_, k)| {
            seen += **k;
            seen >= rank
        })
        .map(|(secs, _)| count(*secs))
}

/// The parts of `[from, to)` not covered by the whole hours in `rolled`
/// (hour starts, sorted), in order.
fn uncovered(from: i64, to: i64, rolled: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let hour = HOUR as i64;
    let mut gaps = Vec::new();
    let mut at = from;
    for &h in rolled.range(from..) {
        if h + hour > to {
            break;
        }
        if h > at {
            gaps.push((at, h));
        }
        at = at.max(h + hour);
    }
    if at < to {
        gaps.push((at, to));
    }
    gaps
}

/// Each line's slices added up: its rows of all calls (the empty slice).
fn totals(parts: &BTreeMap<(String, Slice), Part>) -> BTreeMap<(String, Slice), Part> {
    let mut totals: BTreeMap<(String, Slice), Part> = BTreeMap::new();
    for ((line, _), part) in parts {
        let total = totals.entry((line.clone(), Slice::default())).or_default();
        total.add(part);
        total.stats.line.clone_from(line);
    }
    totals
}

/// The slices of `parts` without their queue and agent, summed: what
/// `call_rollup_slices` keeps.
fn unplaced(parts: &BTreeMap<(String, Slice), Part>) -> BTreeMap<(String, Slice), Part> {
    let mut out: BTreeMap<(String, Slice), Part> = BTreeMap::new();
    for ((line, slice), part) in parts {
        let key = Slice { queue: String::new(), agent: String::new(), ..slice.clone() };
        let sum = out.entry((line.clone(), key)).or_default();
        sum.add(part);
        sum.stats.line.clone_from(line);
    }
    out
}

/// The slices of `parts` with a queue or an agent: what
/// `call_rollup_placements` keeps.
fn placed(parts: &BTreeMap<(String, Slice), Part>) -> BTreeMap<(String, Slice), Part> {
    parts
        .iter()
        .filter(|((_, s), _)| !s.queue.is_empty() || !s.agent.is_empty())
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect()
}

/// Which rollup table rows go into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RollupTable {
    /// `call_rollups`: a row of all calls per line.
    All,
    /// `call_rollup_slices`: per line, outcome, status and method.
    Slices,
    /// `call_rollup_placements`: per line, outcome, status, method, queue
    /// and agent (only the calls with a queue or an agent).
    Placements,
}

/// Writes the rollup rows of `hour` in the transaction `tx`, on either
/// database: `parts`' rows into the table `into` names.
macro_rules! insert_rollups {
    ($tx:expr, $hour:expr, $parts:expr, into = $into:expr) => {
        for ((line, slice), p) in $parts {
            let s = &p.stats;
            let into: RollupTable = $into;
            let sql: &str = match into {
                RollupTable::All => &INSERT_ROLLUP,
                RollupTable::Slices => &INSERT_SLICE,
                RollupTable::Placements => &INSERT_PLACEMENT,
            };
            let mut q = sqlx::query(sql).bind($hour).bind(line.as_str());
            for v in [
                s.calls,
                s.identified_by_caller_id,
                s.identified_by_keyed_id,
                s.verified,
                s.opted_out,
                s.failed_identification,
                s.failed_verification,
                s.locked,
                s.crm_unavailable,
                s.verification_unavailable,
                s.self_service,
                s.agent,
                s.abandoned,
                s.handed_on,
            ] {
                q = q.bind(crate::store::db::to_i64(v));
            }
            q = q
                .bind(p.sums.ivr_seconds)
                .bind(crate::store::db::to_i64(s.crm_asked))
                .bind(crate::store::db::to_i64(s.crm_failed))
                .bind(p.sums.crm_wait_ms);
            if into != RollupTable::All {
                q = q.bind(slice.outcome.as_str()).bind(slice.idv_status.as_str()).bind(slice.idv_method.as_str());
            }
            if into == RollupTable::Placements {
                q = q.bind(slice.queue.as_str()).bind(slice.agent.as_str());
            }
            q.bind(histogram_text(&p.ivr)).execute(&mut *$tx).await?;
        }
    };
}

impl Db {
    /// The figures of calls started in `[from, to)`, per line of `lines`
    /// (a line with no calls shows zeros; a line no longer configured but
    /// in the records shows too), and live now at `now`.
    pub async fn stats(&self, lines: &[&str], from: u64, to: u64, now: u64) -> Result<Stats, sqlx::Error> {
        self.figures_and_live(lines, (from, to), &CallFilter::default(), Some(now)).await
    }

    /// [`Db::stats`] of the calls `filter` counts, without the calls live
    /// now (all zero), for reports: `now` is given as `to`.
    pub async fn figures(&self, lines: &[&str], from: u64, to: u64, filter: &CallFilter) -> Result<Stats, sqlx::Error> {
        self.figures_and_live(lines, (from, to), filter, None).await
    }

    async fn figures_and_live(
        &self,
        lines: &[&str],
        (from, to): (u64, u64),
        filter: &CallFilter,
        live_at: Option<u64>,
    ) -> Result<Stats, sqlx::Error> {
        let (from_i, to_i) = (super::db::to_i64(from), super::db::to_i64(to));
        let mut by_line: BTreeMap<String, Part> =
            lines.iter().map(|l| (l.to_string(), Part { stats: LineStats::named(l), ..Part::default() })).collect();
        let mut add = |line: &str, part: &Part| {
            by_line
                .entry(line.to_string())
                .or_insert_with(|| Part { stats: LineStats::named(line), ..Part::default() })
                .add(part)
        };
        // The hours rolled up first, then their rollups: an hour rolled up
        // in between (marked with its rows, in one transaction) is read
        // from the records, and its rollup rows skipped.
        let hour = HOUR as i64;
        let (first, end) = ((from_i + hour - 1).div_euclid(hour) * hour, to_i.div_euclid(hour) * hour);
        let rolled = self.rolled_hours(first, end).await?;
        // The hours whose rollups this filter can read: every rolled hour
        // unfiltered (its rows of all calls); the sliced ones for a filter
        // on outcome, status or method (the slices it counts); the placed
        // ones for a filter on queue or agent (the placements it counts).
        // The calls of the others are counted as not filterable, except
        // that a queue or agent filter reads them from their records while
        // they are held.
        let readable = |r: &Rolled| match (filter.is_any(), filter.by_placement()) {
            (true, _) => true,
            (false, false) => r.sliced,
            (false, true) => r.placed,
        };
        for (hour, line, _, part) in self.rollups(first, end, filter).await? {
            if rolled.get(&hour).is_some_and(readable) {
                add(&line, &part);
            }
        }
        let unreadable: BTreeMap<i64, Rolled> =
            rolled.iter().filter(|(_, r)| !readable(r)).map(|(h, r)| (*h, *r)).collect();
        let unsliced = match filter.by_placement() {
            // Read from the records where they are still held.
            true => self.gone(&unreadable, first, end).await?,
            false => {
                let mut unsliced = 0;
                if !unreadable.is_empty() {
                    for (hour, _, _, part) in self.rollups(first, end, &CallFilter::default()).await? {
                        if unreadable.contains_key(&hour) {
                            unsliced += part.stats.calls;
                        }
                    }
                }
                unsliced
            }
        };
        let covered: BTreeSet<i64> = match filter.by_placement() {
            true => rolled.iter().filter(|(_, r)| readable(r)).map(|(h, _)| *h).collect(),
            // An unsliced hour's records cannot be told from its rollup's.
            false => rolled.into_keys().collect(),
        };
        for (gap_from, gap_to) in uncovered(from_i, to_i, &covered) {
            for ((line, slice), part) in self.counted(gap_from, gap_to, filter).await? {
                if filter.matches(&slice) {
                    add(&line, &part);
                }
            }
        }
        let live: Vec<LiveRow> = match live_at {
            Some(now) => {
                let live_since = super::db::to_i64(now.saturating_sub(LIVE_FOR_SECS));
                on_pool!(self, pool => sqlx::query_as(&LIVE).bind(live_since).fetch_all(pool).await?)
            }
            None => Vec::new(),
        };
        for (line, in_ivr, waiting, with_agent) in live {
            let part = Part {
                stats: LineStats {
                    in_ivr: count(in_ivr),
                    waiting: count(waiting),
                    with_agent: count(with_agent),
                    ..LineStats::named(&line)
                },
                ..Part::default()
            };
            add(&line, &part);
        }
        let mut total = Part { stats: LineStats::named("all"), ..Part::default() };
        let mut out = Vec::with_capacity(by_line.len());
        for part in by_line.into_values() {
            total.add(&part);
            out.push(part.finish());
        }
        Ok(Stats { from, to, now: live_at.unwrap_or(to), lines: out, total: total.finish(), unsliced })
    }

    /// The calls behind report figure `key` ([`FIGURE_CALLS`]) started in
    /// `[from, to)`, on `line` (or every line), that `filter` counts, in
    /// the order they started, after `after` (a call's start and sid: the
    /// last of the page before), at most `limit`; `None` for a figure with
    /// no calls behind it.
    pub async fn figure_calls(
        &self,
        key: &str,
        (line, filter): (Option<&str>, &CallFilter),
        (from, to): (u64, u64),
        after: Option<(u64, &str)>,
        limit: usize,
    ) -> Result<Option<Vec<super::CallRecord>>, sqlx::Error> {
        let Some((_, condition)) = FIGURE_CALLS.iter().find(|(k, _)| *k == key) else {
            return Ok(None);
        };
        // `started_at >= $4` repeats what the cursor's condition implies, so
        // each page's index scan starts at the page before's last call
        // rather than the period's start (without it, a list's pages read
        // ever more rows: a million calls took 283 s on PostgreSQL).
        let sql = format!(
            "{} WHERE partial = 0 AND started_at >= $1 AND started_at < $2 AND ({condition}) \
             AND ($3 = '' OR service_line = $3) AND started_at >= $4 \
             AND (started_at > $4 OR (started_at = $4 AND call_sid > $5)) \
             AND {}",
            super::db::SELECT,
            filtered(7)
        );
        let (mut sql, placed) = filter.placed(&sql, 10, "agent");
        sql.push_str(" ORDER BY started_at, call_sid LIMIT $6");
        let [outcome, idv_status, idv_method] = filter.binds();
        let (after_at, after_sid) = after.map_or((-1, ""), |(at, sid)| (super::db::to_i64(at), sid));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (from, to, line) = (super::db::to_i64(from), super::db::to_i64(to), line.unwrap_or(""));
        on_pool!(self, pool => {
            let mut query = sqlx::query(&sql)
                .bind(from)
                .bind(to)
                .bind(line)
                .bind(after_at)
                .bind(after_sid)
                .bind(limit)
                .bind(outcome)
                .bind(idv_status)
                .bind(idv_method);
            for b in &placed {
                query = query.bind(*b);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(super::db::from_row).collect::<Result<Vec<_>, _>>().map(Some)
        })
    }

    /// The figures of the calls started in `[from, to)` (of `filter`'s
    /// queue and agent, if it names them), per line and slice, counted from
    /// their records.
    async fn counted(
        &self,
        from: i64,
        to: i64,
        filter: &CallFilter,
    ) -> Result<BTreeMap<(String, Slice), Part>, sqlx::Error> {
        let (funnel_sql, binds) = filter.placed(FUNNEL, 3, "agent");
        let (ivr_sql, _) = filter.placed(IVR_SECONDS, 3, "agent");
        let (funnel, ivr): (Vec<(LineStats, Sums, Slice)>, Vec<IvrRow>) = on_pool!(self, pool => {
            let mut query = sqlx::query(&funnel_sql).bind(from).bind(to);
            let mut ivr_query = sqlx::query_as(&ivr_sql).bind(from).bind(to);
            for b in &binds {
                query = query.bind(*b);
                ivr_query = ivr_query.bind(*b);
            }
            let rows = query.fetch_all(pool).await?;
            let funnel = rows.iter().map(LineStats::from_funnel).collect::<Result<_, _>>()?;
            (funnel, ivr_query.fetch_all(pool).await?)
        });
        let mut parts: BTreeMap<(String, Slice), Part> = funnel
            .into_iter()
            .map(|(stats, sums, slice)| ((stats.line.clone(), slice), Part { stats, sums, ivr: BTreeMap::new() }))
            .collect();
        for (line, outcome, idv_status, idv_method, queue, agent, secs, n) in ivr {
            if let Some(part) = parts.get_mut(&(line, Slice { outcome, idv_status, idv_method, queue, agent })) {
                *part.ivr.entry(secs).or_default() += n;
            }
        }
        Ok(parts)
    }

    /// The calls of the `rolled` hours in `[from, to)` that the rollups
    /// count and the records no longer hold: those of the hours before the
    /// oldest record's (retention deletes the oldest first), and in its
    /// hour those the records lack. (A call erased from a later hour is not
    /// counted: finding it would read every record of the range.)
    async fn gone(&self, rolled: &BTreeMap<i64, Rolled>, from: i64, to: i64) -> Result<u64, sqlx::Error> {
        if rolled.is_empty() {
            return Ok(0);
        }
        const OLDEST: &str = "SELECT MIN(started_at) FROM call_records WHERE partial = 0";
        let oldest: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(OLDEST).fetch_one(pool).await?);
        let hour = HOUR as i64;
        let oldest_hour = oldest.map_or(i64::MAX, |t| t.div_euclid(hour) * hour);
        if oldest_hour < from {
            return Ok(0);
        }
        let mut rolled_up: BTreeMap<i64, u64> = BTreeMap::new();
        for (at, _, _, part) in
            self.rollups(from, to.min(oldest_hour.saturating_add(hour)), &CallFilter::default()).await?
        {
            if rolled.contains_key(&at) {
                *rolled_up.entry(at).or_default() += part.stats.calls;
            }
        }
        let mut gone: u64 = rolled_up.range(..oldest_hour).map(|(_, calls)| calls).sum();
        if let Some(calls) = rolled_up.get(&oldest_hour) {
            const KEPT: &str =
                "SELECT COUNT(*) FROM call_records WHERE partial = 0 AND started_at >= $1 AND started_at < $2";
            let kept: i64 = on_pool!(self, pool => sqlx::query_scalar(KEPT)
                .bind(oldest_hour).bind(oldest_hour + hour).fetch_one(pool).await?);
            gone += calls.saturating_sub(count(kept));
        }
        Ok(gone)
    }

    /// The hours starting in `[from, to)` that are rolled up, and whether
    /// each is sliced too.
    async fn rolled_hours(&self, from: i64, to: i64) -> Result<BTreeMap<i64, Rolled>, sqlx::Error> {
        const HOURS: &str =
            "SELECT hour_start, sliced, placed FROM call_rollup_hours WHERE hour_start >= $1 AND hour_start < $2";
        let hours: Vec<(i64, i64, i64)> =
            on_pool!(self, pool => sqlx::query_as(HOURS).bind(from).bind(to).fetch_all(pool).await?);
        Ok(hours
            .into_iter()
            .map(|(hour, sliced, placed)| (hour, Rolled { sliced: sliced == 1, placed: placed == 1 }))
            .collect())
    }

    /// The rollups of the hours starting in `[from, to)`: hour, line,
    /// slice, figures. Without a filter, the rows of all calls; with one,
    /// the slices it counts.
    async fn rollups(
        &self,
        from: i64,
        to: i64,
        filter: &CallFilter,
    ) -> Result<Vec<(i64, String, Slice, Part)>, sqlx::Error> {
        let [outcome, idv_status, idv_method] = filter.binds();
        let (placements, placed) = match filter.by_placement() {
            true => filter.placed(&PLACEMENTS, 6, "agent_rung"),
            false => (String::new(), Vec::new()),
        };
        on_pool!(self, pool => {
            let query = if filter.is_any() {
                sqlx::query(&ROLLUPS).bind(from).bind(to)
            } else if filter.by_placement() {
                let mut q = sqlx::query(&placements).bind(from).bind(to).bind(outcome).bind(idv_status).bind(idv_method);
                for b in &placed {
                    q = q.bind(*b);
                }
                q
            } else {
                sqlx::query(&SLICES).bind(from).bind(to).bind(outcome).bind(idv_status).bind(idv_method)
            };
            let rows = query.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let (stats, sums, slice) = LineStats::from_funnel(row)?;
                    let hour: i64 = row.try_get(24)?;
                    let ivr = histogram_of(&row.try_get::<String, _>(25)?);
                    Ok((hour, stats.line.clone(), slice, Part { stats, sums, ivr }))
                })
                .collect()
        })
    }

    /// Rolls up every settled hour at `now` not yet rolled up, from the
    /// hour after the latest rolled up (at first, the oldest call's hour);
    /// how many hours it rolled up. Each hour is rolled up once, whoever
    /// gets there first: the others find it marked. First, the hours
    /// rolled up before rollups were kept by slice are sliced
    /// ([`Db::slice_old_rollups`]).
    pub async fn roll_up(&self, now: u64) -> Result<usize, sqlx::Error> {
        self.slice_old_rollups().await?;
        let settled_before = super::db::to_i64(now.saturating_sub(SETTLED_AFTER) / HOUR * HOUR);
        let (latest, oldest): (Option<i64>, Option<i64>) = on_pool!(self, pool => {
            let latest = sqlx::query_scalar("SELECT MAX(hour_start) FROM call_rollup_hours").fetch_one(pool).await?;
            let oldest = sqlx::query_scalar("SELECT MIN(started_at) FROM call_records WHERE partial = 0").fetch_one(pool).await?;
            (latest, oldest)
        });
        let hour = HOUR as i64;
        let Some(mut at) = latest.map(|h| h + hour).or(oldest.map(|t| t.div_euclid(hour) * hour)) else { return Ok(0) };
        let mut rolled = 0;
        while at + hour <= settled_before {
            rolled += usize::from(self.roll_up_hour(at, now).await?);
            at += hour;
        }
        Ok(rolled)
    }

    /// Slices the hours rolled up before rollups were kept by slice (or
    /// by an instance of that version during a rolling upgrade), a batch
    /// at a time until none is left: an hour whose calls are all still in
    /// the records gets its slices from them; another (calls purged or
    /// erased) is marked unsliceable, and counted in unfiltered figures
    /// only. How many hours it sliced, each once whoever else tries.
    pub async fn slice_old_rollups(&self) -> Result<usize, sqlx::Error> {
        const OLD: &str = "SELECT h.hour_start, (SELECT CAST(COALESCE(SUM(r.calls), 0) AS BIGINT) FROM call_rollups r \
            WHERE r.hour_start = h.hour_start) FROM call_rollup_hours h WHERE h.sliced = 0 \
            ORDER BY h.hour_start LIMIT 200";
        let mut sliced = 0;
        loop {
            let hours: Vec<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(OLD).fetch_all(pool).await?);
            if hours.is_empty() {
                return Ok(sliced);
            }
            for (hour, calls) in hours {
                let parts = self.counted(hour, hour + HOUR as i64, &CallFilter::default()).await?;
                let whole = parts.values().map(|p| p.stats.calls).sum::<u64>() == count(calls);
                let _turn = self.write_turn().await;
                on_pool!(self, pool => {
                    let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
                    // Whoever marks the hour writes its slices.
                    let mark = |column: &str| format!("UPDATE call_rollup_hours SET {column} = $2 WHERE hour_start = $1 AND {column} = 0");
                    let state = if whole { 1_i64 } else { -1 };
                    let marked = sqlx::query(&mark("sliced")).bind(hour).bind(state).execute(&mut *tx).await?.rows_affected();
                    if marked == 1 && whole {
                        insert_rollups!(tx, hour, &unplaced(&parts), into = RollupTable::Slices);
                        sliced += 1;
                    }
                    // Its placements too, unless it has them (whoever marks it).
                    if marked == 1 {
                        let placing =
                            sqlx::query(&mark("placed")).bind(hour).bind(state).execute(&mut *tx).await?.rows_affected();
                        if placing == 1 && whole {
                            insert_rollups!(tx, hour, &placed(&parts), into = RollupTable::Placements);
                        }
                    }
                    tx.commit().await?;
                });
            }
        }
    }

    /// Rolls up the hour starting at `hour`, unless it already is; whether
    /// this call did.
    async fn roll_up_hour(&self, hour: i64, now: u64) -> Result<bool, sqlx::Error> {
        let parts = self.counted(hour, hour + HOUR as i64, &CallFilter::default()).await?;
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
            let marked = sqlx::query("INSERT INTO call_rollup_hours (hour_start, rolled_at, sliced, placed) VALUES ($1, $2, 1, 1) ON CONFLICT (hour_start) DO NOTHING")
                .bind(hour)
                .bind(super::db::to_i64(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if marked == 0 {
                // Rolled back now: a transaction only dropped is rolled back
                // when its connection is next used, and until then holds
                // its locks (a PostgreSQL connection idle in transaction).
                tx.rollback().await?;
                return Ok(false);
            }
            insert_rollups!(tx, hour, &totals(&parts), into = RollupTable::All);
            insert_rollups!(tx, hour, &unplaced(&parts), into = RollupTable::Slices);
            insert_rollups!(tx, hour, &placed(&parts), into = RollupTable::Placements);
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// The calls behind a report figure ([`Db::figure_calls`]) a page at a
/// time, each page after the last call of the one before, until a page
/// comes back short.
#[derive(Debug, Clone)]
pub struct FigurePages {
    key: &'static str,
    line: Option<String>,
    filter: CallFilter,
    period: (u64, u64),
    size: usize,
    after: Option<(u64, String)>,
    done: bool,
}

impl FigurePages {
    /// The calls behind figure `key` on `line` (or every line) that
    /// `filter` counts, started in `period`, `size` a page.
    pub fn new(
        key: &'static str,
        (line, filter): (Option<String>, CallFilter),
        period: (u64, u64),
        size: usize,
    ) -> Self {
        Self { key, line, filter, period, size: size.max(1), after: None, done: false }
    }

    /// The next page; `None` once every call has been read (a figure with
    /// no calls behind it has none).
    pub async fn next(&mut self, db: &Db) -> Result<Option<Vec<super::CallRecord>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let cursor = self.after.as_ref().map(|(at, sid)| (*at, sid.as_str()));
        let on = (self.line.as_deref(), &self.filter);
        let page = db.figure_calls(self.key, on, self.period, cursor, self.size).await?.unwrap_or_default();
        self.done = page.len() < self.size;
        self.after = page.last().map(|r| (r.started_at, r.call_sid.clone())).or(self.after.take());
        Ok(Some(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{IdvMethod, IdvStatus};
    use crate::store::{AgentState, CallRecord, RecordOutcome};

    const T0: u64 = 1_000_000;
    const NOW: u64 = T0 + 1_000;

    /// A record on `line` started at `T0 + at`.
    fn rec(sid: &str, line: &str, at: i64, f: impl FnOnce(&mut CallRecord)) -> CallRecord {
        let mut r = CallRecord::new(sid, line, "+1********01".into(), T0.saturating_add_signed(at));
        f(&mut r);
        r
    }

    fn handed(r: &mut CallRecord, after: u64, outcome: RecordOutcome) {
        r.handed_off_at = Some(r.started_at + after);
        r.outcome = outcome;
    }

    /// Every kind of call, on two lines, and some that must not count.
    async fn figures_from_every_kind_of_call(db: Db) {
        let records = [
            rec("CA01", "support", 0, |r| {
                (r.idv_status, r.idv_method) = (IdvStatus::Verified, IdvMethod::Ani);
                (r.crm_asked, r.crm_wait_ms) = (2, 40);
                handed(r, 30, RecordOutcome::SelfService);
            }),
            rec("CA02", "support", 1, |r| {
                (r.idv_status, r.idv_method, r.verify_attempts, r.lockout) =
                    (IdvStatus::Identified, IdvMethod::Keyed, 2, true);
                (r.crm_asked, r.crm_failed, r.crm_wait_ms) = (2, 1, 5_000);
                handed(r, 50, RecordOutcome::Agent);
            }),
            rec("CA03", "support", 2, |r| {
                (r.identify_attempts, r.opted_out) = (1, true);
                handed(r, 10, RecordOutcome::OptedOut);
            }),
            rec("CA04", "support", 3, |r| {
                (r.outcome, r.ended_at, r.identify_attempts) = (RecordOutcome::Abandoned, Some(T0 + 9), 2);
            }),
            rec("CA05", "sales", 5, |r| r.updated_at = NOW - 10),
            rec("CA06", "sales", 0, |r| {
                handed(r, 20, RecordOutcome::Agent);
                (r.agent_state, r.updated_at) = (AgentState::Waiting, NOW - 5);
            }),
            // Started before the range, live now: live, not in the funnel.
            rec("CA07", "support", -100, |r| {
                handed(r, 5, RecordOutcome::Agent);
                (r.agent_state, r.updated_at) = (AgentState::WithAgent, NOW - 100);
            }),
            rec("CA09", "support", 4, |r| handed(r, 5, RecordOutcome::CrmUnavailable)),
            // Started at the range's end: outside it.
            rec("CA10", "support", 500, |r| handed(r, 1, RecordOutcome::SelfService)),
            // Over: a final status, with an agent when it ended.
            rec("CA11", "sales", -50, |r| {
                handed(r, 2, RecordOutcome::Agent);
                (r.agent_state, r.call_status, r.updated_at) =
                    (AgentState::WithAgent, Some("completed".into()), NOW - 1);
            }),
            // No news for longer than a call stays live.
            rec("CA12", "sales", -9_000, |r| r.updated_at = NOW - LIVE_FOR_SECS - 1),
            // A status callback alone is not a call.
            CallRecord::pending_status("CA13", "completed", Some(2), Some(10), T0 + 6),
        ];
        let refs: Vec<&CallRecord> = records.iter().collect();
        db.merge_all(&refs).await.unwrap();
        let s = db.stats(&["support", "sales", "claims"], T0, T0 + 500, NOW).await.unwrap();
        let names: Vec<&str> = s.lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(names, ["claims", "sales", "support"], "every line, in name order");
        assert_eq!(s.lines[0], LineStats { line: "claims".into(), ..LineStats::default() });
        let support = LineStats {
            line: "support".into(),
            calls: 5,
            identified_by_caller_id: 1,
            identified_by_keyed_id: 1,
            verified: 1,
            opted_out: 1,
            failed_identification: 1,
            failed_verification: 1,
            locked: 1,
            crm_unavailable: 1,
            verification_unavailable: 0,
            self_service: 1,
            agent: 1,
            abandoned: 1,
            handed_on: 4,
            containment: Some(0.2),
            ivr_seconds_avg: Some(23.75),
            ivr_seconds_p90: Some(50),
            crm_asked: 4,
            crm_failed: 1,
            crm_wait_ms_avg: Some(1_260.0),
            crm_error_rate: Some(0.25),
            in_ivr: 0,
            waiting: 0,
            with_agent: 1,
            ivr_distribution: [(5, 1), (10, 1), (30, 1), (50, 1)].into(),
        };
        assert_eq!(s.lines[2], support);
        let sales = &s.lines[1];
        assert_eq!((sales.calls, sales.agent, sales.handed_on, sales.ivr_seconds_p90), (2, 1, 1, Some(20)));
        assert_eq!((sales.in_ivr, sales.waiting, sales.with_agent), (1, 1, 0));
        assert_eq!((sales.crm_asked, sales.crm_wait_ms_avg, sales.crm_error_rate), (0, None, None));
        assert_eq!((s.total.calls, s.total.handed_on, s.total.ivr_seconds_avg), (7, 5, Some(23.0)));
        assert_eq!((s.total.ivr_seconds_p90, s.total.in_ivr, s.total.waiting, s.total.with_agent), (Some(50), 1, 1, 1));
        assert_eq!(
            (s.total.crm_asked, s.total.crm_wait_ms_avg, s.total.crm_error_rate),
            (4, Some(1_260.0), Some(0.25))
        );

        // Each figure's calls are the calls it counted.
        let range = (T0, T0 + 500);
        for (key, want) in [
            ("calls", 5),
            ("identified_by_caller_id", 1),
            ("identified_by_keyed_id", 1),
            ("verified", 1),
            ("containment", 1),
            ("opted_out", 1),
            ("failed_identification", 1),
            ("failed_verification", 1),
            ("locked", 1),
            ("crm_unavailable", 1),
            ("self_service", 1),
            ("agent", 1),
            ("abandoned", 1),
            ("ivr_seconds_avg", 4),
            ("ivr_seconds_p90", 4),
            ("crm_wait_ms_avg", 2),
            ("crm_error_rate", 2),
        ] {
            let calls = db
                .figure_calls(key, (Some("support"), &CallFilter::default()), range, None, 100)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(calls.len(), want, "{key}: {:?}", calls.iter().map(|c| &c.call_sid).collect::<Vec<_>>());
            assert!(calls.iter().all(|c| c.service_line == "support" && c.started_at < T0 + 500), "{key}");
        }
        let verified =
            db.figure_calls("verified", (None, &CallFilter::default()), range, None, 100).await.unwrap().unwrap();
        assert_eq!(verified.iter().map(|c| c.call_sid.as_str()).collect::<Vec<_>>(), ["CA01"]);
        // Pages, in the order the calls started.
        let mut seen = Vec::new();
        let mut after: Option<(u64, String)> = None;
        loop {
            let page = db
                .figure_calls(
                    "calls",
                    (Some("support"), &CallFilter::default()),
                    range,
                    after.as_ref().map(|(at, sid)| (*at, sid.as_str())),
                    2,
                )
                .await
                .unwrap()
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.started_at, last.call_sid.clone()));
            seen.extend(page.iter().map(|c| c.call_sid.clone()));
        }
        assert_eq!(seen, ["CA01", "CA02", "CA03", "CA04", "CA09"]);
        // FigurePages reads the same pages, and stops after a short one.
        for (size, sizes) in [(2, vec![2, 2, 1]), (5, vec![5, 0]), (9, vec![5])] {
            let mut pages = FigurePages::new("calls", (Some("support".into()), CallFilter::default()), range, size);
            let (mut got, mut lens) = (Vec::new(), Vec::new());
            while let Some(page) = pages.next(&db).await.unwrap() {
                lens.push(page.len());
                got.extend(page.iter().map(|c| c.call_sid.clone()));
            }
            assert_eq!((got, lens), (seen.clone(), sizes), "{size} a page");
        }
        assert!(
            db.figure_calls("in_ivr", (None, &CallFilter::default()), range, None, 10).await.unwrap().is_none(),
            "no such figure"
        );
    }

    #[tokio::test]
    async fn on_sqlite_figures_from_every_kind_of_call() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        figures_from_every_kind_of_call(db).await;
    }

    #[tokio::test]
    async fn on_postgres_figures_from_every_kind_of_call() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("stats", 1).await else { return };
        figures_from_every_kind_of_call(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }

    /// Calls of every kind over five hours on two lines: the figures of
    /// any range are the same before and after the settled hours are
    /// rolled up (by two writers at once: each hour once), and those of
    /// whole hours survive the records' purge.
    async fn rollups_give_the_records_figures(db: Db) {
        let base = 100 * HOUR;
        let records = five_hours(base);
        db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
        let lines = ["support", "sales"];
        let now = base + 10 * HOUR;
        let ranges = [
            (base, base + 5 * HOUR),
            (base + 1_000, base + 3 * HOUR + 17),
            (base + HOUR, base + 2 * HOUR),
            (base - HOUR, now),
        ];
        let filters = [
            CallFilter { outcome: Some("agent"), ..CallFilter::default() },
            CallFilter { idv_status: Some("unidentified"), ..CallFilter::default() },
            CallFilter { outcome: Some("self_service"), idv_method: Some("ani"), ..CallFilter::default() },
            CallFilter { idv_status: Some("identified"), idv_method: Some("keyed"), ..CallFilter::default() },
            CallFilter { queue: Some("support".into()), ..CallFilter::default() },
            CallFilter { agent: Some("client:alice".into()), ..CallFilter::default() },
            CallFilter { queue: Some("fallback".into()), agent: Some("client:alice".into()), ..CallFilter::default() },
            CallFilter { queue: Some("sales".into()), idv_status: Some("identified"), ..CallFilter::default() },
        ];
        let mut before = Vec::new();
        let mut filtered_before = Vec::new();
        for (from, to) in ranges {
            before.push(db.stats(&lines, from, to, now).await.unwrap());
            for filter in &filters {
                let stats = db.figures(&lines, from, to, filter).await.unwrap();
                // Counted by hand from the records: the filter's calls.
                let fits = |r: &&CallRecord| {
                    r.started_at >= from
                        && r.started_at < to
                        && filter.outcome.is_none_or(|o| o == r.outcome.as_str())
                        && filter.idv_status.is_none_or(|v| v == r.idv_status.as_str())
                        && filter.idv_method.is_none_or(|m| m == r.idv_method.as_str())
                        && filter.queue.as_ref().is_none_or(|q| Some(q) == r.queue.as_ref())
                        && filter.agent.as_ref().is_none_or(|a| Some(a) == r.agent.as_ref())
                };
                assert_eq!(stats.total.calls, records.iter().filter(fits).count() as u64, "{filter:?} {from}..{to}");
                let listed = db.figure_calls("calls", (None, filter), (from, to), None, 100).await.unwrap().unwrap();
                assert_eq!(listed.len() as u64, stats.total.calls, "{filter:?}: the calls listed are those counted");
                filtered_before.push(stats);
            }
        }
        assert_eq!((before[0].total.calls, before[0].total.locked, before[0].total.abandoned), (60, 6, 12));
        assert!(before[0].total.ivr_seconds_p90.is_some() && before[0].total.crm_error_rate.is_some());
        assert!(filtered_before[..filters.len()].iter().all(|s| s.total.calls > 0), "every filter counts some calls");

        // Settled: the hours from the first call's to 2 hours before now.
        let (a, b) = tokio::join!(db.roll_up(now), db.roll_up(now));
        assert_eq!(a.unwrap() + b.unwrap(), 8, "each hour once, by whoever got there first");
        assert_eq!(db.roll_up(now).await.unwrap(), 0, "nothing left to roll up");
        let mut expected = filtered_before.iter();
        for ((from, to), unfiltered) in ranges.iter().zip(&before) {
            assert_eq!(&db.stats(&lines, *from, *to, now).await.unwrap(), unfiltered, "{from}..{to}");
            for filter in &filters {
                let stats = db.figures(&lines, *from, *to, filter).await.unwrap();
                assert_eq!(Some(&stats), expected.next(), "{filter:?} {from}..{to}, rolled up");
            }
        }

        on_pool!(&db, pool => sqlx::query("DELETE FROM call_records").execute(pool).await.map(drop).unwrap());
        let purged = db.stats(&lines, base, base + 5 * HOUR, now).await.unwrap();
        assert_eq!(purged, before[0], "the rollups outlive the records");
        for (filter, expected) in filters.iter().zip(&filtered_before) {
            let stats = db.figures(&lines, base, base + 5 * HOUR, filter).await.unwrap();
            assert_eq!(&stats, expected, "{filter:?}: the rollups' slices and placements outlive the records");
        }
        let partial = db.stats(&lines, base + 1_000, base + 3 * HOUR + 17, now).await.unwrap();
        assert!(partial.total.calls < before[1].total.calls, "partial hours were read from the records");
    }

    /// Hours rolled up before rollups were kept by slice (a row of all
    /// calls per hour and line, and no slices): an hour whose calls are all
    /// on record is sliced from them; one that lost a call (an erasure) is
    /// marked and counted unfiltered only, its calls reported as not
    /// filterable.
    async fn old_rollups_are_sliced_again_or_counted_unfiltered(db: Db) {
        let base = 100 * HOUR;
        let records = five_hours(base);
        db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
        let (lines, now) = (["support", "sales"], base + 10 * HOUR);
        let whole = (base, base + 5 * HOUR);
        let agent = CallFilter { outcome: Some("agent"), ..CallFilter::default() };
        let before = db.stats(&lines, whole.0, whole.1, now).await.unwrap();
        let agent_before = db.figures(&lines, whole.0, whole.1, &agent).await.unwrap();
        db.roll_up(now).await.unwrap();
        // As an earlier version rolled them up: an hour and line a row.
        on_pool!(&db, pool => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("DELETE FROM call_rollup_slices").execute(&mut *tx).await.unwrap();
            sqlx::query("DELETE FROM call_rollup_placements").execute(&mut *tx).await.unwrap();
            sqlx::query("UPDATE call_rollup_hours SET sliced = 0, placed = 0").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        });
        let unfiltered = db.stats(&lines, whole.0, whole.1, now).await.unwrap();
        assert_eq!((unfiltered.total.calls, unfiltered.total.agent), (before.total.calls, before.total.agent));
        let agent_now = db.figures(&lines, whole.0, whole.1, &agent).await.unwrap();
        assert_eq!((agent_now.total.calls, agent_now.unsliced), (0, 60), "old rollups cannot be filtered");

        // A customer's call in the third hour is erased.
        let erased = records.iter().find(|r| r.started_at >= base + 2 * HOUR && r.outcome == RecordOutcome::Agent);
        let erased = erased.expect("an agent call in the third hour");
        on_pool!(&db, pool => sqlx::query("DELETE FROM call_records WHERE call_sid = $1")
            .bind(&erased.call_sid).execute(pool).await.map(drop).unwrap());
        let (a, b) = tokio::join!(db.slice_old_rollups(), db.slice_old_rollups());
        assert_eq!(a.unwrap() + b.unwrap(), 7, "the 7 whole hours of the 8 rolled up sliced, each once");
        assert_eq!(db.slice_old_rollups().await.unwrap(), 0, "nothing left to slice");
        let third_hour = records.iter().filter(|r| (base + 2 * HOUR..base + 3 * HOUR).contains(&r.started_at));
        let third_hour = third_hour.count() as u64;
        let agent_after = db.figures(&lines, whole.0, whole.1, &agent).await.unwrap();
        assert_eq!(agent_after.unsliced, third_hour, "the third hour's calls cannot be filtered");
        let agents_elsewhere = records
            .iter()
            .filter(|r| {
                r.outcome == RecordOutcome::Agent && !(base + 2 * HOUR..base + 3 * HOUR).contains(&r.started_at)
            })
            .count() as u64;
        assert_eq!(agent_after.total.calls, agents_elsewhere);
        assert!(agent_after.total.calls < agent_before.total.calls);
        let after = db.stats(&lines, whole.0, whole.1, now).await.unwrap();
        assert_eq!(after, before, "unfiltered, every hour still counts every call (the erased one too)");
        assert_eq!(db.stats(&lines, whole.0, whole.1, now).await.unwrap().unsliced, 0);
    }

    #[tokio::test]
    async fn on_sqlite_old_rollups_are_sliced_again_or_counted_unfiltered() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        old_rollups_are_sliced_again_or_counted_unfiltered(db).await;
    }

    #[tokio::test]
    async fn on_postgres_old_rollups_are_sliced_again_or_counted_unfiltered() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("old_rollups", 1).await else { return };
        old_rollups_are_sliced_again_or_counted_unfiltered(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }

    /// A queue filter counts the same from the records and from the
    /// rollups' placements, and, where an hour was rolled up without them,
    /// names the calls whose records are gone as not filterable.
    async fn a_queue_filter_counts_records_and_names_those_gone(db: Db) {
        let base = 100 * HOUR;
        let mut records = five_hours(base);
        for r in records.iter_mut().filter(|r| r.handed_off_at.is_some()) {
            r.queue = Some(if r.service_line == "sales" { "sales" } else { "support" }.to_string());
        }
        db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
        let (lines, now) = (["support", "sales"], base + 10 * HOUR);
        let whole = (base, base + 5 * HOUR);
        let support = CallFilter { queue: Some("support".into()), ..CallFilter::default() };
        let expected = |f: &dyn Fn(&CallRecord) -> bool| records.iter().filter(|r| f(r)).count() as u64;
        let in_support = expected(&|r| r.queue.as_deref() == Some("support"));
        assert!(in_support > 10 && in_support < 60, "{in_support}");
        let before = db.figures(&lines, whole.0, whole.1, &support).await.unwrap();
        assert_eq!((before.total.calls, before.unsliced), (in_support, 0));
        db.roll_up(now).await.unwrap();
        let rolled = db.figures(&lines, whole.0, whole.1, &support).await.unwrap();
        assert_eq!(rolled, before, "rolled up or not, the same figures");
        let agents = CallFilter { outcome: Some("agent"), ..support.clone() };
        let support_agents = expected(&|r| r.queue.as_deref() == Some("support") && r.outcome == RecordOutcome::Agent);
        assert_eq!(db.figures(&lines, whole.0, whole.1, &agents).await.unwrap().total.calls, support_agents);
        let listed = db.figure_calls("calls", (Some("support"), &support), whole, None, 100).await.unwrap().unwrap();
        assert_eq!(listed.len() as u64, in_support);

        // The first hour's records go (retention): the rollups kept its
        // calls by queue, so the figures do not change.
        on_pool!(&db, pool => sqlx::query("DELETE FROM call_records WHERE started_at < $1")
            .bind(super::super::db::to_i64(base + HOUR)).execute(pool).await.map(drop).unwrap());
        let kept = db.figures(&lines, whole.0, whole.1, &support).await.unwrap();
        assert_eq!(kept, before, "read from the placements' rollups");
        assert_eq!(db.figures(&lines, whole.0, whole.1, &agents).await.unwrap().total.calls, support_agents);

        // Hours rolled up without placements (by an earlier version) are
        // read from their records: those gone cannot be filtered.
        on_pool!(&db, pool => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("DELETE FROM call_rollup_placements").execute(&mut *tx).await.unwrap();
            sqlx::query("UPDATE call_rollup_hours SET placed = 0").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        });
        let first_hour = expected(&|r| r.started_at < base + HOUR);
        let after = db.figures(&lines, whole.0, whole.1, &support).await.unwrap();
        let later = expected(&|r| r.queue.as_deref() == Some("support") && r.started_at >= base + HOUR);
        assert_eq!((after.total.calls, after.unsliced), (later, first_hour));
        let unfiltered = db.figures(&lines, whole.0, whole.1, &CallFilter::default()).await.unwrap();
        assert_eq!((unfiltered.total.calls, unfiltered.unsliced), (60, 0), "the rollups still count every call");
        let by_outcome = CallFilter { outcome: Some("agent"), ..CallFilter::default() };
        let outcome = db.figures(&lines, whole.0, whole.1, &by_outcome).await.unwrap();
        assert_eq!(outcome.unsliced, 0, "the slices do not need the placements");
    }

    #[tokio::test]
    async fn on_sqlite_a_queue_filter_counts_records_and_names_those_gone() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        a_queue_filter_counts_records_and_names_those_gone(db).await;
    }

    #[tokio::test]
    async fn on_postgres_a_queue_filter_counts_records_and_names_those_gone() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("queue_filter", 1).await else { return };
        a_queue_filter_counts_records_and_names_those_gone(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }

    /// 60 calls of every kind over five hours from `base`, on two lines.
    fn five_hours(base: u64) -> Vec<CallRecord> {
        (0..60u64)
            .map(|i| {
                let line = if i % 3 == 0 { "sales" } else { "support" };
                let mut r = CallRecord::new(&format!("CA{i:04}"), line, "+1********01".into(), base + i * 300 + i % 7);
                match i % 5 {
                    0 => {
                        (r.idv_status, r.idv_method) = (IdvStatus::Verified, IdvMethod::Ani);
                        handed(&mut r, 20 + i, RecordOutcome::SelfService);
                    }
                    1 => {
                        (r.idv_status, r.idv_method, r.verify_attempts, r.lockout) =
                            (IdvStatus::Identified, IdvMethod::Keyed, 2, i % 2 == 0);
                        handed(&mut r, 40 + i % 13, RecordOutcome::Agent);
                    }
                    2 => {
                        (r.identify_attempts, r.opted_out) = (1, true);
                        handed(&mut r, 9, RecordOutcome::OptedOut);
                    }
                    3 => {
                        (r.outcome, r.ended_at, r.identify_attempts) =
                            (RecordOutcome::Abandoned, Some(r.started_at + 30), 2);
                    }
                    _ => handed(&mut r, 5, RecordOutcome::CrmUnavailable),
                }
                (r.crm_asked, r.crm_failed, r.crm_wait_ms) = ((i % 3) as u32, u32::from(i % 4 == 1), i * 7);
                // Agent calls queue on their line; opt-outs ring an agent,
                // and half of them fall back to a queue.
                match r.outcome {
                    RecordOutcome::Agent => r.queue = Some(line.to_string()),
                    RecordOutcome::OptedOut => {
                        r.agent = Some("client:alice".into());
                        r.queue = (i % 2 == 0).then(|| "fallback".to_string());
                    }
                    _ => {}
                }
                r
            })
            .collect()
    }

    #[tokio::test]
    async fn on_sqlite_rollups_give_the_records_figures() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        rollups_give_the_records_figures(db).await;
    }

    #[tokio::test]
    async fn on_postgres_rollups_give_the_records_figures() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("rollups", 1).await else { return };
        rollups_give_the_records_figures(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }

    #[test]
    fn every_counted_figures_calls_are_the_funnels_condition() {
        for (key, condition) in FIGURE_CALLS {
            let counted = FUNNEL.contains(&format!("CASE WHEN {condition} THEN 1"));
            let worked_out =
                ["calls", "containment", "ivr_seconds_avg", "ivr_seconds_p90", "crm_wait_ms_avg", "crm_error_rate"];
            assert!(counted || worked_out.contains(&key), "{key}: {condition} is not the funnel's");
        }
    }

    #[test]
    fn the_p90_is_the_nearest_rank() {
        let ones = |n: i64| -> BTreeMap<i64, i64> { (1..=n).map(|s| (s, 1)).collect() };
        assert_eq!(p90(&ones(1)), Some(1));
        assert_eq!(p90(&ones(10)), Some(9), "the 9th of 10");
        assert_eq!(p90(&ones(11)), Some(10), "the 10th of 11");
        assert_eq!(p90(&ones(100)), Some(90));
        assert_eq!(p90(&BTreeMap::new()), None);
        // 9 calls of 5 s and 1 of 60 s: the 9th is 5 s; 8 and 2: 60 s.
        assert_eq!(p90(&[(60, 1), (5, 9)].into()), Some(5));
        assert_eq!(p90(&[(60, 2), (5, 8)].into()), Some(60));
    }

    #[test]
    fn a_distribution_is_stored_as_text_and_read_back() {
        let h: BTreeMap<i64, i64> = [(5, 9), (61, 2), (0, 1)].into();
        assert_eq!(histogram_text(&h), "0:1 5:9 61:2");
        assert_eq!(histogram_of(&histogram_text(&h)), h);
        assert_eq!(histogram_of(""), BTreeMap::new());
        assert_eq!(histogram_of("5:2 junk 7:x 9:1"), [(5, 2), (9, 1)].into(), "what does not read is skipped");
    }

    #[test]
    fn the_records_are_read_where_no_whole_hour_is_rolled_up() {
        let h = |n: i64| n * 3_600;
        let rolled: BTreeSet<i64> = [h(1), h(2), h(4)].into();
        assert_eq!(uncovered(h(1), h(5), &rolled), [(h(3), h(4))]);
        assert_eq!(uncovered(h(0) + 10, h(5) + 10, &rolled), [(10, h(1)), (h(3), h(4)), (h(5), h(5) + 10)]);
        assert_eq!(uncovered(h(1) + 1, h(2) + 5, &rolled), [(h(1) + 1, h(2) + 5)], "no whole hour inside");
        assert_eq!(uncovered(h(6), h(7), &rolled), [(h(6), h(7))]);
    }
}

//! How ID&V is doing, aggregated in the database from the call records
//! (so every instance sharing it gives the same figures): for calls started
//! in a time range, per line, the funnel (calls, identified by caller ID or
//! by keyed identifier, verified), what fell out of it (opted out, failed
//! identification, failed verification, locked, CRM or verification
//! unavailable), how calls left (self-service, agent, abandoned) and their
//! time in the IVR; and the calls live now. No customer data: counts only.

use super::db::{on_pool, Db};
use super::record::{FINAL_STATUSES, LIVE_FOR_SECS};
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::BTreeMap;

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
}

/// The figures of a range: per line (every configured line, with or without
/// calls), and over them all.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Unix seconds: calls started at or after `from` and before `to`.
    pub from: u64,
    pub to: u64,
    /// Unix seconds: what "live" was measured at.
    pub now: u64,
    pub lines: Vec<LineStats>,
    pub total: LineStats,
}

/// The funnel's columns after `service_line`, in [`LineStats`]' order.
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
    CAST(SUM(crm_asked) AS BIGINT), CAST(SUM(crm_failed) AS BIGINT), CAST(SUM(crm_wait_ms) AS BIGINT) \
    FROM call_records WHERE partial = 0 AND started_at >= $1 AND started_at < $2 GROUP BY service_line";

/// The time in the IVR at a rank (`$4` the offset), on one line (`$3`) or,
/// with `$3` null, on every line.
const IVR_AT_RANK: &str = "SELECT handed_off_at - started_at FROM call_records \
    WHERE partial = 0 AND started_at >= $1 AND started_at < $2 AND service_line = COALESCE($3, service_line) \
    AND handed_off_at IS NOT NULL ORDER BY 1 LIMIT 1 OFFSET $4";

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

    /// A row of [`FUNNEL`], in its column order.
    fn from_funnel<'r, R: Row>(row: &'r R) -> Result<(Self, Sums), sqlx::Error>
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
        Ok((s, Sums { ivr_seconds, crm_wait_ms }))
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

/// The nearest-rank 90th percentile's offset among `n` sorted values:
/// the `ceil(0.9 n)`-th.
fn p90_offset(n: u64) -> i64 {
    i64::try_from(n.saturating_mul(9).div_ceil(10).saturating_sub(1)).unwrap_or(i64::MAX)
}

impl Db {
    /// The figures of calls started in `[from, to)`, per line of `lines`
    /// (a line with no calls shows zeros; a line no longer configured but
    /// in the records shows too), and live now at `now`.
    pub async fn stats(&self, lines: &[&str], from: u64, to: u64, now: u64) -> Result<Stats, sqlx::Error> {
        let (from_i, to_i) = (super::db::to_i64(from), super::db::to_i64(to));
        let live_since = super::db::to_i64(now.saturating_sub(LIVE_FOR_SECS));
        let (funnel, live): (Vec<(LineStats, Sums)>, Vec<LiveRow>) = on_pool!(self, pool => {
            let rows = sqlx::query(FUNNEL).bind(from_i).bind(to_i).fetch_all(pool).await?;
            let funnel = rows.iter().map(LineStats::from_funnel).collect::<Result<_, _>>()?;
            let live = sqlx::query_as(&LIVE).bind(live_since).fetch_all(pool).await?;
            (funnel, live)
        });
        let mut by_line: BTreeMap<String, (LineStats, Sums)> =
            lines.iter().map(|l| (l.to_string(), (LineStats::named(l), Sums::default()))).collect();
        for (s, sums) in funnel {
            by_line.insert(s.line.clone(), (s, sums));
        }
        for (line, in_ivr, waiting, with_agent) in live {
            let (s, _) = by_line.entry(line.clone()).or_insert_with(|| (LineStats::named(&line), Sums::default()));
            (s.in_ivr, s.waiting, s.with_agent) = (count(in_ivr), count(waiting), count(with_agent));
        }
        let mut total = LineStats::named("all");
        let mut total_sums = Sums::default();
        let mut out = Vec::with_capacity(by_line.len());
        for (line, (mut s, sums)) in by_line {
            s.finish(sums);
            if s.handed_on > 0 {
                s.ivr_seconds_p90 = self.ivr_at_rank(from_i, to_i, Some(&line), p90_offset(s.handed_on)).await?;
            }
            total.add(&s);
            total_sums.ivr_seconds += sums.ivr_seconds;
            total_sums.crm_wait_ms += sums.crm_wait_ms;
            out.push(s);
        }
        total.finish(total_sums);
        if total.handed_on > 0 {
            total.ivr_seconds_p90 = self.ivr_at_rank(from_i, to_i, None, p90_offset(total.handed_on)).await?;
        }
        Ok(Stats { from, to, now, lines: out, total })
    }

    async fn ivr_at_rank(
        &self,
        from: i64,
        to: i64,
        line: Option<&str>,
        offset: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(IVR_AT_RANK).bind(from).bind(to).bind(line).bind(offset).fetch_optional(pool).await?
        });
        Ok(v.map(count))
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
    }

    #[tokio::test]
    async fn on_sqlite_figures_from_every_kind_of_call() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::DatabaseUrl::Sqlite(format!("sqlite://{}", dir.path().join("t.db").display()));
        figures_from_every_kind_of_call(Db::open(&url).await.unwrap().unwrap()).await;
    }

    #[tokio::test]
    async fn on_postgres_figures_from_every_kind_of_call() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("stats", 1).await else { return };
        figures_from_every_kind_of_call(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }

    #[test]
    fn the_p90_is_the_nearest_rank() {
        assert_eq!(p90_offset(1), 0);
        assert_eq!(p90_offset(10), 8, "the 9th of 10");
        assert_eq!(p90_offset(11), 9, "the 10th of 11");
        assert_eq!(p90_offset(100), 89);
    }
}

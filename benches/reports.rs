//! How long supervisors wait for their figures over a large history. Loads
//! synthetic call records (by default one million, spread over the last 30
//! days on three lines, with every outcome, identification method, lockouts,
//! opt-outs, CRM failures and live calls) into a SQLite file and, when
//! `VOUCH_TEST_POSTGRES_URL` is set, into PostgreSQL, then times what the
//! pages ask the database:
//!
//! - the dashboard's query: today's figures (`Db::stats` from midnight);
//! - a 30-day report's: the same figures over 30 days;
//!
//! then the `/reports` page's 30 days (unfiltered and filtered), its XLSX
//! and PDF exports, and the calls behind its "Calls" figure as an XLSX
//! call list (and the first 5,000 as a PDF), with the memory they took;
//!
//! each against a bare `COUNT(*)` of the same range's rows, timed in the
//! same run, as the baseline: first from the records alone, then after
//! the settled hours are rolled up (`Db::roll_up`, timed too), as a running
//! Vouch keeps them.
//!
//!   cargo bench --bench reports                        # 1,000,000 records
//!   cargo bench --bench reports -- --records 20000     # CI's smoke run

#[path = "support/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};
use vouch::config::DatabaseUrl;
use vouch::flow::{IdvMethod, IdvStatus};
use vouch::store::{AgentState, CallRecord, Db, RecordOutcome};

const DAY: u64 = 86_400;
const LINES: [(&str, u64); 3] = [("support", 60), ("sales", 30), ("claims", 10)];
/// Records per write: the store's own batches are up to 100; bigger ones
/// load faster and write the same rows.
const LOAD_BATCH: usize = 1_000;

/// A small deterministic generator (xorshift64*): the same records every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The `i`-th of `n` synthetic calls, started within the 30 days before
/// `now` in the order they are written, as calls arrive (the last few
/// minutes' calls still live).
fn record(rng: &mut Rng, i: u64, n: u64, now: u64) -> CallRecord {
    let started = now - 30 * DAY + i * (30 * DAY) / n.max(1) + rng.below(60);
    let mut pick = rng.below(100);
    let line = LINES
        .iter()
        .find(|(_, share)| {
            pick < *share || {
                pick -= share;
                false
            }
        })
        .map_or("support", |l| l.0);
    let caller = format!("+1********{:02}", i % 100);
    let mut r = CallRecord::new(&format!("CA{i:032x}"), line, caller, started);
    let ivr = 8 + rng.below(170);
    (r.crm_asked, r.crm_wait_ms) = (1 + u32::try_from(rng.below(3)).unwrap_or(0), 20 + rng.below(600));
    r.crm_failed = u32::from(rng.chance(2));
    let (status, method) = match rng.below(100) {
        0..=54 => (if rng.chance(80) { IdvStatus::Verified } else { IdvStatus::Identified }, IdvMethod::Ani),
        55..=79 => (if rng.chance(70) { IdvStatus::Verified } else { IdvStatus::Identified }, IdvMethod::Keyed),
        _ => (IdvStatus::Unidentified, IdvMethod::None),
    };
    (r.idv_status, r.idv_method) = (status, method);
    if status != IdvStatus::Unidentified {
        r.customer_id = Some(format!("{:08}", rng.below(200_000)));
        r.customer_name = Some(format!("Customer {}", rng.below(200_000)));
        r.identified_at = Some(started + ivr / 3);
    }
    if status == IdvStatus::Verified {
        r.verified_at = Some(started + ivr);
    }
    r.identify_attempts = u8::from(method != IdvMethod::Ani) + u8::from(rng.chance(10));
    r.verify_attempts = u8::from(status != IdvStatus::Unidentified) + u8::from(status == IdvStatus::Identified);
    r.opted_out = rng.chance(8);
    r.lockout = status == IdvStatus::Identified && rng.chance(15);
    r.outcome = match (status, r.opted_out, rng.below(100)) {
        (_, true, _) => RecordOutcome::OptedOut,
        (_, _, 0..=1) => RecordOutcome::CrmUnavailable,
        (_, _, 2..=5) => RecordOutcome::Abandoned,
        (IdvStatus::Verified, _, 6..=60) => RecordOutcome::SelfService,
        _ => RecordOutcome::Agent,
    };
    if now - started < 600 {
        // Live: still in the IVR, or with the agents.
        r.outcome = RecordOutcome::InProgress;
        r.updated_at = now - rng.below(60);
        return r;
    }
    if r.outcome != RecordOutcome::Abandoned {
        r.handed_off_at = Some(started + ivr);
    }
    if r.outcome == RecordOutcome::Agent {
        r.agent_state = AgentState::WithAgent;
    }
    if matches!(r.outcome, RecordOutcome::Agent | RecordOutcome::OptedOut | RecordOutcome::CrmUnavailable) {
        // Each line's agent calls go in a queue named after it (the demo's support line's is `support`).
        r.queue = Some(line.to_string());
    }
    let ended = started + ivr + rng.below(900);
    (r.call_status, r.call_duration, r.ended_at, r.updated_at) =
        (Some("completed".into()), Some(ended - started), Some(ended), ended);
    r
}

/// Loads `n` records into `db`; how long it took.
async fn load(db: &Db, n: u64, now: u64) -> Duration {
    let mut rng = Rng(0x005E_ED0F_CA11);
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<CallRecord> = (i..n.min(i + LOAD_BATCH as u64)).map(|j| record(&mut rng, j, n, now)).collect();
        let refs: Vec<&CallRecord> = batch.iter().collect();
        db.merge_all(&refs).await.expect("the records are written");
        i += batch.len() as u64;
    }
    // What a running database would have done meanwhile: SQLite's
    // checkpoints (Vouch's checkpointer), and PostgreSQL's statistics
    // (autovacuum); without them PostgreSQL plans every range as a third
    // of the table and scans it all.
    match db {
        Db::Sqlite(pool) => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query("ANALYZE call_records").execute(pool).await.map(drop),
    }
    .expect("checkpointed, or analysed");
    started.elapsed()
}

/// The median and best of `runs` timings of `f`.
async fn time<F, Fut, T>(runs: usize, mut f: F) -> (Duration, Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(f().await);
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[0], last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The baseline: a bare count of the calls started in `[from, to)`.
async fn count_started(db: &Db, from: u64, to: u64) -> u64 {
    count_where(db, from, to, "1 = 1").await
}

/// How many calls started in `[from, to)` meet `condition`.
async fn count_where(db: &Db, from: u64, to: u64, condition: &str) -> u64 {
    let sql = format!(
        "SELECT COUNT(*) FROM call_records WHERE partial = 0 AND started_at >= $1 AND started_at < $2 AND {condition}"
    );
    let (from, to) = (i64::try_from(from).unwrap_or(0), i64::try_from(to).unwrap_or(i64::MAX));
    let n: i64 = match db {
        Db::Sqlite(pool) => sqlx::query_scalar(&sql).bind(from).bind(to).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(&sql).bind(from).bind(to).fetch_one(pool).await,
    }
    .expect("the rows are counted");
    u64::try_from(n).unwrap_or(0)
}

/// Times the dashboard's and a 30-day report's figures on `db`, each with
/// a bare count of the same range's rows as its baseline: from the records
/// alone, then after the settled hours are rolled up (as a running Vouch
/// keeps them).
async fn measure(name: &str, db: &Db, n: u64, now: u64) {
    let loaded = load(db, n, now).await;
    println!("{name}: {n} records loaded in {:.1} s", loaded.as_secs_f64());
    let lines: Vec<&str> = LINES.iter().map(|(l, _)| *l).collect();
    let midnight = now - now % DAY;
    let queries = [("dashboard (today)", midnight, 7), ("30-day report", now - 30 * DAY, 3)];
    for rolled in [false, true] {
        if rolled {
            let started = Instant::now();
            let hours = db.roll_up(now).await.expect("the settled hours roll up");
            println!("{name}: {hours} settled hours rolled up in {:.1} s", started.elapsed().as_secs_f64());
        }
        for (what, from, runs) in queries {
            let (bare, _, rows) = time(runs, || count_started(db, from, now + 1)).await;
            let (median, best, stats) =
                time(runs, || async { db.stats(&lines, from, now + 1, now).await.expect("the figures are counted") })
                    .await;
            assert_eq!(stats.total.calls, rows, "the figures count every call in the range");
            let source = if rolled { "rollups + records" } else { "records only" };
            println!(
                "| {name} | {what}, {source} | {rows} | {} | {} | {} | {:.2}× |",
                ms(median),
                ms(best),
                ms(bare),
                median.as_secs_f64() / bare.as_secs_f64().max(1e-9)
            );
        }
    }
    // The /reports page's 30 days, a row per day in UTC (31 figures).
    let config = vouch::config::Config::from_toml(vouch::config::DEMO_CONFIG, &std::collections::HashMap::new())
        .expect("the demo configuration");
    let to = vouch::report::today(&vouch::config::LineTimeZone::utc(), now);
    let from = to.checked_sub(jiff::Span::new().days(29)).expect("a date");
    let filters = vouch::report::Filters {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        tz: Some("UTC".into()),
        ..Default::default()
    };
    let query = vouch::report::ReportQuery::from_filters(&filters, &config, now).expect("the report's filters");
    let (median, best, report) =
        time(3, || async { vouch::report::Report::build(db, &config, query.clone()).await.expect("the report") }).await;
    let (from, to) = query.range();
    let (bare, _, rows) = time(3, || count_started(db, from, to)).await;
    assert_eq!(report.total.calls, rows, "the report counts every call in its days");
    println!(
        "| {name} | 30-day report by day (/reports), rollups + records | {rows} | {} | {} | {} | {:.2}× |",
        ms(median),
        ms(best),
        ms(bare),
        median.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    // The same 30 days, filtered: the calls handed to an agent.
    let agent_filters = vouch::report::Filters { outcome: Some("agent".into()), ..filters.clone() };
    let agent_query = vouch::report::ReportQuery::from_filters(&agent_filters, &config, now).expect("the filter");
    let (median, best, filtered) =
        time(3, || async { vouch::report::Report::build(db, &config, agent_query.clone()).await.expect("the report") })
            .await;
    let agents = count_where(db, from, to, "outcome = 'agent'").await;
    assert_eq!(filtered.total.calls, agents, "the filtered report counts every agent call in its days");
    println!(
        "| {name} | 30-day report by day, outcome=agent, rollups + records | {agents} | {} | {} | {} | {:.2}× |",
        ms(median),
        ms(best),
        ms(bare),
        median.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    // The same 30 days, filtered by queue: from the rollups' placements
    // (and, for the hours not rolled up, the records, through the queue's
    // index).
    let queue_filters = vouch::report::Filters { queue: Some("support".into()), ..filters.clone() };
    let queue_query = vouch::report::ReportQuery::from_filters(&queue_filters, &config, now).expect("the filter");
    let (median, best, queued) =
        time(3, || async { vouch::report::Report::build(db, &config, queue_query.clone()).await.expect("the report") })
            .await;
    let in_queue = count_where(db, from, to, "queue = 'support'").await;
    assert_eq!(queued.total.calls, in_queue, "the queue's report counts every call put in the queue in its days");
    println!(
        "| {name} | 30-day report by day, queue=support, rollups + records | {in_queue} | {} | {} | {} | {:.2}× |",
        ms(median),
        ms(best),
        ms(bare),
        median.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    // Its exports, counted and written (what /reports/export does).
    for format in [vouch::report::Format::Xlsx, vouch::report::Format::Pdf] {
        let (median, best, file) = time(3, || async {
            let report = vouch::report::Report::build(db, &config, query.clone()).await.expect("the report");
            report.file(format).expect("the file")
        })
        .await;
        assert!(file.len() > 1_000, "a {format:?} file");
        println!(
            "| {name} | 30-day {} export (/reports/export), {} KiB | {rows} | {} | {} | {} | {:.2}× |",
            format.as_str().to_uppercase(),
            file.len() / 1024,
            ms(median),
            ms(best),
            ms(bare),
            median.as_secs_f64() / bare.as_secs_f64().max(1e-9)
        );
    }
    // The calls behind those 30 days' "Calls" figure as an XLSX list; the
    // memory it took: the process's peak resident size over it, less what
    // it held before.
    let before = memory_kib();
    reset_peak();
    let started = Instant::now();
    let (listed, bytes) = calls_xlsx(db, (from, to)).await;
    let took = started.elapsed();
    assert_eq!(listed, rows, "the list holds every call behind the figure");
    let memory = match (before, memory_kib()) {
        (Some((rss, _)), Some((_, peak))) => format!("resident {} MiB before, peak {} MiB", rss / 1024, peak / 1024),
        _ => "memory not measured".into(),
    };
    println!(
        "| {name} | 30-day call list XLSX (/reports/calls, format=xlsx), {:.1} MiB, {memory} | {rows} | {} | {} | {} | {:.2}× |",
        bytes as f64 / (1024.0 * 1024.0),
        ms(took),
        ms(took),
        ms(bare),
        took.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    // The longest PDF call list (5,000 calls; a longer one is refused):
    // read, then set on A4 pages.
    let before = memory_kib();
    reset_peak();
    let started = Instant::now();
    let (pages, bytes) = calls_pdf(db, (from, to), 5_000).await;
    let took = started.elapsed();
    let memory = match (before, memory_kib()) {
        (Some((rss, _)), Some((_, peak))) => format!("resident {} MiB before, peak {} MiB", rss / 1024, peak / 1024),
        _ => "memory not measured".into(),
    };
    println!(
        "| {name} | call list PDF of its first 5,000 calls (the most a PDF lists), {pages} pages, {:.1} MiB, {memory} | {} | {} | {} | {} | {:.2}× |",
        bytes as f64 / (1024.0 * 1024.0),
        rows.min(5_000),
        ms(took),
        ms(took),
        ms(bare),
        took.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
}

/// The first `most` calls started in `[from, to)` as a PDF call list, as
/// `/reports/calls?…&format=pdf` writes it: about how many pages, and how
/// many bytes.
async fn calls_pdf(db: &Db, (from, to): (u64, u64), most: usize) -> (usize, usize) {
    let mut pages = vouch::store::FigurePages::new("calls", (None, Default::default()), (from, to), 500);
    let mut calls = Vec::new();
    while calls.len() < most {
        let Some(page) = pages.next(db).await.expect("the calls are read") else { break };
        calls.extend(page.iter().map(shown));
    }
    calls.truncate(most);
    let heading = vouch::report::pdf::Heading {
        title: "Calls".into(),
        lines: vec!["Figure: Calls".into(), "Outcome: any".into()],
        note: "Customer data.".into(),
    };
    let table = vouch::report::pdf::calls_table(&calls);
    let pdf = tokio::task::spawn_blocking(move || vouch::report::pdf::list(&heading, &table).expect("the PDF"));
    let pdf = pdf.await.expect("the PDF's thread");
    // Page objects: `/Type /Page`, not `/Type /Pages`.
    let pages = (0..pdf.len())
        .filter(|&i| pdf[i..].starts_with(b"/Type"))
        .filter(|&i| {
            let rest =
                pdf[i + 5..].iter().skip_while(|b| b.is_ascii_whitespace()).take(6).copied().collect::<Vec<u8>>();
            rest.starts_with(b"/Page") && rest.get(5) != Some(&b's')
        })
        .count();
    (pages, pdf.len())
}

/// This process's resident memory now and its peak since [`reset_peak`]
/// (KiB), where Linux says.
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Starts [`memory_kib`]'s peak again from now (Linux).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A writer that only counts what it is given.
struct Counted(u64);

impl std::io::Write for Counted {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `r` as a call list words it (near enough: the words' lengths are what
/// cost).
fn shown(r: &CallRecord) -> vouch::report::calls::ShownCall {
    let utc = vouch::config::LineTimeZone::utc();
    vouch::report::calls::ShownCall {
        started_at: r.started_at,
        started: utc.format(r.started_at),
        customer: r.customer_name.clone().unwrap_or_else(|| "Unknown caller".into()),
        customer_id: r.customer_id.clone().unwrap_or_else(|| "—".into()),
        line: r.service_line.clone(),
        method: r.idv_method.as_str().into(),
        status: r.idv_status.as_str().into(),
        outcome: r.outcome.as_str().into(),
        ivr_seconds: r.handed_off_at.map(|at| at.saturating_sub(r.started_at)),
        ivr: r.handed_off_at.map_or_else(|| "—".into(), |at| format!("{} s", at.saturating_sub(r.started_at))),
        queue: r.queue.clone().unwrap_or_else(|| "—".into()),
        agent: r.agent.clone().unwrap_or_else(|| "—".into()),
        call_sid: r.call_sid.clone(),
    }
}

/// Every call started in `[from, to)` as an XLSX call list, as
/// `/reports/calls?…&format=xlsx` writes it: read 500 at a time into a
/// sheet that keeps one row in memory, then zipped as it is sent (here,
/// into a counter). How many calls it lists and how many bytes it is.
async fn calls_xlsx(db: &Db, (from, to): (u64, u64)) -> (u64, u64) {
    let filters = vec![("Figure", "Calls".to_string())];
    let mut book = vouch::report::xlsx::CallsBook::new("Calls", filters, "Customer data.", jiff::tz::TimeZone::UTC)
        .expect("a workbook");
    let mut pages = vouch::store::FigurePages::new("calls", (None, Default::default()), (from, to), 500);
    let mut listed = 0;
    while let Some(page) = pages.next(db).await.expect("the calls are read") {
        for r in &page {
            book.push(&shown(r)).expect("a row written");
        }
        listed += page.len() as u64;
    }
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Counted(0);
        book.finish(&mut out).expect("the workbook zipped");
        out.0
    });
    (listed, bytes.await.expect("the zipping thread"))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut records: u64 = 1_000_000;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--records" => records = args.next().and_then(|v| v.parse().ok()).expect("--records N"),
            "--bench" => {}
            other => panic!("unknown argument {other}: use --records N"),
        }
    }
    let now = vouch::clock::now();
    println!("| Database | Query | Calls in range | Median | Best | Bare count (baseline) | × baseline |");
    println!("|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = DatabaseUrl::Sqlite(format!("sqlite://{}", dir.path().join("reports.db").display()));
    let sqlite = Db::open(&url).await.expect("SQLite opens").expect("not memory");
    measure("SQLite", &sqlite, records, now).await;
    match postgres::Schema::create("vouch_bench_reports").await {
        Some(schema) => {
            let url = DatabaseUrl::parse(&schema.url, "VOUCH_TEST_POSTGRES_URL").expect("a PostgreSQL URL");
            let pg = Db::open(&url).await.expect("PostgreSQL opens").expect("not memory");
            measure("PostgreSQL", &pg, records, now).await;
            schema.drop().await;
        }
        None => println!("PostgreSQL: skipped (set VOUCH_TEST_POSTGRES_URL to include it)"),
    }
}

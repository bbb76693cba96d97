//! Does writing call records slow the webhook answer? Starts one real Vouch
//! per store (memory only as the baseline, a SQLite file, a SQLite file held
//! locked by another writer so every write fails and waits in the buffer,
//! and PostgreSQL when `VOUCH_TEST_POSTGRES_URL` is set), sends each the
//! same signed first webhooks over HTTP (a new call every time, so every
//! answer writes a new record), in interleaved rounds, and prints latency
//! percentiles and the ratio to the baseline.
//!
//! Then it times the store's `put` alone (what a webhook awaits) on each.
//!
//!   cargo bench --bench webhook_store                 # 3000 requests per store
//!   cargo bench --bench webhook_store -- --requests 600

use std::collections::HashMap;
use std::time::{Duration, Instant};
use vouch::config::Config;
use vouch::sim::{CallSpec, Phone};
use vouch::startup::Application;
use vouch::twilio::form::Params;

struct Target {
    name: &'static str,
    phone: Phone,
    app: vouch::store::CallStore,
    latencies: Vec<Duration>,
}

async fn start(name: &'static str, database_url: &str) -> Target {
    let env: HashMap<String, String> =
        [("PORT", "0"), ("DATABASE_URL", database_url)].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let config = Config::from_toml(vouch::config::DEMO_CONFIG, &env).expect("demo config");
    let app = Application::build(config, "127.0.0.1").await.expect("vouch starts");
    let target = format!("http://127.0.0.1:{}", app.port());
    let phone = Phone::new(&target, app.public_base(), "vouch-demo-auth-token-not-secret");
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    Target { name, phone, app: store, latencies: Vec::new() }
}

/// One first webhook: a new call from Ada (found by caller ID, so the answer
/// asks for her PIN), timed from send to the whole body.
async fn first_webhook(t: &Target) -> Duration {
    let sid = vouch::sim::call::new_call_sid();
    let spec = CallSpec::default();
    let params = Params::from_pairs(Phone::call_params(&spec, &sid));
    let url = format!("{}/voice", t.phone.public);
    let started = Instant::now();
    let (status, _, body, _) = t.phone.post(&url, &params).await.expect("answered");
    let elapsed = started.elapsed();
    assert!(status == 200 && body.contains("<Gather"), "{status}: {body}");
    elapsed
}

/// Lets a store finish writing what its requests buffered, so that its
/// writes do not land in the next store's measurement (the locked one never
/// finishes: it is given a moment).
async fn settle(t: &Target) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while t.app.stats().is_some_and(|s| s.depth > 0 && !s.failing) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests: usize = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let rounds = 30;
    let per_round = requests.div_ceil(rounds);

    let dir = tempfile::tempdir().unwrap();
    let lite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let locked = format!("sqlite://{}", dir.path().join("locked.db").display());
    let mut targets = vec![
        start("memory only", "memory:").await,
        start("SQLite", &lite).await,
        start("SQLite, locked", &locked).await,
    ];
    let pg = postgres_schema().await;
    if let Some((url, _)) = &pg {
        targets.push(start("PostgreSQL", url).await);
    }
    // Another writer holds the lock for the whole run: every write fails
    // (SQLITE_BUSY after 1 s) and the records wait in the buffer.
    let mut holder = {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&locked).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut c).await.unwrap();
        c
    };

    for t in &targets {
        for _ in 0..100 {
            first_webhook(t).await; // warm-up: connections, CRM cache, pools
        }
    }
    let n = targets.len();
    for round in 0..rounds {
        // Each round starts with another store, so that none always follows the same one.
        for k in 0..n {
            let t = &mut targets[(round + k) % n];
            for _ in 0..per_round {
                let d = first_webhook(t).await;
                t.latencies.push(d);
            }
            settle(t).await;
        }
    }

    println!("webhook_store: {} first webhooks per store over HTTP, {rounds} interleaved rounds", per_round * rounds);
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "store", "p50 µs", "p90 µs", "p99 µs", "mean µs", "p50 ratio", "p99 ratio"
    );
    let base = {
        let mut b = targets[0].latencies.clone();
        b.sort();
        (percentile(&b, 0.5), percentile(&b, 0.99))
    };
    for t in &targets {
        let mut l = t.latencies.clone();
        l.sort();
        let mean = l.iter().sum::<Duration>() / l.len() as u32;
        let (p50, p99) = (percentile(&l, 0.5), percentile(&l, 0.99));
        println!(
            "{:<16} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>10.2} {:>10.2}",
            t.name,
            us(p50),
            us(percentile(&l, 0.9)),
            us(p99),
            us(mean),
            us(p50) / us(base.0),
            us(p99) / us(base.1),
        );
    }
    // The store's own cost per answer: `put` for a new call, without HTTP.
    for t in &targets {
        let n = 2000u32;
        let started = Instant::now();
        for i in 0..n {
            let sid = vouch::sim::call::new_call_sid();
            let record = vouch::store::CallRecord::new(&sid, "support", "+1********01".into(), u64::from(i));
            t.app.put(record).await;
        }
        println!("{:<16} put(): {:.1} µs per record", t.name, us(started.elapsed()) / f64::from(n));
    }
    for t in &targets {
        if let Some(s) = t.app.stats() {
            println!(
                "{:<16} written {}, retried {}, dropped {}, still buffered {}",
                t.name, s.written, s.retried, s.dropped, s.depth
            );
        }
    }
    let _ = sqlx::query("ROLLBACK").execute(&mut holder).await;
    if let Some((_, drop_schema)) = pg {
        drop_schema.await;
    }
}

/// A schema of its own in `VOUCH_TEST_POSTGRES_URL`, and the future that drops it.
async fn postgres_schema() -> Option<(String, std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>)> {
    use sqlx::Connection;
    let base = std::env::var("VOUCH_TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty())?;
    let mut c = sqlx::PgConnection::connect(&base).await.ok()?;
    let schema = format!("vouch_bench_{}", std::process::id());
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut c).await.ok()?;
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut c).await.ok()?;
    let mut url = url::Url::parse(&base).ok()?;
    url.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
    let drop = Box::pin(async move {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut c).await;
    });
    Some((url.to_string(), drop))
}

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
//! Then what a configured CRM data action (a SOQL query with OAuth, against
//! a Salesforce-shaped double) costs a first webhook against the built-in
//! default action, on a cache hit and on a miss, and how many CRM requests
//! each made (asserted: none per hit, one per miss, one token in all).
//!
//!   cargo bench --bench webhook_store                 # 3000 requests per store
//!   cargo bench --bench webhook_store -- --requests 600

#[path = "support/postgres.rs"]
mod postgres;

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
    start_with(name, database_url, vouch::config::DEMO_CONFIG, &[]).await
}

async fn start_with(name: &'static str, database_url: &str, toml: &str, extra_env: &[(&str, &str)]) -> Target {
    let env: HashMap<String, String> = [("PORT", "0"), ("DATABASE_URL", database_url)]
        .iter()
        .chain(extra_env)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_toml(toml, &env).expect("bench config");
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
    first_webhook_from(t, &CallSpec::default().from).await
}

/// One first webhook from `from` (a Gather either way: for the PIN when the
/// CRM knows the number, else for the account number).
async fn first_webhook_from(t: &Target, from: &str) -> Duration {
    let sid = vouch::sim::call::new_call_sid();
    let spec = CallSpec { from: from.into(), ..CallSpec::default() };
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
    let pg = postgres::Schema::create("vouch_bench").await;
    if let Some(schema) = &pg {
        targets.push(start("PostgreSQL", &schema.url).await);
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
    if let Some(schema) = pg {
        schema.drop().await;
    }
    crm_actions(requests, rounds).await;
}

/// Part two: what a configured CRM data action costs a first webhook,
/// against today's contract as the built-in default action. Both Vouchs run
/// on `memory:`, so the store is out of the comparison. The configured one
/// asks a Salesforce-shaped double over HTTP with a SOQL query (two phone
/// formats OR'd, escaped) and an OAuth client-credentials token.
async fn crm_actions(requests: usize, rounds: usize) {
    let per_round = requests.div_ceil(rounds);
    let double = SalesforceDouble::start();
    let toml = format!(
        r#"{}
[crm.auth]
type = "oauth2"
token_url = "{}/services/oauth2/token"
client_id = "bench-client"

[crm.find_by_phone]
url = "/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE Phone = {{phone:(###) ###-####|soql}} OR Phone = {{phone:e164|soql}} LIMIT 2"
list = "/records"
count = "/totalSize"
id = "/Id"
name = "{{/FirstName}} {{/LastName}}"
"#,
        vouch::config::DEMO_CONFIG,
        double.url
    );
    let env = [("VOUCH_CRM_URL", double.url.as_str()), ("VOUCH_CRM_CLIENT_SECRET", "bench-secret")];
    let mut targets =
        vec![start("default action", "memory:").await, start_with("SOQL + OAuth", "memory:", &toml, &env).await];
    // Cache hits: Ada's number, looked up once during the warm-up.
    for t in &targets {
        for _ in 0..100 {
            first_webhook(t).await;
        }
    }
    let (tokens, queries) = (double.tokens(), double.queries());
    for round in 0..rounds {
        for k in 0..targets.len() {
            let t = &mut targets[(round + k) % 2];
            for _ in 0..per_round {
                let d = first_webhook(t).await;
                t.latencies.push(d);
            }
        }
    }
    let hit_queries = double.queries() - queries;
    let hits: Vec<Vec<Duration>> = targets.iter_mut().map(|t| std::mem::take(&mut t.latencies)).collect();
    // Cache misses: a number never seen each time.
    let mut next = 0u32;
    for round in 0..rounds {
        for k in 0..targets.len() {
            let t = &mut targets[(round + k) % 2];
            for _ in 0..per_round {
                next += 1;
                let d = first_webhook_from(t, &format!("+1555{:07}", 2_000_000 + next)).await;
                t.latencies.push(d);
            }
        }
    }
    let misses = per_round * rounds;
    println!();
    println!("crm_actions: {misses} first webhooks per row over HTTP on memory:, {rounds} interleaved rounds");
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "CRM action, lookup", "p50 µs", "p90 µs", "p99 µs", "p50 ratio", "p99 ratio"
    );
    let rows = [
        ("default action, cache hit", &hits[0]),
        ("SOQL + OAuth, cache hit", &hits[1]),
        ("default action (demo CRM), miss", &targets[0].latencies),
        ("SOQL + OAuth (double), miss", &targets[1].latencies),
    ];
    let sorted: Vec<Vec<Duration>> = rows
        .iter()
        .map(|(_, l)| {
            let mut l = l.to_vec();
            l.sort();
            l
        })
        .collect();
    for (i, (name, _)) in rows.iter().enumerate() {
        // Each row against the default action on the same kind of lookup.
        let (l, base) = (&sorted[i], &sorted[i & !1]);
        println!(
            "{:<34} {:>9.0} {:>9.0} {:>9.0} {:>10.2} {:>10.2}",
            name,
            us(percentile(l, 0.5)),
            us(percentile(l, 0.9)),
            us(percentile(l, 0.99)),
            us(percentile(l, 0.5)) / us(percentile(base, 0.5)),
            us(percentile(l, 0.99)) / us(percentile(base, 0.99)),
        );
    }
    let miss_queries = double.queries() - queries - hit_queries;
    println!(
        "SOQL + OAuth: {hit_queries} CRM requests for {misses} cache hits; {miss_queries} for {misses} cache misses; \
         {} OAuth token(s) fetched in all ({} during the run)",
        double.tokens(),
        double.tokens() - tokens
    );
    assert_eq!(hit_queries, 0, "a cache hit asks the CRM nothing");
    assert_eq!(miss_queries, misses, "a cache miss is one request");
    assert_eq!(double.tokens(), 1, "the OAuth token is fetched once");
}

/// Salesforce's token endpoint and SOQL query, over real HTTP, counting
/// requests: every query finds Ada.
struct SalesforceDouble {
    url: String,
    counts: std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>,
}

impl SalesforceDouble {
    fn start() -> Self {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the CRM double");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("an address").port());
        let counts: std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]> = Default::default();
        let shared = web::Data::from(counts.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).default_service(web::to(
                |req: HttpRequest, counts: web::Data<[std::sync::atomic::AtomicUsize; 2]>| async move {
                    if req.path() == "/services/oauth2/token" {
                        counts[0].fetch_add(1, Ordering::SeqCst);
                        return HttpResponse::Ok()
                            .json(serde_json::json!({"access_token": "bench-token", "token_type": "Bearer"}));
                    }
                    let bearer = req.headers().get("authorization").and_then(|v| v.to_str().ok());
                    if req.path() != "/services/data/v60.0/query" || bearer != Some("Bearer bench-token") {
                        return HttpResponse::BadRequest().finish();
                    }
                    counts[1].fetch_add(1, Ordering::SeqCst);
                    HttpResponse::Ok().json(serde_json::json!({"totalSize": 1, "done": true, "records": [
                        {"Id": "003ADA", "FirstName": "Ada", "LastName": "Lovelace"}]}))
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self { url, counts }
    }

    fn tokens(&self) -> usize {
        self.counts[0].load(std::sync::atomic::Ordering::SeqCst)
    }

    fn queries(&self) -> usize {
        self.counts[1].load(std::sync::atomic::Ordering::SeqCst)
    }
}

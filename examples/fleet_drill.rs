//! The fleet drill's driver (run by `scripts/fleet-drill`, not by `cargo test`).
//!
//! Plays Twilio against two Vouch instances behind HAProxy: whole signed
//! calls at a steady rate, one fault per segment, then compares what the
//! database and each instance's `/api/calls/{sid}` say with what the caller
//! saw. It starts (and restarts) the two instances itself and serves the CRM
//! double, so it can hang the CRM. Configuration comes from the environment
//! the script sets (see `Drill::from_env`).

use actix_web::{dev::Service, web, App, HttpServer};
use rand::seq::SliceRandom;
use sqlx::Row;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch::crm::demo::{self, DemoCustomer, DemoData};
use vouch::sim::call::new_call_sid;
use vouch::sim::twiml::{self, Node};
use vouch::sim::{CallSpec, Phone};
use vouch::twilio::form::Params;

const FAULTS: [&str; 7] = ["upgrade", "none", "rolling", "kill9", "pg-restart", "pg-stop", "crm-hang"];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (scripts/fleet-drill sets it)"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Identified by caller ID, right PIN.
    Ani,
    /// Unknown number, keyed account number, right PIN.
    Keyed,
    /// Identified by caller ID, wrong PIN at every prompt.
    WrongPin,
    /// Identified by caller ID, hangs up at the PIN prompt.
    HangUp,
}

/// What the caller saw, and so what the record must say.
#[derive(Debug)]
struct Seen {
    sid: String,
    kind: Kind,
    webhooks: u32,
    failed: u32,
    /// A webhook was answered by the fallback: the flow's end is the fallback's.
    fell_back: bool,
    latencies: Vec<Duration>,
    outcome: Option<&'static str>,
    duration: u64,
    /// When the call ran: a call that overlapped a hung CRM may rightly end
    /// `crm_unavailable`, so only its status and duration are checked.
    ran: (Instant, Instant),
}

impl Seen {
    fn expected_idv(&self) -> &'static str {
        match self.kind {
            Kind::Ani | Kind::Keyed => "verified",
            Kind::WrongPin | Kind::HangUp => "identified",
        }
    }
}

struct Instance {
    name: &'static str,
    port: u16,
    child: Option<Child>,
}

struct Drill {
    vouch_bin: String,
    /// The previous release's binary, for the `upgrade` segment.
    previous_bin: Option<String>,
    public: String,
    ports: [u16; 2],
    database_url: String,
    admin_token: String,
    auth_token: String,
    crm_url: String,
    run_dir: String,
    pg_cluster: Vec<String>,
    instances: Mutex<Vec<Instance>>,
    crm_hung: Arc<AtomicBool>,
    hung_window: Mutex<Option<(Instant, Instant)>>,
}

impl Drill {
    fn from_env() -> Self {
        let ports = [env("DRILL_PORT_A").parse().unwrap(), env("DRILL_PORT_B").parse().unwrap()];
        Drill {
            vouch_bin: env("DRILL_VOUCH_BIN"),
            previous_bin: std::env::var("DRILL_PREVIOUS_BIN").ok().filter(|b| !b.is_empty()),
            public: env("VOUCH_PUBLIC_URL"),
            ports,
            database_url: env("DATABASE_URL"),
            admin_token: env("VOUCH_ADMIN_TOKEN"),
            auth_token: env("TWILIO_AUTH_TOKEN"),
            crm_url: env("VOUCH_CRM_URL"),
            run_dir: env("DRILL_RUN_DIR"),
            pg_cluster: env("DRILL_PG_CLUSTER").split_whitespace().map(str::to_string).collect(),
            instances: Mutex::new(
                ["a", "b"].iter().zip(ports).map(|(n, port)| Instance { name: n, port, child: None }).collect(),
            ),
            crm_hung: Arc::new(AtomicBool::new(false)),
            hung_window: Mutex::new(None),
        }
    }

    /// Starts instance `i` on this build (the environment is inherited:
    /// secrets, database, CRM).
    fn start(&self, i: usize) {
        self.start_bin(i, &self.vouch_bin);
    }

    /// Starts instance `i` on the given binary.
    fn start_bin(&self, i: usize, bin: &str) {
        let mut all = self.instances.lock().unwrap();
        let inst = &mut all[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{}/vouch-{}.log", self.run_dir, inst.name))
            .expect("open the instance log");
        let child = Command::new(bin)
            .arg("serve")
            .env("PORT", inst.port.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start vouch");
        // The script's trap kills what is listed here should the driver die first.
        let mut pids =
            std::fs::OpenOptions::new().create(true).append(true).open(format!("{}/pids", self.run_dir)).unwrap();
        use std::io::Write;
        let _ = writeln!(pids, "{}", child.id());
        inst.child = Some(child);
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.instances.lock().unwrap()[i].child.as_ref().map(Child::id)
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(pid) = self.pid(i) {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    }

    /// Waits (bounded) for instance `i` to exit.
    async fn reap(&self, i: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            {
                let mut all = self.instances.lock().unwrap();
                match all[i].child.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(_))) | None | Some(Err(_)) => {
                        all[i].child = None;
                        return true;
                    }
                    Some(Ok(None)) => {}
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn healthy(&self, http: &reqwest::Client, i: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let url = format!("http://127.0.0.1:{}/healthz", self.ports[i]);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    fn pg(&self, action: &str) {
        let mut args = vec!["--skip-systemctl-redirect".to_string()];
        args.extend(self.pg_cluster.iter().cloned());
        args.push(action.to_string());
        let ok = Command::new("pg_ctlcluster").args(&args).status().map(|s| s.success()).unwrap_or(false);
        eprintln!("  pg_ctlcluster {action}: {}", if ok { "ok" } else { "FAILED" });
    }

    /// One fault, while the calls go on.
    async fn fault(&self, http: &reqwest::Client, fault: &str, seconds: u64) {
        match fault {
            "none" => {}
            "upgrade" => {
                // A rolling deploy: each instance in turn drained and replaced
                // by this build, with old and new side by side in between.
                for i in 0..2 {
                    self.signal(i, "-TERM");
                    if !self.reap(i, Duration::from_secs(40)).await {
                        eprintln!("  instance {i} did not exit within 40 s of SIGTERM: killed");
                        self.signal(i, "-KILL");
                        self.reap(i, Duration::from_secs(5)).await;
                    }
                    self.start(i);
                    if !self.healthy(http, i, Duration::from_secs(20)).await {
                        eprintln!("  instance {i} not healthy 20 s after the upgrade");
                    }
                    if i == 0 {
                        eprintln!("  instance a upgraded; b still runs the previous release");
                        tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
                    } else {
                        eprintln!("  instance b upgraded: both run this build");
                    }
                }
            }
            "rolling" => {
                for i in 0..2 {
                    self.signal(i, "-TERM");
                    if !self.reap(i, Duration::from_secs(40)).await {
                        eprintln!("  instance {i} did not exit within 40 s of SIGTERM: killed");
                        self.signal(i, "-KILL");
                        self.reap(i, Duration::from_secs(5)).await;
                    }
                    self.start(i);
                    if !self.healthy(http, i, Duration::from_secs(20)).await {
                        eprintln!("  instance {i} not healthy 20 s after restart");
                    }
                }
            }
            "kill9" => {
                self.signal(0, "-KILL");
                self.reap(0, Duration::from_secs(5)).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
                self.start(0);
                self.healthy(http, 0, Duration::from_secs(20)).await;
            }
            "pg-restart" => self.pg("restart"),
            "pg-stop" => {
                self.pg("stop");
                tokio::time::sleep(Duration::from_secs(15)).await;
                self.pg("start");
            }
            "crm-hang" => {
                let from = Instant::now();
                self.crm_hung.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(10)).await;
                self.crm_hung.store(false, Ordering::SeqCst);
                *self.hung_window.lock().unwrap() = Some((from, Instant::now()));
            }
            other => panic!("unknown fault {other}"),
        }
    }

    fn stop_all(&self) {
        for i in 0..2 {
            self.signal(i, "-KILL");
            let mut all = self.instances.lock().unwrap();
            if let Some(mut c) = all[i].child.take() {
                let _ = c.wait();
            }
        }
    }
}

/// The customers of the CRM double: one per call, so that wrong PINs never
/// lock a customer another call needs and keyed calls never trip the
/// enumeration throttle (each keyed call has a number of its own too).
fn customer(n: usize) -> DemoCustomer {
    DemoCustomer {
        id: format!("{:08}", 30_000_000 + n),
        name: format!("Drill Customer {n}"),
        phones: vec![format!("+1555{:07}", n)],
        pin: format!("{:04}", (n * 7919) % 10_000),
    }
}

/// Serves the CRM double; requests wait while `hung` is set, as a hung CRM.
async fn serve_crm(port: u16, customers: usize, hung: Arc<AtomicBool>) {
    let data = web::Data::new(DemoData { customers: (0..customers).map(customer).collect() });
    let server = HttpServer::new(move || {
        let hung = hung.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                let hung = hung.clone();
                let fut = srv.call(req);
                async move {
                    while hung.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    fut.await
                }
            })
            .configure(demo::mount(data.clone()))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .expect("bind the CRM double")
    .run();
    tokio::spawn(server);
}

/// POSTs one webhook; on a 5xx or no answer, the Fallback URL as Twilio
/// does. `Ok(doc, fell_back)` or `Err` when the fallback failed too.
async fn webhook(phone: &Phone, url: &str, params: &Params, seen: &mut Seen) -> Result<(Node, bool), String> {
    seen.webhooks += 1;
    let started = Instant::now();
    let first = phone.post(url, params).await;
    let primary_error = match &first {
        Ok((status, _, body, _)) if *status < 500 => {
            seen.latencies.push(started.elapsed());
            if *status != 200 {
                seen.failed += 1;
                return Err(format!("{status} from {url}"));
            }
            return match twiml::parse(body) {
                Ok(doc) => Ok((doc, false)),
                Err(e) => {
                    seen.failed += 1;
                    Err(format!("bad TwiML from {url}: {e}"))
                }
            };
        }
        Ok((status, ..)) => ("11200", format!("{status}")),
        Err(e) => ("11205", format!("{e}")),
    };
    let (code, _why) = primary_error;
    let fallback_params = Params::from_pairs(
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("ErrorCode".to_string(), code.to_string()), ("ErrorUrl".to_string(), url.to_string())]),
    );
    let fallback_url = format!("{}/fallback", phone.public);
    let second = phone.post(&fallback_url, &fallback_params).await;
    seen.latencies.push(started.elapsed());
    match second {
        Ok((200, _, body, _)) => match twiml::parse(&body) {
            Ok(doc) => Ok((doc, true)),
            Err(e) => {
                seen.failed += 1;
                Err(format!("bad fallback TwiML: {e}"))
            }
        },
        Ok((status, ..)) => {
            seen.failed += 1;
            Err(format!("fallback answered {status}"))
        }
        Err(e) => {
            seen.failed += 1;
            Err(format!("fallback: {e}"))
        }
    }
}

/// Places one whole call and sends its `completed` status callback.
async fn call(phone: Arc<Phone>, n: usize, kind: Kind) -> Seen {
    let c = customer(n);
    let from = match kind {
        Kind::Keyed => format!("+1666{:07}", n),
        _ => c.phones[0].clone(),
    };
    let sid = new_call_sid();
    let spec = CallSpec { from, call_sid: Some(sid.clone()), ..CallSpec::default() };
    let mut seen = Seen {
        sid: sid.clone(),
        kind,
        webhooks: 0,
        failed: 0,
        fell_back: false,
        latencies: Vec::new(),
        outcome: None,
        duration: 0,
        ran: (Instant::now(), Instant::now()),
    };
    let started = Instant::now();
    let base = Phone::call_params(&spec, &sid);
    let mut url = format!("{}/voice", phone.public);
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut gathers = 0;
    'call: for _ in 0..12 {
        let params = Params::from_pairs(base.iter().cloned().chain(extra.drain(..)));
        let doc = match webhook(&phone, &url, &params, &mut seen).await {
            Ok((doc, fell_back)) => {
                seen.fell_back |= fell_back;
                doc
            }
            Err(_) => break 'call,
        };
        let mut next = None;
        for verb in &doc.children {
            match verb.name.as_str() {
                "Gather" => {
                    gathers += 1;
                    let keys = match (kind, gathers) {
                        (Kind::HangUp, _) => {
                            seen.outcome = Some("abandoned");
                            break 'call;
                        }
                        (Kind::Ani, _) => c.pin.clone(),
                        (Kind::Keyed, 1) => c.id.clone(),
                        (Kind::Keyed, _) => c.pin.clone(),
                        (Kind::WrongPin, _) => format!("{:04}", (c.pin.parse::<u32>().unwrap() + 1) % 10_000),
                    };
                    let action = verb.attr("action").map(str::to_string).unwrap_or_else(|| url.clone());
                    next = Some((resolve(&url, &action), vec![("Digits".to_string(), keys)]));
                    break;
                }
                "Redirect" => {
                    let to = resolve(&url, verb.text.trim());
                    if to.contains("/demo/self-service") {
                        seen.outcome = Some("self_service");
                        break 'call;
                    }
                    next = Some((to, Vec::new()));
                    break;
                }
                "Enqueue" | "Dial" => {
                    seen.outcome = Some("agent");
                    break 'call;
                }
                "Hangup" | "Reject" => break 'call,
                _ => {}
            }
        }
        match next {
            Some((u, p)) => {
                url = u;
                extra = p;
            }
            None => break,
        }
    }
    seen.duration = started.elapsed().as_secs() + 3;
    // Twilio's final status callback (no fallback for it, and no retry unless
    // configured: HAProxy's retries are all it gets).
    seen.webhooks += 1;
    let t = Instant::now();
    let answer = phone.status_callback(&spec, &sid, "completed", Duration::from_secs(seen.duration), 3).await;
    seen.latencies.push(t.elapsed());
    if !matches!(answer, Ok(ref a) if a.status < 300) {
        seen.failed += 1;
    }
    seen.ran.1 = Instant::now();
    seen
}

fn resolve(current: &str, url: &str) -> String {
    url::Url::parse(current).and_then(|b| b.join(url)).map(|u| u.to_string()).unwrap_or_else(|_| url.to_string())
}

#[derive(Default)]
struct Check {
    missing: usize,
    wrong: usize,
    stuck: usize,
    /// The first few wrong or stuck records, for the log.
    examples: Vec<String>,
}

/// Compares one record (a DB row or the API's JSON) with what the caller saw.
fn compare(
    check: &mut Check,
    seen: &Seen,
    hung: Option<(Instant, Instant)>,
    store_down: bool,
    got: Option<(String, String, Option<String>, Option<u64>)>,
) {
    let Some((idv, outcome, status, duration)) = got else {
        check.missing += 1;
        return;
    };
    let what = || {
        format!(
            "{:?} expected {}/{:?}/{}, got {idv}/{outcome}/{status:?}/{duration:?}",
            seen.kind,
            seen.expected_idv(),
            seen.outcome,
            seen.duration
        )
    };
    if status.as_deref() != Some("completed") {
        check.stuck += 1;
        if check.examples.len() < 3 {
            check.examples.push(format!("stuck: {}", what()));
        }
        return;
    }
    let mut right = duration == Some(seen.duration);
    let crm_hung = hung.is_some_and(|(from, to)| seen.ran.0 < to && from < seen.ran.1);
    // While the store cannot count a PIN try, verification fails closed: an
    // identified caller goes to an agent, recorded `verification_unavailable`.
    let failed_closed = store_down
        && !matches!(seen.kind, Kind::HangUp)
        && idv == "identified"
        && outcome == "verification_unavailable";
    if !seen.fell_back && seen.failed == 0 && !crm_hung && !failed_closed {
        right &= idv == seen.expected_idv();
        if let Some(o) = seen.outcome {
            right &= outcome == o;
        }
    }
    if !right {
        check.wrong += 1;
        if check.examples.len() < 3 {
            check.examples.push(format!("wrong: {}", what()));
        }
    }
}

async fn db_records(
    url: &str,
    sids: &[String],
) -> Result<HashMap<String, (String, String, Option<String>, Option<u64>)>, sqlx::Error> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await?;
    let rows = sqlx::query(
        "SELECT call_sid, idv_status, outcome, call_status, call_duration FROM call_records WHERE call_sid = ANY($1)",
    )
    .bind(sids)
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(rows
        .into_iter()
        .map(|r| {
            let d: Option<i64> = r.get(4);
            (r.get(0), (r.get(1), r.get(2), r.get(3), d.map(|d| d as u64)))
        })
        .collect())
}

async fn api_record(
    http: &reqwest::Client,
    port: u16,
    token: &str,
    sid: &str,
) -> Option<(String, String, Option<String>, Option<u64>)> {
    let r = http.get(format!("http://127.0.0.1:{port}/api/calls/{sid}")).bearer_auth(token).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let v: serde_json::Value = r.json().await.ok()?;
    let rec = if v.get("record").is_some() { &v["record"] } else { &v };
    Some((
        rec["idv_status"].as_str()?.to_string(),
        rec["outcome"].as_str()?.to_string(),
        rec["call_status"].as_str().map(str::to_string),
        rec["call_duration"].as_u64(),
    ))
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    // The calls run on this thread: `Phone::post` holds a thread-local RNG
    // across an await, so its futures are not `Send`.
    tokio::task::LocalSet::new().run_until(drill()).await;
}

async fn drill() {
    let rate: f64 = std::env::var("DRILL_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(15.0);
    let seconds: u64 = std::env::var("DRILL_SECONDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let faults: Vec<String> = std::env::var("DRILL_FAULTS")
        .unwrap_or_else(|_| FAULTS.join(","))
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    for f in &faults {
        assert!(FAULTS.contains(&f.as_str()), "unknown fault {f:?}: one of {}", FAULTS.join(", "));
    }
    // The upgrade runs first: the previous release must find a database that
    // only it has migrated, as in a real rolling deploy.
    let mut faults = faults;
    let upgrade = faults.iter().any(|f| f == "upgrade");
    faults.retain(|f| f != "upgrade");
    if upgrade {
        faults.insert(0, "upgrade".to_string());
    }
    let gate = std::env::var("DRILL_GATE").is_ok_and(|g| g == "1");
    let drill = Arc::new(Drill::from_env());
    let crm_port: u16 = url::Url::parse(&drill.crm_url).unwrap().port().unwrap();
    let per_segment = (rate * seconds as f64).ceil() as usize + 1;
    serve_crm(crm_port, per_segment * faults.len() + 1, drill.crm_hung.clone()).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let first_bin = if upgrade {
        drill
            .previous_bin
            .clone()
            .expect("the upgrade segment needs DRILL_PREVIOUS_BIN (scripts/fleet-drill builds it)")
    } else {
        drill.vouch_bin.clone()
    };
    for i in 0..2 {
        drill.start_bin(i, &first_bin);
    }
    for i in 0..2 {
        assert!(drill.healthy(&http, i, Duration::from_secs(30)).await, "instance {i} never became healthy");
    }
    // HAProxy marks a server up after one good check (inter 1s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let phone = Arc::new(Phone::new(&drill.public, &drill.public, &drill.auth_token));

    println!(
        "{:<11} {:>6} {:>8} {:>7} {:>5} {:>9} {:>8} {:>8} {:>9} {:>14} {:>14}",
        "fault",
        "calls",
        "webhooks",
        "failed",
        "dead",
        "fallbacks",
        "p50 ms",
        "p99 ms",
        "max ms",
        "db m/w/s",
        "api m/w/s"
    );
    let mut bad = false;
    let mut next_customer = 0usize;
    for fault in &faults {
        eprintln!("segment {fault}: {seconds} s at {rate} calls/s");
        *drill.hung_window.lock().unwrap() = None;
        let fault_task = {
            let drill = drill.clone();
            let http = http.clone();
            let fault = fault.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
                drill.fault(&http, &fault, seconds).await;
            })
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now();
        let mut tasks = Vec::new();
        let mut k = 0u32;
        while start.elapsed() < Duration::from_secs(seconds) {
            let kind = *[Kind::Ani, Kind::Ani, Kind::Keyed, Kind::Keyed, Kind::WrongPin, Kind::HangUp]
                .choose(&mut rand::thread_rng())
                .unwrap();
            let n = next_customer;
            next_customer += 1;
            tasks.push(tokio::task::spawn_local(call(phone.clone(), n, kind)));
            k += 1;
            let due = start + interval * k;
            tokio::time::sleep_until(due.into()).await;
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("a call task"));
        }
        let _ = fault_task.await;
        // Settle: every instance healthy again, then until every record is
        // completed in the database (bounded).
        for i in 0..2 {
            drill.healthy(&http, i, Duration::from_secs(30)).await;
        }
        let sids: Vec<String> = seen.iter().map(|s| s.sid.clone()).collect();
        let settle = Instant::now();
        let mut rows = HashMap::new();
        while settle.elapsed() < Duration::from_secs(20) {
            match db_records(&drill.database_url, &sids).await {
                Ok(r) => {
                    let done = r.values().filter(|v| v.2.as_deref() == Some("completed")).count();
                    rows = r;
                    if done == sids.len() {
                        break;
                    }
                }
                Err(e) => eprintln!("  database: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let hung = *drill.hung_window.lock().unwrap();
        let store_down = matches!(fault.as_str(), "pg-stop" | "pg-restart");
        let mut db = Check::default();
        let mut api = Check::default();
        for s in &seen {
            compare(&mut db, s, hung, store_down, rows.get(&s.sid).cloned());
            for port in drill.ports {
                compare(&mut api, s, hung, store_down, api_record(&http, port, &drill.admin_token, &s.sid).await);
            }
        }
        for (source, check) in [("db", &db), ("api", &api)] {
            for e in &check.examples {
                eprintln!("  {source} {e}");
            }
        }
        let calls = seen.len();
        let webhooks: u32 = seen.iter().map(|s| s.webhooks).sum();
        let failed: u32 = seen.iter().map(|s| s.failed).sum();
        let dead = seen.iter().filter(|s| s.failed > 0).count();
        let fallbacks = seen.iter().filter(|s| s.fell_back).count();
        let mut lat: Vec<Duration> = seen.iter().flat_map(|s| s.latencies.iter().copied()).collect();
        lat.sort();
        println!(
            "{:<11} {:>6} {:>8} {:>7} {:>5} {:>9} {:>8.1} {:>8.1} {:>9.1} {:>14} {:>14}",
            fault,
            calls,
            webhooks,
            failed,
            dead,
            fallbacks,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            format!("{}/{}/{}", db.missing, db.wrong, db.stuck),
            format!("{}/{}/{}", api.missing, api.wrong, api.stuck),
        );
        bad |= failed > 0 || dead > 0 || db.missing + db.wrong + db.stuck + api.missing + api.wrong + api.stuck > 0;
    }
    println!("(m/w/s: missing / wrong / stuck records; api counts both instances' /api/calls/{{sid}}; fallbacks: calls a /fallback answered)");
    drill.stop_all();
    if gate && bad {
        eprintln!("fleet drill: gate failed (a failed webhook, a dead call, or a missing, wrong or stuck record)");
        std::process::exit(1);
    }
}

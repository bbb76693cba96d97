//! How close is a Vouch webhook to a static answer? In one run this starts a
//! static baseline (a minimal actix-web server that reads the form body and
//! answers a fixed Gather document as long as Vouch's first answer) and
//! Vouch in-process (the demo configuration, on a SQLite file, `memory:`,
//! and PostgreSQL when `VOUCH_TEST_POSTGRES_URL` is set), loads each with
//! the same generator in interleaved slices, and prints, per endpoint,
//! requests/s, p50/p99/p99.9 latency and the server's CPU per request, each
//! as a ratio to the baseline measured in the same run.
//!
//! The generator runs in a child process (this same binary, `--generator`),
//! so the bench process's own CPU time (`/proc/self/stat`) is the servers'
//! alone. It keeps C keep-alive HTTP/1.1 connections on one thread and signs
//! every request with the demo auth token, as Twilio would.
//!
//! Then the real `vouch` binary is started to measure start to first
//! answer, idle RSS and RSS under load.
//!
//!   cargo bench --bench webhooks                          # 4 s per endpoint, 32 connections
//!   cargo bench --bench webhooks -- --seconds 2 --connections 16
//!   cargo bench --bench webhooks -- --threads               # also: CPU by thread, per row
//!
//! The table is also written as JSON to target/bench-webhooks.json. See
//! BENCHMARKS.md for what each row means.

#[path = "support/postgres.rs"]
mod postgres;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vouch::config::Config;
use vouch::flow::{Customer, FlowState, Stage};
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::Keyring;
use vouch::sim::{CallSpec, Phone};
use vouch::startup::Application;
use vouch::twilio::form::Params;
use vouch::twilio::signature;

/// The allocator `vouch` ships with (src/main.rs), so the servers measured
/// here allocate as the binary does; the baseline uses it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every instance and the generator share it, so the generator can seal
/// the states an action URL would carry.
const STATE_SECRET: &str = "bench-state-secret-0123456789abcdef0123456789";
const ADA: &str = "+15551230001";
const SUPPORT: &str = "+15005550006";
/// (identifier, PIN) of demo customers verify requests rotate through.
const CUSTOMERS: [(&str, &str, &str); 4] = [
    ("12345678", "Ada Lovelace", "1234"),
    ("87654321", "Grace Hopper", "4321"),
    ("11112222", "Alan Turing", "2222"),
    ("11113333", "Joan Turing", "3333"),
];

/// What a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The baseline: a first webhook's form to the static server.
    Static,
    /// `POST /voice` from Ada (caller-ID cache hit): asks for her PIN.
    FirstHit,
    /// `POST /voice` from a number never seen (CRM cache miss): asks for the account number.
    FirstMiss,
    /// The account-number entry (identifier cache hit), a fresh state each.
    Identify,
    /// The PIN entry, verified by the demo CRM, a fresh state each.
    Verify,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::FirstHit => "first-hit",
            Kind::FirstMiss => "first-miss",
            Kind::Identify => "identify",
            Kind::Verify => "verify",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Kind::Static, Kind::FirstHit, Kind::FirstMiss, Kind::Identify, Kind::Verify]
            .into_iter()
            .find(|k| k.name() == s)
    }

    /// What every answer must contain, so a throttled or refused path is
    /// counted as an error and not as a fast answer.
    fn marker(self) -> &'static [u8] {
        match self {
            Kind::Static | Kind::FirstHit | Kind::Identify => b"/verify?state=",
            Kind::FirstMiss => b"/identify?state=",
            Kind::Verify => b"self-service",
        }
    }
}

// ---------------------------------------------------------------- generator

struct Job {
    kind: Kind,
    port: u16,
    public: String,
    millis: u64,
    connections: usize,
    /// Requests per second in all (paced, latency from the scheduled
    /// send); 0: as fast as the connections go.
    rate: f64,
}

/// Builds each request as Twilio would send it, signed.
struct Requests {
    token: String,
    states: FlowStates,
    support: FlowState,
    public: String,
    host: String,
    /// Makes the cache-miss numbers unique across slices.
    next: std::sync::atomic::AtomicU64,
}

impl Requests {
    fn build(&self, kind: Kind, i: u64) -> Vec<u8> {
        let sid = vouch::sim::call::new_call_sid();
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let from = match kind {
            Kind::Static | Kind::FirstHit | Kind::Verify => ADA.to_string(),
            // A number per call: the caller-ID cache misses, and the
            // enumeration counter is the caller's own.
            Kind::FirstMiss | Kind::Identify => format!("+1646{:07}", n % 10_000_000),
        };
        let spec = CallSpec { from, to: SUPPORT.into(), ..CallSpec::default() };
        let mut pairs = Phone::call_params(&spec, &sid);
        let path = match kind {
            Kind::Static | Kind::FirstHit | Kind::FirstMiss => "/voice".to_string(),
            Kind::Identify => {
                pairs.push(("Digits".into(), CUSTOMERS[0].0.into()));
                let state = self.states.seal(&self.support, &sid, vouch::clock::now());
                format!("/voice/support/identify?state={state}")
            }
            Kind::Verify => {
                let (id, name, pin) = CUSTOMERS[(i as usize) % CUSTOMERS.len()];
                pairs.push(("Digits".into(), pin.into()));
                let mut state = self.support.clone();
                state.stage = Stage::Verify;
                state.identify_attempts = 1;
                state.customer = Some(Customer { id: id.into(), name: name.into(), ..Default::default() });
                state.method = vouch::flow::IdvMethod::Keyed;
                let state = self.states.seal(&state, &sid, vouch::clock::now());
                format!("/voice/support/verify?state={state}")
            }
        };
        let params = Params::from_pairs(pairs);
        let sig = signature::sign(&self.token, &format!("{}{path}", self.public), &params);
        let body = params.encode();
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: TwilioProxy/1.1\r\n\
             Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n\
             X-Twilio-Signature: {sig}\r\nI-Twilio-Idempotency-Token: {n:016x}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )
        .into_bytes()
    }
}

#[derive(Default)]
struct ConnResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// One HTTP/1.1 response on a keep-alive connection: its status and body.
async fn read_response<'b>(s: &mut TcpStream, buf: &'b mut Vec<u8>) -> std::io::Result<(u16, &'b [u8], bool)> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| std::io::ErrorKind::InvalidData)?;
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0;
    let mut close = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, &buf[head_end..head_end + length], close))
}

async fn connection(job: std::rc::Rc<Job>, requests: std::rc::Rc<Requests>, index: usize) -> ConnResult {
    let mut out = ConnResult::default();
    let started = Instant::now();
    let deadline = started + Duration::from_millis(job.millis);
    let interval = (job.rate > 0.0).then(|| Duration::from_secs_f64(job.connections as f64 / job.rate));
    // Paced connections start spread over one interval.
    let mut next_at = started + interval.map_or(Duration::ZERO, |i| i.mul_f64(index as f64 / job.connections as f64));
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut i = index as u64;
    while Instant::now() < deadline {
        let request = requests.build(job.kind, i);
        i += job.connections as u64;
        let sent = match interval {
            Some(interval) => {
                tokio::time::sleep_until(next_at.into()).await;
                let at = next_at;
                next_at += interval;
                at
            }
            None => Instant::now(),
        };
        let s = match &mut stream {
            Some(s) => s,
            None => match TcpStream::connect(("127.0.0.1", job.port)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream.insert(s)
                }
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let answer = match s.write_all(&request).await {
            Ok(()) => read_response(s, &mut buf).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok((status, body, close)) => {
                let good = status == 200 && body.windows(job.kind.marker().len()).any(|w| w == job.kind.marker());
                if good {
                    let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    out.latencies_us.push(us);
                } else {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
                }
                if close {
                    stream = None;
                }
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("io: {e}"));
                stream = None;
            }
        }
    }
    out
}

/// The child: reads jobs from stdin, one a line, and answers each with a
/// line `ok errors cpu_ticks latencies,...` (`cpu_ticks`: its own CPU for
/// the job), or `error …`.
fn generator() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let env = bench_env("memory:");
    let config = Config::from_toml(vouch::config::DEMO_CONFIG, &env).expect("demo config");
    let ring = Keyring::new(config.secrets.state_keys.iter().map(|k| k.expose())).expect("a key");
    let states = FlowStates::new(&ring, config.server.state_ttl.as_secs());
    let support = config.lines.get("support").expect("the demo's support line").rules.fresh_state(Default::default());
    let token = config.secrets.auth_tokens[0].expose().to_string();
    let mut next = 0u64;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let f: Vec<&str> = line.split_whitespace().collect();
        let [kind, port, public, millis, connections, rate] = f.as_slice() else {
            println!("error bad job {line:?}");
            continue;
        };
        let job = Job {
            kind: Kind::parse(kind).expect("a kind"),
            port: port.parse().expect("a port"),
            public: public.to_string(),
            millis: millis.parse().expect("millis"),
            connections: connections.parse().expect("connections"),
            rate: rate.parse().expect("rate"),
        };
        let requests = std::rc::Rc::new(Requests {
            token: token.clone(),
            states: states.clone(),
            support: support.clone(),
            public: job.public.clone(),
            host: format!("127.0.0.1:{}", job.port),
            next: std::sync::atomic::AtomicU64::new(next),
        });
        let job = std::rc::Rc::new(job);
        let cpu = process_cpu_ticks();
        let results = rt.block_on(async {
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async {
                    let tasks: Vec<_> = (0..job.connections)
                        .map(|i| tokio::task::spawn_local(connection(job.clone(), requests.clone(), i)))
                        .collect();
                    let mut all = Vec::new();
                    for t in tasks {
                        all.push(t.await.expect("a connection task"));
                    }
                    all
                })
                .await
        });
        let cpu = process_cpu_ticks() - cpu;
        next = requests.next.load(std::sync::atomic::Ordering::Relaxed);
        let ok: usize = results.iter().map(|r| r.latencies_us.len()).sum();
        let errors: u64 = results.iter().map(|r| r.errors).sum();
        if let Some(e) = results.iter().find_map(|r| r.first_error.as_deref()) {
            eprintln!("generator: {} on :{}: {errors} errors, the first: {}", job.kind.name(), job.port, e.trim());
        }
        let lat: Vec<String> = results.iter().flat_map(|r| r.latencies_us.iter().map(u32::to_string)).collect();
        println!("{ok} {errors} {cpu} {}", lat.join(","));
        let _ = std::io::stdout().flush();
    }
}

// ---------------------------------------------------------------- measuring

/// A `/proc/…/stat` line's command (its thread's name) and its utime and
/// stime, in clock ticks (100 per second).
fn stat_ticks(stat: &str) -> Option<(&str, u64, u64)> {
    // The fields after the command (which may hold spaces) in parentheses.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map_or("?", |(_, n)| n);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((name, field(14), field(15)))
}

/// utime + stime of this process, in clock ticks.
fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_ticks(&stat).map_or(0, |(_, user, sys)| user + sys)
}

/// utime and stime of each of this process's threads, summed by thread name
/// (`--threads`: where a row's CPU goes: actix workers, SQLite's
/// connection threads, the runtime's workers, the batch writers).
fn thread_cpu_ticks() -> HashMap<String, u64> {
    let mut by_name = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return by_name };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let Some((name, user, sys)) = stat_ticks(&stat) else { continue };
        // Threads of one pool differ only by a number: sum them.
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ':');
        *by_name.entry(format!("{name} user")).or_insert(0) += user;
        *by_name.entry(format!("{name} sys")).or_insert(0) += sys;
    }
    by_name
}

const TICK_US: f64 = 10_000.0;

struct GeneratorProcess {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

struct Slice {
    ok: u64,
    errors: u64,
    generator_ticks: u64,
    latencies_us: Vec<u32>,
}

impl GeneratorProcess {
    fn spawn() -> Self {
        let mut child = Command::new(std::env::current_exe().expect("this bench's path"))
            .arg("--generator")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the generator starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Self { _child: child, stdin, stdout }
    }

    fn run(&mut self, kind: Kind, port: u16, public: &str, millis: u64, connections: usize, rate: f64) -> Slice {
        writeln!(self.stdin, "{} {port} {public} {millis} {connections} {rate}", kind.name()).expect("job sent");
        self.stdin.flush().expect("job sent");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the generator answers");
        let mut f = line.trim_end().splitn(4, ' ');
        let mut num = || f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| panic!("generator: {line}"));
        let (ok, errors, generator_ticks) = (num(), num(), num());
        let latencies_us = line
            .trim_end()
            .splitn(4, ' ')
            .nth(3)
            .unwrap_or("")
            .split(',')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().expect("a latency"))
            .collect();
        Slice { ok, errors, generator_ticks, latencies_us }
    }
}

/// One row of the table: an endpoint on a store, loaded in slices.
struct Row {
    name: String,
    store: &'static str,
    kind: Kind,
    port: u16,
    public: String,
    ok: u64,
    errors: u64,
    wall: Duration,
    server_ticks: u64,
    generator_ticks: u64,
    latencies_us: Vec<u32>,
    /// CPU ticks by thread name, with `--threads`.
    threads: Option<HashMap<String, u64>>,
}

impl Row {
    fn new(name: &str, store: &'static str, kind: Kind, port: u16, public: &str) -> Self {
        Self {
            name: name.into(),
            store,
            kind,
            port,
            public: public.into(),
            ok: 0,
            errors: 0,
            wall: Duration::ZERO,
            server_ticks: 0,
            generator_ticks: 0,
            latencies_us: Vec::new(),
            threads: None,
        }
    }

    fn count_threads(mut self, on: bool) -> Self {
        self.threads = on.then(HashMap::new);
        self
    }

    fn load(&mut self, generator: &mut GeneratorProcess, millis: u64, connections: usize, rate: f64) {
        let threads = self.threads.as_ref().map(|_| thread_cpu_ticks());
        let cpu = process_cpu_ticks();
        let started = Instant::now();
        let s = generator.run(self.kind, self.port, &self.public, millis, connections, rate);
        self.wall += started.elapsed();
        self.server_ticks += process_cpu_ticks() - cpu;
        if let (Some(sum), Some(before)) = (self.threads.as_mut(), threads) {
            for (name, ticks) in thread_cpu_ticks() {
                *sum.entry(name.clone()).or_insert(0) += ticks.saturating_sub(before.get(&name).copied().unwrap_or(0));
            }
        }
        self.ok += s.ok;
        self.errors += s.errors;
        self.generator_ticks += s.generator_ticks;
        self.latencies_us.extend(s.latencies_us);
    }

    fn summary(&mut self) -> Summary {
        self.latencies_us.sort_unstable();
        let p = |q: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return f64::NAN;
            }
            f64::from(self.latencies_us[((self.latencies_us.len() - 1) as f64 * q).round() as usize])
        };
        let ok = self.ok.max(1) as f64;
        Summary {
            name: self.name.clone(),
            store: self.store,
            endpoint: self.kind.name(),
            requests: self.ok,
            errors: self.errors,
            rps: self.ok as f64 / self.wall.as_secs_f64(),
            p50_us: p(0.5),
            p99_us: p(0.99),
            p999_us: p(0.999),
            cpu_us: self.server_ticks as f64 * TICK_US / ok,
            generator_cpu_us: self.generator_ticks as f64 * TICK_US / ok,
        }
    }
}

#[derive(serde::Serialize, Clone)]
struct Summary {
    name: String,
    store: &'static str,
    endpoint: &'static str,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// The bench process's CPU (the servers) per answered request.
    cpu_us: f64,
    generator_cpu_us: f64,
}

// ---------------------------------------------------------------- servers

fn bench_env(database_url: &str) -> HashMap<String, String> {
    [("PORT", "0"), ("DATABASE_URL", database_url), ("VOUCH_STATE_SECRET", STATE_SECRET)]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// The demo configuration, with the lockout raised to its maximum so that
/// concurrent verifications of the four demo customers never reach it
/// (each success clears its count; in production, calls verify different
/// customers).
fn bench_config(database_url: &str) -> Config {
    let toml = format!("{}\n[security]\nlockout_failures = 1000\n", vouch::config::DEMO_CONFIG);
    Config::from_toml(&toml, &bench_env(database_url)).expect("demo config")
}

struct Vouch {
    port: u16,
    public: String,
}

async fn start_vouch(database_url: &str) -> Vouch {
    let app = Application::build(bench_config(database_url), "127.0.0.1").await.expect("vouch starts");
    let v = Vouch { port: app.port(), public: app.public_base().to_string() };
    tokio::spawn(app.run_until_stopped());
    v
}

/// The static baseline: reads the body, answers `doc`.
fn start_baseline(doc: String) -> u16 {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let doc = web::Bytes::from(doc);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("bound").port();
    let server = HttpServer::new(move || {
        let doc = doc.clone();
        App::new().route(
            "/voice",
            web::post().to(move |body: web::Bytes| {
                let doc = doc.clone();
                async move {
                    std::hint::black_box(&body);
                    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(doc)
                }
            }),
        )
    })
    .disable_signals()
    .listen(listener)
    .expect("listens")
    .run();
    tokio::spawn(server);
    port
}

// ---------------------------------------------------------------- the real binary

struct Binary {
    start_to_first_answer_ms: f64,
    idle_rss_kib: u64,
    /// Of the idle RSS, the process's own memory (`RssAnon`: heap, stacks)
    /// and the files it maps (`RssFile`: the binary's and the libraries'
    /// code and read-only data, shared and read back from the file).
    idle_anon_kib: u64,
    idle_file_kib: u64,
    load_rss_kib: u64,
    load_rps: f64,
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(&proc_status(pid), "VmRSS:")
}

/// `/proc/PID/status` (empty if unreadable).
fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

/// A figure of a `/proc/PID/status` text, in KiB (0 if missing).
fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts `vouch serve` on a SQLite file, times it to its first answered
/// webhook, then reads its RSS idle and under `seconds` of load.
async fn real_binary(
    dir: &std::path::Path,
    generator: &mut GeneratorProcess,
    connections: usize,
    seconds: f64,
) -> Binary {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("bound").port();
    let public = format!("http://localhost:{port}");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--bind", "127.0.0.1"])
        .env("PORT", port.to_string())
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("binary.db").display()))
        .env("VOUCH_STATE_SECRET", STATE_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vouch starts");
    let phone = Phone::new(&format!("http://127.0.0.1:{port}"), &public, "vouch-demo-auth-token-not-secret");
    let params = Params::from_pairs(Phone::call_params(&CallSpec::default(), &vouch::sim::call::new_call_sid()));
    let first = loop {
        if let Ok((200, _, body, _)) = phone.post(&format!("{public}/voice"), &params).await {
            assert!(body.contains("<Gather"), "{body}");
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "vouch did not answer within 20 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.id();
    // One reading, so that its own memory and the mapped files add up to the RSS.
    let status = proc_status(pid);
    let idle = status_kib(&status, "VmRSS:");
    let (idle_anon, idle_file) = (status_kib(&status, "RssAnon:"), status_kib(&status, "RssFile:"));
    let millis = (seconds * 1000.0) as u64;
    let sampler = tokio::spawn(async move {
        let mut max = 0;
        let until = Instant::now() + Duration::from_millis(millis);
        while Instant::now() < until {
            max = max.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        max
    });
    let slice = tokio::task::block_in_place(|| generator.run(Kind::FirstHit, port, &public, millis, connections, 0.0));
    let load = sampler.await.unwrap_or(0).max(rss_kib(pid));
    let _ = child.kill();
    let _ = child.wait();
    Binary {
        start_to_first_answer_ms: first.as_secs_f64() * 1e3,
        idle_rss_kib: idle,
        idle_anon_kib: idle_anon,
        idle_file_kib: idle_file,
        load_rss_kib: load,
        load_rps: slice.ok as f64 / seconds,
    }
}

/// Loads each of `rows` for one slice per round, each round starting at
/// the next row, so that every row sees the same neighbours.
fn load_interleaved(
    rows: &mut [Row],
    generator: &mut GeneratorProcess,
    rounds: usize,
    slice_ms: u64,
    connections: usize,
    rate: f64,
) {
    let n = rows.len();
    for round in 0..rounds {
        for k in 0..n {
            rows[(round + k) % n].load(generator, slice_ms, connections, rate);
        }
    }
}

// ---------------------------------------------------------------- main

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--generator") {
        return generator();
    }
    // The runtime `vouch serve` runs on, so the apps' background tasks run
    // as they do there.
    vouch::startup::serve_runtime().expect("a runtime").block_on(bench(args));
}

async fn bench(args: Vec<String>) {
    let seconds: f64 = arg(&args, "--seconds", 4.0);
    let connections: usize = arg(&args, "--connections", 32);
    let steady: f64 = arg(&args, "--steady-rate", 500.0);
    // Slices of about half a second, interleaved: each round loads every
    // row once, starting at another row each time.
    let rounds = ((seconds * 2.0).round() as usize).max(1);
    let slice_ms = (seconds * 1000.0 / rounds as f64) as u64;

    let dir = tempfile::tempdir().expect("a temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let lite = start_vouch(&sqlite).await;
    let memory = start_vouch("memory:").await;
    let pg = postgres::Schema::create("vouch_bench_webhooks").await;
    let postgres = match &pg {
        Some(schema) => Some(start_vouch(&schema.url).await),
        None => {
            println!("PostgreSQL: skipped (set VOUCH_TEST_POSTGRES_URL to include it)");
            None
        }
    };

    // The baseline answers a document as long as Vouch's first answer.
    let phone =
        Phone::new(&format!("http://127.0.0.1:{}", lite.port), &lite.public, "vouch-demo-auth-token-not-secret");
    let params = Params::from_pairs(Phone::call_params(&CallSpec::default(), &vouch::sim::call::new_call_sid()));
    let (_, _, doc, _) = phone.post(&format!("{}/voice", lite.public), &params).await.expect("vouch answers");
    assert!(doc.contains("<Gather") && doc.contains("/verify?state="), "{doc}");
    let baseline = start_baseline(doc.clone());
    let base_public = format!("http://127.0.0.1:{baseline}");

    let threads = args.iter().any(|a| a == "--threads");
    let mut rows = vec![Row::new("static baseline", "-", Kind::Static, baseline, &base_public).count_threads(threads)];
    let mut stores: Vec<(&'static str, &Vouch)> = vec![("SQLite", &lite), ("memory", &memory)];
    if let Some(pg) = &postgres {
        stores.push(("PostgreSQL", pg));
    }
    for (kind, label) in [
        (Kind::FirstHit, "first webhook, caller-ID cache hit"),
        (Kind::Identify, "identify, identifier cache hit"),
        (Kind::Verify, "verify, demo CRM"),
        (Kind::FirstMiss, "first webhook, CRM cache miss"),
    ] {
        for (store, v) in &stores {
            rows.push(Row::new(label, store, kind, v.port, &v.public).count_threads(threads));
        }
    }

    let mut generator = GeneratorProcess::spawn();
    tokio::task::block_in_place(|| {
        // Warm-up: connections, the CRM caches (Ada's number, her account
        // number), the pools; not counted.
        for row in &mut rows {
            let s = generator.run(row.kind, row.port, &row.public, 300, connections, 0.0);
            assert!(s.ok > 0, "{} on {}: no answer in the warm-up", row.name, row.store);
        }
        load_interleaved(&mut rows, &mut generator, rounds, slice_ms, connections, 0.0);
    });

    // The same load on both: p99 of the baseline and of the first webhook
    // (SQLite) at a fixed rate both sustain (half of Vouch's throughput above).
    let summaries: Vec<Summary> = rows.iter_mut().map(Row::summary).collect();
    let rate = (summaries[1].rps * 0.5).floor();
    let mut paced = [
        Row::new("static baseline, paced", "-", Kind::Static, baseline, &base_public),
        Row::new("first webhook, cache hit, paced", "SQLite", Kind::FirstHit, lite.port, &lite.public),
    ];
    tokio::task::block_in_place(|| load_interleaved(&mut paced, &mut generator, rounds, slice_ms, connections, rate));
    let paced: Vec<Summary> = paced.iter_mut().map(Row::summary).collect();

    // Below full load (a contact center's busy hour is hundreds of
    // webhooks a second, not thousands): what each answer costs when the
    // servers are not saturated and batches are small.
    let mut quiet = vec![Row::new("static baseline, steady", "-", Kind::Static, baseline, &base_public)];
    for (store, v) in &stores {
        quiet.push(Row::new("first webhook, cache hit, steady", store, Kind::FirstHit, v.port, &v.public));
    }
    tokio::task::block_in_place(|| load_interleaved(&mut quiet, &mut generator, rounds, slice_ms, connections, steady));
    let quiet: Vec<Summary> = quiet.iter_mut().map(Row::summary).collect();

    let binary = real_binary(dir.path(), &mut generator, connections, seconds.min(3.0)).await;

    let base = summaries[0].clone();
    println!(
        "\nwebhooks: {connections} keep-alive connections, {seconds} s per row in {rounds} interleaved slices; \
         ratios are to the static baseline of this run"
    );
    println!(
        "{:<38} {:<10} {:>8} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7} {:>6} {:>7}",
        "endpoint", "store", "req/s", "×", "p50 µs", "p99 µs", "p99.9 µs", "p99 ×", "CPU µs", "CPU ×", "errors"
    );
    let print = |s: &Summary, base: &Summary| {
        println!(
            "{:<38} {:<10} {:>8.0} {:>6.2} {:>7.0} {:>7.0} {:>8.0} {:>6.2} {:>7.1} {:>6.2} {:>7}",
            s.name,
            s.store,
            s.rps,
            s.rps / base.rps,
            s.p50_us,
            s.p99_us,
            s.p999_us,
            s.p99_us / base.p99_us,
            s.cpu_us,
            s.cpu_us / base.cpu_us,
            s.errors
        );
    };
    for s in &summaries {
        print(s, &base);
    }
    for row in rows.iter().filter(|r| r.threads.is_some()) {
        let mut by_name: Vec<(&String, &u64)> = row.threads.iter().flatten().filter(|(_, t)| **t > 0).collect();
        by_name.sort_by(|a, b| b.1.cmp(a.1));
        let per_request = |t: u64| t as f64 * TICK_US / row.ok.max(1) as f64;
        let top: Vec<String> = by_name.iter().take(8).map(|(n, t)| format!("{n} {:.1}", per_request(**t))).collect();
        println!("  threads, µs per request: {} on {}: {}", row.name, row.store, top.join(", "));
    }
    println!("at the same load: {rate:.0} req/s paced (latency from the scheduled send)");
    for s in &paced {
        print(s, &paced[0]);
    }
    println!("steady, below full load: {steady:.0} req/s paced");
    for s in &quiet {
        print(s, &quiet[0]);
    }
    println!(
        "generator CPU per request (not in the figures above): {}",
        summaries.iter().map(|s| format!("{} {:.0} µs", s.endpoint, s.generator_cpu_us)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "vouch binary (SQLite): start to first answer {:.1} ms, idle RSS {:.1} MiB ({:.1} its own, {:.1} mapped files), RSS under load {:.1} MiB ({:.0} req/s)",
        binary.start_to_first_answer_ms,
        binary.idle_rss_kib as f64 / 1024.0,
        binary.idle_anon_kib as f64 / 1024.0,
        binary.idle_file_kib as f64 / 1024.0,
        binary.load_rss_kib as f64 / 1024.0,
        binary.load_rps
    );

    let json = serde_json::json!({
        "connections": connections,
        "seconds_per_row": seconds,
        "rounds": rounds,
        "rows": summaries.iter().map(|s| row_json(s, &base)).collect::<Vec<_>>(),
        "same_load": {
            "rate": rate,
            "rows": paced.iter().map(|s| row_json(s, &paced[0])).collect::<Vec<_>>(),
        },
        "steady": {
            "rate": steady,
            "rows": quiet.iter().map(|s| row_json(s, &quiet[0])).collect::<Vec<_>>(),
        },
        "binary": {
            "start_to_first_answer_ms": binary.start_to_first_answer_ms,
            "idle_rss_kib": binary.idle_rss_kib,
            "idle_anon_kib": binary.idle_anon_kib,
            "idle_file_kib": binary.idle_file_kib,
            "load_rss_kib": binary.load_rss_kib,
            "load_rps": binary.load_rps,
        },
    });
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&target);
    let path = target.join("bench-webhooks.json");
    match std::fs::write(&path, serde_json::to_string_pretty(&json).expect("JSON")) {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }

    if let Some(schema) = pg {
        schema.drop().await;
    }
}

fn row_json(s: &Summary, base: &Summary) -> serde_json::Value {
    serde_json::json!({
        "figures": s,
        "ratio": {
            "rps": s.rps / base.rps,
            "p50": s.p50_us / base.p50_us,
            "p99": s.p99_us / base.p99_us,
            "p999": s.p999_us / base.p999_us,
            "cpu": s.cpu_us / base.cpu_us,
        },
    })
}

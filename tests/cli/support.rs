//! Helpers for running the real `vouch` binary: a `serve` process on a
//! random port, one-shot commands with a clean environment, and a tiny
//! HTTP server (plain std) to stand in for a CRM or a misbehaving app.
//!
//! Every test that runs the binary does it through [`command`], [`run`] or
//! [`Serve`]: the environment is cleared of every variable that configures
//! Vouch, so a developer's shell cannot change what a test sees.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The published demo auth token, used when `TWILIO_AUTH_TOKEN` is unset.
pub const DEMO_TOKEN: &str = "vouch-demo-auth-token-not-secret";

/// How long `vouch serve` may take to say it is listening (a busy machine
/// building other things included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to exit after SIGTERM: the shutdown timeout (10 s
/// by default) and the store's flush (4 s), with slack.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a variable configures Vouch (and so is cleared for a test).
fn configures_vouch(name: &str) -> bool {
    name.starts_with("VOUCH_") || name.starts_with("TWILIO_") || ["PORT", "DATABASE_URL", "RUST_LOG"].contains(&name)
}

/// The binary with every configuring variable cleared, then `env` set.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vouch"));
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        if configures_vouch(&name.to_string_lossy()) {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs a command to its end with stdin closed.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let out = command(args, env).stdin(Stdio::null()).output().expect("run the vouch binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `vouch serve --log-format json` on a random local port, killed when
/// dropped. Both its outputs are collected, line by line.
pub struct Serve {
    pub child: Child,
    pub port: u16,
    /// The public URL it checks signatures against.
    pub public: String,
    /// Where to send requests.
    pub address: String,
    /// The "vouch listening on …" log line.
    pub listening: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// Reads `from` line by line into `into` until it closes; the first line
/// holding "vouch listening" is also sent to `ready`.
fn collect(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Sender<String>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if line.contains("vouch listening") {
                let _ = ready.send(line.clone());
            }
            into.lock().unwrap().push(line);
        }
    })
}

impl Serve {
    /// Starts `vouch serve` with `args` and `env` (over a clean environment,
    /// `PORT=0` and, unless given, `DATABASE_URL=memory:`) and waits for its
    /// "vouch listening" line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["serve", "--log-format", "json", "--bind", "127.0.0.1"];
        all.extend_from_slice(args);
        Self::spawn(&all, env)
    }

    /// The binary with exactly `args`, which must log JSON and bind
    /// 127.0.0.1 (as `start` does with `serve`'s options), on a random port.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut env = env.to_vec();
        env.push(("PORT", "0"));
        // Each server keeps its records in memory: several run at once, and
        // the default SQLite file in the working directory is shared.
        if !env.iter().any(|(k, _)| *k == "DATABASE_URL") {
            env.push(("DATABASE_URL", "memory:"));
        }
        let mut child = command(args, &env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vouch starts");
        let (stdout, stderr) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), stdout.clone(), tx.clone()),
            collect(child.stderr.take().expect("piped stderr"), stderr.clone(), tx),
        ];
        let mut serve = Self {
            child,
            port: 0,
            public: String::new(),
            address: String::new(),
            listening: String::new(),
            stdout,
            stderr,
            readers,
        };
        // Both readers drop their sender at end of output: an early exit ends the wait at once.
        let ready = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = serve.child.kill();
                let status = serve.child.wait();
                serve.join_readers();
                panic!("vouch did not say it was listening ({e}; {status:?}):\n{}", serve.logs());
            }
        };
        let v: serde_json::Value = serde_json::from_str(&ready).expect("a JSON log line");
        serve.port = v["port"].as_u64().expect("port field") as u16;
        serve.public = v["public_url"].as_str().expect("public_url field").to_string();
        serve.address = format!("http://127.0.0.1:{}", serve.port);
        serve.listening = ready;
        serve
    }

    /// Runs a debugging command (`simulate`, `replay`) against this server:
    /// sent to its address, signed for its public URL.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
        let mut all = args.to_vec();
        all.extend(["--url", self.address.as_str()]);
        let mut env = env.to_vec();
        env.push(("VOUCH_PUBLIC_URL", self.public.as_str()));
        run(&all, &env)
    }

    /// Every line it has written so far: standard output, then standard error.
    pub fn logs(&self) -> String {
        let mut all = self.stdout.lock().unwrap().clone();
        all.extend(self.stderr.lock().unwrap().iter().cloned());
        all.join("\n")
    }

    /// How many lines so far contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        let count = |lines: &Mutex<Vec<String>>| lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count();
        count(&self.stdout) + count(&self.stderr)
    }

    /// Waits until `n` lines contain `needle`.
    pub fn wait_for_lines(&self, needle: &str, n: usize, within: Duration) {
        wait_until(&format!("{n} log lines with {needle:?}"), within, || self.count_lines(needle) >= n);
    }

    /// Sends SIGTERM, as Fly.io and Docker stop a machine; when it was sent.
    pub fn sigterm(&self) -> Instant {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "SIGTERM sent");
        Instant::now()
    }

    /// Waits for the process to exit, then for its last lines.
    pub fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for vouch") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.join_readers();
                panic!("vouch did not exit within {within:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.join_readers();
        status
    }

    /// SIGTERM, then waits for the exit and every line written before it.
    pub fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_for_exit(STOP_TIMEOUT)
    }

    /// Once the process has exited, its outputs close: all lines are in.
    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request the tiny server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the tiny server answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn xml(body: impl Into<String>) -> Self {
        Self { status: 200, content_type: "text/xml", body: body.into(), delay: Duration::ZERO }
    }
}

type Responder = dyn Fn(&Seen) -> Reply + Send + Sync;

/// An HTTP/1.1 server on a random port, one thread per connection.
pub struct Tiny {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Tiny {
    pub fn start(respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (respond, log) = (respond.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &*respond, &log);
                });
            }
        });
        Self { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(mut stream: TcpStream, respond: &Responder, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap_or(0));
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let seen = Seen { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
    log.lock().unwrap().push(seen.clone());
    let reply = respond(&seen);
    std::thread::sleep(reply.delay);
    write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    )?;
    stream.flush()
}

/// A raw HTTP/1.1 POST with `Connection: close`; the status and body.
pub fn post(address: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<(u16, String)> {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status =
        answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("no HTTP answer: {answer:?}"))
        })?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    Ok((status, body))
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("vouch-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Held by tests that stress the binary (floods, races), so they run one
/// at a time on a small machine: `let _serial = support::stress_lock();` in a
/// plain test, `support::stress_lock_async().await` in an async one.
static STRESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn stress_lock() -> tokio::sync::MutexGuard<'static, ()> {
    STRESS.blocking_lock()
}

pub async fn stress_lock_async() -> tokio::sync::MutexGuard<'static, ()> {
    STRESS.lock().await
}

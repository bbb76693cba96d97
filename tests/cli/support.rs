//! Helpers for running the real `vouch` binary: a `serve` process on a
//! random port, one-shot commands with a clean environment, and a tiny
//! HTTP server (plain std) to stand in for a CRM or a misbehaving app.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The published demo auth token, used when `TWILIO_AUTH_TOKEN` is unset.
pub const DEMO_TOKEN: &str = "vouch-demo-auth-token-not-secret";

/// The binary with every configuring variable cleared, then `env` set.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vouch"));
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("VOUCH_") || n.starts_with("TWILIO_") || n == "PORT" || n == "DATABASE_URL" || n == "RUST_LOG"
        {
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

/// `vouch serve` on a random local port, killed when dropped.
pub struct Serve {
    pub child: Child,
    pub port: u16,
    /// The public URL it checks signatures against.
    pub public: String,
    /// Where to send requests.
    pub address: String,
    /// The "vouch listening on …" log line.
    pub listening: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Serve {
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
            .stderr(Stdio::inherit())
            .spawn()
            .expect("vouch starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("vouch listening") {
                    let _ = tx.send(line.clone());
                }
                seen.lock().unwrap().push(line);
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).expect("vouch logs that it is listening");
        let v: serde_json::Value = serde_json::from_str(&ready).expect("a JSON log line");
        let port = v["port"].as_u64().expect("port field") as u16;
        let public = v["public_url"].as_str().expect("public_url field").to_string();
        Self { child, port, public, address: format!("http://127.0.0.1:{port}"), listening: ready, lines }
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

    pub fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
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

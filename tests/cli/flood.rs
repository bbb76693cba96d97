//! An unauthenticated login flood against the real binary: 150 clients
//! logging in at once for 10 s, each attempt with a new name from a new
//! address (so neither backoff helps, and the bound on password checks is
//! what holds). The process's peak memory stays small, and signed webhooks
//! sent meanwhile are answered promptly.

use crate::support::{post, stress_lock, Serve, TempDir, DEMO_TOKEN};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch::twilio::form::Params;
use vouch::twilio::signature;

const CLIENTS: usize = 150;
const FLOOD: Duration = Duration::from_secs(10);
const MAX_PEAK_RSS_KIB: u64 = 256 * 1024;
const MAX_WEBHOOK: Duration = Duration::from_secs(2);

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB")
}

/// One signed first webhook for a new call from Ada's number; how long it took.
fn webhook(server: &Serve, n: usize) -> Duration {
    let sid = format!("CA{:032x}", 0xf100d000_u64 + n as u64);
    let params = Params::from_pairs([("CallSid", sid.as_str()), ("From", "+15551230001"), ("To", "+15005550006")]);
    let sig = signature::sign(DEMO_TOKEN, &format!("{}/voice", server.public), &params);
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
    let started = Instant::now();
    let (status, body) = post(&server.address, "/voice", &headers, &params.encode()).expect("the webhook is answered");
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Gather"), "{body}");
    took
}

#[test]
fn a_login_flood_keeps_memory_small_and_webhooks_prompt() {
    let _serial = stress_lock();
    let hash = vouch::auth::password::hash("the agent's password").unwrap();
    let users = format!("[[users]]\nname = \"ada.agent\"\nrole = \"agent\"\npassword_hash = \"{hash}\"\n");
    // A SQLite file, as deployed: every checked login is audited in it.
    let dir = TempDir::new("flood");
    std::fs::create_dir_all(&dir.0).unwrap();
    let database = format!("sqlite://{}/vouch.db", dir.path());
    let server = Serve::start(&[], &[("VOUCH_USERS", &users), ("DATABASE_URL", &database)]);
    let pid = server.child.id();
    let before = proc_status_kib(pid, "VmRSS");
    webhook(&server, 0);

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused, busy, errors) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (address, stop) = (server.address.clone(), stop.clone());
            let (sent, refused, busy, errors) = (sent.clone(), refused.clone(), busy.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // A new name and a new address each time: no backoff applies.
                    let from = format!("10.{}.{}.{}", c, i / 256 % 256, i % 256);
                    let body = format!("name=someone-{c}-{i}&password=guess-{i}&next=%2Fagent");
                    let headers =
                        [("Content-Type", "application/x-www-form-urlencoded"), ("X-Forwarded-For", from.as_str())];
                    sent.fetch_add(1, Ordering::Relaxed);
                    match post(&address, "/agent/login", &headers, &body) {
                        Ok((401, _)) => refused.fetch_add(1, Ordering::Relaxed),
                        Ok((429, _)) => busy.fetch_add(1, Ordering::Relaxed),
                        Ok((status, body)) => panic!("a login got {status}: {body}"),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let started = Instant::now();
    let latencies = Mutex::new(Vec::new());
    let mut n = 1;
    while started.elapsed() < FLOOD {
        latencies.lock().unwrap().push(webhook(&server, n));
        n += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a flooding client");
    }
    let peak = proc_status_kib(pid, "VmHWM");
    let after = proc_status_kib(pid, "VmRSS");
    let latencies = latencies.into_inner().unwrap();
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let (sent, refused, busy, errors) = (
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    );
    eprintln!(
        "FLOOD: {sent} logins ({refused} checked and refused 401, {busy} refused 429, {errors} connection errors); \
         RSS {} MiB before, peak {} MiB, {} MiB after; {} webhooks, median {median:?}, slowest {slowest:?}",
        before / 1024,
        peak / 1024,
        after / 1024,
        latencies.len()
    );
    assert!(busy > refused, "most of the flood was turned away without a password check");
    assert!(refused > 0, "some logins were checked");
    assert!(peak < MAX_PEAK_RSS_KIB, "peak RSS {} MiB", peak / 1024);
    // One after another for the whole flood, each within MAX_WEBHOOK: at
    // least FLOOD / MAX_WEBHOOK of them.
    let least = (FLOOD.as_millis() / MAX_WEBHOOK.as_millis()) as usize;
    assert!(latencies.len() >= least, "webhooks kept being answered: {}", latencies.len());
    assert!(slowest < MAX_WEBHOOK, "the slowest webhook took {slowest:?}: {latencies:?}");
    // The server still serves a real login at once.
    let form = "name=ada.agent&password=the+agent%27s+password&next=%2Fagent";
    let (status, _) =
        post(&server.address, "/agent/login", &[("Content-Type", "application/x-www-form-urlencoded")], form)
            .expect("a login after the flood");
    assert_eq!(status, 303);
}

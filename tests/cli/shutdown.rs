//! Graceful shutdown: on SIGTERM (what Fly.io sends during a deploy) the
//! real binary stops accepting connections, lets in-flight webhooks finish
//! within `server.shutdown_timeout_secs`, and exits 0.

use crate::support::{post, wait_until, Reply, Serve, TempDir, Tiny, DEMO_TOKEN};
use std::net::TcpStream;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};
use vouch::twilio::form::Params;
use vouch::twilio::signature;

/// A CRM that finds Ada by phone after `delay`, and says when a request arrived.
fn slow_crm(delay: Duration) -> (Tiny, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let crm = Tiny::start(move |_| {
        let _ = tx.lock().unwrap().send(());
        Reply {
            status: 200,
            content_type: "application/json",
            body: r#"{"customers":[{"id":"12345678","name":"Ada Lovelace"}]}"#.into(),
            delay,
        }
    });
    (crm, rx)
}

/// What the webhook's client got, and when.
type Answered = (std::io::Result<(u16, String)>, Instant);

/// Starts Ada's first webhook in a thread; returns once the CRM has it.
fn webhook_in_flight(server: &Serve, crm_called: &mpsc::Receiver<()>) -> std::thread::JoinHandle<Answered> {
    let params = Params::from_pairs([
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("From", "+15551230001"),
        ("To", "+15005550006"),
    ]);
    let sig = signature::sign(DEMO_TOKEN, &format!("{}/voice", server.public), &params);
    let address = server.address.clone();
    let handle = std::thread::spawn(move || {
        let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
        let answer = post(&address, "/voice", &headers, &params.encode());
        (answer, Instant::now())
    });
    crm_called.recv_timeout(Duration::from_secs(20)).expect("the webhook reached the CRM");
    handle
}

/// The demo configuration with a CRM timeout of 8 s (so a slow CRM is
/// waited for) and `shutdown_timeout_secs`, in a file in `dir`.
fn config_file(dir: &TempDir, shutdown_timeout_secs: u64) -> String {
    let toml = vouch::config::DEMO_CONFIG
        .replacen("[server]", &format!("[server]\ndrain_secs = 0\nshutdown_timeout_secs = {shutdown_timeout_secs}"), 1)
        .replacen("timeout_ms = 2000", "timeout_ms = 8000", 1);
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("vouch.toml");
    std::fs::write(&config, toml).unwrap();
    config.to_str().expect("a UTF-8 path").to_string()
}

#[test]
fn sigterm_lets_an_in_flight_webhook_finish_and_refuses_new_connections() {
    // The CRM takes long enough for the refusals to be seen meanwhile.
    let (crm, crm_called) = slow_crm(Duration::from_secs(3));
    let dir = TempDir::new("sigterm");
    let mut server = Serve::start(&["--config", &config_file(&dir, 10)], &[("VOUCH_CRM_URL", &crm.url)]);
    let in_flight = webhook_in_flight(&server, &crm_called);
    let signalled = server.sigterm();

    // While the webhook finishes, nobody new gets in.
    wait_until("new connections to be refused after SIGTERM", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", server.port)).is_err()
    });
    assert!(!in_flight.is_finished(), "connections were refused while the webhook was still in flight");

    let (answer, answered_at) = in_flight.join().unwrap();
    let (status, body) = answer.expect("the in-flight webhook is answered");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Gather") && body.contains("PIN"),
        "Ada is asked for her PIN, from the CRM's answer: {body}"
    );
    assert!(answered_at > signalled, "answered after SIGTERM");

    let exit = server.wait_for_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit status {exit:?}");
    // Every line written before the exit is in.
    assert!(server.logs().contains("vouch stopped"), "{}", server.logs());
}

#[test]
fn the_shutdown_timeout_bounds_how_long_a_webhook_may_hold_up_the_exit() {
    let dir = TempDir::new("shutdown");
    let config = config_file(&dir, 1);
    // The CRM answers long after the shutdown timeout.
    let (crm, crm_called) = slow_crm(Duration::from_secs(6));
    let mut server = Serve::start(&["--config", &config], &[("VOUCH_CRM_URL", &crm.url)]);
    let in_flight = webhook_in_flight(&server, &crm_called);
    let signalled = server.sigterm();
    let exit = server.wait_for_exit(Duration::from_secs(5));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() >= Duration::from_millis(900), "it waited about the configured second");
    let (answer, _) = in_flight.join().unwrap();
    assert!(answer.is_err(), "the webhook was cut off at the timeout: {answer:?}");
}

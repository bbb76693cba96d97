//! Graceful shutdown: on SIGTERM (what Fly.io sends during a deploy) the
//! real binary stops accepting connections, lets in-flight webhooks finish
//! within `server.shutdown_timeout_secs`, and exits 0.

use crate::support::{post, Reply, Serve, TempDir, Tiny, DEMO_TOKEN};
use std::net::TcpStream;
use std::process::Command;
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

/// Starts Ada's first webhook in a thread; returns once the CRM has it.
fn webhook_in_flight(
    server: &Serve,
    crm_called: &mpsc::Receiver<()>,
) -> std::thread::JoinHandle<std::io::Result<(u16, String)>> {
    let params = Params::from_pairs([
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("From", "+15551230001"),
        ("To", "+15005550006"),
    ]);
    let sig = signature::sign(DEMO_TOKEN, &format!("{}/voice", server.public), &params);
    let address = server.address.clone();
    let handle = std::thread::spawn(move || {
        let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
        post(&address, "/voice", &headers, &params.encode())
    });
    crm_called.recv_timeout(Duration::from_secs(20)).expect("the webhook reached the CRM");
    handle
}

fn sigterm(server: &Serve) -> Instant {
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("run kill");
    assert!(status.success());
    Instant::now()
}

fn wait_for_exit(server: &mut Serve, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "vouch did not exit within {within:?} of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_lets_an_in_flight_webhook_finish_and_refuses_new_connections() {
    let (crm, crm_called) = slow_crm(Duration::from_millis(1500));
    let mut server = Serve::start(&[], &[("VOUCH_CRM_URL", &crm.url)]);
    let in_flight = webhook_in_flight(&server, &crm_called);
    let signalled = sigterm(&server);

    // While the webhook finishes, nobody new gets in.
    let mut refused = false;
    while signalled.elapsed() < Duration::from_secs(1) && !refused {
        refused = TcpStream::connect(("127.0.0.1", server.port)).is_err();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(refused, "new connections are refused after SIGTERM");

    let (status, body) = in_flight.join().unwrap().expect("the in-flight webhook is answered");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Gather") && body.contains("PIN"), "Ada is asked for her PIN: {body}");
    assert!(signalled.elapsed() >= Duration::from_millis(1000), "the answer waited for the slow CRM");

    let exit = wait_for_exit(&mut server, Duration::from_secs(10));
    assert!(exit.success(), "exit status {exit:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !server.logs().contains("vouch stopped") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.logs().contains("vouch stopped"), "{}", server.logs());
}

#[test]
fn the_shutdown_timeout_bounds_how_long_a_webhook_may_hold_up_the_exit() {
    let toml = vouch::config::DEMO_CONFIG.replacen("[server]", "[server]\nshutdown_timeout_secs = 1", 1).replacen(
        "timeout_ms = 2000",
        "timeout_ms = 8000",
        1,
    );
    let dir = TempDir::new("shutdown");
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("vouch.toml");
    std::fs::write(&config, toml).unwrap();
    // The CRM answers long after the shutdown timeout.
    let (crm, crm_called) = slow_crm(Duration::from_secs(6));
    let mut server = Serve::start(&["--config", config.to_str().unwrap()], &[("VOUCH_CRM_URL", &crm.url)]);
    let in_flight = webhook_in_flight(&server, &crm_called);
    let signalled = sigterm(&server);
    let exit = wait_for_exit(&mut server, Duration::from_secs(5));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() >= Duration::from_millis(900), "it waited about the configured second");
    let answer = in_flight.join().unwrap();
    assert!(answer.is_err(), "the webhook was cut off at the timeout: {answer:?}");
}

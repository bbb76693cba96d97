//! Draining on SIGTERM, with the real binary: `/healthz` answers 503 for
//! `server.drain_secs` while webhooks are still answered, then the
//! listener closes, and the records buffered before SIGTERM reach the
//! database before the process exits, with no "being shutdown" error from a
//! runtime stopped under the final flush.

use crate::database;
use crate::support::{post, Serve, TempDir, DEMO_TOKEN};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use vouch::twilio::form::Params;
use vouch::twilio::signature;

/// `GET /healthz`: its status, or `None` when the connection is refused.
fn health(address: &str) -> Option<u16> {
    let address = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(address).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut got = String::new();
    s.read_to_string(&mut got).ok()?;
    got.split_whitespace().nth(1)?.parse().ok()
}

/// A call's signed first webhook: its status and body.
fn first_webhook(server: &Serve, call_sid: &str) -> (u16, String) {
    let params = Params::from_pairs([("CallSid", call_sid), ("From", "+15551230001"), ("To", "+15005550006")]);
    let sig = signature::sign(DEMO_TOKEN, &format!("{}/voice", server.public), &params);
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
    post(&server.address, "/voice", &headers, &params.encode()).expect("the webhook is answered")
}

fn config_file(dir: &TempDir, drain_secs: u64) -> String {
    let toml = vouch::config::DEMO_CONFIG.replacen("[server]", &format!("[server]\ndrain_secs = {drain_secs}"), 1);
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("vouch.toml");
    std::fs::write(&config, toml).unwrap();
    config.to_str().expect("a UTF-8 path").to_string()
}

const SIDS: [&str; 3] =
    ["CA00000000000000000000000000000d01", "CA00000000000000000000000000000d02", "CA00000000000000000000000000000d03"];

/// SIGTERM on a server on `database_url`: the drain, then the flush.
async fn drains_then_flushes(database_url: &str, dir: &TempDir) {
    let mut server =
        Serve::start(&["--config", &config_file(dir, 3)], &[("DATABASE_URL", database_url), ("RUST_LOG", "info")]);
    assert_eq!(health(&server.address), Some(200));
    // Records buffered by the writer, not yet written (most of them).
    for sid in &SIDS[..2] {
        let (status, body) = first_webhook(&server, sid);
        assert_eq!(status, 200, "{body}");
    }
    let signalled = server.sigterm();
    // Draining: /healthz says 503, webhooks are still answered.
    let mut saw_503 = false;
    while signalled.elapsed() < Duration::from_millis(2_500) {
        match health(&server.address) {
            Some(503) => saw_503 = true,
            other => assert!(!saw_503 || other.is_none(), "after a 503, /healthz said {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_503, "/healthz answered 503 while draining");
    let (status, body) = first_webhook(&server, SIDS[2]);
    assert_eq!(status, 200, "a webhook is answered while draining: {body}");
    assert!(body.contains("<Response>"), "{body}");
    // Then the listener closes, after the drain period.
    let exit = server.wait_for_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(3), "it drained for the configured 3 s");
    let logs = server.logs();
    assert!(!logs.contains("being shutdown"), "a write raced the runtime's shutdown: {logs}");
    assert!(!logs.contains("call records dropped"), "{logs}");
    for sid in SIDS {
        assert!(database::stored(database_url, sid).await.is_some(), "{sid} is in the database after the exit: {logs}");
    }
}

#[tokio::test]
async fn sigterm_drains_health_first_and_flushes_records_on_sqlite() {
    let dir = TempDir::new("drain-sqlite");
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}/vouch.db", dir.path());
    drains_then_flushes(&url, &dir).await;
}

#[tokio::test]
async fn sigterm_drains_health_first_and_flushes_records_on_postgres() {
    let Some(pg) = database::postgres().await else { return };
    let dir = TempDir::new("drain-pg");
    drains_then_flushes(&pg.url, &dir).await;
}

#[test]
fn a_zero_drain_closes_the_listener_at_once() {
    let dir = TempDir::new("drain-zero");
    let mut server = Serve::start(&["--config", &config_file(&dir, 0)], &[]);
    let signalled = server.sigterm();
    let exit = server.wait_for_exit(Duration::from_secs(10));
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(3), "no drain: {:?}", signalled.elapsed());
}

/// A webhook still in flight when the listener closes: its record is
/// buffered as the server's workers stop, and is written by the final flush.
async fn in_flight_record_is_flushed(database_url: &str, dir: &TempDir) {
    use crate::support::{Reply, Tiny};
    let crm = Tiny::start(|_| Reply {
        status: 200,
        content_type: "application/json",
        body: r#"{"customers":[{"id":"12345678","name":"Ada Lovelace"}]}"#.into(),
        delay: Duration::from_millis(1_500),
    });
    let config = config_file(dir, 0);
    let env = [("DATABASE_URL", database_url), ("RUST_LOG", "info"), ("VOUCH_CRM_URL", crm.url.as_str())];
    let mut server = Serve::start(&["--config", &config], &env);
    // Connections made by the server's workers, for the final flush to meet.
    let (status, _) = first_webhook(&server, "CA00000000000000000000000000000e00");
    assert_eq!(status, 200);
    let sid = "CA00000000000000000000000000000e01";
    let (public, address) = (server.public.clone(), server.address.clone());
    let hook = std::thread::spawn(move || {
        let params = Params::from_pairs([("CallSid", sid), ("From", "+15551230001"), ("To", "+15005550006")]);
        let sig = signature::sign(DEMO_TOKEN, &format!("{public}/voice"), &params);
        let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
        post(&address, "/voice", &headers, &params.encode())
    });
    std::thread::sleep(Duration::from_millis(500));
    server.sigterm();
    let (status, body) = hook.join().unwrap().expect("answered");
    assert_eq!(status, 200, "{body}");
    let exit = server.wait_for_exit(Duration::from_secs(20));
    assert!(exit.success(), "exit status {exit:?}");
    let logs = server.logs();
    assert!(!logs.contains("being shutdown"), "a write raced the runtime's shutdown: {logs}");
    assert!(database::stored(database_url, sid).await.is_some(), "{logs}");
}

#[tokio::test]
async fn a_record_of_a_webhook_in_flight_at_sigterm_is_flushed_on_postgres() {
    let Some(pg) = database::postgres().await else { return };
    in_flight_record_is_flushed(&pg.url, &TempDir::new("drain-inflight-pg")).await;
}

#[tokio::test]
async fn a_record_of_a_webhook_in_flight_at_sigterm_is_flushed_on_sqlite() {
    let dir = TempDir::new("drain-inflight-sqlite");
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}/vouch.db", dir.path());
    in_flight_record_is_flushed(&url, &dir).await;
}

//! Runs the real `vouch` binary at trace level with JSON logs, places calls
//! that key PINs (right and wrong) and identifiers, logs in to the agent
//! pages, and checks that no keyed PIN, no password and no unmasked caller
//! number or identifier reaches the logs or the database file.

use crate::leaks;
use crate::support::{Serve, DEMO_TOKEN};
use std::time::Duration;
use vouch::sim::{CallSpec, Phone, Scripted};

/// Wrong PINs keyed in these calls: nobody's PIN, no part of a demo identifier.
const KEYED_PINS: [&str; 3] = ["9087", "7310", "6502"];
/// The right PINs keyed (Ada's, Grace's, Zoë's): parts of demo identifiers.
const RIGHT_PINS: [&str; 3] = ["1234", "4321", "5555"];

#[tokio::test]
async fn keyed_pins_and_unmasked_numbers_never_reach_the_logs() {
    let db_dir = tempfile::tempdir().unwrap();
    let db_file = db_dir.path().join("vouch.db");
    let database_url = format!("sqlite://{}", db_file.display());
    let mut server = Serve::start(&[], &[("RUST_LOG", "trace"), ("DATABASE_URL", &database_url)]);
    assert_eq!(server.public, format!("http://localhost:{}", server.port));

    let phone = Phone::new(&server.address, &server.public, DEMO_TOKEN);
    let calls: [(&str, Vec<String>); 4] = [
        ("+15551230001", vec![format!("{}#", KEYED_PINS[0]), "1234#".into()]),
        ("+15559990000", vec!["87654321#".into(), format!("{}#", KEYED_PINS[1]), "4321#".into()]),
        ("+447700900123", vec![format!("{}#", KEYED_PINS[2]), "5555#".into()]),
        ("anonymous", vec!["*".into()]),
    ];
    for (from, keys) in &calls {
        let spec = CallSpec { from: from.to_string(), ..CallSpec::default() };
        let t = phone.place(&spec, &mut Scripted::new(keys.clone())).await.expect("call completes");
        assert!(!t.requests.is_empty());
    }
    // Failed and successful logins: neither the password nor a typed name
    // that is not a user (people type passwords there) may be logged.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (name, password) in [("nobody-zq7", "pw-9f8e7d6c-wrong"), ("demo", "pw-5a4b3c2d-wrong"), ("demo", "demo")] {
        let r = http
            .post(format!("{}/agent/login", server.address))
            .form(&[("name", name), ("password", password)])
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status().as_u16(), if password == "demo" { 303 } else { 401 });
    }
    // Every call is handed on (or the test would scan too little), then the
    // server stops as Fly.io or Docker stop it: SIGTERM, then the store's flush.
    server.wait_for_lines("call handed on", calls.len(), Duration::from_secs(20));
    let status = server.stop();
    let logs = server.logs();
    assert!(status.success(), "vouch exits cleanly on SIGTERM: {status:?}\n{logs}");

    assert!(logs.lines().count() > 20, "trace logging was on: {} lines", logs.lines().count());
    assert!(logs.contains("\"call_sid\":\"CA"), "spans carry the CallSid");
    assert!(logs.contains("\"elapsed_us\":"), "the scan sees the request log's latencies");
    let pins: Vec<&str> = KEYED_PINS.iter().chain(&RIGHT_PINS).copied().collect();
    // Exact: a PIN as a value (`Digits=1234`, `"value":"1234"`…), never a
    // latency, a port or a timestamp that happens to hold the same digits.
    let found = leaks::find_all(&logs, &pins);
    assert!(found.is_empty(), "keyed PINs in the logs:\n{}", leaks::report(&found));
    for secret in ["nobody-zq7", "pw-9f8e7d6c-wrong", "pw-5a4b3c2d-wrong"] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
    assert!(logs.contains("login refused") && logs.contains("logged in"), "logins were logged");
    for unmasked in ["5551230001", "5559990000", "7700900123", "87654321"] {
        assert!(!logs.contains(unmasked), "{unmasked} appears unmasked in the logs");
    }

    // The records reached the database file, with no keyed PIN in it.
    assert!(logs.contains("call records written: the store is closed"), "flushed at shutdown");
    let db: Vec<u8> = ["", "-wal"]
        .iter()
        .flat_map(|ext| std::fs::read(format!("{}{ext}", db_file.display())).unwrap_or_default())
        .collect();
    assert!(db.windows(8).any(|w| w == b"24681357"), "Zoë's record is in the database file");
    for pin in &pins {
        // A whole token: not inside an identifier (1234 of 12345678), a
        // CallSid or a hash that holds the same digits by chance.
        let leak = leaks::bytes_leak(&db, pin);
        assert!(leak.is_none(), "keyed PIN {pin} is in the database file: {}", leak.unwrap());
    }
}

#[tokio::test]
async fn customer_ids_in_request_paths_are_masked_in_the_log() {
    let admin = "log-mask-admin-token-0123456789abcdef";
    let server = Serve::start(&[], &[("RUST_LOG", "info"), ("VOUCH_ADMIN_TOKEN", admin)]);
    let http = reqwest::Client::new();
    // A supervisor reads and lifts Grace's lockout; a stranger tries too.
    for (method, token) in
        [(reqwest::Method::GET, Some(admin)), (reqwest::Method::DELETE, Some(admin)), (reqwest::Method::GET, None)]
    {
        let mut r = http.request(method.clone(), format!("{}/api/lockouts/87654321", server.address));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let status = r.send().await.expect("API request").status().as_u16();
        assert_eq!(status, if token.is_some() { 200 } else { 401 }, "{method}");
    }
    server.wait_for_lines("/api/lockouts/******21", 3, Duration::from_secs(10));
    let logs = server.logs();
    assert!(logs.contains("lockout lifted"), "{logs}");
    assert!(!logs.contains("87654321"), "a customer id appears unmasked in the request log:\n{logs}");
}

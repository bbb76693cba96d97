//! Runs the real `vouch` binary at trace level with JSON logs, places calls
//! that key PINs (right and wrong) and identifiers, and checks that no keyed
//! PIN and no unmasked caller number or identifier reaches the logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch::sim::{CallSpec, Phone, Scripted};

/// PINs keyed in these calls; none is a substring of a demo identifier.
const KEYED_PINS: [&str; 3] = ["9087", "7310", "6502"];

#[tokio::test]
async fn keyed_pins_and_unmasked_numbers_never_reach_the_logs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--log-format", "json", "--bind", "127.0.0.1"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vouch starts");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("vouch listening") {
                    let _ = tx.send(line.clone());
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let ready = rx.recv_timeout(Duration::from_secs(20)).expect("vouch logs that it is listening");
    let v: serde_json::Value = serde_json::from_str(&ready).expect("JSON log line");
    let port = v["port"].as_u64().expect("port field");
    let public = v["public_url"].as_str().expect("public_url field").to_string();
    assert_eq!(public, format!("http://localhost:{port}"));

    let phone = Phone::new(&format!("http://127.0.0.1:{port}"), &public, "vouch-demo-auth-token-not-secret");
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
    // Let the last lines flush, then stop the server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && lines.lock().unwrap().iter().filter(|l| l.contains("call handed on")).count() < calls.len()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let _ = child.wait();

    let logs = lines.lock().unwrap().join("\n") + &stderr;
    assert!(logs.lines().count() > 20, "trace logging was on: {} lines", logs.lines().count());
    assert!(logs.contains("call handed on"), "the calls were logged");
    assert!(logs.contains("\"call_sid\":\"CA"), "spans carry the CallSid");
    for pin in KEYED_PINS.iter().chain(["1234", "4321", "5555"].iter()) {
        // The right PINs are also substrings of ids; look for them as whole values.
        for needle in [format!("\"{pin}\""), format!("={pin}"), format!(":{pin}"), format!("value\\\":\\\"{pin}")] {
            assert!(!logs.contains(&needle), "PIN {pin} leaked as {needle}");
        }
    }
    for pin in KEYED_PINS {
        assert!(!contains_standalone(&logs, pin), "keyed PIN {pin} appears in the logs");
    }
    for unmasked in ["5551230001", "5559990000", "7700900123", "87654321"] {
        assert!(!logs.contains(unmasked), "{unmasked} appears unmasked in the logs");
    }
}

/// Whether `needle` occurs with no digit right before or after it: a keyed
/// PIN, not four digits inside a timestamp's microseconds or a pointer value.
fn contains_standalone(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn standalone_matches_skip_longer_numbers() {
    assert!(contains_standalone("Digits=9087&x", "9087"));
    assert!(contains_standalone("\"9087\"", "9087"));
    assert!(!contains_standalone("20:18:50.379087Z", "9087"));
    assert!(!contains_standalone("Token(190872)", "9087"));
}

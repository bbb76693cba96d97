//! `vouch simulate` against a real `vouch serve`, and against a tiny server
//! answering what Twilio would refuse.

use crate::support::{run, Reply, Serve, Tiny, DEMO_TOKEN};
use std::time::Duration;
use vouch::twilio::form::Params;
use vouch::twilio::signature::{self, Body};

fn assert_all(stdout: &str, expected: &[&str]) {
    for e in expected {
        assert!(stdout.contains(e), "missing {e:?} in:\n{stdout}");
    }
}

#[test]
fn keys_run_a_whole_demo_call_to_its_handoff() {
    let server = Serve::start(&[], &[]);
    let (out, stdout, stderr) = server.run(&["simulate", "--keys", "9087#,1234#"], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_all(
        &stdout,
        &[
            &format!("📞 calling {}/voice from +15551230001 to +15005550006", server.public),
            "🔊 Say (Polly.Joanna, en-US): Thank you for calling Vouch Demo Bank.",
            "☎ keys? (4 digits, ends with #, 6 s timeout) 9087#",
            "🔊 Say (Polly.Joanna, en-US): Sorry, that PIN wasn't accepted.",
            "☎ keys? (4 digits, ends with #, 6 s timeout) 1234#",
            "🔊 Say: Hello Ada Lovelace. Your status is verified.",
            "  POST /voice → 200 in ",
            "  POST /voice/support/verify?… → 200 in ",
            "Redirect within Vouch to /demo/self-service?…, which ended with <Hangup>",
            // The customer travels only in the encrypted token; the record names them.
            "context:\n  idv_status = verified\n  idv_method = ani",
            "  token = eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwidHlwIjoiSldUIn0..",
            "\"customer_id\": \"12345678\"",
            "\"outcome\": \"self_service\"",
            "── status callback: POST /status CallStatus=completed → 200 in ",
            "── screen pop (what the agent opens, no login needed; valid 12 h) ──\n",
            &format!("{}/agent/calls/CA", server.public),
        ],
    );
}

#[test]
fn a_line_can_be_chosen_and_a_queue_handoff_shows_the_agent_context() {
    let server = Serve::start(&[], &[]);
    let (out, stdout, stderr) =
        server.run(&["simulate", "--line", "sales", "--from", "anonymous", "--keys", "12,1234567#"], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_all(
        &stdout,
        &[
            &format!("📞 calling {}/voice/sales from anonymous to +15005550007", server.public),
            "🔊 Say (Polly.Matthew, en-US): Welcome to Vouch Demo Bank sales.",
            "☎ keys? (ends with #, 6 s timeout) 12",
            "🔊 Say (Polly.Matthew, en-US): Thank you. Please hold while we connect you to our sales team.",
            "Enqueue into queue \"sales\"",
            "\"customer_name\": \"Dorothy Vaughan\"",
            "\"idv_status\": \"identified\"",
        ],
    );
}

#[test]
fn a_signature_the_server_refuses_says_what_to_set() {
    let server = Serve::start(&[], &[("TWILIO_AUTH_TOKEN", "the-server-token")]);
    let (out, stdout, stderr) = server.run(&["simulate", "--keys", "1234#"], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_all(&stderr, &["HTTP 403 (Twilio error 11200)", "the demo auth token", "VOUCH_PUBLIC_URL"]);
    assert!(!stderr.contains("the-server-token"));
}

/// Runs `simulate` against a tiny app; the app's URL is also the public URL.
fn simulate_against(app: &Tiny, extra: &[&str]) -> (std::process::Output, String, String) {
    let mut args = vec!["simulate", "--url", &app.url, "--public-url", &app.url, "--keys", "1#"];
    args.extend_from_slice(extra);
    run(&args, &[])
}

#[test]
fn twiml_twilio_would_refuse_ends_the_call_with_twilios_error() {
    let huge = format!("<Response>{}</Response>", "<Pause/>".repeat(9000));
    for (doc, error) in [
        (
            "<Response><Gather action=\"/next\"><Dial>+15551230002</Dial></Gather></Response>".to_string(),
            "Twilio error 13320",
        ),
        (huge, "Twilio error 11750"),
        ("<Response><Speak>Hello</Speak></Response>".to_string(), "Twilio error 12200"),
        (" <?xml version=\"1.0\"?><Response/>".to_string(), "Twilio error 12100"),
    ] {
        let app = Tiny::start(move |_| Reply::xml(doc.clone()));
        let (out, stdout, stderr) = simulate_against(&app, &[]);
        assert_eq!(out.status.code(), Some(1), "{error}: {stdout}");
        assert!(stderr.contains(error), "expected {error} in: {stderr}");
        assert_eq!(app.requests().len(), 1, "no status callback after a failed call");
    }
}

#[test]
fn http_errors_loops_and_a_failing_status_route_are_errors() {
    let status =
        |code: u16| Reply { status: code, content_type: "text/plain", body: "boom".into(), delay: Duration::ZERO };
    let app = Tiny::start(move |_| status(500));
    let (out, _, stderr) = simulate_against(&app, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("answered HTTP 500 (Twilio error 11200): boom"), "{stderr}");

    let app = Tiny::start(|_| Reply::xml("<Response><Redirect>/voice</Redirect></Response>"));
    let (out, _, stderr) = simulate_against(&app, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("looping"), "{stderr}");

    let app = Tiny::start(move |seen| {
        if seen.path == "/status" {
            status(500)
        } else {
            Reply::xml("<Response><Enqueue>support</Enqueue></Response>")
        }
    });
    let (out, stdout, stderr) = simulate_against(&app, &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Enqueue into queue \"support\""), "{stdout}");
    assert!(stderr.contains("the status callback failed"), "{stderr}");
}

#[test]
fn a_dial_shows_its_nouns_and_every_request_is_signed_like_twilio() {
    let dial = r#"<Response><Say>One moment.</Say><Dial answerOnBridge="true"><Client><Identity>agent_7</Identity><Parameter name="idv_status" value="verified"/></Client></Dial></Response>"#;
    let app = Tiny::start(move |seen| Reply::xml(if seen.path == "/status" { "<Response/>" } else { dial }));
    let (out, stdout, stderr) =
        simulate_against(&app, &["--from", "+15551230002", "--stir-verstat", "TN-Validation-Passed-A"]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_all(
        &stdout,
        &[
            "🔊 Say: One moment.",
            "<Dial> answerOnBridge=\"true\"",
            "<Identity> agent_7",
            "<Parameter> name=\"idv_status\" value=\"verified\"",
            "(the admin API at this URL did not answer with JSON)",
            "status callback: POST /status CallStatus=completed → 200",
        ],
    );
    // Twilio's requests: the admin API look-up is simulate's own.
    let seen: Vec<_> = app.requests().into_iter().filter(|s| !s.path.starts_with("/api/")).collect();
    assert_eq!(
        seen.iter().map(|s| (s.method.as_str(), s.path.as_str())).collect::<Vec<_>>(),
        [("POST", "/voice"), ("POST", "/status")]
    );
    for s in &seen {
        let params = Params::parse(s.body.as_bytes()).expect("a form body");
        let sig = s.header("X-Twilio-Signature").expect("signed");
        let url = format!("{}{}", app.url, s.path);
        assert!(signature::verify([DEMO_TOKEN], &url, Body::Form(&params), sig), "{} is signed for {url}", s.path);
        assert_eq!(params.get("From"), Some("+15551230002"));
        assert_eq!(params.get("StirVerstat"), Some("TN-Validation-Passed-A"));
    }
    let status = Params::parse(seen[1].body.as_bytes()).unwrap();
    assert_eq!(status.get("CallStatus"), Some("completed"));
    assert_eq!(status.get("CallbackSource"), Some("call-progress-events"));
    assert_eq!(status.get("SequenceNumber"), Some("0"));
    assert!(status.get("CallDuration").is_some_and(|d| d.parse::<u64>().is_ok()));
    assert!(status.get("Timestamp").is_some_and(|t| t.ends_with(" +0000")));
}

#[test]
fn without_keys_the_caller_types_at_each_gather_and_enter_is_silence() {
    let server = Serve::start(&[], &[]);
    let mut cmd = crate::support::command(
        &["simulate", "--url", &server.address, "--from", "anonymous"],
        &[("VOUCH_PUBLIC_URL", &server.public)],
    );
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vouch simulate starts");
    // A typo is refused and asked again; Enter alone is silence; then
    // Grace's account and PIN; then stdin closes.
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"8765x\n\n87654321#\n4321#\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_all(
        &stdout,
        &[
            "☎ keys? (8 digits, ends with #, 6 s timeout; Enter alone = silence) 8765x\nonly 0-9, * and # can be keyed; try again",
            "; Enter alone = silence) (silence)\n🔊 Say (Polly.Joanna, en-US): Sorry, we didn't get that.",
            "; Enter alone = silence) 4321#\n🔊 Say (Polly.Joanna, en-US): Thank you, you're verified.",
            "🔊 Say: Hello Grace Hopper. Your status is verified.",
            "idv_method = keyed",
        ],
    );
}

#[test]
fn against_a_server_that_is_not_running_it_says_how_to_start_one() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (out, stdout, stderr) = run(&["simulate", "--keys", "1234#", "--url", &url], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("nothing answers at {url} (Twilio error 11205): is Vouch running?")), "{stderr}");
    assert!(stderr.contains("`cargo run`") && !stderr.contains("os error"), "no error chain: {stderr}");
}

#[test]
fn a_busy_port_is_refused_with_the_port_to_pick_instead() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (out, _, stderr) =
        run(&["serve", "--bind", "127.0.0.1"], &[("PORT", &port.to_string()), ("DATABASE_URL", "memory:")]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("Failed to bind 127.0.0.1:{port}: the port is in use")), "{stderr}");
    assert!(stderr.contains(&format!("PORT={} cargo run", port.saturating_add(1))), "{stderr}");
}

#[test]
fn a_taskrouter_handoff_names_its_workflow_not_an_empty_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vouch.toml");
    let toml = "default_line = \"main\"\n[lines.main]\n[lines.main.verification]\nrequired = false\n\
                [lines.main.next]\ntype = \"enqueue\"\nqueue = \"main\"\nworkflow_sid = \"WW0123456789abcdef0123456789abcdef\"\n";
    std::fs::write(&config, toml).unwrap();
    let file = config.to_str().unwrap();
    let server = Serve::start(&["--config", file], &[]);
    let (out, stdout, stderr) = server.run(&["simulate", "--config", file, "--keys", ""], &[]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_all(
        &stdout,
        &[
            "Enqueue into TaskRouter workflow WW0123456789abcdef0123456789abcdef (it picks the queue)",
            "task attributes",
        ],
    );
    assert!(!stdout.contains("queue \"\""), "{stdout}");
}

//! Numeric bounds at their edges: one past either end is refused naming the
//! key, in the exact words operators have always seen (the README quotes
//! some), and the edges themselves are accepted.

use super::*;

/// `body` under `[table]`, plus a line when the table is not a line's own.
fn file(table: &str, body: &str) -> String {
    let line = if table.starts_with("lines.") { "" } else { "[lines.main]\n" };
    format!("[{table}]\n{body}\n{line}")
}

const DIAL: &str = "type = \"dial_number\"\nnumber = \"+15551234567\"\n";

#[test]
fn one_past_either_edge_is_refused_in_the_words_operators_know() {
    let dial = |t: u32| format!("{DIAL}timeout_secs = {t}");
    for (table, body, want) in [
        ("server", "state_ttl_secs = 59".into(), "`server.state_ttl_secs`: 59 is outside 60..=86400 seconds"),
        ("server", "state_ttl_secs = 86401".into(), "`server.state_ttl_secs`: 86401 is outside 60..=86400 seconds"),
        ("server", "webhook_deadline_ms = 999".into(), "`server.webhook_deadline_ms`: 999 is outside 1000..=14000 ms"),
        (
            "server",
            "webhook_deadline_ms = 14001".into(),
            "`server.webhook_deadline_ms`: 14001 is outside 1000..=14000 ms",
        ),
        (
            "server",
            "call_record_ttl_secs = 59".into(),
            "`server.call_record_ttl_secs`: 59 is outside 60..=2592000 seconds",
        ),
        (
            "server",
            "call_record_ttl_secs = 2592001".into(),
            "`server.call_record_ttl_secs`: 2592001 is outside 60..=2592000 seconds",
        ),
        ("server", "shutdown_timeout_secs = 0".into(), "`server.shutdown_timeout_secs`: 0 is outside 1..=300 seconds"),
        (
            "server",
            "shutdown_timeout_secs = 301".into(),
            "`server.shutdown_timeout_secs`: 301 is outside 1..=300 seconds",
        ),
        (
            "server",
            "handoff_token_ttl_secs = 9".into(),
            "`server.handoff_token_ttl_secs`: 9 is outside 10..=3600 seconds",
        ),
        (
            "server",
            "handoff_token_ttl_secs = 3601".into(),
            "`server.handoff_token_ttl_secs`: 3601 is outside 10..=3600 seconds",
        ),
        ("crm", "timeout_ms = 99".into(), "`crm.timeout_ms`: 99 is outside 100..=10000 ms"),
        ("crm", "timeout_ms = 10001".into(), "`crm.timeout_ms`: 10001 is outside 100..=10000 ms"),
        ("crm", "connect_timeout_ms = 49".into(), "`crm.connect_timeout_ms`: 49 is outside 50..=10000 ms"),
        ("crm", "connect_timeout_ms = 10001".into(), "`crm.connect_timeout_ms`: 10001 is outside 50..=10000 ms"),
        ("crm", "cache_ttl_secs = 86401".into(), "`crm.cache_ttl_secs`: 86401 is outside 0..=86400 seconds"),
        (
            "crm",
            "negative_cache_ttl_secs = 86401".into(),
            "`crm.negative_cache_ttl_secs`: 86401 is outside 0..=86400 seconds",
        ),
        ("crm", "max_in_flight = 0".into(), "`crm.max_in_flight`: 0 is outside 1..=10000"),
        ("crm", "max_in_flight = 10001".into(), "`crm.max_in_flight`: 10001 is outside 1..=10000"),
        ("security", "lockout_failures = 0".into(), "`security.lockout_failures`: 0 is outside 1..=1000"),
        ("security", "lockout_failures = 1001".into(), "`security.lockout_failures`: 1001 is outside 1..=1000"),
        (
            "security",
            "lockout_window_secs = 59".into(),
            "`security.lockout_window_secs`: 59 is outside 60..=2592000 seconds",
        ),
        (
            "security",
            "lockout_window_secs = 2592001".into(),
            "`security.lockout_window_secs`: 2592001 is outside 60..=2592000 seconds",
        ),
        (
            "security",
            "enumeration_unknown_ids = 0".into(),
            "`security.enumeration_unknown_ids`: 0 is outside 1..=10000",
        ),
        (
            "security",
            "enumeration_unknown_ids = 10001".into(),
            "`security.enumeration_unknown_ids`: 10001 is outside 1..=10000",
        ),
        (
            "security",
            "enumeration_window_secs = 59".into(),
            "`security.enumeration_window_secs`: 59 is outside 60..=2592000 seconds",
        ),
        (
            "security",
            "enumeration_window_secs = 2592001".into(),
            "`security.enumeration_window_secs`: 2592001 is outside 60..=2592000 seconds",
        ),
        ("database", "buffer_capacity = 0".into(), "`database.buffer_capacity`: 0 is outside 1..=1000000"),
        ("database", "buffer_capacity = 1000001".into(), "`database.buffer_capacity`: 1000001 is outside 1..=1000000"),
        ("lines.main", "retries = 11".into(), "`lines.main.retries`: at most 10"),
        ("lines.main", "gather_timeout_secs = 0".into(), "`lines.main.gather_timeout_secs`: must be 1..=60"),
        ("lines.main", "gather_timeout_secs = 61".into(), "`lines.main.gather_timeout_secs`: must be 1..=60"),
        ("lines.main.verification", "length = 0".into(), "`lines.main.verification.length`: must be 1..=16 digits"),
        ("lines.main.verification", "length = 17".into(), "`lines.main.verification.length`: must be 1..=16 digits"),
        (
            "lines.main.identifier",
            "min_digits = 0".into(),
            "`lines.main.identifier`: digit bounds 0..=8 need 1 <= min_digits <= max_digits <= 32",
        ),
        (
            "lines.main.identifier",
            "max_digits = 33".into(),
            "`lines.main.identifier`: digit bounds 8..=33 need 1 <= min_digits <= max_digits <= 32",
        ),
        (
            "lines.main.identifier",
            "min_digits = 33".into(),
            "`lines.main.identifier`: digit bounds 33..=33 need 1 <= min_digits <= max_digits <= 32",
        ),
        ("lines.main.agent", dial(4), "`lines.main.agent.timeout_secs`: 4 is outside Twilio's 5..=600 seconds"),
        ("lines.main.agent", dial(601), "`lines.main.agent.timeout_secs`: 601 is outside Twilio's 5..=600 seconds"),
    ] {
        let toml = file(table, &body);
        let got = Config::from_toml(&toml, &env(&[])).map(|_| ()).expect_err(&toml);
        assert_eq!(got.to_string(), format!("configuration error at {want}"), "{toml}");
    }
}

#[test]
fn the_edges_themselves_are_accepted() {
    let dial = |t: u32| format!("{DIAL}timeout_secs = {t}");
    for (table, settings) in [
        ("server", vec!["state_ttl_secs = 60", "call_record_ttl_secs = 60", "shutdown_timeout_secs = 1"]),
        ("server", vec!["state_ttl_secs = 86400", "call_record_ttl_secs = 2592000", "shutdown_timeout_secs = 300"]),
        ("server", vec!["handoff_token_ttl_secs = 10", "webhook_deadline_ms = 14000"]),
        ("server", vec!["handoff_token_ttl_secs = 3600", "webhook_deadline_ms = 1000", "[crm]", "timeout_ms = 100"]),
        (
            "crm",
            vec!["connect_timeout_ms = 50", "cache_ttl_secs = 0", "negative_cache_ttl_secs = 0", "max_in_flight = 1"],
        ),
        ("crm", vec!["timeout_ms = 9999", "connect_timeout_ms = 10000", "cache_ttl_secs = 86400"]),
        ("crm", vec!["negative_cache_ttl_secs = 86400", "max_in_flight = 10000"]),
        ("security", vec!["lockout_failures = 1", "lockout_window_secs = 60"]),
        ("security", vec!["lockout_failures = 1000", "lockout_window_secs = 2592000"]),
        ("security", vec!["enumeration_unknown_ids = 1", "enumeration_window_secs = 60"]),
        ("security", vec!["enumeration_unknown_ids = 10000", "enumeration_window_secs = 2592000"]),
        ("database", vec!["buffer_capacity = 1"]),
        ("database", vec!["buffer_capacity = 1000000"]),
        ("lines.main", vec!["retries = 0", "gather_timeout_secs = 1", "[lines.main.verification]", "length = 1"]),
        ("lines.main", vec!["retries = 10", "gather_timeout_secs = 60", "[lines.main.verification]", "length = 16"]),
        ("lines.main.identifier", vec!["min_digits = 1", "max_digits = 32"]),
        ("lines.main.identifier", vec!["min_digits = 32"]),
        ("lines.main.agent", vec![&dial(5)]),
        ("lines.main.agent", vec![&dial(600)]),
    ] {
        let toml = file(table, &settings.join("\n"));
        Config::from_toml(&toml, &env(&[])).unwrap_or_else(|e| panic!("{toml}: {e}"));
    }
}

#[test]
fn unset_values_take_their_documented_defaults() {
    let c = Config::from_toml(MINIMAL, &env(&[])).expect("config");
    let s = &c.server;
    assert_eq!(s.port, 8080);
    assert_eq!(
        [s.state_ttl, s.webhook_deadline, s.call_record_ttl, s.shutdown_timeout, s.handoff_token_ttl],
        [1_800, 10, 3_600, 10, 300].map(Duration::from_secs)
    );
    let crm = &c.crm;
    assert_eq!([crm.connect_timeout, crm.timeout], [500, 2_000].map(Duration::from_millis));
    assert_eq!([crm.cache_ttl, crm.negative_cache_ttl], [300, 30].map(Duration::from_secs));
    assert_eq!((crm.cache_capacity, crm.max_in_flight, crm.auth_header.as_str()), (100_000, 64, "Authorization"));
    let sec = c.security;
    assert_eq!((sec.lockout_failures, sec.enumeration_unknown_ids), (5, 10));
    assert_eq!([sec.lockout_window, sec.enumeration_window], [86_400, 3_600].map(Duration::from_secs));
    assert_eq!(c.database.buffer_capacity, 10_000);
    let line = c.lines.get("main").expect("line");
    assert_eq!((line.rules.retries, line.gather_timeout_secs), (3, 6));
    assert_eq!((line.rules.identifier.min_digits, line.rules.identifier.max_digits), (8, 8));
    assert_eq!(line.rules.verification.as_ref().map(|v| (v.min_digits, v.max_digits)), Some((4, 4)));
    assert!(matches!(line.agent, Handoff::Enqueue { .. }));
    // An unset max_digits follows a larger min_digits; a dial without a timeout leaves Twilio's own.
    let c =
        Config::from_toml(&format!("[lines.main.identifier]\nmin_digits = 12\n[lines.main.agent]\n{DIAL}"), &env(&[]))
            .expect("config");
    let line = c.lines.get("main").expect("line");
    assert_eq!((line.rules.identifier.min_digits, line.rules.identifier.max_digits), (12, 12));
    assert!(matches!(line.agent, Handoff::Dial { timeout_secs: None, .. }));
}

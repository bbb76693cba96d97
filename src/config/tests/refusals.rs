//! The words each numeric bound refuses a value in, pinned: operators (and
//! the README) know them, so they only change on purpose.

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
        ("database", "retention_days = 0".into(), "`database.retention_days`: 0 is outside 1..=3650 days"),
        ("database", "retention_days = 3651".into(), "`database.retention_days`: 3651 is outside 1..=3650 days"),
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

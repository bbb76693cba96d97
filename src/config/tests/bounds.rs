//! Every numeric bound declared in `file/`, walked: its default lies
//! within it, its edges are accepted, one past either is refused naming
//! its key; and unset settings take their documented defaults.

use super::*;
use crate::config::bound::Bound;

/// A dial handoff's table, before its timeout.
const DIAL: &str = "type = \"dial_number\"\nnumber = \"+15551234567\"\n";

#[test]
fn unset_values_take_their_documented_defaults() {
    let c = Config::from_toml(MINIMAL, &env(&[])).expect("config");
    let s = &c.server;
    assert_eq!(s.port, 8080);
    assert_eq!(
        [s.state_ttl, s.webhook_deadline, s.call_record_ttl, s.shutdown_timeout, s.handoff_token_ttl, s.drain],
        [1_800, 10, 3_600, 10, 300, 5].map(Duration::from_secs)
    );
    let crm = &c.crm;
    assert_eq!([crm.connect_timeout, crm.timeout], [500, 2_000].map(Duration::from_millis));
    assert_eq!([crm.cache_ttl, crm.negative_cache_ttl], [300, 30].map(Duration::from_secs));
    assert_eq!((crm.cache_capacity, crm.max_in_flight, crm.auth_header.as_str()), (100_000, 64, "Authorization"));
    let sec = c.security;
    assert_eq!((sec.lockout_failures, sec.enumeration_unknown_ids, sec.enumeration_withheld_ids), (5, 10, 30));
    assert_eq!([sec.lockout_window, sec.enumeration_window], [86_400, 3_600].map(Duration::from_secs));
    assert_eq!((c.database.buffer_capacity, c.database.retention_days), (10_000, 90));
    assert_eq!(c.database.retention(), Duration::from_secs(90 * 86_400));
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

/// `bound`, widened to `u64` so every bound fits in one list.
fn wide<T: Copy>(bound: Bound<T>) -> Bound<u64>
where
    u64: TryFrom<T>,
    <u64 as TryFrom<T>>::Error: std::fmt::Debug,
{
    let wide = |v: T| u64::try_from(v).expect("fits in u64");
    Bound { key: bound.key, default: wide(bound.default), min: wide(bound.min), max: wide(bound.max), says: bound.says }
}

/// A file with just the setting (it must have a line).
const LINE: &str = "[lines.main]\n";

/// A bound, the key its errors name in full, and a file setting it to a
/// value (with whatever its edges need to pass).
type Walked = (Bound<u64>, &'static str, fn(i128) -> String);

/// Every `Bound` declared in `file/`.
fn every_bound() -> Vec<Walked> {
    use crate::config::file::{
        CrmFile, DatabaseFile, HandoffFile, IdentifierFile, LineFile, SecurityFile, ServerFile, VerificationFile,
    };
    vec![
        (wide(ServerFile::STATE_TTL_SECS), "server.state_ttl_secs", |v| {
            format!("[server]\nstate_ttl_secs = {v}\n{LINE}")
        }),
        (wide(ServerFile::WEBHOOK_DEADLINE_MS), "server.webhook_deadline_ms", |v| {
            format!("[server]\nwebhook_deadline_ms = {v}\n[crm]\ntimeout_ms = 100\n{LINE}")
        }),
        (wide(ServerFile::CALL_RECORD_TTL_SECS), "server.call_record_ttl_secs", |v| {
            format!("[server]\ncall_record_ttl_secs = {v}\n{LINE}")
        }),
        (wide(ServerFile::SHUTDOWN_TIMEOUT_SECS), "server.shutdown_timeout_secs", |v| {
            format!("[server]\nshutdown_timeout_secs = {v}\n{LINE}")
        }),
        (wide(ServerFile::DRAIN_SECS), "server.drain_secs", |v| format!("[server]\ndrain_secs = {v}\n{LINE}")),
        (wide(ServerFile::HANDOFF_TOKEN_TTL_SECS), "server.handoff_token_ttl_secs", |v| {
            format!("[server]\nhandoff_token_ttl_secs = {v}\n{LINE}")
        }),
        (wide(CrmFile::CONNECT_TIMEOUT_MS), "crm.connect_timeout_ms", |v| {
            format!("[crm]\nconnect_timeout_ms = {v}\n{LINE}")
        }),
        (wide(CrmFile::TIMEOUT_MS), "crm.timeout_ms", |v| {
            format!("[crm]\ntimeout_ms = {v}\n[server]\nwebhook_deadline_ms = 14000\n{LINE}")
        }),
        (wide(CrmFile::CACHE_TTL_SECS), "crm.cache_ttl_secs", |v| format!("[crm]\ncache_ttl_secs = {v}\n{LINE}")),
        (wide(CrmFile::NEGATIVE_CACHE_TTL_SECS), "crm.negative_cache_ttl_secs", |v| {
            format!("[crm]\nnegative_cache_ttl_secs = {v}\n{LINE}")
        }),
        (wide(CrmFile::MAX_IN_FLIGHT), "crm.max_in_flight", |v| format!("[crm]\nmax_in_flight = {v}\n{LINE}")),
        (wide(SecurityFile::LOCKOUT_FAILURES), "security.lockout_failures", |v| {
            format!("[security]\nlockout_failures = {v}\n{LINE}")
        }),
        (wide(SecurityFile::LOCKOUT_WINDOW_SECS), "security.lockout_window_secs", |v| {
            format!("[security]\nlockout_window_secs = {v}\n{LINE}")
        }),
        (wide(SecurityFile::ENUMERATION_UNKNOWN_IDS), "security.enumeration_unknown_ids", |v| {
            format!("[security]\nenumeration_unknown_ids = {v}\n{LINE}")
        }),
        (wide(SecurityFile::ENUMERATION_WINDOW_SECS), "security.enumeration_window_secs", |v| {
            format!("[security]\nenumeration_window_secs = {v}\n{LINE}")
        }),
        (wide(SecurityFile::ENUMERATION_WITHHELD_IDS), "security.enumeration_withheld_ids", |v| {
            format!("[security]\nenumeration_withheld_ids = {v}\n{LINE}")
        }),
        (wide(DatabaseFile::BUFFER_CAPACITY), "database.buffer_capacity", |v| {
            format!("[database]\nbuffer_capacity = {v}\n{LINE}")
        }),
        (wide(DatabaseFile::RETENTION_DAYS), "database.retention_days", |v| {
            format!("[database]\nretention_days = {v}\n{LINE}")
        }),
        (wide(LineFile::RETRIES), "lines.main.retries", |v| format!("{LINE}retries = {v}\n")),
        (wide(LineFile::GATHER_TIMEOUT_SECS), "lines.main.gather_timeout_secs", |v| {
            format!("{LINE}gather_timeout_secs = {v}\n")
        }),
        // Both digit counts at once: each edge is an edge for either.
        (wide(IdentifierFile::DIGITS), "lines.main.identifier", |v| {
            format!("[lines.main.identifier]\nmin_digits = {v}\nmax_digits = {v}\n")
        }),
        (wide(VerificationFile::LENGTH), "lines.main.verification.length", |v| {
            format!("[lines.main.verification]\nlength = {v}\n")
        }),
        (wide(HandoffFile::TIMEOUT_SECS), "lines.main.agent.timeout_secs", |v| {
            format!("[lines.main.agent]\n{DIAL}timeout_secs = {v}\n")
        }),
    ]
}

#[test]
fn every_declared_bound_holds_its_default_and_refuses_one_past_either_edge() {
    let declared: usize = [include_str!("../file/mod.rs"), include_str!("../file/line.rs")]
        .map(|t| t.matches(": Bound<").count())
        .iter()
        .sum();
    let every = every_bound();
    assert_eq!(every.len(), declared, "a Bound declared in file/ is missing from every_bound()");
    for (b, key, file) in every {
        assert!(key.ends_with(b.key), "{key}: the bound names {}", b.key);
        assert!(b.min <= b.default && b.default <= b.max, "{key}: the default is outside its bound");
        for v in [b.min, b.default, b.max] {
            let toml = file(v.into());
            Config::from_toml(&toml, &env(&[])).unwrap_or_else(|e| panic!("{toml}: {e}"));
        }
        // One below a minimum of 0 is negative: then serde refuses it, still naming the key.
        for v in [i128::from(b.min) - 1, i128::from(b.max) + 1] {
            let toml = file(v);
            let e = Config::from_toml(&toml, &env(&[])).map(|_| ()).expect_err(&toml);
            assert!(e.key.starts_with(key), "{toml}: expected {key}, got {e}");
        }
    }
}

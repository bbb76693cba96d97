//! `vouch check-config` run as the real binary: the demo passes and is
//! described; bad files and bad environment values fail naming their key.

use crate::support::run;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A configuration file in the temp dir, removed when dropped.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(toml: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "vouch-check-config-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, toml).expect("write temp config");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `check-config` and expects it to fail naming `key`.
fn assert_refused(args: &[&str], env: &[(&str, &str)], key: &str) -> String {
    let (out, stdout, stderr) = run(args, env);
    assert!(!out.status.success(), "expected failure for key {key}; stdout: {stdout}");
    assert!(matches!(out.status.code(), Some(1 | 2)), "exit status {:?}", out.status);
    assert!(stderr.contains(&format!("vouch: configuration error at `{key}`")), "expected key {key} in: {stderr}");
    assert!(!stdout.contains("configuration OK"), "{stdout}");
    stderr
}

#[test]
fn the_demo_config_passes_and_describes_both_lines() {
    let (out, stdout, stderr) = run(&["check-config"], &[]);
    assert!(out.status.success(), "status {:?}; stderr: {stderr}", out.status);
    for expected in [
        "support (+15005550006, default): caller-ID lookup → account number (8 digits, 3 retries, * opts out) → PIN (4 digits, 3 retries, * opts out) → redirect /demo/self-service; agent: enqueue \"support\" (hold music /hold); opt-out: enqueue \"support\" (hold music /hold)",
        "sales (+15005550007): caller-ID lookup off → customer ID (6–10 digits, 2 retries, * opts out) → no verification → enqueue \"sales\"",
        "CRM: built-in demo CRM",
        "public URL: http://localhost:8080",
        "TWILIO_AUTH_TOKEN: demo mode",
        "VOUCH_STATE_SECRET: demo mode",
        "configuration OK: the embedded demo configuration",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    let support = stdout.find("support (").expect("support line");
    let sales = stdout.find("sales (").expect("sales line");
    assert!(support < sales, "the default line comes first:\n{stdout}");
}

#[test]
fn the_environment_applies_and_secret_values_never_print() {
    let token = "twilio-token-value-1234";
    let admin = "admin-token-value-5678";
    let (out, stdout, stderr) = run(
        &["check-config"],
        &[
            ("TWILIO_AUTH_TOKEN", token),
            ("VOUCH_ADMIN_TOKEN", admin),
            ("VOUCH_STATE_SECRET", "0123456789abcdef0123456789abcdef"),
            ("VOUCH_PUBLIC_URL", "https://vouch-example.fly.dev"),
            ("VOUCH_CRM_URL", "https://crm.example.com/api"),
            ("PORT", "9000"),
        ],
    );
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stdout.contains("public URL: https://vouch-example.fly.dev"), "{stdout}");
    assert!(stdout.contains("CRM: https://crm.example.com/api"), "{stdout}");
    assert!(stdout.contains("port: 9000"), "{stdout}");
    assert!(stdout.contains("TWILIO_AUTH_TOKEN: set"), "{stdout}");
    for secret in [token, admin, "0123456789abcdef0123456789abcdef"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "a secret value was printed");
    }
}

#[test]
fn a_file_given_as_argument_or_option_is_checked() {
    let file = TempConfig::new("[lines.main]\nnumbers = [\"+15551230000\"]\nretries = 1\n");
    for args in [&["check-config", file.path()][..], &["check-config", "--config", file.path()][..]] {
        let (out, stdout, stderr) = run(args, &[]);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains("main (+15551230000, default): caller-ID lookup → account number (8 digits, 1 retry"));
        assert!(stdout.contains(&format!("configuration OK: {}", file.path())), "{stdout}");
    }
}

#[test]
fn bad_values_in_a_file_name_their_key() {
    for (toml, key) in [
        ("[lines.main]\nretries = 99\n", "lines.main.retries"),
        ("[lines.main]\nnumbers = [\"+1555\", \"5551234\"]\n", "lines.main.numbers[0]"),
        ("[lines.main]\ncolour = \"blue\"\n", "lines.main.colour"),
        ("[lines.main.verification]\nlenght = 4\n", "lines.main.verification.lenght"),
        ("[lines.a]\n[lines.b]\n", "default_line"),
    ] {
        let file = TempConfig::new(toml);
        assert_refused(&["check-config", file.path()], &[], key);
    }
}

#[test]
fn a_missing_file_is_an_error() {
    let missing = std::env::temp_dir().join(format!("vouch-check-config-{}-missing.toml", std::process::id()));
    assert_refused(&["check-config", missing.to_str().expect("utf-8")], &[], "--config");
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("VOUCH_PUBLIC_URL", "not a url"),
        ("VOUCH_STATE_SECRET", "too-short"),
        ("VOUCH_CRM_URL", "ftp://crm.example.com"),
        ("DATABASE_URL", "mysql://vouch:hunter2-secret@db/x"),
    ] {
        let stderr = assert_refused(&["check-config"], &[(var, value)], var);
        if var == "VOUCH_STATE_SECRET" {
            assert!(!stderr.contains(value), "a secret value was printed: {stderr}");
        }
        assert!(!stderr.contains("hunter2"), "a database password was printed: {stderr}");
    }
}

#[test]
fn the_store_is_described_without_its_password() {
    let (_, stdout, _) = run(&["check-config"], &[]);
    assert!(stdout.contains("call records: SQLite file vouch.db (WAL)"), "{stdout}");
    let (out, stdout, stderr) =
        run(&["check-config"], &[("DATABASE_URL", "postgres://vouch:hunter2-secret@db.internal:5432/calls")]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("call records: PostgreSQL postgres://vouch@db.internal:5432/calls"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn serve_stops_at_start_up_on_a_database_it_cannot_open() {
    let dir = std::env::temp_dir().join(format!("vouch-no-such-dir-{}", std::process::id()));
    let url = format!("sqlite://{}/vouch.db", dir.display());
    let (out, _, stderr) = run(&["serve", "--bind", "127.0.0.1"], &[("DATABASE_URL", url.as_str()), ("PORT", "0")]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "the error names DATABASE_URL: {stderr}");
    assert!(!dir.exists());
}

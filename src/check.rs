//! `vouch check-config`: a checked configuration described in plain words,
//! so an operator can see what each line will do before a call reaches it.
//! Secret values are never printed, only whether each one is set.

use crate::config::{Config, Handoff, Line};
use crate::flow::EntryRules;
use std::fmt::Write as _;

/// Describes a checked configuration: one line per service line (the default
/// line first), then the CRM, the public URL and the state of each secret.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let default = config.lines.default_name();
    let lines = std::iter::once(config.lines.default()).chain(config.lines.iter().filter(|l| l.name != default));
    for line in lines {
        out.push_str(&describe_line(line, line.name == default));
        out.push('\n');
    }

    let crm = &config.crm;
    match &crm.url {
        None => out.push_str("CRM: built-in demo CRM (set crm.url or VOUCH_CRM_URL to use yours)\n"),
        Some(url) => {
            let _ = writeln!(
                out,
                "CRM: {} (timeout {} ms, connect {} ms, cache {} s, no-match cache {} s)",
                redacted(url),
                crm.timeout.as_millis(),
                crm.connect_timeout.as_millis(),
                crm.cache_ttl.as_secs(),
                crm.negative_cache_ttl.as_secs(),
            );
        }
    }

    let _ = writeln!(
        out,
        "call records: {} (DATABASE_URL or database.url; write buffer {})",
        config.database.url.describe(),
        config.database.buffer_capacity
    );

    let public = redacted(&config.server.public_url);
    let public = public.trim_end_matches('/');
    let _ = writeln!(out, "public URL: {public} (Twilio Voice URL: {public}/voice or {public}/voice/<line>)");
    let _ = writeln!(out, "port: {}", config.server.port);

    let s = &config.secrets;
    out.push_str("secrets:\n");
    let mut secret = |name: &str, state: &str| {
        let _ = writeln!(out, "  {name}: {state}");
    };
    secret(
        "TWILIO_AUTH_TOKEN",
        if s.demo_auth { "demo mode (published demo token: real Twilio requests get 403)" } else { "set" },
    );
    secret("TWILIO_AUTH_TOKEN_SECONDARY", if s.auth_tokens.len() > 1 { "set" } else { "not set" });
    let state_keys;
    secret(
        "VOUCH_STATE_SECRET",
        if s.random_state_key {
            "demo mode (random key each start: calls in progress break on restart)"
        } else if s.state_keys.len() > 1 {
            state_keys = format!("set ({} keys: the first signs, all verify)", s.state_keys.len());
            &state_keys
        } else {
            "set"
        },
    );
    secret(
        "VOUCH_ADMIN_TOKEN",
        match &s.admin_token {
            None => "not set (admin API disabled)",
            Some(_) if s.admin_token_is_demo() => "demo mode (published demo token)",
            Some(_) => "set",
        },
    );
    let crm_token = match (&crm.token, crm.url.is_some()) {
        (Some(_), true) if crm.auth_header.eq_ignore_ascii_case("authorization") => {
            "set (sent as Authorization: Bearer)".to_string()
        }
        (Some(_), true) => format!("set (sent in header {})", crm.auth_header),
        (Some(_), false) => "set (unused by the built-in demo CRM)".to_string(),
        (None, _) => "not set".to_string(),
    };
    secret("VOUCH_CRM_TOKEN", &crm_token);

    let host = config.server.public_url.host_str().unwrap_or("");
    if !s.demo_auth && matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        out.push_str(
            "note: the public URL is local; Twilio's signatures will not match until VOUCH_PUBLIC_URL is the address Twilio calls\n",
        );
    }
    out
}

/// One service line's flow, e.g. `support (+15005550006, default): caller-ID
/// lookup → account number (8 digits, 3 retries, * opts out) → …`.
fn describe_line(line: &Line, is_default: bool) -> String {
    let rules = &line.rules;
    let mut reached: Vec<&str> = line.numbers.iter().map(String::as_str).collect();
    if reached.is_empty() {
        reached.push("no numbers");
    }
    if is_default {
        reached.push("default");
    }
    let mut steps = vec![if rules.caller_id_lookup { "caller-ID lookup" } else { "caller-ID lookup off" }.to_string()];
    steps.push(format!("{} ({})", line.identifier_name, entry(&rules.identifier, rules.retries)));
    match &rules.verification {
        Some(v) => steps.push(format!("{} ({})", line.factor_name, entry(v, rules.retries))),
        None => steps.push("no verification".to_string()),
    }
    steps.push(handoff(&line.next));
    format!(
        "{} ({}): {}; agent: {}; opt-out: {}",
        line.name,
        reached.join(", "),
        steps.join(" → "),
        handoff(&line.agent),
        handoff(&line.opt_out),
    )
}

/// `8 digits, 3 retries, * opts out`.
fn entry(rules: &EntryRules, retries: u8) -> String {
    let digits = match (rules.min_digits, rules.max_digits) {
        (1, 1) => "1 digit".to_string(),
        (min, max) if min == max => format!("{min} digits"),
        (min, max) => format!("{min}–{max} digits"),
    };
    let retries = match retries {
        0 => "no retries".to_string(),
        1 => "1 retry".to_string(),
        n => format!("{n} retries"),
    };
    let opt_out = match rules.opt_out_key {
        Some(key) => format!("{key} opts out"),
        None => "no opt-out".to_string(),
    };
    format!("{digits}, {retries}, {opt_out}")
}

/// `redirect /demo/self-service`, `enqueue "support"`.
fn handoff(h: &Handoff) -> String {
    match h {
        Handoff::Redirect { url } => format!("redirect {url}"),
        Handoff::Enqueue { queue, workflow_sid, wait_url, task_priority, task_timeout_secs } => {
            let mut extras = Vec::new();
            if let Some(sid) = workflow_sid {
                extras.push(format!("TaskRouter workflow {sid}"));
            }
            if let Some(p) = task_priority {
                extras.push(format!("priority {p}"));
            }
            if let Some(t) = task_timeout_secs {
                extras.push(format!("task timeout {t} s"));
            }
            if let Some(u) = wait_url {
                extras.push(format!("hold music {u}"));
            }
            if extras.is_empty() {
                format!("enqueue {queue:?}")
            } else {
                format!("enqueue {queue:?} ({})", extras.join(", "))
            }
        }
    }
}

/// A URL with any password in it masked.
fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEMO_CONFIG;
    use std::collections::HashMap;

    fn load(toml: &str, pairs: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_toml(toml, &env).expect("config")
    }

    #[test]
    fn the_demo_describes_both_lines_default_first() {
        let text = describe(&load(DEMO_CONFIG, &[]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "support (+15005550006, default): caller-ID lookup → account number (8 digits, 3 retries, * opts out) \
             → PIN (4 digits, 3 retries, * opts out) → redirect /demo/self-service; agent: enqueue \"support\"; \
             opt-out: enqueue \"support\""
        );
        assert_eq!(
            lines[1],
            "sales (+15005550007): caller-ID lookup off → customer ID (6–10 digits, 2 retries, * opts out) \
             → no verification → enqueue \"sales\"; agent: enqueue \"sales\"; opt-out: enqueue \"sales\""
        );
        assert!(text.contains("CRM: built-in demo CRM"));
        assert!(text.contains("public URL: http://localhost:8080 (Twilio Voice URL: http://localhost:8080/voice"));
        assert!(text.contains("  TWILIO_AUTH_TOKEN: demo mode"));
        assert!(text.contains("  VOUCH_STATE_SECRET: demo mode"));
        assert!(text.contains("  VOUCH_ADMIN_TOKEN: demo mode"));
        assert!(text.contains("  VOUCH_CRM_TOKEN: not set"));
        assert!(!text.contains("note:"));
    }

    #[test]
    fn secrets_are_named_but_never_printed() {
        let values = [
            ("TWILIO_AUTH_TOKEN", "tok-primary-aaaaaaaa"),
            ("TWILIO_AUTH_TOKEN_SECONDARY", "tok-secondary-bbbbbbbb"),
            ("VOUCH_STATE_SECRET", "0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210"),
            ("VOUCH_ADMIN_TOKEN", "admin-token-cccccccc"),
            ("VOUCH_CRM_URL", "https://user:crm-password@crm.example.com/api"),
            ("VOUCH_CRM_TOKEN", "crm-token-dddddddd"),
            ("VOUCH_PUBLIC_URL", "https://ivr.example.com/"),
        ];
        let text = describe(&load(DEMO_CONFIG, &values));
        for (name, value) in values.iter().filter(|(n, _)| !n.ends_with("_URL")) {
            assert!(text.contains(&format!("  {name}: set")), "{name} in {text}");
            for part in value.split(',') {
                assert!(!text.contains(part), "{name}'s value printed: {text}");
            }
        }
        assert!(!text.contains("crm-password"), "{text}");
        assert!(text.contains("CRM: https://user:***@crm.example.com/api (timeout 2000 ms"), "{text}");
        assert!(text.contains("2 keys"), "{text}");
        assert!(text.contains("VOUCH_CRM_TOKEN: set (sent as Authorization: Bearer)"), "{text}");
        assert!(text.contains("public URL: https://ivr.example.com (Twilio Voice URL: https://ivr.example.com/voice"));
        assert!(!text.contains("demo mode"), "{text}");
    }

    #[test]
    fn a_real_token_with_a_local_public_url_gets_a_note() {
        let text = describe(&load(DEMO_CONFIG, &[("TWILIO_AUTH_TOKEN", "real")]));
        assert!(text.contains("VOUCH_ADMIN_TOKEN: not set (admin API disabled)"), "{text}");
        assert!(text.contains("note: the public URL is local"), "{text}");
    }

    #[test]
    fn options_beyond_the_demo_are_described() {
        let toml = r#"
            [lines.main]
            retries = 1
            opt_out_key = ""
            [lines.main.identifier]
            min_digits = 1
            max_digits = 1
            [lines.main.verification]
            factor = "dob"
            name = "date of birth"
            length = 8
            [lines.main.agent]
            type = "enqueue"
            queue = "front desk"
            workflow_sid = "WW0123456789abcdef0123456789abcdef"
            task_priority = 5
            [lines.main.next]
            type = "redirect"
            url = "https://app.example.com/ivr"
        "#;
        let text = describe(&load(toml, &[]));
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "main (no numbers, default): caller-ID lookup → account number (1 digit, 1 retry, no opt-out) \
             → date of birth (8 digits, 1 retry, no opt-out) → redirect https://app.example.com/ivr; \
             agent: enqueue \"front desk\" (TaskRouter workflow WW0123456789abcdef0123456789abcdef, priority 5); \
             opt-out: enqueue \"front desk\" (TaskRouter workflow WW0123456789abcdef0123456789abcdef, priority 5)"
        );
        let zero = describe(&load("[lines.x]\nretries = 0\n", &[]));
        assert!(zero.contains("(8 digits, no retries, * opts out)"), "{zero}");
    }
}

//! What `check-config` prints for the demo, for secrets (named, never
//! printed) and for options beyond the demo.

use super::describe;
use crate::config::{Config, DEMO_CONFIG};
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
         → PIN (4 digits, 3 retries, * opts out) → redirect /demo/self-service; \
         agent: enqueue \"support\" (hold music /hold); opt-out: enqueue \"support\" (hold music /hold)"
    );
    assert_eq!(
        lines[1],
        "sales (+15005550007): caller-ID lookup off → customer ID (6–10 digits, 2 retries, * opts out) \
         → no verification → enqueue \"sales\"; agent: enqueue \"sales\"; opt-out: enqueue \"sales\""
    );
    assert!(text.contains("CRM: built-in demo CRM"));
    assert!(text.contains("); purged 90 days after their last update (database.retention_days)"), "{text}");
    assert!(text.contains("public URL: http://localhost:8080 (Twilio Voice URL: http://localhost:8080/voice"));
    assert!(text.contains("  TWILIO_AUTH_TOKEN: demo mode"));
    assert!(text.contains("  VOUCH_STATE_SECRET: demo mode"));
    assert!(text.contains("  VOUCH_ADMIN_TOKEN: demo mode"));
    assert!(text.contains("  VOUCH_CRM_TOKEN: not set"));
    assert!(text.contains("  VOUCH_USERS_FILE: demo mode (published demo login: name demo, password demo)"));
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
    assert!(
        text.contains("crm.find_by_phone: GET https://user:****@crm.example.com/api/customers?phone=%2B15550001111"),
        "each action is shown with the URL's password masked: {text}"
    );
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
    let memory = describe(&load("[database]\nurl = \"memory:\"\nretention_days = 7\n[lines.main]\n", &[]));
    assert!(memory.contains("; kept 3600 s in memory (server.call_record_ttl_secs)"), "{memory}");
    let week = describe(&load("[database]\nretention_days = 7\n[lines.main]\n", &[]));
    assert!(week.contains("; purged 7 days after their last update"), "{week}");
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "main (no numbers, default): caller-ID lookup → account number (1 digit, 1 retry, no opt-out) \
         → date of birth (8 digits, 1 retry, no opt-out) → redirect https://app.example.com/ivr; \
         agent: enqueue \"front desk\" (TaskRouter workflow WW0123456789abcdef0123456789abcdef, priority 5); \
         opt-out: enqueue \"front desk\" (TaskRouter workflow WW0123456789abcdef0123456789abcdef, priority 5)"
    );
    let dial = describe(&load(
        "[lines.main.next]\ntype = \"dial_sip\"\nuri = \"sip:a@pbx.test\"\nwhisper = false\n\
         [lines.main.agent]\ntype = \"dial_number\"\nnumber = \"+15551234567\"\ntimeout_secs = 20\n",
        &[],
    ));
    assert!(
        dial.contains(
            "→ dial SIP sip:a@pbx.test (context in X- headers, no whisper, answerOnBridge, unanswered: enqueue \"main\"); \
             agent: dial number +15551234567 (whisper, answerOnBridge, ring 20 s, unanswered: enqueue \"main\")"
        ),
        "{dial}"
    );
    let zero = describe(&load("[lines.x]\nretries = 0\n", &[]));
    assert!(zero.contains("(8 digits, no retries, * opts out)"), "{zero}");
}

#[test]
fn the_privacy_settings_of_a_line_are_described() {
    let text = describe(&load(
        "[lines.main]\nidentifier_first = true\nhandoff_customer_name = false\n\
         [lines.main.next]\ntype = \"redirect\"\nurl = \"https://app.example.com/ivr\"\ncontext = \"plain\"\n",
        &[],
    ));
    for said in [
        "main (no numbers, default): caller-ID lookup, only to cross-check the identifier asked first → ",
        "→ redirect https://app.example.com/ivr (the customer in a plain query and a readable JWT);",
        "; the customer's name kept out of handoffs",
    ] {
        assert!(text.contains(said), "{said:?} not in:\n{text}");
    }
    let plain = describe(&load("[lines.main.next]\ntype = \"redirect\"\nurl = \"https://app.example.com/ivr\"\n", &[]));
    assert!(plain.contains("→ redirect https://app.example.com/ivr;") && !plain.contains("name kept out"), "{plain}");
}

#[test]
fn a_kill_timeout_shorter_than_the_drain_shutdown_and_flush_is_a_warning() {
    use super::kill_timeout_check;
    // Defaults: 5 s drain + 10 s shutdown + 6 s of flushes = 21 s.
    let demo = load(DEMO_CONFIG, &[]);
    let short = kill_timeout_check("app = \"x\"\nkill_timeout = \"15s\"\n", &demo, "fly.toml");
    assert!(short.starts_with("warning: fly.toml: kill_timeout 15 s does not cover a SIGTERM's 21 s"), "{short}");
    // Fly's default (5 s) when unset.
    assert!(kill_timeout_check("app = \"x\"\n", &demo, "fly.toml").contains("kill_timeout 5 s does not cover"));
    let ok = kill_timeout_check("kill_timeout = \"30s\"\n", &demo, "fly.toml");
    assert_eq!(
        ok,
        "fly.toml: kill_timeout 30 s covers a SIGTERM's 21 s (server.drain_secs 5 + server.shutdown_timeout_secs 10 + final flush 6)"
    );
    assert!(kill_timeout_check("kill_timeout = \"1m\"\n", &demo, "f").contains("kill_timeout 60 s covers"));
    assert!(kill_timeout_check("kill_timeout = 22\n", &demo, "f").contains("kill_timeout 22 s covers"));
    // Shorter drain and shutdown fit the old 15 s.
    let tight = load(&DEMO_CONFIG.replacen("[server]", "[server]\ndrain_secs = 2\nshutdown_timeout_secs = 5", 1), &[]);
    assert!(kill_timeout_check("kill_timeout = \"15s\"\n", &tight, "f").contains("covers a SIGTERM's 13 s"));
    assert!(kill_timeout_check("kill_timeout = \"soon\"\n", &demo, "f").starts_with("warning: f: kill_timeout is not"));
    assert!(kill_timeout_check("kill_timeout = [", &demo, "f").starts_with("warning: f is not TOML"));
}

#[test]
fn a_lines_own_crm_actions_are_shown_with_its_factor() {
    let toml = r#"
        [lines.claims]
        [lines.claims.verification]
        factor = "dob"
        length = 8
        [lines.claims.crm.find_by_identifier]
        url = "/api/policies?number={id}"
        list = "/items"
        id = "/holder_id"
        name = "/holder_name"
        [lines.claims.crm.verify]
        mode = "compare"
        url = "/api/customers/{id}?about={factor}"
        field = "/date_of_birth"
        field_format = "date:YYYY-MM-DD"
        keyed_format = "MMDDYYYY"
    "#;
    let text = describe(&load(toml, &[("VOUCH_CRM_URL", "https://crm.example.com")]));
    assert!(
        text.contains("lines.claims.crm.find_by_identifier: GET https://crm.example.com/api/policies?number=12345678"),
        "{text}"
    );
    assert!(text.contains("search: list /items, id /holder_id, name /holder_name"), "{text}");
    assert!(
        text.contains(
            "lines.claims.crm.verify (factor \"dob\"): GET https://crm.example.com/api/customers/12345678?about=dob"
        ),
        "{text}"
    );
    assert!(text.contains("compare: field /date_of_birth"), "{text}");
    assert!(
        text.contains("crm.verify (factor \"dob\" on line claims): POST"),
        "the [crm] default is shown too: {text}"
    );
}

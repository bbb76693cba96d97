use super::*;
use std::collections::HashMap;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn err(toml: &str) -> ConfigError {
    Config::from_toml(toml, &env(&[])).expect_err("config should be refused")
}

const MINIMAL: &str = "[lines.main]\n";

#[test]
fn the_embedded_demo_loads_with_its_documented_defaults() {
    let c = Config::from_toml(DEMO_CONFIG, &env(&[])).expect("demo config");
    let support = c.lines.get("support").expect("support line");
    assert_eq!(support.rules.caller_id, crate::flow::CallerIdUse::Always);
    assert_eq!((support.rules.identifier.min_digits, support.rules.identifier.max_digits), (8, 8));
    assert_eq!(support.rules.verification.as_ref().map(|v| v.max_digits), Some(4));
    assert_eq!(support.rules.identifier.opt_out_key, Some('*'));
    assert_eq!(support.rules.retries, 3);
    assert!(c.secrets.demo_auth && c.secrets.random_state_key);
    assert_eq!(c.crm.url, None);
    assert_eq!(c.server.port, 8080);
    assert_eq!(c.server.public_url.as_str(), "http://localhost:8080/");
    assert_eq!(c.lines.for_number(Some("+15005550007")).0.name, "sales");
    let (fallback, was_default) = c.lines.for_number(Some("+19999999999"));
    assert_eq!((fallback.name.as_str(), was_default), ("support", true));
}

#[test]
fn environment_overrides_the_file() {
    let c = Config::from_toml(
        DEMO_CONFIG,
        &env(&[
            ("PORT", "9000"),
            ("VOUCH_PUBLIC_URL", "https://ivr.example.com/"),
            ("VOUCH_CRM_URL", "https://crm.example.com/api"),
            ("TWILIO_AUTH_TOKEN", "primary"),
            ("TWILIO_AUTH_TOKEN_SECONDARY", "secondary"),
            ("VOUCH_STATE_SECRET", "0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210"),
        ]),
    )
    .expect("config");
    assert_eq!(c.server.port, 9000);
    assert_eq!(c.server.public_url.as_str(), "https://ivr.example.com/");
    assert_eq!(c.crm.url.as_ref().map(|u| u.as_str()), Some("https://crm.example.com/api"));
    assert_eq!(c.secrets.auth_tokens.len(), 2);
    assert_eq!(c.secrets.state_keys.len(), 2);
    assert!(!c.secrets.demo_auth);
    assert!(c.secrets.admin_token.is_none(), "no demo admin token outside demo mode");
}

#[test]
fn defaults_apply_to_a_minimal_line() {
    let c = Config::from_toml(MINIMAL, &env(&[])).expect("config");
    let l = c.lines.get("main").expect("line");
    assert_eq!(l.rules.retries, 3);
    assert!(l.rules.verification.is_some());
    assert!(matches!(&l.agent, Handoff::Enqueue { queue, .. } if queue == "main"));
    assert!(l.speech(crate::flow::Prompt::AskIdentifier).is_some());
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(c.server.record_dir, None, "only the command line sets a record dir");
    let c = Config::from_toml("[server]\nshutdown_timeout_secs = 25\n[lines.a]\n", &env(&[])).expect("config");
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(25));
}

#[test]
fn bad_values_name_their_key() {
    for (toml, key) in [
        ("[lines.main]\nretries = 11\n", "lines.main.retries"),
        ("[lines.main]\ncaller_id_lookup = \"sometimes\"\n", "lines.main.caller_id_lookup"),
        ("[lines.main]\nretries = -1\n", "lines.main.retries"),
        ("[lines.main]\nopt_out_key = \"#\"\n", "lines.main.opt_out_key"),
        ("[lines.main]\nnumbers = [\"555\"]\n", "lines.main.numbers[0]"),
        ("[lines.main.identifier]\nmin_digits = 9\nmax_digits = 8\n", "lines.main.identifier"),
        ("[lines.main.verification]\nlength = 0\n", "lines.main.verification.length"),
        ("[lines.main.next]\ntype = \"redirect\"\nurl = \"ftp://x\"\n", "lines.main.next.url"),
        (
            "[lines.main.agent]\ntype = \"enqueue\"\nqueue = \"q\"\nworkflow_sid = \"nope\"\n",
            "lines.main.agent.workflow_sid",
        ),
        ("[lines.main]\ncolour = \"blue\"\n", "lines.main"),
        ("[lines.a]\n[lines.b]\n", "default_line"),
        ("default_line = \"c\"\n[lines.a]\n", "default_line"),
        (
            "default_line=\"a\"\n[lines.a]\nnumbers=[\"+15551112222\"]\n[lines.b]\nnumbers=[\"+15551112222\"]\n",
            "lines.b.numbers",
        ),
        ("", "lines"),
        ("[crm]\ntimeout_ms = 12000\n[lines.a]\n", "crm.timeout_ms"),
        ("[server]\npublic_url = \"localhost\"\n[lines.a]\n", "server.public_url"),
        ("[lines.Main]\n", "lines.Main"),
        ("[server]\nshutdown_timeout_secs = 0\n[lines.a]\n", "server.shutdown_timeout_secs"),
        ("[server]\nshutdown_timeout_secs = 301\n[lines.a]\n", "server.shutdown_timeout_secs"),
    ] {
        let e = err(toml);
        assert!(e.key.starts_with(key), "{toml:?}: expected key {key}, got {e}");
    }
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("VOUCH_STATE_SECRET", "short"),
        ("VOUCH_PUBLIC_URL", "nope"),
        ("VOUCH_ADMIN_TOKEN", "short"),
    ] {
        let e = Config::from_toml(MINIMAL, &env(&[(var, value)])).expect_err(var);
        assert_eq!(e.key, var);
    }
}

#[test]
fn secrets_do_not_print() {
    assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret([redacted])");
}

#[test]
fn auth_tokens_are_trimmed_and_a_lone_secondary_is_refused() {
    let c = Config::from_toml(MINIMAL, &env(&[("TWILIO_AUTH_TOKEN", "tok\n")])).expect("config");
    assert_eq!(c.secrets.auth_tokens[0].expose(), "tok");
    let e = Config::from_toml(MINIMAL, &env(&[("TWILIO_AUTH_TOKEN_SECONDARY", "second")])).expect_err("lone secondary");
    assert_eq!(e.key, "TWILIO_AUTH_TOKEN_SECONDARY");
}

#[test]
fn bad_handoffs_name_their_key() {
    let agent = |body: &str| format!("[lines.main.agent]\n{body}\n");
    for (toml, key) in [
        (agent("type = \"dial_number\"\nnumber = \"555-1234\""), "lines.main.agent.number"),
        (agent("type = \"dial_number\"\nnumber = \"+15551234567\"\ncaller_id = \"me\""), "lines.main.agent.caller_id"),
        (agent("type = \"dial_number\"\nnumber = \"+15551234567\"\ntimeout_secs = 2"), "lines.main.agent.timeout_secs"),
        (agent("type = \"dial_client\"\nidentity = \"agent ada\""), "lines.main.agent.identity"),
        (agent("type = \"dial_client\"\nidentity = \"\""), "lines.main.agent.identity"),
        (agent("type = \"dial_sip\"\nuri = \"https://pbx.example.com\""), "lines.main.agent.uri"),
        (agent("type = \"dial_sip\"\nuri = \"sip:agent@pbx.example.com?x-a=1\""), "lines.main.agent.uri"),
        (
            agent(&format!("type = \"dial_sip\"\nuri = \"sip:{}@pbx.example.com\"", "a".repeat(120))),
            "lines.main.agent.uri",
        ),
        (agent("type = \"dial_sip\"\nuri = \"sip:\""), "lines.main.agent.uri"),
        (agent("type = \"dial_sip\"\nuri = \"sip:a@b\"\ncaller_id = \"Vouch IVR\""), "lines.main.agent.caller_id"),
        (agent("type = \"enqueue\"\nqueue = \"q\"\nwait_url = \"ftp://x\""), "lines.main.agent.wait_url"),
        (agent("type = \"dial_number\"\nnumber = \"+15551234567\"\ncolour = 1"), "lines.main.agent"),
        (agent("type = \"conference\""), "lines.main.agent"),
        (agent("type = \"redirect\"\nurl = \"/x\"\ncontext = \"clear\""), "lines.main.agent.context"),
        ("[lines.main]\nidentifier_first = \"yes\"\n".to_string(), "lines.main"),
        ("[lines.main]\nhandoff_customer_name = 0\n".to_string(), "lines.main"),
        ("[server]\nhandoff_token_ttl_secs = 5\n[lines.main]\n".to_string(), "server.handoff_token_ttl_secs"),
    ] {
        let e = err(&toml);
        assert!(e.key.starts_with(key), "{toml:?}: expected key {key}, got {e}");
    }
}

#[test]
fn every_dial_variant_resolves_with_its_defaults() {
    let toml = r#"
        [lines.main.next]
        type = "dial_client"
        identity = "agent_ada"
        [lines.main.agent]
        type = "dial_number"
        number = "+15551234567"
        caller_id = "+15005550006"
        timeout_secs = 20
        whisper = false
        answer_on_bridge = false
        [lines.main.opt_out]
        type = "dial_sip"
        uri = "sips:agent@pbx.example.com;transport=tls"
        caller_id = "Vouch-IVR"
    "#;
    let c = Config::from_toml(toml, &env(&[])).expect("config");
    let l = c.lines.get("main").unwrap();
    assert_eq!(
        l.next,
        Handoff::Dial {
            to: DialTo::Client("agent_ada".into()),
            caller_id: None,
            timeout_secs: None,
            answer_on_bridge: true,
            whisper: true
        }
    );
    assert!(
        matches!(&l.agent, Handoff::Dial { to: DialTo::Number(n), timeout_secs: Some(20), whisper: false, answer_on_bridge: false, .. } if n == "+15551234567")
    );
    assert!(matches!(&l.opt_out, Handoff::Dial { to: DialTo::Sip(u), .. } if u.starts_with("sips:")));
    // No queue configured: an unanswered dial falls back to one named after the line.
    assert!(matches!(l.fallback_queue(), Handoff::Enqueue { queue, .. } if queue == "main"));
}

#[test]
fn the_handoff_secret_is_required_only_for_redirects_outside_vouch() {
    let external = "[lines.main.next]\ntype = \"redirect\"\nurl = \"https://app.example.com/ivr\"\n";
    let real = [("TWILIO_AUTH_TOKEN", "tok")];
    let e = Config::from_toml(external, &env(&real)).expect_err("no secret");
    assert_eq!(e.key, "VOUCH_HANDOFF_SECRET");
    assert!(e.message.contains("lines.main.next.url"), "{e}");
    let secret = "s".repeat(32);
    let c = Config::from_toml(external, &env(&[real[0], ("VOUCH_HANDOFF_SECRET", &secret)])).expect("config");
    assert_eq!((c.secrets.handoff_key_source, c.secrets.handoff_key.expose()), (KeySource::Env, secret.as_str()));
    let e = Config::from_toml(MINIMAL, &env(&[("VOUCH_HANDOFF_SECRET", "short")])).expect_err("short");
    assert_eq!(e.key, "VOUCH_HANDOFF_SECRET");
    // Demo mode: the published demo key; a real token with only Vouch's own pages: a random one.
    assert_eq!(Config::from_toml(external, &env(&[])).unwrap().secrets.handoff_key_source, KeySource::Demo);
    assert_eq!(Config::from_toml(DEMO_CONFIG, &env(&real)).unwrap().secrets.handoff_key_source, KeySource::Random);
}

#[test]
fn caller_id_lookup_takes_a_bool_or_a_mode() {
    use crate::flow::CallerIdUse;
    for (value, want) in [
        ("true", CallerIdUse::Always),
        ("false", CallerIdUse::Never),
        ("\"attested\"", CallerIdUse::Attested),
        ("\"never\"", CallerIdUse::Never),
    ] {
        let c = Config::from_toml(&format!("[lines.main]\ncaller_id_lookup = {value}\n"), &env(&[])).expect(value);
        assert_eq!(c.lines.get("main").unwrap().rules.caller_id, want, "{value}");
    }
}

#[test]
fn the_store_defaults_to_a_sqlite_file_and_database_url_wins_over_the_file() {
    let c = Config::from_toml(MINIMAL, &env(&[])).unwrap();
    assert!(matches!(&c.database.url, DatabaseUrl::Sqlite(u) if u == DEFAULT_DATABASE_URL));
    assert_eq!(c.database.buffer_capacity, 10_000);
    let file = "[database]\nurl = \"sqlite:///data/v.db\"\nbuffer_capacity = 50\n[lines.main]\n";
    let c = Config::from_toml(file, &env(&[])).unwrap();
    assert!(matches!(&c.database.url, DatabaseUrl::Sqlite(u) if u == "sqlite:///data/v.db"));
    assert_eq!(c.database.buffer_capacity, 50);
    let c = Config::from_toml(file, &env(&[("DATABASE_URL", "postgres://vouch@db/calls")])).unwrap();
    assert!(matches!(&c.database.url, DatabaseUrl::Postgres(_)));
    assert_eq!(err("[database]\nurl = \"redis://x\"\n[lines.main]\n").key, "database.url");
    assert_eq!(err("[database]\nbuffer_capacity = 0\n[lines.main]\n").key, "database.buffer_capacity");
    assert_eq!(err("[database]\npool = 3\n[lines.main]\n").key, "database.pool");
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "from-a-file\n").unwrap();
    let file = path.to_string_lossy().into_owned();
    let c = Config::from_toml(MINIMAL, &env(&[("TWILIO_AUTH_TOKEN_FILE", &file)])).expect("config");
    assert_eq!(c.secrets.auth_tokens[0].expose(), "from-a-file");
    assert!(!c.secrets.demo_auth);
    let c = Config::from_toml(MINIMAL, &env(&[("TWILIO_AUTH_TOKEN", "direct"), ("TWILIO_AUTH_TOKEN_FILE", &file)]))
        .unwrap();
    assert_eq!(c.secrets.auth_tokens[0].expose(), "direct", "the variable itself wins");
    let e =
        Config::from_toml(MINIMAL, &env(&[("VOUCH_STATE_SECRET_FILE", "/nonexistent/secret")])).expect_err("missing");
    assert_eq!(e.key, "VOUCH_STATE_SECRET_FILE");
}

mod bounds;
mod refusals;

#[test]
fn running_on_the_embedded_demo_forgets_failed_pins_after_15_minutes() {
    let demo = Config::load(None, &env(&[])).unwrap();
    assert_eq!(demo.security.lockout_window, std::time::Duration::from_secs(900));
    assert_eq!(demo.security.lockout_failures, 5, "still locks after five");
    let copied = Config::from_toml(DEMO_CONFIG, &env(&[])).unwrap();
    assert_eq!(
        copied.security.lockout_window,
        std::time::Duration::from_secs(86_400),
        "a copy of the file has the default"
    );
}

/// The text of a line's prompt as the caller hears it.
fn said(c: &Config, line: &str, prompt: crate::flow::Prompt) -> String {
    match c.lines.get(line).expect("line").speech(prompt) {
        Some(crate::config::Speech::Say { text, .. }) => text.clone(),
        other => panic!("{line}: {prompt:?} is {other:?}"),
    }
}

#[test]
fn default_prompts_say_where_the_caller_goes_next() {
    use crate::flow::Prompt;
    let toml = "default_line = \"q\"\n[lines.q]\nopt_out_key = \"*\"\n\
                [lines.app]\nopt_out_key = \"0\"\n[lines.app.next]\ntype = \"redirect\"\nurl = \"https://app.example.com/\"\n\
                [lines.app.opt_out]\ntype = \"redirect\"\nurl = \"https://app.example.com/menu\"\n";
    let c = Config::from_toml(toml, &env(&[])).expect("config");
    assert!(said(&c, "q", Prompt::AskFactor).ends_with("pound key. To speak to an agent instead, press star."));
    assert_eq!(said(&c, "q", Prompt::OptedOut), "No problem. Please hold while we connect you to an agent.");
    assert_eq!(said(&c, "q", Prompt::Identified), "Thank you. Please hold while we connect you.");
    // Handed to an app, not a person: nothing promises an agent.
    assert!(said(&c, "app", Prompt::AskFactor).ends_with("pound key. If you don't have it, press 0."));
    assert_eq!(said(&c, "app", Prompt::OptedOut), "No problem.");
    assert_eq!(said(&c, "app", Prompt::Identified), "Thank you.");
}

#[test]
fn a_lines_time_zone_is_an_iana_name_and_formats_local_times_across_dst() {
    let c = Config::from_toml("[lines.a]\ntime_zone = \"Europe/London\"\n", &env(&[])).expect("config");
    let zone = c.lines.get("a").unwrap().time_zone.as_ref().expect("a zone");
    assert_eq!(zone.name, "Europe/London");
    assert_eq!(zone.format(1_782_907_200), "2026-07-01 13:00:00 BST", "summer time");
    assert_eq!(zone.format(1_796_126_400), "2026-12-01 12:00:00 GMT");
    let refused = Config::from_toml("[lines.a]\ntime_zone = \"Mars/Olympus\"\n", &env(&[])).unwrap_err();
    assert_eq!(refused.key, "lines.a.time_zone");
    assert!(refused.to_string().contains("not an IANA time zone name"), "{refused}");
    let none = Config::from_toml("[lines.a]\n", &env(&[])).expect("config");
    assert!(none.lines.get("a").unwrap().time_zone.is_none(), "UTC only unless set");
}

use super::*;

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
    assert!(support.rules.caller_id_lookup);
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
}

#[test]
fn bad_values_name_their_key() {
    for (toml, key) in [
        ("[lines.main]\nretries = 11\n", "lines.main.retries"),
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

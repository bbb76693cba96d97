//! The TOML examples in docs/crm.md and docs/crm-transport.md load as
//! written: each is merged into the demo configuration (a `[lines.claims]`
//! line added where an example overrides it) and resolved, with the
//! secrets its auth type names set in the environment.

use std::collections::HashMap;
use vouch::config::Config;

/// Every ```toml block of a Markdown file, with the line it starts on.
fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some((n + 1, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// `overlay`'s tables and keys over `base`'s.
fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// A line whose factor is an 8-digit date, for the examples that override
/// `lines.claims`.
const CLAIMS_LINE: &str = r#"
[lines.claims]
numbers = ["+15005550008"]
[lines.claims.identifier]
name = "policy number"
min_digits = 6
max_digits = 10
[lines.claims.verification]
factor = "dob"
name = "date of birth"
length = 8
[lines.claims.next]
type = "enqueue"
queue = "claims"
[lines.claims.agent]
type = "enqueue"
queue = "claims"
"#;

fn loads(doc: &str, line: usize, block: &str) -> Result<Config, String> {
    let mut config: toml::Value = toml::from_str(vouch::config::DEMO_CONFIG).expect("the demo configuration");
    let example: toml::Value = toml::from_str(block).map_err(|e| format!("not TOML: {e}"))?;
    if block.contains("[lines.claims") {
        merge(&mut config, toml::from_str(CLAIMS_LINE).expect("the claims line"));
    }
    merge(&mut config, example);
    let text = toml::to_string(&config).expect("serialises");
    let env: HashMap<String, String> = [
        ("VOUCH_CRM_URL", "https://crm.example.com"),
        ("VOUCH_CRM_TOKEN", "doc-example-token"),
        ("VOUCH_CRM_PASSWORD", "doc-example-password"),
        ("VOUCH_CRM_CLIENT_SECRET", "doc-example-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    Config::from_toml(&text, &env).map_err(|e| format!("{doc}:{line}: {e:#}"))
}

#[test]
fn the_crm_docs_examples_load() {
    let docs = [
        ("docs/crm.md", include_str!("../../docs/crm.md")),
        ("docs/crm-transport.md", include_str!("../../docs/crm-transport.md")),
    ];
    let mut loaded = 0;
    for (doc, text) in docs {
        for (line, block) in toml_blocks(text) {
            // Certificate files an operator would provide: not on this machine.
            if block.contains("ca_file") || block.contains("client_cert_file") {
                let err = loads(doc, line, &block).expect_err("the files do not exist here");
                assert!(err.contains("crm.ca_file") || err.contains("crm.client_cert_file"), "{err}");
                continue;
            }
            loads(doc, line, &block).unwrap_or_else(|e| panic!("{doc}:{line} does not load: {e}"));
            loaded += 1;
        }
    }
    assert!(loaded >= 5, "the examples were found ({loaded})");
}

#[test]
fn the_complete_example_configures_what_it_says() {
    let text = include_str!("../../docs/crm.md");
    let (line, block) =
        toml_blocks(text).into_iter().find(|(_, b)| b.contains("PIN_Hash__c")).expect("the complete example");
    let config = loads("docs/crm.md", line, &block).expect("loads");
    let claims = config.lines.get("claims").expect("the claims line");
    let shown = format!("{:?}", claims.crm);
    assert!(shown.contains("Policy__c") && shown.contains("Birthdate"), "the claims line has its own actions: {shown}");
}

//! `vouch crm-test` and `check-config`'s action listing, run as the real
//! binary against a CRM double over real HTTP: each step explained, secrets
//! masked, and the exit code saying whether the CRM failed.

use crate::support::{command, run, Reply, Tiny};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

const TOKEN: &str = "crm-token-sssssssss";
/// Eight digits (the line allows 4 to 8): the tests assert that it never
/// appears in the output, where four digits can turn up by chance (in a
/// port, or a log line's time). A CI run once failed that assertion with
/// "9753", without showing the output.
const PIN: &str = "97538642";

const TOML: &str = r#"
default_line = "main"

[crm.find_by_phone]
url = "/contacts/search?phone={phone:national|odata}"
list = "/results"
id = "/id"
name = "{/first} {/last}"
attributes = { tier = "/tier", language = "/lang" }

[crm.find_by_identifier]
url = "/contacts/search?account={id}"
list = "/results"
id = "/id"
name = "{/first} {/last}"

[crm.verify]
method = "POST"
url = "/contacts/{id}/check"
body = '{"kind":"{factor}","secret":"{value}"}'
body_format = "json"
result = "/ok"

[lines.main]
[lines.main.identifier]
name = "member number"
min_digits = 4
max_digits = 8

[lines.claims]
numbers = ["+15005550009"]
[lines.claims.crm.find_by_identifier]
url = "/policies/{id}"
id = "/holder"
name = "/holder_name"
"#;

fn json(body: &str) -> Reply {
    Reply { status: 200, content_type: "application/json", body: body.into(), delay: Duration::ZERO }
}

/// The double: two contacts on one number, one on account 1001, a 404 for
/// account 4040, and a check that accepts only PIN.
fn crm() -> Tiny {
    Tiny::start(|seen| {
        let two =
            r#"{"results":[{"id":"c1","first":"Alan","last":"Turing","tier":"gold"},{"id":"c2","first":"Joan"}]}"#;
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", "/contacts/search?phone=%27%28555%29%20123-0003%27") => json(two),
            ("GET", "/contacts/search?account=1001") => {
                json(r#"{"results":[{"id":"c1","first":"Alan","last":"Turing","tier":"gold"}]}"#)
            }
            ("GET", "/contacts/search?account=4040") => Reply { status: 404, ..json("") },
            ("GET", p) if p.starts_with("/contacts/search") => json(r#"{"results":[]}"#),
            ("GET", "/policies/77") => json(r#"{"holder":"c9","holder_name":"Grace Hopper","tier":"x"}"#),
            ("GET", p) if p.starts_with("/policies/") => Reply { status: 404, ..json("") },
            ("POST", "/contacts/c1/check") => {
                let ok = seen.body.contains(&format!("\"secret\":\"{PIN}\""));
                json(&format!("{{\"ok\":{ok}}}"))
            }
            _ => Reply { status: 500, ..json("") },
        }
    })
}

struct Config(std::path::PathBuf);

impl Config {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("vouch-crm-test-{}-{}.toml", std::process::id(), rand_suffix()));
        std::fs::write(&path, TOML).unwrap();
        Self(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn two_matches_on_a_phone_are_explained_with_the_request_masked() {
    let crm = crm();
    let config = Config::new();
    let (out, stdout, stderr) = run(
        &["crm-test", "--config", config.path(), "--phone", "+15551230003"],
        &[("VOUCH_CRM_URL", &crm.url), ("VOUCH_CRM_TOKEN", TOKEN)],
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("→ GET {}/contacts/search?phone=%27%28555%29%20123-0003%27", crm.url)),
        "{stdout}"
    );
    assert!(stdout.contains("Authorization: Bearer ****"), "{stdout}");
    assert!(stdout.contains("← 200"), "{stdout}");
    assert!(stdout.contains("list /results: 2 item(s)"), "{stdout}");
    assert!(
        stdout.contains(
            r#"[0] id /id = "c1"; name {/first} {/last} = "Alan Turing"; attributes: tier (absent: language)"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains("= 2 matches → ask for the member number"), "{stdout}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token is never shown");
    assert!(!stdout.contains("gold"), "attribute values are not shown: {stdout}");
    let seen = crm.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
}

#[test]
fn an_identifier_then_a_verify_shows_the_value_masked() {
    let crm = crm();
    let config = Config::new();
    let (out, stdout, stderr) =
        run(&["crm-test", "--config", config.path(), "--id", "1001", "--verify", PIN], &[("VOUCH_CRM_URL", &crm.url)]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("= 1 match → identified (id \"c1\")"), "{stdout}");
    assert!(stdout.contains("verify (crm.verify, mode endpoint)"), "{stdout}");
    assert!(stdout.contains(r#"body: {"kind":"pin","secret":"****"}"#), "{stdout}");
    assert!(stdout.contains("result /ok: true"), "{stdout}");
    assert!(stdout.trim_end().ends_with("= verified"), "{stdout}");
    assert!(!stdout.contains(PIN) && !stderr.contains(PIN), "the value is never shown:\n{stdout}\n{stderr}");
    let seen = crm.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].body.contains(PIN), "the CRM did get it: {:?}", seen[1]);
    assert!(seen.iter().all(|s| !s.path.contains(PIN)), "never in a URL");
}

#[test]
fn the_verify_value_is_read_from_standard_input_when_not_given() {
    let crm = crm();
    let config = Config::new();
    let mut child =
        command(&["crm-test", "--config", config.path(), "--id", "1001", "--verify"], &[("VOUCH_CRM_URL", &crm.url)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(b"1111\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("= rejected → failed try"), "{stdout}");
    assert!(crm.requests()[1].body.contains("\"secret\":\"1111\""), "the line read, its newline removed");
}

#[test]
fn a_404_on_a_search_is_called_a_misconfiguration_and_exits_1() {
    let crm = crm();
    let config = Config::new();
    let (out, stdout, _) =
        run(&["crm-test", "--config", config.path(), "--id", "4040"], &[("VOUCH_CRM_URL", &crm.url)]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("404 on a search → misconfigured: CRM unavailable"), "{stdout}");
    let (out, stdout, _) =
        run(&["crm-test", "--config", config.path(), "--id", "2002"], &[("VOUCH_CRM_URL", &crm.url)]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("list /results: 0 item(s)") && stdout.contains("= not found → failed try"), "{stdout}");
}

#[test]
fn a_lines_own_identifier_action_is_used_with_line() {
    let crm = crm();
    let config = Config::new();
    let env = [("VOUCH_CRM_URL", crm.url.as_str())];
    let (out, stdout, _) = run(&["crm-test", "--config", config.path(), "--line", "claims", "--id", "77"], &env);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("find_by_identifier (lines.claims.crm.find_by_identifier)"), "{stdout}");
    assert!(stdout.contains(&format!("→ GET {}/policies/77", crm.url)), "{stdout}");
    assert!(stdout.contains("= 1 match → identified (id \"c9\")"), "{stdout}");
    let (_, stdout, _) = run(&["crm-test", "--config", config.path(), "--line", "claims", "--id", "78"], &env);
    assert!(stdout.contains("← 404") && stdout.contains("= not found → failed try"), "a fetch's 404: {stdout}");
    let (_, stdout, _) = run(&["crm-test", "--config", config.path(), "--id", "77"], &env);
    assert!(stdout.contains("find_by_identifier (crm.find_by_identifier)"), "the default line: {stdout}");
}

#[test]
fn usage_and_configuration_mistakes_exit_2() {
    let config = Config::new();
    let (out, _, stderr) = run(&["crm-test", "--config", config.path(), "--phone", "555"], &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not an E.164 number"), "{stderr}");
    let (out, _, stderr) = run(&["crm-test", "--config", config.path()], &[]);
    assert_eq!(out.status.code(), Some(2), "neither --phone nor --id: {stderr}");
    let (out, _, stderr) = run(&["crm-test", "--config", config.path(), "--id", "1", "--line", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let bad = std::env::temp_dir().join(format!("vouch-crm-test-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, TOML.replace("result = \"/ok\"", "result = \"/ok\"\nhash = \"md5\"")).unwrap();
    let (out, _, stderr) = run(&["crm-test", "--config", bad.to_str().unwrap(), "--id", "1"], &[]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("configuration error at `crm.verify.hash`"), "{stderr}");
}

#[test]
fn check_config_prints_each_action_as_the_request_it_would_send() {
    let config = Config::new();
    let (out, stdout, stderr) = run(
        &["check-config", config.path()],
        &[("VOUCH_CRM_URL", "https://crm.example.com/api"), ("VOUCH_CRM_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "crm.find_by_phone: GET https://crm.example.com/api/contacts/search?phone=%27%28555%29%20000-1111%27"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("crm.find_by_identifier: GET https://crm.example.com/api/contacts/search?account=12345678"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"body: {"kind":"pin","secret":"****"}"#), "{stdout}");
    assert!(stdout.contains("Authorization: Bearer ****"), "{stdout}");
    assert!(stdout.contains("attributes tier /tier, language /lang"), "{stdout}");
    assert!(!stdout.contains(TOKEN), "{stdout}");
}

/// `vouch serve` with configured actions, at trace level: an identifier
/// matching two customers is a WARN naming the action, a 404 on a search an
/// ERROR naming it, and neither the keyed date of birth nor the field the
/// CRM keeps reaches the logs.
#[tokio::test]
async fn serve_warns_naming_the_action_and_never_logs_the_compared_field() {
    use crate::support::{Serve, DEMO_TOKEN};
    use vouch::sim::{CallSpec, Phone, Scripted};
    const STORED: &str = "1906-12-09";
    const KEYED: [&str; 2] = ["01021990", "12091906"];
    let crm = Tiny::start(|seen| match seen.path.as_str() {
        "/members?number=1001" => json(r#"{"items":[{"id":"m1","name":"A"},{"id":"m2","name":"B"}]}"#),
        "/members?number=2002" => json(r#"{"items":[{"id":"m3","name":"Grace Hopper"}]}"#),
        "/members?number=4040" => Reply { status: 404, ..json("") },
        "/members/m3" => json(&format!(r#"{{"id":"m3","dob":"{STORED}"}}"#)),
        _ => json(r#"{"items":[]}"#),
    });
    let toml = r#"
[crm.find_by_identifier]
url = "/members?number={id}"
list = "/items"
id = "/id"
name = "/name"
[crm.verify]
mode = "compare"
url = "/members/{id}"
field = "/dob"
field_format = "date:YYYY-MM-DD"
keyed_format = "MMDDYYYY"
[lines.main]
caller_id_lookup = false
[lines.main.identifier]
min_digits = 4
max_digits = 8
[lines.main.verification]
factor = "dob"
length = 8
"#;
    let path = std::env::temp_dir().join(format!("vouch-crm-serve-{}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    let mut server = Serve::start(
        &["--config", path.to_str().unwrap()],
        &[("RUST_LOG", "trace"), ("VOUCH_CRM_URL", crm.url.as_str())],
    );
    let phone = Phone::new(&server.address, &server.public, DEMO_TOKEN);
    let calls = [
        vec!["1001#".to_string(), "2002#".into(), format!("{}#", KEYED[0]), format!("{}#", KEYED[1])],
        vec!["4040#".to_string()],
    ];
    for keys in &calls {
        let spec = CallSpec { from: "+15559990000".into(), ..CallSpec::default() };
        phone.place(&spec, &mut Scripted::new(keys.clone())).await.expect("call completes");
    }
    server.wait_for_lines("call handed on", calls.len(), Duration::from_secs(20));
    server.stop();
    let _ = std::fs::remove_file(&path);
    let logs = server.logs();
    let warn = logs.lines().find(|l| l.contains("not unique in this CRM")).unwrap_or_else(|| panic!("{logs}"));
    assert!(warn.contains("\"level\":\"WARN\"") && warn.contains("\"action\":\"crm.find_by_identifier\""), "{warn}");
    let error = logs.lines().find(|l| l.contains("404 to a search")).unwrap_or_else(|| panic!("{logs}"));
    assert!(
        error.contains("\"level\":\"ERROR\"") && error.contains("\"action\":\"crm.find_by_identifier\""),
        "{error}"
    );
    let found = crate::leaks::find_all(&logs, &KEYED);
    assert!(found.is_empty(), "keyed dates in the logs:\n{}", crate::leaks::report(&found));
    for secret in [STORED, "19061209", KEYED[0], KEYED[1]] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
    let seen = crm.requests();
    assert_eq!(seen.iter().filter(|s| s.path == "/members/m3").count(), 2, "one fetch per check, never cached");
    assert!(seen.iter().all(|s| KEYED.iter().all(|k| !s.path.contains(k))), "{seen:?}");
}

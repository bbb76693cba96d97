//! No keyed PIN and no caller number in anything Vouch hands out.
//!
//! "A test that runs every flow … and scans the logs, the database and every
//! URL Vouch produced for each keyed PIN and for unmasked identifiers."
//! `tests/cli/logs.rs` scans the real binary's logs and database file; this runs
//! every flow path in-process (caller ID and PIN, wrong PINs to the agent,
//! keyed account and PIN, silence, opting out at either prompt, malformed
//! entries, the sales line, the CRM failing, and each handoff variant) and
//! collects every URL Vouch produced: each URL the simulated Twilio
//! requested, and every URL inside every TwiML document (`action`, `url`,
//! `waitUrl`, `<Redirect>`, `<Play>`, `<Sip>`, the Task's and the
//! `<Parameter>`s' links). Each is percent-decoded, its query split, and
//! every base64url part of a value (the flow state, the handoff token's
//! header and parts) decoded, as JSON when it is and as bytes whatever it
//! is, and all of it searched. Nothing is decrypted: what a log of these
//! URLs holds is what is searched. Then the call records as the API serves
//! them, and the agent's screen pop. Each is searched with the suite's one
//! exact scanner (`tests/support/leaks.rs`).
//!
//! No URL names a customer either: no customer id or name is readable in
//! any URL, state or token (the state is sealed, the redirect's token is a
//! JWE). The SIP URI is the one exception: its `x-` headers go to the
//! business's own PBX and carry the context by design.

use crate::handoff::handoff_app;
use crate::helpers::*;
use crate::leaks;
use base64::Engine;
use vouch::flow::phone::mask;
use vouch::sim::{Agent, CallSpec, Transcript};

/// Keyed in these calls, right after other keys or alone: nobody's PIN and
/// no part of any demo identifier, so finding one anywhere is a leak.
const KEYED_PINS: [&str; 3] = ["9087", "7310", "6502"];
/// Other entries keyed that must not travel either: account numbers and
/// customer IDs nobody has, one too long to be any.
const KEYED_ENTRIES: [&str; 3] = ["55554444", "73106502", "65029087731"];
/// The right PINs keyed: substrings of demo identifiers (1234 of 12345678),
/// so they are looked for as whole values only.
const RIGHT_PINS: [&str; 3] = [ADA_PIN, GRACE_PIN, "5555"];
/// The callers' numbers without their `+` and country code.
const CALLER_DIGITS: [&str; 3] = ["5551230001", "5559990000", "7700900123"];
/// The demo customers' ids and surnames: none may be readable in a URL.
const CUSTOMERS: [&str; 11] = [
    "12345678", "87654321", "24681357", "1234567", "11112222", "Lovelace", "Hopper", "Brien", "Vaughan", "Turing",
    "Johnson",
];

const ZOE_PHONE: &str = "+447700900123";

fn all_needles() -> Vec<&'static str> {
    KEYED_PINS.iter().chain(&KEYED_ENTRIES).chain(&RIGHT_PINS).copied().collect()
}

#[test]
fn the_scan_finds_a_pin_inside_a_state_or_a_token_and_a_number_percent_encoded() {
    let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let public = "https://ivr.example.com";
    for (url, found) in [
        (format!("/voice/support/verify?state=k1.{}.mac", b64(r#"{"l":"support","s":"verify","p":"9087"}"#)), "9087"),
        (format!("https://app.example.com/x?token=h.{}.sig", b64(r#"{"sub":"CA1","pin":"7310"}"#)), "7310"),
        ("/voice/support/verify?state=x&Digits=6502".to_string(), "6502"),
        ("/hold?caller=%2B15551230001".to_string(), "5551230001"),
        ("sip:agent@pbx.example.com?x-caller=%2B15559990000".to_string(), "5559990000"),
    ] {
        let mut scan = Scan::default();
        scan.url(public, "test", &url);
        let got = scan.leaks();
        assert!(got.iter().any(|l| l.contains(found)), "{url}: {got:?}");
    }
    let mut scan = Scan::default();
    scan.url(
        public,
        "test",
        &format!("/voice/support/verify?state=k1.{}.mac", b64(r#"{"l":"support","s":"verify","e":1764019087}"#)),
    );
    assert_eq!((scan.leaks(), scan.states), (vec![], 1), "an expiry that happens to hold 9087 is not a leak");
    assert_eq!(scan.readable_states, 1, "a readable state is counted");
    // A customer, readable in a state, a token's header or part, a query or binary base64.
    for (url, found) in [
        (format!("/voice/support/verify?state=k1.{}.mac", b64(r#"{"c":{"id":"12345678"}}"#)), "12345678"),
        (format!("https://app.example.com/x?token={}..iv.ct.tag", b64(r#"{"alg":"dir","kid":"Hopper"}"#)), "Hopper"),
        (format!("https://app.example.com/x?token=h..iv.{}.tag", b64("\u{1}\u{2}Lovelace\u{3}")), "Lovelace"),
        ("https://app.example.com/x?customer_name=Ada%20Lovelace".to_string(), "Lovelace"),
        ("/whisper/CA1?customer_id=87654321".to_string(), "87654321"),
    ] {
        let mut scan = Scan::default();
        scan.url(public, "test", &url);
        let got = scan.leaks();
        assert!(got.iter().any(|l| l.starts_with("customer") && l.contains(found)), "{url}: {got:?}");
    }
    // A SIP URI's x- headers go to the business's PBX: the context is allowed there.
    let mut scan = Scan::default();
    scan.payload(public, "test", "sip:agent@pbx.example.com?x-customer-id=12345678&x-customer-name=Ada%20Lovelace");
    assert_eq!(scan.leaks(), Vec::<String>::new());
}

/// Everything Vouch handed out in some calls, decoded.
#[derive(Default)]
struct Scan {
    /// (where, text, whether it may name a customer): URLs and what decodes from them.
    url_texts: Vec<(String, String, bool)>,
    /// (where, text): whole TwiML documents.
    documents: Vec<(String, String)>,
    urls: usize,
    states: usize,
    /// States whose JSON could be read (none, once sealed).
    readable_states: usize,
    tokens: usize,
}

impl Scan {
    /// Collects one URL: as given, percent-decoded, each query name and
    /// value, and whatever any base64url part of a value decodes to.
    fn url(&mut self, public: &str, origin: &str, raw: &str) {
        self.collect(public, origin, raw, false);
    }

    /// Collects a URL whose context is meant for the business's own agent
    /// systems (a SIP URI's `x-` headers): it may name the customer.
    fn payload(&mut self, public: &str, origin: &str, raw: &str) {
        self.collect(public, origin, raw, true);
    }

    fn collect(&mut self, public: &str, origin: &str, raw: &str, names_customer: bool) {
        let raw = raw.trim();
        self.urls += 1;
        let absolute = if raw.starts_with('/') { format!("{public}{raw}") } else { raw.to_string() };
        let mut texts = vec![absolute.clone()];
        let plus_as_space = absolute.replace('+', " ");
        texts.push(percent_encoding::percent_decode_str(&plus_as_space).decode_utf8_lossy().into_owned());
        let parsed = url::Url::parse(&absolute).unwrap_or_else(|e| panic!("{origin}: {raw:?} is not a URL: {e}"));
        for (name, value) in parsed.query_pairs() {
            texts.push(name.to_string());
            texts.push(value.to_string());
            if name == "state" {
                self.states += 1;
            }
            if name == "token" {
                self.tokens += 1;
            }
            for part in value.split('.') {
                let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part) else { continue };
                texts.push(String::from_utf8_lossy(&bytes).into_owned());
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
                // The state's JSON names its line `l` and its step `s`.
                if name == "state" && json.get("l").is_some() && json.get("s").is_some() {
                    self.readable_states += 1;
                }
                texts.push(json.to_string());
            }
        }
        let origin = format!("{origin}: {raw}");
        self.url_texts.extend(texts.into_iter().map(|t| (origin.clone(), t, names_customer)));
    }

    /// Collects every URL of a call and every document it was answered with.
    fn transcript(&mut self, public: &str, flow: &str, t: &Transcript) {
        for (i, req) in t.requests.iter().enumerate() {
            let origin = format!("{flow}, request {i}");
            self.url(public, &format!("{origin} (requested)"), &req.url);
            assert_eq!(req.status, 200, "{origin}: {}", req.body);
            let root = vouch::sim::twiml::parse(&req.body).unwrap_or_else(|e| panic!("{origin}: {e:?}"));
            self.documents.push((origin.clone(), req.body.clone()));
            for node in root.walk() {
                for (name, value) in &node.attrs {
                    if name == "action" || (name.to_ascii_lowercase().ends_with("url")) {
                        self.url(public, &format!("{origin} <{} {name}>", node.name), value);
                    }
                }
                match node.name.as_str() {
                    "Redirect" | "Play" => self.url(public, &format!("{origin} <{}>", node.name), &node.text),
                    "Sip" => self.payload(public, &format!("{origin} <Sip>"), &node.text),
                    "Task" => {
                        let attrs: serde_json::Value = serde_json::from_str(&node.text).expect("Task JSON");
                        for value in attrs.as_object().expect("a JSON object").values() {
                            if let Some(link) = value.as_str().filter(|v| v.starts_with("http")) {
                                self.url(public, &format!("{origin} <Task>"), link);
                            }
                        }
                    }
                    "Parameter" => {
                        if let Some(link) = node.attr("value").filter(|v| v.starts_with("http")) {
                            self.url(public, &format!("{origin} <Parameter>"), link);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every leak found: keyed values anywhere, caller numbers in URLs.
    fn leaks(&self) -> Vec<String> {
        let mut out = Vec::new();
        let url_texts = self.url_texts.iter().map(|(origin, text, _)| (origin, text));
        for (origin, text) in url_texts.chain(self.documents.iter().map(|(o, t)| (o, t))) {
            for leak in leaks::find_all(text, &all_needles()) {
                out.push(format!("keyed {leak} in {origin:.300}"));
            }
        }
        for (origin, text, names_customer) in &self.url_texts {
            for digits in CALLER_DIGITS {
                if text.contains(digits) {
                    out.push(format!("caller number {digits} in {origin:.300}: {text:.400}"));
                }
            }
            for customer in CUSTOMERS.iter().filter(|_| !names_customer) {
                if text.contains(customer) {
                    out.push(format!("customer {customer} readable in {origin:.300}: {text:.400}"));
                }
            }
        }
        out
    }
}

/// One call of a flow, and what it is about.
struct Flow {
    name: &'static str,
    spec: CallSpec,
    keys: Vec<&'static str>,
}

fn flow(name: &'static str, from: &str, to: &str, keys: &[&'static str]) -> Flow {
    Flow {
        name,
        spec: CallSpec { from: from.into(), to: to.into(), call_sid: Some(call_sid()), ..CallSpec::default() },
        keys: keys.to_vec(),
    }
}

/// Reads a call back through the API and the screen pop, and returns what
/// either shows that it should not.
async fn read_back(app: &TestApp, flow: &str, sid: &str, from: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (status, record) = app.api_call(sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{flow}: {record}");
    assert_eq!(record["caller"].as_str(), Some(mask(from).as_str()), "{flow}: the caller is masked");
    if from.starts_with('+') {
        assert!(record["caller"].as_str().unwrap().contains("****"), "{flow}: {}", record["caller"]);
    }
    // The record as the API serves it: a keyed value would be a string (or
    // a carrying field); its numbers are times, durations and counts.
    let text = record.to_string();
    for leak in leaks::find_all(&text, &all_needles()) {
        out.push(format!("{flow}: keyed {leak} in the API's record"));
    }
    for digits in CALLER_DIGITS {
        if text.contains(digits) {
            out.push(format!("{flow}: caller number {digits} in the API's record: {text}"));
        }
    }
    let page = app
        .http
        .get(format!("{}/agent/calls/{sid}", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the screen pop");
    assert_eq!(page.status(), 200, "{flow}: the screen pop");
    let html = page.text().await.unwrap();
    for leak in leaks::find_all(&html, &all_needles()) {
        out.push(format!("{flow}: keyed {leak} in the screen pop"));
    }
    for digits in CALLER_DIGITS {
        if html.contains(digits) {
            out.push(format!("{flow}: caller number {digits} in the screen pop"));
        }
    }
    out
}

#[tokio::test]
async fn no_keyed_pin_or_caller_number_in_any_url_twiml_record_screen_pop_or_database_row_of_any_flow() {
    // Many wrong PINs go to Ada here: keep the lockout out of the way (it
    // has tests of its own), so the CRM-failure paths below are reached.
    let toml = format!("{}\n[security]\nlockout_failures = 1000\n", vouch::config::DEMO_CONFIG);
    let mut app = spawn_with(Options { toml, ..Options::default() }).await;
    let mut scan = Scan::default();
    let mut found = Vec::new();
    let (ada, stranger, support, sales) = (ADA_PHONE, STRANGER_PHONE, SUPPORT_NUMBER, SALES_NUMBER);
    let flows = [
        flow("caller ID, a wrong PIN, then the right one", ada, support, &["9087#", "1234#"]),
        flow("caller ID, four wrong PINs", ada, support, &["9087#", "7310#", "6502#", "9087#"]),
        flow("a keyed account number and PIN", stranger, support, &["87654321#", "7310#", "4321#"]),
        flow(
            "an unknown account number, a known one, a wrong PIN, silence",
            stranger,
            support,
            &["55554444#", "87654321#", "6502#", "", "", ""],
        ),
        flow("silence at the PIN prompt", ada, support, &[]),
        flow("silence at the account prompt", stranger, support, &[]),
        flow("opting out at the account prompt", stranger, support, &["*"]),
        flow("opting out at the PIN prompt", ada, support, &["*#"]),
        flow("a wrong PIN, then opting out", ada, support, &["6502#", "*#"]),
        // PIN and account Gathers stop at 4 and 8 digits: malformed means short.
        flow("malformed PINs", ada, support, &["90#", "#", "9087#", "65#"]),
        flow("malformed account numbers", stranger, support, &["12#", "6502#", "#", "9087#"]),
        flow("the sales line, malformed IDs", stranger, sales, &["65029087731#", "731#", "9087#"]),
        flow("a withheld number", "anonymous", support, &["87654321#", "9087#", "4321#"]),
        flow("the sales line, a keyed customer ID", stranger, sales, &["24681357#"]),
        flow("the sales line, an unknown ID, then silence", stranger, sales, &["73106502#", "", ""]),
        flow("Zoë, by caller ID, a wrong PIN then hers", ZOE_PHONE, support, &["7310#", "5555#"]),
    ];
    for f in &flows {
        let t = app.call_spec(&f.spec, &f.keys).await;
        scan.transcript(&app.public, f.name, &t);
        found.extend(read_back(&app, f.name, &t.call_sid, &f.spec.from).await);
    }
    // The CRM fails: at the PIN (Ada's number is cached from the calls
    // above), and at the account number.
    app.crm().set_mode(CrmMode::Status(500));
    for f in [
        flow("the CRM down at the PIN", ada, support, &["6502#"]),
        flow("the CRM down at the account number", stranger, support, &["87654321#", "7310#"]),
    ] {
        let t = app.call_spec(&f.spec, &f.keys).await;
        assert!(t.said().contains("can't look up your details"), "{}: {}", f.name, t.said());
        scan.transcript(&app.public, f.name, &t);
        found.extend(read_back(&app, f.name, &t.call_sid, &f.spec.from).await);
    }
    app.crm().set_mode(CrmMode::Normal);

    // The keyed PINs did reach the CRM, where they belong, so their absence
    // elsewhere means something.
    let verified: String = app.crm().verify_bodies.lock().unwrap().join("\n");
    for pin in KEYED_PINS {
        assert!(verified.contains(&format!("\"{pin}\"")), "{pin} was checked with the CRM: {verified}");
    }
    // The decoding found what it looks into.
    assert!(scan.urls > 100, "{} URLs", scan.urls);
    assert!(scan.states > 20, "flow states scanned: {}", scan.states);
    assert_eq!(scan.readable_states, 0, "every flow state is sealed");
    assert!(scan.tokens >= 3, "handoff tokens scanned: {}", scan.tokens);
    found.extend(scan.leaks());

    // And the database file, once every record is written (tests/cli/logs.rs
    // checks the real binary's; this one saw every flow above).
    app.stop().await;
    let file = app.database_url.strip_prefix("sqlite://").expect("a SQLite database").to_string();
    let db: Vec<u8> =
        ["", "-wal"].iter().flat_map(|ext| std::fs::read(format!("{file}{ext}")).unwrap_or_default()).collect();
    assert!(db.windows(8).any(|w| w == b"24681357"), "the records are in {file}");
    for needle in all_needles() {
        if let Some(leak) = leaks::bytes_leak(&db, needle) {
            found.push(format!("keyed {leak} in the database file"));
        }
    }
    let db = String::from_utf8_lossy(&db);
    for digits in CALLER_DIGITS {
        if db.contains(digits) {
            found.push(format!("caller number {digits} in the database file"));
        }
    }
    assert!(found.is_empty(), "{} leaks:\n{}", found.len(), found.join("\n"));
}

#[tokio::test]
async fn no_keyed_pin_or_caller_number_in_any_handoff_variant() {
    let app = handoff_app().await;
    let mut scan = Scan::default();
    let mut found = Vec::new();
    let wrong_then_right = ["9087#", "1234#"];
    let calls: [(&str, &str, &str, Agent, &[&str]); 10] = [
        ("a redirect to another app", "redirect", ADA_PHONE, Agent::Answers, &wrong_then_right),
        ("a TaskRouter enqueue", "flex", ADA_PHONE, Agent::Answers, &wrong_then_right),
        ("a whispered Dial", "phone", ADA_PHONE, Agent::Answers, &wrong_then_right),
        ("an unanswered Dial, back to the queue", "phone", ADA_PHONE, Agent::NoAnswer, &wrong_then_right),
        (
            "four wrong PINs, to the agent queue",
            "phone",
            ADA_PHONE,
            Agent::Answers,
            &["9087#", "7310#", "6502#", "9087#"],
        ),
        ("opting out at the PIN, a Dial", "phone", ADA_PHONE, Agent::Answers, &["6502#", "*#"]),
        ("opting out at the account number, a Dial", "phone", STRANGER_PHONE, Agent::Busy, &["*"]),
        ("a Voice SDK client", "client", ADA_PHONE, Agent::Answers, &wrong_then_right),
        ("a SIP agent", "sip", ZOE_PHONE, Agent::Answers, &["7310#", "5555#"]),
        ("a keyed account, redirected", "redirect", STRANGER_PHONE, Agent::Answers, &["87654321#", "7310#", "4321#"]),
    ];
    for (name, line, from, agent, keys) in calls {
        let spec = CallSpec {
            from: from.into(),
            line: Some(line.into()),
            agent,
            call_sid: Some(call_sid()),
            ..CallSpec::default()
        };
        let t = app.call_spec(&spec, keys).await;
        scan.transcript(&app.public, name, &t);
        found.extend(read_back(&app, name, &t.call_sid, from).await);
    }
    // The two redirects, each seen once (the simulated Twilio does not follow them off-site).
    assert!(scan.tokens >= 2, "handoff tokens scanned: {}", scan.tokens);
    assert!(scan.states > 10, "flow states scanned: {}", scan.states);
    assert_eq!(scan.readable_states, 0, "every flow state is sealed");
    found.extend(scan.leaks());
    assert!(found.is_empty(), "{} leaks:\n{}", found.len(), found.join("\n"));
}

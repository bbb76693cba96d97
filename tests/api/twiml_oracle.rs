//! Cross-checks every handoff document Vouch writes against the reference:
//! the same response built with the official twilio-python helper
//! (`twilio.twiml.voice_response.VoiceResponse`), all in one `python3`
//! process, compared structurally (element names, attributes, text).
//! Values a Python app would compute itself (the redirect's query, the SIP
//! headers' encoding) are computed there; signed values are taken from ours.
//!
//! Without `pip install twilio` the test passes with a `SKIPPED` line on
//! stderr, unless `VOUCH_REQUIRE_ORACLES=1` (CI) makes that a failure.

use crate::handoff::{call_line, handoff_app, verified_ada, WORKFLOW};
use crate::helpers::*;
use serde_json::{json, Value};
use std::process::Command;
use vouch::sim::twiml::{self, Node};
use vouch::sim::{Agent, Transcript};

const BUILDER: &str = r#"
import json, sys
from urllib.parse import urlencode, quote
from twilio.twiml.voice_response import VoiceResponse

def value(a):
    if isinstance(a, dict) and "urlencode" in a:
        base, pairs = a["urlencode"]
        return base + ("&" if "?" in base else "?") + urlencode([tuple(p) for p in pairs])
    if isinstance(a, dict) and "sip_headers" in a:
        base, pairs = a["sip_headers"]
        return base + "?" + "&".join(k + "=" + quote(v, safe="") for k, v in pairs)
    return a

def build(parent, ops):
    for op in ops:
        kwargs = {k: value(v) for k, v in op.get("kwargs", {}).items()}
        child = getattr(parent, op["verb"])(*[value(a) for a in op.get("args", [])], **kwargs)
        build(child, op.get("children", []))

with open(sys.argv[1], encoding="utf-8") as fh:
    cases = json.load(fh)
out = []
for case in cases:
    r = VoiceResponse()
    build(r, case)
    out.append(str(r))
json.dump(out, sys.stdout)
"#;

/// Whether python3 can import `module`; prints `SKIPPED` (or fails under
/// `VOUCH_REQUIRE_ORACLES=1`) when it cannot.
pub fn python_has(module: &str, test: &str) -> bool {
    let ok =
        Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if !ok {
        let why = format!("{test}: python {module} library not installed (pip install twilio)");
        assert!(
            std::env::var("VOUCH_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{why}; VOUCH_REQUIRE_ORACLES=1 makes this a failure"
        );
        // Straight to stderr, past the test harness's capture.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("SKIPPED {why}\n").as_bytes());
    }
    ok
}

/// Runs a Python script with a JSON file argument; returns its stdout.
pub fn run_python(script: &str, input: &Value, extra_args: &[&str]) -> String {
    let path = std::env::temp_dir().join(format!("vouch-oracle-{}-{}.json", std::process::id(), rand_suffix()));
    std::fs::write(&path, input.to_string()).expect("write oracle input");
    let out = Command::new("python3").arg("-c").arg(script).arg(&path).args(extra_args).output().expect("run python3");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn rand_suffix() -> String {
    call_sid()[2..10].to_string()
}

fn op(verb: &str, args: Value, kwargs: Value, children: Vec<Value>) -> Value {
    json!({ "verb": verb, "args": args, "kwargs": kwargs, "children": children })
}

/// Sorted attributes, trimmed text: the structure both sides must share.
fn normal(n: &Node) -> Node {
    let mut attrs = n.attrs.clone();
    attrs.sort();
    Node {
        name: n.name.clone(),
        attrs,
        text: n.text.trim().to_string(),
        children: n.children.iter().map(normal).collect(),
    }
}

/// The first document in the call, at a URL containing `url_part`, that has a verb named `verb`.
fn doc(t: &Transcript, url_part: &str, verb: &str) -> Node {
    t.requests
        .iter()
        .filter(|r| r.url.contains(url_part))
        .map(|r| twiml::parse(&r.body).expect("valid TwiML"))
        .find(|d| d.children.iter().any(|c| c.name == verb))
        .unwrap_or_else(|| panic!("no <{verb}> at {url_part}"))
}

fn attr<'a>(d: &'a Node, path: &[usize], name: &str) -> &'a str {
    let node = path.iter().fold(d, |n, i| &n.children[*i]);
    node.attr(name).unwrap_or_else(|| panic!("no {name} on <{}>", node.name))
}

#[tokio::test]
async fn every_handoff_document_matches_what_twilio_python_builds() {
    if !python_has("twilio", "twiml_oracle") {
        return;
    }
    let app = handoff_app().await;
    let verified = |kw: Value| op("say", json!(["Thank you, you're verified."]), kw, vec![]);
    let amy = json!({"voice": "Polly.Amy", "language": "en-GB"});
    let ada_context = |line: &str| {
        json!([
            ["customer_id", ADA_ID],
            ["customer_name", "Ada Lovelace"],
            ["idv_status", "verified"],
            ["idv_method", "ani"],
            ["service_line", line],
            ["opted_out", "false"],
            ["ani_attestation", "none"],
            ["lockout", "false"]
        ])
    };
    let mut cases: Vec<(&str, Node, Value)> = Vec::new();

    // A redirect: the customer only in the encrypted token by default, in
    // the query too on a line with `context = "plain"`.
    for (line, skip) in [("redirect", 2), ("plain", 0)] {
        let t = verified_ada(&app, line).await;
        let d = doc(&t, "/verify", "Redirect");
        let token = query_of(&d.children[1].text)["token"].clone();
        let mut pairs: Vec<Value> = ada_context(line).as_array().unwrap()[skip..].to_vec();
        pairs.push(json!(["token", token]));
        let url = json!({"urlencode": ["https://self.example.com/ivr?src=vouch", pairs]});
        cases.push((
            if skip == 0 { "plain redirect" } else { "redirect" },
            d,
            json!([verified(json!({})), op("redirect", json!([url]), json!({"method": "POST"}), vec![])]),
        ));
    }

    let t = verified_ada(&app, "flex").await;
    let d = doc(&t, "/verify", "Enqueue");
    let task = op("task", json!([d.children[1].children[0].text]), json!({"priority": 5, "timeout": 600}), vec![]);
    let kw = json!({"workflow_sid": WORKFLOW, "wait_url": format!("{}/hold", app.public), "wait_url_method": "POST"});
    cases.push(("enqueue with a Task", d, json!([verified(json!({})), op("enqueue", json!([null]), kw, vec![task])])));
    let hold_url = format!("{}/static/hold.wav", app.public);
    let hold = json!([
        op("say", json!(["Thanks for holding. An agent will be with you shortly."]), json!({}), vec![]),
        op("play", json!([hold_url]), json!({"loop": 3}), vec![])
    ]);
    cases.push(("hold", doc(&t, "/hold", "Play"), hold));

    let t = verified_ada(&app, "phone").await;
    let whisper_url = format!("{}/whisper/{}", app.public, t.call_sid);
    let action = format!("{}/voice/phone/dialed", app.public);
    let number = op("number", json!(["+15551112222"]), json!({"url": whisper_url, "method": "POST"}), vec![]);
    let kw = json!({"action": action, "method": "POST", "timeout": 20, "caller_id": "+15005550006", "answer_on_bridge": true});
    cases.push((
        "dial number",
        doc(&t, "/verify", "Dial"),
        json!([verified(amy.clone()), op("dial", json!([]), kw, vec![number])]),
    ));
    let whisper =
        op("say", json!(["Verified caller, Ada Lovelace, account number ending 5 6 7 8."]), amy.clone(), vec![]);
    cases.push(("whisper", doc(&t, "/whisper/", "Say"), json!([whisper])));
    cases.push((
        "dial action after a bridged call",
        doc(&t, "/dialed", "Hangup"),
        json!([op("hangup", json!([]), json!({}), vec![])]),
    ));

    let t = call_line(&app, "phone", ADA_PHONE, Agent::Busy, &[&format!("{ADA_PIN}#")]).await;
    let sorry = "Sorry, that agent couldn't take your call. Please hold for the next available agent.";
    let kw = json!({"wait_url": format!("{}/hold", app.public), "wait_url_method": "POST"});
    let fallback =
        json!([op("say", json!([sorry]), amy.clone(), vec![]), op("enqueue", json!(["phone-agents"]), kw, vec![])]);
    cases.push(("dial action falling back to the queue", doc(&t, "/dialed", "Enqueue"), fallback));

    let t = verified_ada(&app, "client").await;
    let d = doc(&t, "/verify", "Dial");
    let pop = attr(&d, &[1, 0, 9], "value").to_string();
    let mut children = vec![op("identity", json!(["agent_ada"]), json!({}), vec![])];
    for pair in ada_context("client").as_array().unwrap().iter().chain([&json!(["screen_pop_url", pop])]) {
        children.push(op("parameter", json!([]), json!({"name": pair[0], "value": pair[1]}), vec![]));
    }
    let whisper_url = format!("{}/whisper/{}", app.public, t.call_sid);
    let client = op("client", json!([]), json!({"url": whisper_url, "method": "POST"}), children);
    let kw =
        json!({"action": format!("{}/voice/client/dialed", app.public), "method": "POST", "answer_on_bridge": true});
    cases.push(("dial client", d, json!([verified(json!({})), op("dial", json!([]), kw, vec![client])])));

    let t = call_line(&app, "sip", "+447700900123", Agent::Answers, &["5555#"]).await;
    let headers = json!([
        "sip:agent@pbx.example.com",
        [
            ["x-idv-status", "verified"],
            ["x-lockout", "false"],
            ["x-customer-id", "24681357"],
            ["x-idv-method", "ani"],
            ["x-service-line", "sip"],
            ["x-opted-out", "false"],
            ["x-customer-name", "Zoë O'Brien & <Sons> \"Ltd\""],
            ["x-ani-attestation", "none"]
        ]
    ]);
    let sip = op("sip", json!([{"sip_headers": headers}]), json!({}), vec![]);
    let kw = json!({"action": format!("{}/voice/sip/dialed", app.public), "method": "POST", "answer_on_bridge": true});
    cases.push((
        "dial SIP",
        doc(&t, "/verify", "Dial"),
        json!([verified(json!({})), op("dial", json!([]), kw, vec![sip])]),
    ));

    let params = [("DequeingCallSid".to_string(), call_sid())];
    let mut p = call_params(&t.call_sid, ADA_PHONE, SUPPORT_NUMBER);
    p.extend(params);
    let r = app.post_form("/queue/connect", &p, Some(AUTH_TOKEN)).await;
    let connect = json!([op("say", json!(["Thanks for waiting. Connecting you now."]), json!({}), vec![])]);
    cases.push(("queue connect", twiml::parse(&r.body).expect("TwiML"), connect));

    let input = Value::Array(cases.iter().map(|(_, _, ops)| ops.clone()).collect());
    let built: Vec<String> = serde_json::from_str(&run_python(BUILDER, &input, &[])).expect("JSON from python");
    assert_eq!(built.len(), cases.len());
    for ((name, ours, _), theirs) in cases.iter().zip(&built) {
        let theirs = twiml::parse(theirs).unwrap_or_else(|e| panic!("{name}: twilio-python's document: {e}"));
        assert_eq!(normal(ours), normal(&theirs), "{name}: ours (left) differs from twilio-python's (right)");
    }
}

/// Runs after the token example in docs/handoffs.md: checks a real token with it, and
/// checks that it refuses the same token for another line, call or key.
const README_DRIVER: &str = r#"
import json, sys
with open(sys.argv[1], encoding="utf-8") as fh:
    c = json.load(fh)
claims = vouched_context(c["token"], c["sid"], c["line"], c["secret"])
refused = []
for args in [(c["token"], c["sid"], "flex", c["secret"]), (c["token"], "CA" + "0" * 32, c["line"], c["secret"]),
             (c["token"], c["sid"], c["line"], c["secret"][::-1])]:
    try:
        vouched_context(*args)
        refused.append(False)
    except jwt.InvalidTokenError:
        refused.append(True)
json.dump({"claims": claims, "refused": refused}, sys.stdout)
"#;

#[tokio::test]
async fn the_handoffs_doc_token_example_checks_a_real_token_with_pyjwt() {
    if !python_has("jwt", "handoffs_doc_token_example") {
        return;
    }
    let doc = include_str!("../../docs/handoffs.md");
    let start = doc.find("```python\nimport jwt").expect("the token example in docs/handoffs.md") + "```python\n".len();
    let example = &doc[start..start + doc[start..].find("```").expect("end of the example")];
    assert!(example.lines().count() <= 10, "a ten-line example:\n{example}");
    let app = handoff_app().await;
    // The JWT example is for a line with `context = "plain"` (the default's
    // JWE example is run by `handoff.rs`).
    let t = verified_ada(&app, "plain").await;
    let vouch::sim::End::RedirectedAway { url } = &t.end else { panic!("{:?}", t.end) };
    let input = json!({"token": query_of(url)["token"], "sid": t.call_sid, "line": "plain", "secret": HANDOFF_SECRET});
    let out: Value = serde_json::from_str(&run_python(&format!("{example}\n{README_DRIVER}"), &input, &[])).unwrap();
    assert_eq!(out["claims"]["idv_status"], "verified");
    assert_eq!(out["claims"]["customer_name"], "Ada Lovelace");
    assert_eq!(out["claims"]["sub"], t.call_sid.as_str());
    assert_eq!(out["refused"], json!([true, true, true]), "another line, another call, another key");
}

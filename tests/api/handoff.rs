//! Whole calls through every handoff variant: a redirect with an encrypted
//! token the app can open (and one opting in to a plain query and a JWT), a
//! TaskRouter enqueue with the screen pop, Dials to a number (whispered), a
//! client (parameters) and a SIP URI (headers), an unanswered Dial falling
//! back to the queue, and a line that keeps the customer's name out of all
//! of them.

use crate::helpers::*;
use std::collections::HashMap;
use vouch::sim::twiml::Node;
use vouch::sim::{Agent, CallSpec, End, Heard, Transcript};

pub const WORKFLOW: &str = "WW0123456789abcdef0123456789abcdef";
/// Ada, verified by caller ID and PIN, is handed on by each line's `next`.
pub const HANDOFF_TOML: &str = r#"
default_line = "redirect"

[lines.redirect.next]
type = "redirect"
url = "https://self.example.com/ivr?src=vouch"

[lines.plain.next]
type = "redirect"
url = "https://self.example.com/ivr?src=vouch"
context = "plain"

[lines.noname]
handoff_customer_name = false
[lines.noname.next]
type = "dial_client"
identity = "agent_ada"
[lines.noname.agent]
type = "enqueue"
queue = "noname"
workflow_sid = "WW0123456789abcdef0123456789abcdef"
[lines.noname.opt_out]
type = "dial_sip"
uri = "sip:agent@pbx.example.com"

[lines.flex.next]
type = "enqueue"
queue = "flex"
workflow_sid = "WW0123456789abcdef0123456789abcdef"
task_priority = 5
task_timeout_secs = 600
wait_url = "/hold"

[lines.phone]
voice = "Polly.Amy"
language = "en-GB"
[lines.phone.next]
type = "dial_number"
number = "+15551112222"
caller_id = "+15005550006"
timeout_secs = 20
[lines.phone.agent]
type = "enqueue"
queue = "phone-agents"
wait_url = "/hold"
[lines.phone.opt_out]
type = "dial_number"
number = "+15551113333"

[lines.client.next]
type = "dial_client"
identity = "agent_ada"

[lines.sip.next]
type = "dial_sip"
uri = "sip:agent@pbx.example.com"
whisper = false
"#;

pub async fn handoff_app() -> TestApp {
    spawn_with(Options { toml: HANDOFF_TOML.to_string(), ..Options::default() }).await
}

/// A call from `from` to `/voice/{line}`.
pub async fn call_line(app: &TestApp, line: &str, from: &str, agent: Agent, keys: &[&str]) -> Transcript {
    let spec = CallSpec { from: from.into(), line: Some(line.into()), agent, ..CallSpec::default() };
    app.call_spec(&spec, keys).await
}

/// Ada, verified (caller ID, then her PIN).
pub async fn verified_ada(app: &TestApp, line: &str) -> Transcript {
    call_line(app, line, ADA_PHONE, Agent::Answers, &[&format!("{ADA_PIN}#")]).await
}

fn dialed(t: &Transcript) -> &Node {
    match &t.end {
        End::Dialed(node) => node,
        other => panic!("expected a Dial, got {other:?}"),
    }
}

fn said(heard: &[Heard]) -> Vec<&str> {
    heard
        .iter()
        .filter_map(|h| match h {
            Heard::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Checks a signed screen pop link for call `sid`.
fn assert_screen_pop(app: &TestApp, link: &str, sid: &str) {
    let path = format!("/agent/calls/{sid}");
    assert!(link.starts_with(&format!("{}{path}?", app.public)), "{link}");
    let q = query_of(link);
    let exp: u64 = q["exp"].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signer = vouch::keyring::links::ScreenPopLinks::new(&vouch::keyring::Keyring::single(STATE_SECRET), 0);
    assert!(signer.verify(&path, exp, &q["sig"], now), "the link verifies with the state key");
    assert!(!signer.verify("/agent/calls/CA0", exp, &q["sig"], now), "and only for its call");
    let ttl = vouch::keyring::links::SCREEN_POP_TTL_SECS;
    assert!((ttl - 3600..=ttl + 5).contains(&(exp - now)), "valid for a working shift: {}", exp - now);
}

/// Decrypts a compact JWE (`dir`, `A256GCM`, the key SHA-256 of the handoff
/// secret) as RFC 7516 says, with nothing of Vouch's: its header and claims.
pub fn decrypt_jwe(token: &str, secret: &str) -> Result<(serde_json::Value, serde_json::Value), String> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use base64::Engine;
    use sha2::Digest;
    let b64 = |p: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string());
    let parts: Vec<&str> = token.split('.').collect();
    let [header, key, iv, ciphertext, tag] = parts.as_slice() else { return Err(format!("{} parts", parts.len())) };
    if !key.is_empty() {
        return Err("dir carries no encrypted key".into());
    }
    let protected: serde_json::Value = serde_json::from_slice(&b64(header)?).map_err(|e| e.to_string())?;
    let key: [u8; 32] = sha2::Sha256::digest(secret.as_bytes()).into();
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    let mut sealed = b64(ciphertext)?;
    sealed.extend(b64(tag)?);
    let iv = b64(iv)?;
    let plain = cipher
        .decrypt(aes_gcm::Nonce::from_slice(&iv), Payload { msg: &sealed, aad: header.as_bytes() })
        .map_err(|_| "does not decrypt".to_string())?;
    Ok((protected, serde_json::from_slice(&plain).map_err(|e| e.to_string())?))
}

#[tokio::test]
async fn a_redirect_carries_the_customer_only_in_an_encrypted_token() {
    let app = handoff_app().await;
    let t = verified_ada(&app, "redirect").await;
    let End::RedirectedAway { url } = &t.end else { panic!("{:?}", t.end) };
    let q = query_of(url);
    let names: Vec<String> = url::Url::parse(url).unwrap().query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(
        names,
        ["src", "idv_status", "idv_method", "service_line", "opted_out", "ani_attestation", "lockout", "token"]
    );
    assert!(!url.contains(ADA_ID) && !url.contains("Ada") && !url.contains("Lovelace"), "{url}");
    let (header, claims) = decrypt_jwe(&q["token"], HANDOFF_SECRET).expect("a JWE under SHA-256 of the secret");
    assert_eq!(header, serde_json::json!({"alg": "dir", "enc": "A256GCM", "typ": "JWT"}));
    assert_eq!(
        (claims["customer_id"].as_str(), claims["customer_name"].as_str()),
        (Some(ADA_ID), Some("Ada Lovelace"))
    );
    assert_eq!((claims["idv_status"].as_str(), claims["aud"].as_str()), (Some("verified"), Some("redirect")));
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("vouch"), Some(t.call_sid.as_str())));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300, "five minutes by default");
    for name in ["idv_status", "idv_method", "service_line", "ani_attestation"] {
        assert_eq!(claims[name].as_str(), Some(q[name].as_str()), "{name} in the token matches the query");
    }
    assert!(decrypt_jwe(&q["token"], "another-secret-0123456789abcdef0123").is_err(), "only the secret opens it");
    assert!(!q.values().any(|v| v == ADA_PIN), "no PIN in the URL");
    assert!(!claims.as_object().unwrap().values().any(|v| v == ADA_PIN), "nor in the token");
    // Every token is new: a second call's differs though the claims but `sub` and the times match.
    let again = verified_ada(&app, "redirect").await;
    let End::RedirectedAway { url: again } = &again.end else { panic!() };
    assert_ne!(query_of(again)["token"], q["token"]);
}

/// Runs after the JWE example in docs/handoffs.md: opens a real token with it, and
/// checks that it refuses the same token for another line, call or key.
const README_JWE_DRIVER: &str = r#"
import sys
from joserfc.errors import JoseError
with open(sys.argv[1], encoding="utf-8") as fh:
    c = json.load(fh)
claims = vouched_context(c["token"], c["sid"], c["line"], c["secret"])
refused = []
for args in [(c["token"], c["sid"], "flex", c["secret"]), (c["token"], "CA" + "0" * 32, c["line"], c["secret"]),
             (c["token"], c["sid"], c["line"], c["secret"][::-1])]:
    try:
        vouched_context(*args)
        refused.append(False)
    except JoseError:
        refused.append(True)
json.dump({"claims": claims, "refused": refused}, sys.stdout)
"#;

#[tokio::test]
async fn the_handoffs_doc_example_opens_vouchs_encrypted_token_with_an_independent_jose_library() {
    if !python_has_joserfc() {
        return;
    }
    let doc = include_str!("../../docs/handoffs.md");
    let start =
        doc.find("```python\nimport hashlib").expect("the JWE example in docs/handoffs.md") + "```python\n".len();
    let example = &doc[start..start + doc[start..].find("```").expect("end of the example")];
    let app = handoff_app().await;
    let t = verified_ada(&app, "redirect").await;
    let End::RedirectedAway { url } = &t.end else { panic!("{:?}", t.end) };
    let input = serde_json::json!({"token": query_of(url)["token"], "sid": t.call_sid, "line": "redirect", "secret": HANDOFF_SECRET});
    let path = std::env::temp_dir().join(format!("vouch-jwe-oracle-{}.json", &t.call_sid));
    std::fs::write(&path, input.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", &format!("{example}\n{README_JWE_DRIVER}")])
        .arg(&path)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "joserfc refused Vouch's token: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["claims"]["customer_id"].as_str(), v["claims"]["idv_status"].as_str()),
        (Some(ADA_ID), Some("verified"))
    );
    assert_eq!(v["claims"]["customer_name"], "Ada Lovelace");
    assert_eq!(v["claims"]["sub"], t.call_sid.as_str());
    assert_eq!(v["refused"], serde_json::json!([true, true, true]), "another line, another call, another key");
}

/// Whether python3 has joserfc; prints `SKIPPED` (or fails under
/// `VOUCH_REQUIRE_ORACLES=1`) when it has not.
fn python_has_joserfc() -> bool {
    let ok =
        std::process::Command::new("python3").args(["-c", "import joserfc"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        let why = "JWE oracle: python joserfc library not installed (pip install joserfc)";
        assert!(
            std::env::var("VOUCH_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{why}; VOUCH_REQUIRE_ORACLES=1 makes this a failure"
        );
        // Straight to stderr, past the test harness's capture.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("SKIPPED {why}\n").as_bytes());
    }
    ok
}

#[tokio::test]
async fn a_line_may_opt_in_to_a_plain_query_and_a_standard_jwt() {
    let app = handoff_app().await;
    let t = verified_ada(&app, "plain").await;
    let End::RedirectedAway { url } = &t.end else { panic!("{:?}", t.end) };
    assert!(url.starts_with("https://self.example.com/ivr?src=vouch&customer_id="), "{url}");
    let q = query_of(url);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["plain"]);
    v.set_issuer(&["vouch"]);
    let key = jsonwebtoken::DecodingKey::from_secret(HANDOFF_SECRET.as_bytes());
    let claims = jsonwebtoken::decode::<serde_json::Value>(&q["token"], &key, &v).expect("token verifies").claims;
    for name in ["customer_id", "customer_name", "idv_status", "idv_method", "service_line"] {
        assert_eq!(claims[name].as_str(), Some(q[name].as_str()), "{name} in the token matches the query");
    }
    assert_eq!((claims["customer_id"].as_str(), claims["idv_status"].as_str()), (Some(ADA_ID), Some("verified")));
    assert_eq!(claims["opted_out"], false);
    assert_eq!(claims["sub"], t.call_sid.as_str(), "bound to the call");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300, "five minutes by default");
    v.set_audience(&["flex"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&q["token"], &key, &v).is_err(), "another line's audience");
    assert_eq!(q["customer_name"], "Ada Lovelace");
    assert!(!q.values().any(|v| v == ADA_PIN), "no PIN in the URL");
    assert!(!claims.as_object().unwrap().values().any(|v| v == ADA_PIN), "nor in the token");
}

#[tokio::test]
async fn a_taskrouter_enqueue_carries_the_context_and_a_signed_screen_pop_and_holds_with_music() {
    let app = handoff_app().await;
    let t = verified_ada(&app, "flex").await;
    let End::Enqueued { queue, workflow_sid, task, wait_url } = &t.end else { panic!("{:?}", t.end) };
    // With a workflow, TaskRouter picks the queue: the Enqueue holds only the Task.
    assert_eq!((queue.as_str(), workflow_sid.as_deref()), ("", Some(WORKFLOW)));
    let task = task.as_deref().expect("a Task");
    assert!(task.len() <= 1024, "under Flex's limit");
    let attrs: serde_json::Value = serde_json::from_str(task).unwrap();
    assert_eq!(
        (attrs["idv_status"].as_str(), attrs["customer_name"].as_str()),
        (Some("verified"), Some("Ada Lovelace"))
    );
    assert_eq!((attrs["service_line"].as_str(), attrs["idv_method"].as_str()), (Some("flex"), Some("ani")));
    assert_screen_pop(&app, attrs["screen_pop_url"].as_str().expect("screen_pop_url"), &t.call_sid);
    assert_eq!(wait_url.as_deref(), Some(format!("{}/hold", app.public).as_str()));
    assert_eq!(said(&t.hold), ["Thanks for holding. An agent will be with you shortly."]);
    assert_eq!(t.hold.last(), Some(&Heard::Play { url: format!("{}/static/hold.wav", app.public) }));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert!(record["queue"].is_null() && record["agent"].is_null(), "TaskRouter's choice, unseen: {record}");
}

#[tokio::test]
async fn a_dialled_agent_hears_the_whisper_before_the_caller_is_bridged() {
    let app = handoff_app().await;
    let t = verified_ada(&app, "phone").await;
    let dial = dialed(&t);
    assert_eq!(dial.attr("action"), Some(format!("{}/voice/phone/dialed", app.public).as_str()));
    assert_eq!((dial.attr("timeout"), dial.attr("callerId")), (Some("20"), Some("+15005550006")));
    assert_eq!(dial.attr("answerOnBridge"), Some("true"), "the caller hears ringing during the whisper");
    let number = &dial.children[0];
    assert_eq!((number.name.as_str(), number.text.as_str()), ("Number", "+15551112222"));
    assert_eq!(number.attr("url"), Some(format!("{}/whisper/{}", app.public, t.call_sid).as_str()));
    assert_eq!(said(&t.agent_heard), ["Verified caller, Ada Lovelace, account number ending 5 6 7 8."]);
    assert!(matches!(&t.agent_heard[0], Heard::Say { voice: Some(v), .. } if v == "Polly.Amy"), "the line's voice");
    assert!(!t.said().contains("Verified caller"), "the caller never hears the whisper");
    // After the bridged call, the Dial's action hangs up.
    let last = t.requests.last().unwrap();
    assert!(last.url.ends_with("/voice/phone/dialed") && last.body.contains("<Hangup/>"), "{last:?}");
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["outcome"], "agent");
    assert_eq!((&record["agent"], &record["queue"]), (&"+15551112222".into(), &serde_json::Value::Null), "{record}");
}

#[tokio::test]
async fn the_whisper_says_identified_only_and_not_identified_too() {
    let app = handoff_app().await;
    // Opting out at the PIN: identified only, to the opt-out Dial.
    let t = call_line(&app, "phone", ADA_PHONE, Agent::Answers, &["*#"]).await;
    assert_eq!(dialed(&t).children[0].text, "+15551113333");
    assert_eq!(
        said(&t.agent_heard),
        ["Identified caller, not verified, Ada Lovelace, account number ending 5 6 7 8. The caller chose not to verify."]
    );
    let t = call_line(&app, "phone", STRANGER_PHONE, Agent::Answers, &["*"]).await;
    assert_eq!(said(&t.agent_heard), ["Caller not identified. The caller chose not to identify."]);
}

#[tokio::test]
async fn an_unanswered_dial_falls_back_to_the_lines_queue_with_the_context() {
    let app = handoff_app().await;
    for agent in [Agent::NoAnswer, Agent::Busy, Agent::Fails] {
        let t = call_line(&app, "phone", ADA_PHONE, agent, &[&format!("{ADA_PIN}#")]).await;
        assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "phone-agents"), "{agent:?}: {:?}", t.end);
        assert!(t.agent_heard.is_empty(), "nobody answered, nobody was whispered");
        assert!(t.said().contains("Sorry, that agent couldn't take your call."), "{}", t.said());
        assert_eq!(said(&t.hold), ["Thanks for holding. An agent will be with you shortly."]);
        let action = t.requests.iter().find(|r| r.url.ends_with("/voice/phone/dialed")).expect("the Dial action");
        assert!(action.body.contains("<Enqueue"), "{}", action.body);
        // The record names the agent rung and the queue fallen back to.
        let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
        assert_eq!((&record["agent"], &record["queue"]), (&"+15551112222".into(), &"phone-agents".into()), "{record}");
        let events: Vec<&str> =
            record["timeline"].as_array().unwrap().iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(&events[events.len() - 3..], ["handoff", "fallback", "agent"], "{record}");
    }
}

#[tokio::test]
async fn a_voice_sdk_agent_gets_the_context_as_parameters() {
    let app = handoff_app().await;
    let t = verified_ada(&app, "client").await;
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["agent"], "client:agent_ada", "{record}");
    let client = &dialed(&t).children[0];
    assert_eq!(client.name, "Client");
    assert_eq!(client.children[0].name, "Identity");
    assert_eq!(client.children[0].text, "agent_ada");
    let params: HashMap<&str, &str> = client
        .children
        .iter()
        .filter(|c| c.name == "Parameter")
        .map(|p| (p.attr("name").unwrap(), p.attr("value").unwrap()))
        .collect();
    assert_eq!(params["customer_id"], ADA_ID);
    assert_eq!(params["customer_name"], "Ada Lovelace");
    assert_eq!(params["idv_status"], "verified");
    assert_eq!(params["idv_method"], "ani");
    assert_eq!(params["service_line"], "client");
    assert_eq!(params["opted_out"], "false");
    assert_screen_pop(&app, params["screen_pop_url"], &t.call_sid);
    assert_eq!(said(&t.agent_heard), ["Verified caller, Ada Lovelace, account number ending 5 6 7 8."]);
}

#[tokio::test]
async fn a_sip_agent_gets_the_context_as_url_encoded_x_headers() {
    let app = handoff_app().await;
    let t = call_line(&app, "sip", "+447700900123", Agent::Answers, &["5555#"]).await;
    let sip = &dialed(&t).children[0];
    assert_eq!(sip.name, "Sip");
    assert_eq!(sip.attr("url"), None, "whisper = false");
    assert!(t.agent_heard.is_empty());
    let uri = sip.text.as_str();
    assert!(uri.len() < 255, "{}", uri.len());
    let (base, headers) = uri.split_once('?').expect("headers");
    assert_eq!(base, "sip:agent@pbx.example.com");
    assert!(!headers.contains(' ') && !headers.contains('<'), "values are URL-encoded: {headers}");
    let h: HashMap<String, String> = headers
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), percent_encoding::percent_decode_str(v).decode_utf8().unwrap().into_owned())
        })
        .collect();
    assert_eq!(h["x-customer-name"], "Zoë O'Brien & <Sons> \"Ltd\"");
    assert_eq!(h["x-customer-id"], "24681357");
    assert_eq!(h["x-idv-status"], "verified");
    assert_eq!(h["x-idv-method"], "ani");
    assert_eq!(h["x-service-line"], "sip");
    assert_eq!(h["x-opted-out"], "false");
}

#[tokio::test]
async fn a_line_can_keep_the_customers_name_out_of_every_handoff() {
    let app = handoff_app().await;
    // Sealed tokens (`state=`, `token=`…) are random base64url, and a
    // CallSid (`CA` and 32 hex digits, in a path) can start `CAda…`: each
    // now and then spells "Ada" by chance, so only the text around them counts.
    let call_sid =
        |part: &str| part.len() == 34 && part.starts_with("CA") && part[2..].bytes().all(|b| b.is_ascii_hexdigit());
    let name_free = |what: &str, text: &str| {
        let readable: String = text
            .split(['&', '?', '"', '\'', '/'])
            .filter(|part| {
                !part.starts_with("state=")
                    && !part.starts_with("token=")
                    && !part.starts_with("amp;state=")
                    && !call_sid(part)
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!readable.contains("Ada") && !readable.contains("Lovelace"), "{what}: {text}");
    };
    // Verified: a Voice SDK client, its parameters and whisper.
    let t = verified_ada(&app, "noname").await;
    let client = &dialed(&t).children[0];
    let params: HashMap<&str, &str> = client
        .children
        .iter()
        .filter(|c| c.name == "Parameter")
        .map(|p| (p.attr("name").unwrap(), p.attr("value").unwrap()))
        .collect();
    assert_eq!((params["customer_id"], params["idv_status"]), (ADA_ID, "verified"), "the rest stays");
    assert_eq!(params["customer_name"], "", "the name is left out");
    assert_eq!(said(&t.agent_heard), ["Verified caller, account number ending 5 6 7 8."]);
    for r in &t.requests {
        name_free(&r.url, &r.body);
    }
    // The screen pop and the record keep it: they are Vouch's own.
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["customer_name"], "Ada Lovelace");
    // Wrong PINs to the TaskRouter agent queue: the Task's attributes.
    let t = call_line(&app, "noname", ADA_PHONE, Agent::Answers, &["9087#", "9087#", "9087#", "9087#"]).await;
    let End::Enqueued { task, .. } = &t.end else { panic!("{:?}", t.end) };
    let attrs: serde_json::Value = serde_json::from_str(task.as_deref().expect("a Task")).unwrap();
    assert_eq!((attrs["customer_id"].as_str(), attrs["customer_name"].as_str()), (Some(ADA_ID), Some("")));
    for r in &t.requests {
        name_free(&r.url, &r.body);
    }
    // Opting out to the SIP URI: its headers.
    let t = call_line(&app, "noname", ADA_PHONE, Agent::Answers, &["*#"]).await;
    let sip = &dialed(&t).children[0];
    assert!(sip.text.contains(&format!("x-customer-id={ADA_ID}")), "{}", sip.text);
    assert!(!sip.text.contains("x-customer-name"), "{}", sip.text);
    for r in &t.requests {
        name_free(&r.url, &r.body);
    }
    // Another line, unchanged, carries it.
    let t = verified_ada(&app, "client").await;
    assert!(dialed(&t).children[0].children.iter().any(|p| p.attr("value") == Some("Ada Lovelace")));
}

#[tokio::test]
async fn a_locked_customer_is_named_locked_in_the_whisper_and_always_in_the_sip_headers() {
    // The longest SIP URI a line may configure leaves the least room.
    let long_sip = format!("sip:{}@pbx.example.com", "a".repeat(vouch::config::MAX_SIP_BASE_CHARS - 20));
    assert_eq!(long_sip.len(), vouch::config::MAX_SIP_BASE_CHARS);
    let toml = format!(
        r#"
default_line = "whispered"
[security]
lockout_failures = 2
[lines.whispered.opt_out]
type = "dial_number"
number = "+15551113333"
[lines.sip.opt_out]
type = "dial_sip"
uri = "{long_sip}"
whisper = false
"#
    );
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let zoe = "+447700900123";
    for (line, from) in [("whispered", ADA_PHONE), ("sip", zoe)] {
        // Two wrong PINs lock the customer; the next call keys one more and opts out to an agent.
        call_line(&app, line, from, Agent::Answers, &["9087#", "9087#", "*#"]).await;
        let t = call_line(&app, line, from, Agent::Answers, &["9087#", "*#"]).await;
        let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
        assert_eq!(record["lockout"], true, "{line}: {record}");
        let noun = &dialed(&t).children[0];
        match line {
            "whispered" => assert_eq!(
                said(&t.agent_heard),
                ["Identified caller, not verified, Ada Lovelace, account number ending 5 6 7 8. \
                  Verification is locked after too many failed attempts. The caller chose not to verify."]
            ),
            _ => {
                let uri = noun.text.as_str();
                assert!(uri.chars().count() < 255, "{}", uri.len());
                assert!(uri.contains("?x-idv-status=identified&x-lockout=true&"), "{uri}");
                assert!(uri.contains("x-customer-name=Zo%C3%AB"), "the name is cut, not dropped: {uri}");
            }
        }
    }
    // Not locked: the header says so, and the whisper says nothing of it.
    let t = call_line(&app, "sip", "+15551230002", Agent::Answers, &["*#"]).await;
    assert!(dialed(&t).children[0].text.contains("&x-lockout=false"), "{}", dialed(&t).children[0].text);
}

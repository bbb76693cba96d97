//! Hostile requests on every Twilio-facing route, and request limits.
//!
//! "Repeated params, huge values, NUL bytes, invalid UTF-8, wrong content
//! types: a 4xx, never a 5xx", on each route of the route table, with real
//! flow state and tokens so that every route is reached past its extractor;
//! garbage CallSids on the API and the agent pages; and "body size limit,
//! header and read timeouts (slow clients)" over raw TCP connections.

use crate::helpers::*;
use reqwest::header::HeaderValue;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use vouch::sim::{CallSpec, Phone, Scripted};
use vouch::twilio::form::Params;
use vouch::twilio::signature;

const FORM: &str = "application/x-www-form-urlencoded";

/// `client_request_timeout` in `src/startup.rs`: a request head must arrive within it.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A client stalling in its headers is cut off within this (the head timeout
/// and slack for a busy machine).
const HEAD_CUT_OFF: Duration = Duration::from_secs(7);
/// A client stalling in its body is cut off within this: twice the head
/// timeout. Twilio itself gives up on a request after 15 s, so holding a
/// stalled body longer serves nobody and only ties up a connection.
const BODY_CUT_OFF: Duration = Duration::from_secs(10);

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `params` with `name` set to `value` (any earlier value removed).
fn replaced(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut p: Vec<_> = params.iter().filter(|(k, _)| k != name).cloned().collect();
    p.push((name.to_string(), value.to_string()));
    p
}

fn with(params: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    params.iter().cloned().chain(pairs(extra)).collect()
}

/// `path` with `extra` appended to its query.
fn query(path: &str, extra: &str) -> String {
    format!("{path}{}{extra}", if path.contains('?') { '&' } else { '?' })
}

fn sign(app: &TestApp, path: &str, params: &Params) -> String {
    signature::sign(AUTH_TOKEN, &format!("{}{path}", app.public), params)
}

/// Signs a raw form body as a lenient decoder reads it, so that only a strict
/// decoding (Vouch's) can fail it.
fn sign_lenient(app: &TestApp, path: &str, body: &[u8]) -> String {
    let params =
        Params::parse(body).unwrap_or_else(|_| Params::from_pairs(url::form_urlencoded::parse(body).into_owned()));
    sign(app, path, &params)
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// A Twilio-facing route, and a correctly signed request it answers with TwiML.
struct Route {
    name: &'static str,
    path: String,
    params: Vec<(String, String)>,
}

/// Every Twilio-facing route of the route table, each with what Twilio
/// would send it: real flow state in the Gather actions, a real handoff
/// token for the self-service demo, the caller's leg for a whisper.
async fn twilio_routes(app: &TestApp) -> Vec<Route> {
    // Ada is recognised by caller ID: her first answer asks for the PIN.
    let ada = call_sid();
    let ada_params = call_params(&ada, ADA_PHONE, SUPPORT_NUMBER);
    let r = app.post_form("/voice", &ada_params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let verify = path_and_query(&gather_action(&r.body));
    assert!(verify.starts_with("/voice/support/verify?state="), "{verify}");

    // A stranger is asked for an account number.
    let stranger = call_sid();
    let stranger_params = call_params(&stranger, STRANGER_PHONE, SUPPORT_NUMBER);
    let r = app.post_form("/voice", &stranger_params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let identify = path_and_query(&gather_action(&r.body));
    assert!(identify.starts_with("/voice/support/identify?state="), "{identify}");

    // Another Ada call, verified: redirected to the demo self-service app.
    let verified = call_sid();
    let verified_params = call_params(&verified, ADA_PHONE, SUPPORT_NUMBER);
    let r = app.post_form("/voice", &verified_params, Some(AUTH_TOKEN)).await;
    let action = path_and_query(&gather_action(&r.body));
    let r = app.post_form(&action, &with(&verified_params, &[("Digits", ADA_PIN)]), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let root = vouch::sim::twiml::parse(&r.body).expect("TwiML");
    let redirect = root.walk().into_iter().find(|n| n.name == "Redirect").expect("a Redirect").text.trim().to_string();
    let self_service = path_and_query(&redirect);
    assert!(self_service.starts_with("/demo/self-service?") && self_service.contains("token="), "{self_service}");

    let agent_leg = call_sid();
    let queue_sid = "QU0123456789abcdef0123456789abcdef";
    vec![
        Route { name: "/voice", path: "/voice".into(), params: call_params(&call_sid(), ADA_PHONE, SUPPORT_NUMBER) },
        Route {
            name: "/voice/{line}",
            path: "/voice/support".into(),
            params: call_params(&call_sid(), STRANGER_PHONE, SUPPORT_NUMBER),
        },
        Route {
            name: "/voice/{line} (sales)",
            path: "/voice/sales".into(),
            params: call_params(&call_sid(), STRANGER_PHONE, SALES_NUMBER),
        },
        Route {
            name: "/voice/{line}/identify",
            path: identify,
            params: with(&stranger_params, &[("Digits", GRACE_ID), ("FinishedOnKey", "#")]),
        },
        Route {
            name: "/voice/{line}/verify",
            path: verify,
            params: with(&ada_params, &[("Digits", "0000"), ("FinishedOnKey", "#")]),
        },
        Route {
            name: "/voice/{line}/dialed",
            path: "/voice/support/dialed".into(),
            params: with(
                &ada_params,
                &[("DialCallStatus", "no-answer"), ("DialCallSid", &agent_leg), ("DialBridged", "false")],
            ),
        },
        Route {
            name: "/status",
            path: "/status".into(),
            params: with(
                &replaced(&ada_params, "CallStatus", "completed"),
                &[
                    ("CallDuration", "42"),
                    ("SequenceNumber", "3"),
                    ("CallbackSource", "call-progress-events"),
                    ("Timestamp", "Wed, 25 Nov 2026 20:00:00 +0000"),
                ],
            ),
        },
        Route {
            name: "/hold",
            path: "/hold".into(),
            params: with(&ada_params, &[("QueueSid", queue_sid), ("QueuePosition", "1"), ("QueueTime", "0")]),
        },
        Route {
            name: "/whisper/{CallSid}",
            path: format!("/whisper/{ada}"),
            params: pairs(&[
                ("CallSid", &agent_leg),
                ("ParentCallSid", &ada),
                ("AccountSid", "AC00000000000000000000000000000000"),
                ("From", SUPPORT_NUMBER),
                ("To", "+15551112222"),
                ("CallStatus", "in-progress"),
                ("Direction", "outbound-dial"),
                ("ApiVersion", "2010-04-01"),
            ]),
        },
        Route {
            name: "/queue/connect",
            path: "/queue/connect".into(),
            params: with(&ada_params, &[("DequeingCallSid", &agent_leg), ("QueueSid", queue_sid), ("QueueTime", "12")]),
        },
        Route { name: "/demo/self-service", path: self_service, params: verified_params },
    ]
}

/// What a hostile request must get. Never a 5xx, whatever it is.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200 and a TwiML document Twilio accepts: odd but legitimate input.
    Twiml,
    /// This 4xx, with this reason in a plain-text body and no TwiML.
    Refused(u16, &'static str),
    /// TwiML, or a 4xx with a reason.
    Either,
    /// TwiML, or any 4xx (the HTTP layer may refuse it before Vouch sees
    /// it, and then says no more than its status).
    Any,
}

struct Hostile {
    label: String,
    method: Method,
    path: String,
    content_type: Option<HeaderValue>,
    body: Vec<u8>,
    signatures: Vec<HeaderValue>,
    expect: Expect,
}

impl Hostile {
    fn new(label: impl Into<String>, path: &str, expect: Expect) -> Self {
        Self {
            label: label.into(),
            method: Method::POST,
            path: path.to_string(),
            content_type: None,
            body: Vec::new(),
            signatures: Vec::new(),
            expect,
        }
    }

    /// A form body signed as Twilio signs it.
    fn form(label: impl Into<String>, app: &TestApp, path: &str, params: &[(String, String)], e: Expect) -> Self {
        let params = Params::from_pairs(params.iter().cloned());
        let sig = sign(app, path, &params);
        Self::new(label, path, e).content_type(FORM).body(params.encode().into_bytes()).signature(&sig)
    }

    /// A raw form body, signed over what a lenient decoder makes of it.
    fn raw_form(label: impl Into<String>, app: &TestApp, path: &str, body: Vec<u8>, e: Expect) -> Self {
        let sig = sign_lenient(app, path, &body);
        Self::new(label, path, e).content_type(FORM).body(body).signature(&sig)
    }

    /// A GET, signed over the URL alone.
    fn get(label: impl Into<String>, app: &TestApp, path: &str, e: Expect) -> Self {
        let sig = sign(app, path, &Params::default());
        Self::new(label, path, e).method(Method::GET).signature(&sig)
    }

    fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }

    fn content_type(mut self, ct: &str) -> Self {
        self.content_type = Some(HeaderValue::from_str(ct).expect("a valid header value"));
        self
    }

    fn content_type_bytes(mut self, ct: &[u8]) -> Self {
        self.content_type = Some(HeaderValue::from_bytes(ct).expect("a header value"));
        self
    }

    fn no_content_type(mut self) -> Self {
        self.content_type = None;
        self
    }

    fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    fn signature(mut self, sig: &str) -> Self {
        self.signatures.push(HeaderValue::from_str(sig).expect("a valid header value"));
        self
    }

    fn unsigned(mut self) -> Self {
        self.signatures.clear();
        self
    }

    async fn send(&self, app: &TestApp) -> Result<Answer, String> {
        let mut rb = app.http.request(self.method.clone(), format!("{}{}", app.address, self.path));
        if let Some(ct) = &self.content_type {
            rb = rb.header("content-type", ct.clone());
        }
        for sig in &self.signatures {
            rb = rb.header("X-Twilio-Signature", sig.clone());
        }
        if !self.body.is_empty() {
            rb = rb.body(self.body.clone());
        }
        let r = rb.send().await.map_err(|e| format!("no answer: {:.200}", e.to_string()))?;
        let status = r.status().as_u16();
        let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(Answer { status, content_type, body: r.text().await.unwrap_or_default() })
    }
}

/// `None` if the answer is what `expect` allows, else what is wrong.
fn judge(expect: Expect, r: &Answer) -> Option<String> {
    let shown = || format!("HTTP {} {:?}: {:.300}", r.status, r.content_type, r.body);
    if r.status >= 500 {
        return Some(format!("a 5xx: {}", shown()));
    }
    let twiml = r.status == 200
        && ["text/xml", "application/xml"].iter().any(|m| r.content_type.starts_with(m))
        && vouch::sim::twiml::parse(&r.body).is_ok();
    let client_error = (400..500).contains(&r.status);
    let with_reason = client_error && !r.body.trim().is_empty() && !r.body.contains("<Response");
    let ok = match expect {
        Expect::Twiml => twiml,
        Expect::Refused(status, reason) => r.status == status && with_reason && r.body.contains(reason),
        Expect::Either => twiml || with_reason,
        Expect::Any => twiml || client_error,
    };
    (!ok).then(|| format!("expected {expect:?}, got {}", shown()))
}

/// The hostile variants of one route's request.
fn variants(app: &TestApp, route: &Route) -> Vec<Hostile> {
    use Expect::*;
    let (path, p) = (route.path.as_str(), &route.params);
    let sid = p.iter().find(|(k, _)| k == "CallSid").map(|(_, v)| v.clone()).expect("a CallSid");
    let encoded = Params::from_pairs(p.iter().cloned()).encode();
    let appended = |extra: &[u8]| [encoded.as_bytes(), b"&", extra].concat();
    let big = "a".repeat(60_000);
    let mut out = vec![
        Hostile::form("as Twilio sends it", app, path, p, Twiml),
        // Repeated parameters, signed correctly (values deduplicated and sorted).
        Hostile::form("CallSid twice, the same value", app, path, &with(p, &[("CallSid", &sid)]), Twiml),
        Hostile::form("CallSid twice, another call second", app, path, &with(p, &[("CallSid", &call_sid())]), Twiml),
        Hostile::form(
            "CallSid twice, another call first",
            app,
            path,
            &[pairs(&[("CallSid", &call_sid())]), p.clone()].concat(),
            Either,
        ),
        Hostile::form("Digits twice", app, path, &with(p, &[("Digits", "1111"), ("Digits", "2222")]), Twiml),
        Hostile::form("every parameter twice", app, path, &[p.clone(), p.clone()].concat(), Twiml),
        Hostile::form(
            "every parameter in reverse order",
            app,
            path,
            &p.iter().rev().cloned().collect::<Vec<_>>(),
            Twiml,
        ),
        Hostile::form("an empty parameter and a bare name", app, path, &with(p, &[("", ""), ("Bare", "")]), Twiml),
        // Huge values, under and over the 64 kB body limit.
        Hostile::form("a 60 kB unknown parameter", app, path, &with(p, &[("Padding", &big)]), Twiml),
        Hostile::form("a 60 kB parameter name", app, path, &with(p, &[(&big, "1")]), Twiml),
        Hostile::form("60 kB of Digits", app, path, &replaced(p, "Digits", &"7".repeat(60_000)), Twiml),
        Hostile::form("a 60 kB From", app, path, &replaced(p, "From", &format!("+1{}", "5".repeat(60_000))), Twiml),
        Hostile::form(
            "a 60 kB CallSid",
            app,
            path,
            &replaced(p, "CallSid", &format!("CA{}", "0".repeat(60_000))),
            Refused(400, "CallSid"),
        ),
        Hostile::form(
            "a body over 64 kB",
            app,
            path,
            &with(p, &[("Padding", &"a".repeat(66_000))]),
            Refused(413, "too large"),
        ),
        Hostile::form(
            "300 parameters",
            app,
            path,
            &(0..300).map(|i| (format!("P{i}"), "1".to_string())).chain(p.iter().cloned()).collect::<Vec<_>>(),
            Refused(400, "more than"),
        ),
        // NUL bytes and invalid UTF-8, in the body and in the query.
        Hostile::raw_form("%00 in a value", app, path, appended(b"Extra=a%00b"), Refused(400, "NUL")),
        Hostile::raw_form("%00 in a name", app, path, appended(b"%00=1"), Refused(400, "NUL")),
        Hostile::raw_form("%00 in Digits", app, path, appended(b"Digits=12%0034"), Refused(400, "NUL")),
        Hostile::raw_form("a raw NUL byte", app, path, appended(b"Extra=a\0b"), Refused(400, "NUL")),
        Hostile::raw_form("%FF in a value", app, path, appended(b"Extra=%FF"), Refused(400, "not valid UTF-8")),
        Hostile::raw_form("%FF in a name", app, path, appended(b"%FF=1"), Refused(400, "not valid UTF-8")),
        Hostile::raw_form("a raw 0xFF byte", app, path, appended(b"Extra=\xff"), Refused(400, "not valid UTF-8")),
        Hostile::raw_form("an overlong /", app, path, appended(b"Extra=%C0%AF"), Refused(400, "not valid UTF-8")),
        Hostile::raw_form(
            "a UTF-16 surrogate",
            app,
            path,
            appended(b"Extra=%ED%A0%80"),
            Refused(400, "not valid UTF-8"),
        ),
        Hostile::raw_form("a cut-off sequence", app, path, appended(b"Extra=%E2%82"), Refused(400, "not valid UTF-8")),
        Hostile::raw_form(
            "%00 in the query",
            app,
            &query(path, "x=%00"),
            encoded.clone().into_bytes(),
            Refused(400, "NUL"),
        ),
        Hostile::raw_form(
            "%FF in the query",
            app,
            &query(path, "x=%FF"),
            encoded.clone().into_bytes(),
            Refused(400, "not valid UTF-8"),
        ),
        Hostile::raw_form("broken percent escapes", app, path, appended(b"Extra=%G1%2&Bad%=%&x=%%"), Twiml),
        Hostile::form(
            "non-ASCII, an emoji and an RTL override",
            app,
            path,
            &with(p, &[("Extra", "Zoë 🎉 \u{202e}1234"), ("CallerName", "名前")]),
            Twiml,
        ),
        // Wrong content types.
        Hostile::raw_form("text/plain", app, path, encoded.clone().into_bytes(), Refused(415, "content type"))
            .content_type("text/plain"),
        Hostile::raw_form("no content type", app, path, encoded.clone().into_bytes(), Refused(415, "content type"))
            .no_content_type(),
        // Bytes past 0x7F are allowed in a header value, but are not a string.
        Hostile::raw_form(
            "a content type that is not ASCII",
            app,
            path,
            encoded.clone().into_bytes(),
            Refused(415, "content type"),
        )
        .content_type_bytes(b"application/x-www-form-urlencoded\xe9"),
        Hostile::raw_form("an upper-case content type", app, path, encoded.clone().into_bytes(), Twiml)
            .content_type("APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8"),
        Hostile::raw_form("a form declared as UTF-16", app, path, encoded.clone().into_bytes(), Twiml)
            .content_type("application/x-www-form-urlencoded; charset=utf-16"),
        Hostile::new("multipart/form-data", path, Refused(415, "content type"))
            .content_type("multipart/form-data; boundary=XyZ")
            .body(multipart(p))
            .signature(&sign(app, path, &Params::from_pairs(p.iter().cloned()))),
        Hostile::new("application/json without bodySHA256", path, Refused(415, "content type"))
            .content_type("application/json")
            .body(json_of(p))
            .signature(&sign(app, path, &Params::default())),
    ];
    // JSON bodies, vouched for by bodySHA256 in the signed URL.
    let json = json_of(p);
    let hashed = |body: &[u8]| query(path, &format!("bodySHA256={}", sha256_hex(body)));
    let json_path = hashed(&json);
    out.push(
        Hostile::new("JSON with its bodySHA256", &json_path, Twiml)
            .content_type("application/json")
            .body(json.clone())
            .signature(&sign(app, &json_path, &Params::default())),
    );
    let wrong = query(path, &format!("bodySHA256={}", sha256_hex(b"something else")));
    out.push(
        Hostile::new("JSON with another body's bodySHA256", &wrong, Refused(403, "does not match"))
            .content_type("application/json")
            .body(json.clone())
            .signature(&sign(app, &wrong, &Params::default())),
    );
    for (label, body) in [
        ("a JSON array", b"[1,2,3]".to_vec()),
        ("JSON that is not JSON", b"CallSid=CA".to_vec()),
        ("JSON with a NUL", b"{\"CallSid\":\"CA\0\"}".to_vec()),
        ("invalid UTF-8 as JSON", b"{\"CallSid\":\"\xff\"}".to_vec()),
    ] {
        let path = hashed(&body);
        out.push(
            Hostile::new(label, &path, Refused(400, "JSON"))
                .content_type("application/json")
                .body(body)
                .signature(&sign(app, &path, &Params::default())),
        );
    }
    let mut nested: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).expect("the route's parameters as JSON");
    nested.insert("Digits".into(), serde_json::json!({"a": [1, null, {"b": "\u{0000}"}]}));
    nested.insert("Huge".into(), serde_json::Value::String("x".repeat(50_000)));
    let nested = serde_json::to_vec(&nested).unwrap();
    let nested_path = hashed(&nested);
    out.push(
        Hostile::new("JSON with nested values and a NUL", &nested_path, Either)
            .content_type("application/json")
            .body(nested)
            .signature(&sign(app, &nested_path, &Params::default())),
    );

    // A missing body.
    out.push(Hostile::new("no body, no content type", path, Refused(400, "CallSid")).signature(&sign(
        app,
        path,
        &Params::default(),
    )));
    out.push(
        Hostile::new("no body, a form content type", path, Refused(400, "CallSid"))
            .content_type(FORM)
            .signature(&sign(app, path, &Params::default())),
    );
    out.push(Hostile::new("no body, no signature", path, Refused(403, "missing X-Twilio-Signature")));

    // GET, with the route's parameters and with garbage.
    out.push(Hostile::get("GET with the parameters in the query", app, &query(path, &encoded), Twiml));
    out.push(
        Hostile::get(
            "GET with the parameters, unsigned",
            app,
            &query(path, &encoded),
            Refused(403, "missing X-Twilio-Signature"),
        )
        .unsigned(),
    );
    out.push(Hostile::get(
        "GET with a garbage query",
        app,
        &query(path, "%FF%00=&&==&a=b=c"),
        Refused(400, "parameter"),
    ));
    out.push(Hostile::get(
        "GET with a junk but decodable query",
        app,
        &query(path, "&&==&a=b=c&;;&%&+"),
        Refused(400, "CallSid"),
    ));
    out.push(Hostile::get(
        "GET with a NUL in the query",
        app,
        &query(path, &format!("{encoded}&x=%00")),
        Refused(400, "NUL"),
    ));
    out.push(Hostile::get(
        "GET with a 20 kB query",
        app,
        &query(path, &format!("{encoded}&x={}", "a".repeat(20_000))),
        Any,
    ));
    out.push(Hostile::get(
        "GET with a 60 kB query",
        app,
        &query(path, &format!("{encoded}&x={}", "a".repeat(60_000))),
        Any,
    ));
    out.push(Hostile::get(
        "GET with 300 parameters in the query",
        app,
        &query(path, &vec!["a=1"; 300].join("&")),
        Refused(400, "more than"),
    ));

    // Other methods, with the same signed form.
    for m in ["PUT", "PATCH", "DELETE", "OPTIONS", "BREW"] {
        out.push(
            Hostile::form(format!("{m} with the signed form"), app, path, p, Either)
                .method(Method::from_bytes(m.as_bytes()).unwrap()),
        );
    }

    // Odd signatures and CallSids.
    let good = sign(app, path, &Params::from_pairs(p.iter().cloned()));
    let mut non_ascii = Hostile::form("a signature that is not ASCII", app, path, p, Refused(403, "missing"));
    non_ascii.signatures = vec![HeaderValue::from_bytes(format!("{good}\u{e9}").as_bytes()).unwrap()];
    out.push(non_ascii);
    out.push(
        Hostile::form("a wrong signature, then the right one", app, path, p, Either)
            .unsigned()
            .signature("AAAA=")
            .signature(&good),
    );
    out.push(Hostile::form("the right signature, then a wrong one", app, path, p, Either).signature("AAAA="));
    out.push(
        Hostile::form("an 8 kB signature", app, path, p, Refused(403, "does not match"))
            .unsigned()
            .signature(&"A".repeat(8 * 1024)),
    );
    out.push(Hostile::form("a 60 kB signature", app, path, p, Any).unsigned().signature(&"A".repeat(60 * 1024)));
    out.push(Hostile::form(
        "a CallSid with a trailing space",
        app,
        path,
        &replaced(p, "CallSid", &format!("{sid} ")),
        Refused(400, "CallSid"),
    ));
    out.push(Hostile::form(
        "a lower-case ca prefix",
        app,
        path,
        &replaced(p, "CallSid", &sid.replacen("CA", "ca", 1)),
        Refused(400, "CallSid"),
    ));
    out.push(Hostile::form("an empty CallSid", app, path, &replaced(p, "CallSid", ""), Refused(400, "CallSid")));

    // The signed flow state of the Gather actions.
    if let Some((base, state)) = path.split_once("?state=") {
        let forged = format!("{state}x");
        for (label, q, expect) in [
            ("state twice, the real one first", format!("state={state}&state={forged}"), Twiml),
            ("state twice, a forged one first", format!("state={forged}&state={state}"), Refused(400, "state")),
            ("a 3 kB state", format!("state={}", "A".repeat(3000)), Refused(400, "state")),
            ("a state of dots", "state=...".to_string(), Refused(400, "state")),
            ("an empty state", "state=".to_string(), Refused(400, "state")),
            ("a state of non-base64", "state=%E2%9C%93.%E2%9C%93.%E2%9C%93".to_string(), Refused(400, "state")),
        ] {
            out.push(Hostile::form(label, app, &format!("{base}?{q}"), p, expect));
        }
    }
    out
}

fn json_of(p: &[(String, String)]) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> =
        p.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::to_vec(&map).unwrap()
}

fn multipart(p: &[(String, String)]) -> Vec<u8> {
    let mut body = String::new();
    for (k, v) in p {
        body.push_str(&format!("--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
    }
    body.push_str("--XyZ--\r\n");
    body.into_bytes()
}

#[tokio::test]
async fn hostile_requests_on_every_twilio_route_get_a_4xx_with_a_reason_or_valid_twiml_never_a_5xx() {
    let app = spawn_app().await;
    let routes = twilio_routes(&app).await;
    assert_eq!(routes.len(), 11);
    let mut failures = Vec::new();
    let mut sent = 0;
    for route in &routes {
        for h in variants(&app, route) {
            sent += 1;
            let problem = match h.send(&app).await {
                Ok(r) => judge(h.expect, &r),
                Err(e) => Some(e),
            };
            if let Some(problem) = problem {
                failures.push(format!("{} {} [{}]: {problem}", h.method, route.name, h.label));
            }
        }
    }
    assert!(sent > 11 * 60, "{sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // And the server is still well: a whole call goes through. (Not Ada's:
    // the barrage keyed her wrong PINs often enough to lock her, as it should.)
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
}

#[tokio::test]
async fn garbage_in_the_path_of_twilio_routes_is_never_a_5xx() {
    use Expect::*;
    let app = spawn_app().await;
    let sid = call_sid();
    let p = with(&call_params(&sid, ADA_PHONE, SUPPORT_NUMBER), &[("ParentCallSid", &sid)]);
    let long = "x".repeat(5_000);
    // An unknown line in the Voice URL takes the default line (a
    // misconfigured number still reaches the IVR): TwiML. Paths that match
    // no route get the router's bare 404.
    let paths: Vec<(String, Expect)> = vec![
        ("/voice/%00".into(), Twiml),
        ("/voice/%FF".into(), Twiml),
        ("/voice/%C0%AF".into(), Twiml),
        (format!("/voice/{long}"), Twiml),
        ("/voice/support%00".into(), Twiml),
        ("/voice/..%2F..%2Fstatus".into(), Twiml),
        ("/voice/support/%00?state=x".into(), Refused(404, "unknown step")),
        ("/voice/support/%FF?state=x".into(), Refused(404, "unknown step")),
        ("/voice/support/identify%00?state=x".into(), Refused(404, "unknown step")),
        ("/voice/%FF/verify?state=x".into(), Refused(404, "unknown service line")),
        ("/voice/%00/identify?state=x".into(), Refused(404, "unknown service line")),
        (format!("/voice/{long}/verify?state=x"), Refused(404, "unknown service line")),
        ("/voice/%00/dialed".into(), Refused(404, "unknown service line")),
        ("/voice/%FF/dialed".into(), Refused(404, "unknown service line")),
        (format!("/voice/{long}/dialed"), Refused(404, "unknown service line")),
        ("/whisper/%00".into(), Refused(400, "CallSid")),
        ("/whisper/%FF".into(), Refused(400, "CallSid")),
        (format!("/whisper/CA{}", "0".repeat(5_000)), Refused(400, "CallSid")),
        ("/whisper/CA0123456789abcdef0123456789abcdeg".into(), Refused(400, "CallSid")),
        ("/whisper/..%2F..%2Fstatus".into(), Refused(400, "CallSid")),
        ("/demo/self-service?token=%00".into(), Refused(400, "NUL")),
        ("/demo/self-service?token=%FF&service_line=%FF".into(), Refused(400, "not valid UTF-8")),
        // The demo app refuses the handoff in words: the caller hears why.
        (format!("/demo/self-service?token={long}&service_line=support"), Twiml),
        ("/demo/self-service?token=a.b.c&service_line=support".into(), Twiml),
        ("/demo/self-service?token=&service_line=".into(), Twiml),
        ("/voice/support/verify/extra?state=x".into(), Any),
        ("/whisper/".into(), Any),
        ("/hold/%00".into(), Any),
        ("/status%00".into(), Any),
        ("/queue/connect/%FF".into(), Any),
    ];
    let mut failures = Vec::new();
    for (path, expect) in &paths {
        let h = Hostile::form("a garbage path", &app, path, &p, *expect);
        match h.send(&app).await {
            Ok(r) => failures.extend(judge(*expect, &r).map(|problem| format!("POST {path:.80}: {problem}"))),
            Err(e) => failures.push(format!("POST {path:.80}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn garbage_call_sids_on_the_api_and_agent_pages_get_a_4xx() {
    let app = spawn_app().await;
    let known = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await.call_sid;
    let long_sid = format!("CA{}", "f".repeat(20_000));
    let longer = "x".repeat(60_000);
    let sids = [
        "%00",
        "CA%00",
        "%FF",
        "%C0%AF",
        "%ED%A0%80",
        "%E2%80%AE",
        "%F0%9F%8E%89",
        "%20",
        "'%20OR%20'1'='1",
        "x';%20DROP%20TABLE%20calls;--",
        "..%2F..%2Fetc%2Fpasswd",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "CA%0D%0ASet-Cookie:%20a=b",
        "CA%25%25",
        long_sid.as_str(),
        longer.as_str(),
    ];
    let mut failures = Vec::new();
    for sid in sids {
        // Vouch's own refusals say why; the HTTP layer's (a URI too long) may not.
        let need_reason = sid.len() < 10_000;
        for (path, bearer) in [
            (format!("/api/calls/{sid}"), Some(ADMIN_TOKEN)),
            (format!("/api/calls/{sid}"), None),
            (format!("/agent/calls/{sid}"), Some(ADMIN_TOKEN)),
            (format!("/agent/calls/{sid}"), None),
            (format!("/agent/calls/{sid}?exp=1&sig=%00"), None),
            (format!("/agent/calls/{sid}?exp=99999999999999999999999&sig=%FF"), None),
        ] {
            let mut rb = app.http.get(format!("{}{path}", app.address));
            if let Some(token) = bearer {
                rb = rb.bearer_auth(token);
            }
            let what = format!("GET {path:.120} (token: {})", bearer.is_some());
            match rb.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    failures.extend(refusal_problem(&what, status, &r.text().await.unwrap(), need_reason));
                }
                Err(e) => failures.push(format!("{what}: no answer: {:.200}", e.to_string())),
            }
        }
    }
    // An empty bearer token, one that is not ASCII, another scheme.
    for auth in [&b"Bearer "[..], b"Bearer \xff\xfe", b"Basic Zm9vOmJhcg==", b"Bearer \x7fx"] {
        let Ok(auth) = HeaderValue::from_bytes(auth) else { continue };
        let r = app.http.get(format!("{}/api/calls/%00", app.address)).header("authorization", auth).send().await;
        let r = r.expect("an answer");
        let status = r.status().as_u16();
        failures.extend(refusal_problem("GET /api/calls/%00, a garbage token", status, &r.text().await.unwrap(), true));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The store was not disturbed: the real call is still served.
    let (status, record) = app.api_call(&known, Some(ADMIN_TOKEN)).await;
    assert_eq!((status, record["customer_id"].as_str()), (200, Some(ADA_ID)));
}

/// What is wrong with a refusal, if anything: not a 4xx, no reason, or the
/// path echoed into a page unescaped.
fn refusal_problem(what: &str, status: u16, body: &str, need_reason: bool) -> Option<String> {
    if !(400..500).contains(&status) {
        Some(format!("{what}: HTTP {status}: {body:.200}"))
    } else if need_reason && body.trim().is_empty() {
        Some(format!("{what}: HTTP {status} without a reason"))
    } else if body.contains("<script>alert") {
        Some(format!("{what}: the path is echoed unescaped: {body:.300}"))
    } else {
        None
    }
}

#[tokio::test]
async fn a_nul_in_a_json_body_is_refused_like_a_nul_in_a_form() {
    let app = spawn_app().await;
    let sid = call_sid();
    // Escaped in JSON, a NUL is valid JSON; decoded, it is the same NUL a
    // form's %00 is, and a form's is refused.
    let p = with(&call_params(&sid, ADA_PHONE, SUPPORT_NUMBER), &[("StirVerstat", "TN-Validation-Passed-A\u{0}")]);
    let body = json_of(&p);
    assert!(String::from_utf8_lossy(&body).contains("\\u0000"), "the NUL is escaped");
    let path = format!("/voice?bodySHA256={}", sha256_hex(&body));
    let r = app.post_raw(&path, "application/json", body, Some(sign(&app, &path, &Params::default()))).await;
    let (_, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        r.status, 400,
        "a JSON webhook whose StirVerstat holds a NUL was accepted (HTTP {}), and the NUL reached the call record: \
         stir_verstat = {:?}",
        r.status, record["stir_verstat"]
    );
    assert!(r.body.contains("NUL"), "{}", r.body);
}

// ---- Slow clients and request limits, over raw TCP ----

async fn connect(app: &TestApp) -> Arc<TcpStream> {
    let stream = TcpStream::connect(app.address.trim_start_matches("http://")).await.expect("connect");
    Arc::new(stream)
}

/// Writes all of `bytes`.
async fn send(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the server did with a connection.
#[derive(Debug)]
struct Seen {
    /// Everything it sent.
    received: String,
    /// When it closed the connection (from `started`), if it did in time.
    closed: Option<Duration>,
    /// When it first sent anything.
    answered: Option<Duration>,
}

impl Seen {
    fn status_line(&self) -> &str {
        self.received.lines().next().unwrap_or("")
    }
}

/// Reads until the server closes the connection or `within` has passed since `started`.
async fn watch(stream: &TcpStream, started: Instant, within: Duration) -> Seen {
    let mut received = Vec::new();
    let mut answered = None;
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = (started + within).saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.readable()).await {
            Err(_) => break None,
            Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(())) => match stream.try_read(&mut buf) {
                Ok(0) => break Some(started.elapsed()),
                Ok(n) => {
                    answered.get_or_insert_with(|| started.elapsed());
                    received.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                // Reset by the server: closed too.
                Err(_) => break Some(started.elapsed()),
            },
        }
    };
    Seen { received: String::from_utf8_lossy(&received).into_owned(), closed, answered }
}

/// Whether the server has neither answered nor closed `stream` yet.
fn hanging(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A whole call and a health check, each answered promptly, on connections
/// of their own: a pooled one left idle while the test watched the stalled
/// clients could be closed by the server's 5 s keep-alive just as it is reused.
async fn others_are_served(app: &TestApp) {
    let started = Instant::now();
    let phone = Phone::new(&app.address, &app.public, AUTH_TOKEN);
    let spec = CallSpec { from: ADA_PHONE.into(), to: SUPPORT_NUMBER.into(), ..CallSpec::default() };
    let t = phone.place(&spec, &mut Scripted::new([format!("{ADA_PIN}#")])).await.expect("a whole call");
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
    let r = reqwest::Client::new().get(format!("{}/healthz", app.address)).send().await.expect("healthz");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3), "served in {:?}", started.elapsed());
}

#[tokio::test]
async fn clients_that_stall_or_trickle_their_headers_are_cut_off_while_others_are_served() {
    let app = spawn_app().await;
    let started = Instant::now();
    // Silent connections, and a slowloris crowd that stops mid-header.
    let mut stalled = Vec::new();
    for i in 0..24 {
        let s = connect(&app).await;
        if i % 3 != 0 {
            let partial =
                format!("POST /voice HTTP/1.1\r\nHost: localhost\r\nX-Twilio-Signature: abc{i}\r\nContent-Ty");
            send(&s, partial.as_bytes()).await.expect("send a partial head");
        }
        stalled.push(s);
    }
    // One that trickles a byte every 250 ms and never finishes its headers.
    let trickler = connect(&app).await;
    let writer = {
        let s = trickler.clone();
        tokio::spawn(async move {
            let head = b"POST /voice HTTP/1.1\r\nHost: localhost\r\nX-Padding: ";
            for b in head.iter().chain(std::iter::repeat_n(&b'a', 200)) {
                if send(&s, &[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // While they hang on, Twilio's requests are served as usual.
    others_are_served(&app).await;
    let gone: Vec<usize> = stalled.iter().enumerate().filter(|(_, s)| !hanging(s)).map(|(i, _)| i).collect();
    assert!(gone.is_empty() && hanging(&trickler), "still hanging on meanwhile: all but {gone:?} (and the trickler?)");

    // All were opened after `started`, so each had the head timeout at least.
    let mut seen = vec![("the trickler".to_string(), watch(&trickler, started, HEAD_CUT_OFF).await)];
    writer.abort();
    for (i, s) in stalled.iter().enumerate() {
        seen.push((format!("stalled connection #{i}"), watch(s, started, HEAD_CUT_OFF).await));
    }
    let mut failures = Vec::new();
    for (who, seen) in &seen {
        match seen.closed {
            None => failures.push(format!("{who}: still open after {HEAD_CUT_OFF:?}: {seen:?}")),
            Some(after) if after < HEAD_TIMEOUT - Duration::from_millis(500) => {
                failures.push(format!("{who}: closed after {after:?}, before the head timeout"))
            }
            Some(_) if !seen.received.is_empty() && !seen.status_line().starts_with("HTTP/1.1 408") => {
                failures.push(format!("{who}: answered {:?}, not 408", seen.status_line()))
            }
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Still serving afterwards.
    others_are_served(&app).await;
}

/// The head of a signed POST to `/voice` whose body is `body`.
fn signed_head(app: &TestApp, body: &str, content_length: usize) -> String {
    let params = Params::parse(body.as_bytes()).expect("a valid form");
    let sig = sign(app, "/voice", &params);
    format!(
        "POST /voice HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\nX-Twilio-Signature: {sig}\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_body_that_stalls_before_its_announced_length_is_cut_off() {
    let app = spawn_app().await;
    let started = Instant::now();
    // A webhook: the whole head, signed for the whole body; then half the body, and nothing more.
    let body = Params::from_pairs(call_params(&call_sid(), ADA_PHONE, SUPPORT_NUMBER)).encode();
    let webhook = connect(&app).await;
    send(&webhook, signed_head(&app, &body, body.len()).as_bytes()).await.unwrap();
    send(&webhook, &body.as_bytes()[..body.len() / 2]).await.unwrap();
    // The agents' login form, the same way.
    let login = connect(&app).await;
    let form = "name=demo&password=demo";
    let head = format!(
        "POST /agent/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    send(&login, head.as_bytes()).await.unwrap();
    send(&login, &form.as_bytes()[..10]).await.unwrap();

    // While they hang on, Twilio's requests are served as usual.
    others_are_served(&app).await;
    assert!(hanging(&webhook) && hanging(&login), "both still hang on meanwhile");
    let mut failures = Vec::new();
    for (what, s, sent, announced) in
        [("POST /voice", &webhook, body.len() / 2, body.len()), ("POST /agent/login", &login, 10, form.len())]
    {
        let seen = watch(s, started, BODY_CUT_OFF).await;
        if seen.status_line().contains(" 5") {
            failures.push(format!("{what}: answered {:?}", seen.status_line()));
        }
        if seen.closed.is_none() && seen.answered.is_none() {
            failures.push(format!(
                "{what}: a client that announced {announced} bytes and sent {sent} is neither answered nor cut off \
                 after {BODY_CUT_OFF:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nThe body has no read timeout (client_request_timeout covers the head only): a client that stalls \
         mid-body holds its connection and request for ever.",
        failures.join("\n")
    );
    others_are_served(&app).await;
}

#[tokio::test]
async fn an_oversized_or_ambiguous_body_is_refused_however_it_is_sent() {
    let app = spawn_app().await;
    let body = Params::from_pairs(call_params(&call_sid(), ADA_PHONE, SUPPORT_NUMBER)).encode();

    // Announced as 10 MB: refused at once, without waiting for (or reading) the body.
    let s = connect(&app).await;
    let started = Instant::now();
    send(&s, signed_head(&app, &body, 10_000_000).as_bytes()).await.unwrap();
    let seen = watch(&s, started, Duration::from_secs(3)).await;
    assert!(seen.status_line().starts_with("HTTP/1.1 413"), "{seen:?}");
    assert!(seen.received.contains("too large"), "{seen:?}");

    // 100 kB in chunks, with no Content-Length to check up front.
    let s = connect(&app).await;
    let started = Instant::now();
    let head = format!(
        "POST /voice HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\nX-Twilio-Signature: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut raw = head.into_bytes();
    raw.extend(format!("{:x}\r\n{body}&Padding=\r\n", body.len() + 9).into_bytes());
    for _ in 0..20 {
        raw.extend(format!("{:x}\r\n{}\r\n", 5000, "a".repeat(5000)).into_bytes());
    }
    raw.extend(b"0\r\n\r\n");
    let _ = send(&s, &raw).await;
    let seen = watch(&s, started, HEAD_CUT_OFF).await;
    assert!(seen.status_line().starts_with("HTTP/1.1 413"), "{seen:?}");
    assert!(seen.received.contains("too large"), "{seen:?}");

    // Smuggling shapes: both framings, or two lengths. The HTTP layer refuses them.
    for (label, head) in [
        ("Content-Length and chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_string()),
        ("two Content-Lengths", format!("Content-Length: {}\r\nContent-Length: 3\r\n\r\n{body}", body.len())),
        ("a negative Content-Length", "Content-Length: -1\r\n\r\n".to_string()),
        ("a Content-Length that overflows", "Content-Length: 99999999999999999999999\r\n\r\n".to_string()),
        ("an unknown transfer coding", "Transfer-Encoding: gzip, chunked, x\r\n\r\n0\r\n\r\n".to_string()),
    ] {
        let s = connect(&app).await;
        let started = Instant::now();
        let raw = format!(
            "POST /voice HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FORM}\r\nX-Twilio-Signature: x\r\n{head}"
        );
        let _ = send(&s, raw.as_bytes()).await;
        let seen = watch(&s, started, HEAD_CUT_OFF).await;
        let status = seen.status_line().split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
        assert!(status.is_some_and(|s| (400..500).contains(&s)), "{label}: {seen:?}");
    }
    others_are_served(&app).await;
}

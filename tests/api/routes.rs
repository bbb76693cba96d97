//! The route table and the path map are one: every route of the map is
//! served, and a path outside it is the router's bare 404. And the webhook
//! extractor's order: a request is refused for its signature before its
//! body is read or any of its parameters is used.

use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vouch::flow::Stage;
use vouch::paths::{self, Route, Urls};
use vouch::twilio::form::Params;
use vouch::twilio::signature;

/// A path each route answers, built as Vouch builds its URLs where it can.
fn example(app: &TestApp, route: Route) -> String {
    let urls = Urls::new(&app.public);
    let sid = call_sid();
    let url = match route {
        Route::Entry => urls.entry("support", Stage::Identify, "k.p.m"),
        Route::Whisper => urls.whisper(&sid),
        Route::Dialed => urls.dialed("support"),
        Route::VoiceOnLine => urls.voice(Some("support")),
        Route::ScreenPop => urls.absolute(&paths::screen_pop(&sid)),
        Route::CallTimeline => urls.absolute(&format!("{}/timeline?format=csv", paths::screen_pop(&sid))),
        Route::ApiCall => urls.absolute(&format!("/api/calls/{sid}")),
        Route::ApiLockout => urls.absolute(&format!("/api/lockouts/{ADA_ID}")),
        Route::ApiCustomerRecords => urls.absolute(&format!("/api/customers/{ADA_ID}/records")),
        Route::ReportFile => urls.absolute("/reports/files/weekly_vouch-report.csv"),
        other => urls.of(other),
    };
    path_and_query(&url)
}

#[tokio::test]
async fn every_route_of_the_path_map_is_served_and_nothing_else_is() {
    let app = spawn_app().await;
    for route in Route::ALL {
        let path = example(&app, route);
        assert_eq!(paths::recognise(&path).map(|r| r.route), Some(route), "{path}");
        let method = if matches!(route, Route::Logout) { reqwest::Method::POST } else { reqwest::Method::GET };
        let r = app.http.request(method, format!("{}{path}", app.address)).bearer_auth(ADMIN_TOKEN).send().await;
        let r = r.expect("an answer");
        let status = r.status().as_u16();
        // An event stream (the dashboard's) goes on: its headers answer.
        let streams = r.headers().get("content-type").is_some_and(|v| v == "text/event-stream");
        let body = if streams { "an event stream".into() } else { r.text().await.unwrap_or_default() };
        // The router's own 404 has no body; a handler's says why.
        assert!(status != 404 || !body.trim().is_empty(), "{route:?} at {path} is not in the route table");
        assert!(status < 500, "{route:?} at {path}: HTTP {status}");
    }
    // Under /voice the path map reads the path back itself: what it does
    // not recognise is the same bare 404.
    let voice = ["/voice/support/identify/extra", "/voice/", "/voice//identify", "/voice/support/", "/voice/a/b/c"];
    for outside in voice.into_iter().chain(["/agent/calls", "/hold/x", "/nope"]) {
        assert_eq!(paths::recognise(outside), None, "{outside}");
        let r = app.http.get(format!("{}{outside}", app.address)).send().await.expect("an answer");
        assert_eq!(r.status().as_u16(), 404, "{outside}");
        assert!(r.text().await.unwrap_or_default().is_empty(), "{outside}: the router's bare 404");
    }
}

#[tokio::test]
async fn an_unsigned_webhook_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    // A body is announced and never sent: reading it would take the 5 s
    // body timeout (408); refusing without it answers at once.
    let head = format!(
        "POST /voice HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 4000\r\n\r\nCallSid=CA"
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.expect("send the head");
    let mut answer = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the body")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("missing X-Twilio-Signature"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
}

#[tokio::test]
async fn a_badly_signed_webhook_is_refused_before_its_parameters_are_used() {
    let app = spawn_app().await;
    let sid = call_sid();
    let params = call_params(&sid, ADA_PHONE, SUPPORT_NUMBER);
    // Signed with the wrong token: the caller's number is never looked up.
    let r = app.post_form("/voice", &params, Some("not-the-auth-token")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("does not match"), "{}", r.body);
    // At a prompt with a state that does not open: the signature speaks first.
    let mut keyed = params.clone();
    keyed.push(("Digits".into(), format!("{ADA_ID}#")));
    let r = app.post_form("/voice/support/identify?state=forged", &keyed, Some("not-the-auth-token")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!((app.crm().count("phone"), app.crm().count("id")), (0, 0), "the CRM was asked");
    let (status, _) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 404, "a refused webhook left a call record");
}

#[tokio::test]
async fn a_json_webhook_is_not_parsed_before_its_hash_and_signature_are_checked() {
    let app = spawn_app().await;
    let junk = b"this is not JSON".to_vec();
    // Unsigned junk: 403, not a JSON parse error.
    let path = format!("/voice?bodySHA256={}", hex_sha256(&junk));
    let r = app.post_raw(&path, "application/json", junk.clone(), None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Signed for the URL, but the body is not the one the hash vouches for.
    let other = format!("/voice?bodySHA256={}", hex_sha256(b"{}"));
    let sig = signature::sign(AUTH_TOKEN, &format!("{}{other}", app.public), &Params::default());
    let r = app.post_raw(&other, "application/json", junk.clone(), Some(sig)).await;
    assert_eq!((r.status, r.body.contains("does not match")), (403, true), "{}", r.body);
    // Signed, and the hash matches: now it is parsed, and refused as JSON.
    let sig = signature::sign(AUTH_TOKEN, &format!("{}{path}", app.public), &Params::default());
    let r = app.post_raw(&path, "application/json", junk, Some(sig)).await;
    assert_eq!((r.status, r.body.contains("JSON")), (400, true), "{}", r.body);
}

fn hex_sha256(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

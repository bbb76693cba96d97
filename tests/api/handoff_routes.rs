//! The routes handoffs point Twilio at, requested directly: the hold
//! document and its music, the whisper, the plain queue's connect document
//! and the Dial action; each signed, and each refusing what it should.

use crate::handoff::{handoff_app, verified_ada};
use crate::helpers::*;
use vouch::sim::twiml;

fn with(params: &[(&str, &str)], sid: &str) -> Vec<(String, String)> {
    let mut p = call_params(sid, ADA_PHONE, SUPPORT_NUMBER);
    p.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

fn verbs(doc: &twiml::Node) -> Vec<&str> {
    doc.children.iter().map(|n| n.name.as_str()).collect()
}

#[tokio::test]
async fn the_hold_document_plays_vouchs_music_and_the_music_is_served_as_wav() {
    let app = spawn_app().await;
    let r = app
        .post_form("/hold", &with(&[("QueuePosition", "3"), ("QueueTime", "40")], &call_sid()), Some(AUTH_TOKEN))
        .await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "text/xml; charset=utf-8"), "{}", r.body);
    let doc = twiml::parse(&r.body).expect("valid TwiML");
    assert_eq!(verbs(&doc), ["Say", "Play"], "only verbs a waitUrl document may use");
    let play = &doc.children[1];
    assert_eq!(
        (play.text.as_str(), play.attr("loop")),
        (format!("{}/static/hold.wav", app.public).as_str(), Some("3"))
    );

    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let audio = app.http.request(method.clone(), format!("{}/static/hold.wav", app.address)).send().await.unwrap();
        assert_eq!(audio.status(), 200, "{method}");
        assert_eq!(audio.headers()["content-type"], "audio/wav");
        if method == reqwest::Method::GET {
            let bytes = audio.bytes().await.unwrap();
            assert!(bytes.len() > 10_000 && bytes.len() < 200 * 1024, "{} bytes", bytes.len());
            assert_eq!((&bytes[..4], &bytes[8..12]), (&b"RIFF"[..], &b"WAVE"[..]));
            assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 1, "plain PCM");
        }
    }
    assert_eq!(app.post_form("/hold", &with(&[], &call_sid()), None).await.status, 403, "hold is signed");
}

#[tokio::test]
async fn whisper_requests_are_signed_name_a_call_and_come_from_its_own_dial() {
    let app = handoff_app().await;
    let caller = verified_ada(&app, "phone").await.call_sid;
    let agent_leg = call_sid();
    let path = format!("/whisper/{caller}");
    let from_dial = with(&[("ParentCallSid", &caller)], &agent_leg);
    let ok = app.post_form(&path, &from_dial, Some(AUTH_TOKEN)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("Verified caller, Ada Lovelace, account number ending 5 6 7 8."), "{}", ok.body);
    assert_eq!(app.post_form(&path, &from_dial, None).await.status, 403);
    let other = app.post_form(&path, &with(&[("ParentCallSid", &call_sid())], &agent_leg), Some(AUTH_TOKEN)).await;
    assert_eq!((other.status, other.body.contains("ParentCallSid")), (400, true), "{}", other.body);
    let bad = app.post_form("/whisper/CA123", &from_dial, Some(AUTH_TOKEN)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // A call Vouch does not know: the agent hears the safe answer.
    let unknown = call_sid();
    let r = app.post_form(&format!("/whisper/{unknown}"), &with(&[], &agent_leg), Some(AUTH_TOKEN)).await;
    assert_eq!(twiml::parse(&r.body).expect("TwiML").children[0].text, "Caller not identified.");
}

#[tokio::test]
async fn the_queue_connect_document_tells_the_dequeued_caller_only_that_they_are_through() {
    let app = handoff_app().await;
    let caller = verified_ada(&app, "flex").await.call_sid;
    let params = with(
        &[("QueueSid", "QU0123456789abcdef0123456789abcdef"), ("QueueTime", "12"), ("DequeingCallSid", &call_sid())],
        &caller,
    );
    let r = app.post_form("/queue/connect", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = twiml::parse(&r.body).expect("valid TwiML");
    assert!(verbs(&doc).iter().all(|v| ["Play", "Say", "Pause", "Redirect"].contains(v)), "{}", r.body);
    assert!(r.body.contains("Connecting you now"), "{}", r.body);
    for private in ["Ada", "5 6 7 8", "verified"] {
        assert!(!r.body.contains(private), "the caller's leg hears nothing about the account: {}", r.body);
    }
    assert_eq!(app.post_form("/queue/connect", &params, None).await.status, 403);
}

#[tokio::test]
async fn the_dial_action_refuses_unknown_lines_and_falls_back_when_unsure() {
    let app = handoff_app().await;
    let sid = call_sid();
    let r = app.post_form("/voice/nope/dialed", &with(&[("DialCallStatus", "busy")], &sid), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // No DialCallStatus at all, for a call Vouch never saw: still a queue, never a dead line.
    let r = app.post_form("/voice/phone/dialed", &with(&[], &sid), Some(AUTH_TOKEN)).await;
    let doc = twiml::parse(&r.body).expect("valid TwiML");
    assert_eq!(verbs(&doc), ["Say", "Enqueue"]);
    assert_eq!(doc.children[1].text, "phone-agents");
    let r = app.post_form("/voice/phone/dialed", &with(&[("DialCallStatus", "completed")], &sid), None).await;
    assert_eq!(r.status, 403);
}

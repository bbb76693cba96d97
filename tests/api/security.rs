//! Webhook signatures, signed flow state, and malformed requests: every bad
//! request gets a clear 4xx, never TwiML and never a 5xx.

use crate::helpers::*;
use vouch::flow::{Customer, FlowState, IdvMethod, Stage};
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::Keyring;
use vouch::twilio::form::Params;
use vouch::twilio::signature;

fn assert_refused(r: &Answer, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(!r.body.contains("<Response"), "no TwiML on a refusal: {}", r.body);
    assert!(r.body.contains(reason), "reason {reason:?} in {:?}", r.body);
}

#[tokio::test]
async fn requests_without_a_signature_are_refused() {
    let app = spawn_app().await;
    let r = app.post_form("/voice", &first_params(&call_sid()), None).await;
    assert_refused(&r, 403, "missing X-Twilio-Signature");
}

#[tokio::test]
async fn requests_signed_with_another_token_or_for_another_url_are_refused() {
    let app = spawn_app().await;
    let r = app.post_form("/voice", &first_params(&call_sid()), Some("not-the-token")).await;
    assert_refused(&r, 403, "does not match");
    let params = Params::from_pairs(first_params(&call_sid()));
    let sig = signature::sign(AUTH_TOKEN, "https://elsewhere.example.com/voice", &params);
    let r = app.post_raw("/voice", "application/x-www-form-urlencoded", params.encode().into_bytes(), Some(sig)).await;
    assert_refused(&r, 403, "does not match");
}

#[tokio::test]
async fn a_parameter_changed_after_signing_is_refused() {
    let app = spawn_app().await;
    let params = Params::from_pairs(first_params(&call_sid()));
    let sig = signature::sign(AUTH_TOKEN, &format!("{}/voice", app.public), &params);
    let tampered = params.encode().replace("%2B15551230001", "%2B15551230002");
    let r = app.post_raw("/voice", "application/x-www-form-urlencoded", tampered.into_bytes(), Some(sig)).await;
    assert_refused(&r, 403, "does not match");
}

#[tokio::test]
async fn the_secondary_token_and_unknown_extra_parameters_are_accepted() {
    let app = spawn_app().await;
    let mut p = first_params(&call_sid());
    p.push(("SomeNewTwilioParam".into(), "surprise & delight".into()));
    p.push(("Repeated".into(), "b".into()));
    p.push(("Repeated".into(), "a".into()));
    let r = app.post_form("/voice", &p, Some(SECONDARY_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("text/xml"));
}

#[tokio::test]
async fn a_url_signed_with_the_explicit_default_port_is_accepted() {
    let app =
        spawn_with(Options { env: vec![("VOUCH_PUBLIC_URL", "https://ivr.example.com".into())], ..Options::default() })
            .await;
    let params = Params::from_pairs(first_params(&call_sid()));
    for signed_url in ["https://ivr.example.com/voice", "https://ivr.example.com:443/voice"] {
        let sig = signature::sign(AUTH_TOKEN, signed_url, &params);
        let r =
            app.post_raw("/voice", "application/x-www-form-urlencoded", params.encode().into_bytes(), Some(sig)).await;
        assert_eq!(r.status, 200, "{signed_url}: {}", r.body);
        assert!(gather_action(&r.body).starts_with("https://ivr.example.com/voice/support/verify?state="));
    }
}

#[tokio::test]
async fn get_webhooks_sign_the_url_alone() {
    let app = spawn_app().await;
    let sid = call_sid();
    let query = Params::from_pairs(first_params(&sid)).encode();
    let path = format!("/voice?{query}");
    let sig = signature::sign(AUTH_TOKEN, &format!("{}{path}", app.public), &Params::default());
    let r = app.http.get(format!("{}{path}", app.address)).header("X-Twilio-Signature", sig).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<Gather"));
}

#[tokio::test]
async fn json_bodies_are_checked_through_body_sha256() {
    use sha2::Digest;
    let app = spawn_app().await;
    let sid = call_sid();
    let body = serde_json::json!({"CallSid": sid, "From": ADA_PHONE, "To": SUPPORT_NUMBER}).to_string();
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let path = format!("/voice?bodySHA256={hash}");
    let sig = signature::sign(AUTH_TOKEN, &format!("{}{path}", app.public), &Params::default());
    let r = app.post_raw(&path, "application/json", body.clone().into_bytes(), Some(sig.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.post_raw(&path, "application/json", body.replace("0001", "0002").into_bytes(), Some(sig)).await;
    assert_refused(&r, 403, "does not match");
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let (path, token) = action.split_once("?state=").unwrap();
    let (kid, sealed) = token.split_once('.').unwrap();
    // Change one character of the sealed state (its nonce, ciphertext or tag).
    for at in [10, sealed.len() / 2, sealed.len() - 3] {
        let mut chars: Vec<char> = sealed.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        let forged = format!("{path}?state={kid}.{}", chars.into_iter().collect::<String>());
        let r = app.post_form(&forged, &with_digits(&sid, "1111"), Some(AUTH_TOKEN)).await;
        assert_refused(&r, 400, "does not open");
    }
    assert_eq!(app.crm().count("verify"), 0, "refused before any CRM call");
}

#[tokio::test]
async fn another_calls_state_is_refused() {
    let app = spawn_app().await;
    let action = verify_action(&app, &call_sid()).await;
    let other = call_sid();
    let r = app.post_form(&action, &with_digits(&other, "1234"), Some(AUTH_TOKEN)).await;
    assert_refused(&r, 400, "another call");
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let app = spawn_app().await;
    let sid = call_sid();
    let state = FlowState {
        line: "support".into(),
        stage: Stage::Verify,
        identify_attempts: 0,
        verify_attempts: 0,
        customer: Some(Customer { id: ADA_ID.into(), name: "Ada Lovelace".into(), attributes: Vec::new() }),
        method: IdvMethod::Ani,
        attestation: Default::default(),
        lockout: false,
        caller_id: None,
    };
    let an_hour_ago = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    let token = FlowStates::new(&Keyring::single(STATE_SECRET), 1800).seal(&state, &sid, an_hour_ago);
    let r = app
        .post_form(&format!("/voice/support/verify?state={token}"), &with_digits(&sid, "1234"), Some(AUTH_TOKEN))
        .await;
    assert_refused(&r, 400, "expired");
    // The same state, freshly sealed with the server's key, is accepted: the
    // refusal above was the expiry alone.
    let token = FlowStates::new(&Keyring::single(STATE_SECRET), 1800).seal(&state, &sid, an_hour_ago + 3600);
    let r = app
        .post_form(&format!("/voice/support/verify?state={token}"), &with_digits(&sid, "1234"), Some(AUTH_TOKEN))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn state_for_the_wrong_step_or_line_and_missing_state_are_refused() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let wrong_step = action.replace("/verify?", "/identify?");
    let r = app.post_form(&wrong_step, &with_digits(&sid, "12345678"), Some(AUTH_TOKEN)).await;
    assert_refused(&r, 400, "another step");
    let wrong_line = action.replace("/support/", "/sales/");
    let r = app.post_form(&wrong_line, &with_digits(&sid, "1234"), Some(AUTH_TOKEN)).await;
    assert_refused(&r, 400, "line");
    let r = app.post_form("/voice/support/verify", &with_digits(&sid, "1234"), Some(AUTH_TOKEN)).await;
    assert_refused(&r, 400, "missing state");
    let r = app.post_form("/voice/nosuchline/verify?state=x", &with_digits(&sid, "1234"), Some(AUTH_TOKEN)).await;
    assert_refused(&r, 404, "unknown service line");
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_with_a_reason() {
    let app = spawn_app().await;
    let url = format!("{}/voice", app.public);
    let sign_raw = |body: &[u8]| {
        // Sign what a lenient decoder would see, so only the decoding fails.
        let lossy = Params::from_pairs(url::form_urlencoded::parse(body).into_owned());
        signature::sign(AUTH_TOKEN, &url, &lossy)
    };
    for (body, reason) in
        [(b"CallSid=CA%FF&From=x".to_vec(), "not valid UTF-8"), (b"CallSid=CA00&From=%00".to_vec(), "NUL")]
    {
        let sig = sign_raw(&body);
        let r = app.post_raw("/voice", "application/x-www-form-urlencoded", body, Some(sig)).await;
        assert_refused(&r, 400, reason);
    }
    // A signed request without a proper CallSid.
    let p = vec![("CallSid".to_string(), "CA123".to_string()), ("From".to_string(), ADA_PHONE.to_string())];
    assert_refused(&app.post_form("/voice", &p, Some(AUTH_TOKEN)).await, 400, "CallSid");
    let r = app.post_raw("/voice", "text/plain", b"hello".to_vec(), Some("x".into())).await;
    assert_refused(&r, 415, "content type");
    let huge = vec![b'a'; 200 * 1024];
    let r = app.post_raw("/voice", "application/x-www-form-urlencoded", huge, Some("x".into())).await;
    assert_eq!(r.status, 413);
    let many = vec!["a=1"; 300].join("&");
    let r = app.post_raw("/voice", "application/x-www-form-urlencoded", many.into_bytes(), Some("x".into())).await;
    assert_refused(&r, 400, "more than");
}

#[tokio::test]
async fn garbage_digits_are_a_failed_try_not_an_error() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    for digits in ["<script>", "12345678901234567890", "١٢٣٤", "\u{202e}1234"] {
        let r = app.post_form(&action, &with_digits(&sid, digits), Some(AUTH_TOKEN)).await;
        assert_eq!(r.status, 200, "{digits:?}");
        assert!(r.body.contains("wasn&apos;t accepted") || r.body.contains("wasn't accepted"), "{}", r.body);
    }
    assert_eq!(app.crm().count("verify"), 0);
}

#[tokio::test]
async fn a_retried_webhook_gets_the_same_answer_without_a_second_crm_call() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let params = Params::from_pairs(with_digits(&sid, "9087"));
    let sig = signature::sign(AUTH_TOKEN, &format!("{}{action}", app.public), &params);
    let send = |token: &'static str| {
        app.http
            .post(format!("{}{action}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", sig.clone())
            .header("I-Twilio-Idempotency-Token", token)
            .body(params.encode())
            .send()
    };
    let first = send("retry-token-1").await.unwrap().text().await.unwrap();
    let again = send("retry-token-1").await.unwrap().text().await.unwrap();
    assert_eq!(first, again, "Twilio's retry gets the answer already given");
    assert!(first.contains("wasn&apos;t accepted") || first.contains("wasn't accepted"), "{first}");
    assert_eq!(app.crm().count("verify"), 1, "the CRM was asked once");
    let (_, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["verify_attempts"], 1, "the retry is not another try");
    let replayed = send("another-request").await.unwrap().text().await.unwrap();
    assert_eq!(replayed, first, "another token on the same state is a copy too (nothing signs the token)");
    assert_eq!(app.crm().count("verify"), 1, "a copy with another token is not a new try");
}

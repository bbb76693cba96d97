//! `/fallback`, Twilio's Voice Fallback URL: after a failed request, the
//! caller hears the same prompt again (no try counted, the CRM not asked),
//! the failed step's stored answer if it ran after all, or an agent when
//! nothing can be recovered. Always TwiML once signed; unsigned is a 403.

use crate::helpers::*;

/// The fallback request Twilio makes after `error_url` failed on `sid`
/// (without the Gather's Digits, as Twilio may send it).
fn fallback_params(sid: &str, error_url: Option<&str>) -> Vec<(String, String)> {
    let mut p = call_params(sid, ADA_PHONE, SUPPORT_NUMBER);
    p.push(("ErrorCode".into(), "11200".into()));
    if let Some(url) = error_url {
        p.push(("ErrorUrl".into(), url.into()));
    }
    p
}

/// Starts a call from Ada: the absolute URL of its PIN Gather action.
async fn at_pin_prompt(app: &TestApp, sid: &str) -> String {
    let r = app.post_form("/voice", &call_params(sid, ADA_PHONE, SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    gather_action(&r.body)
}

fn assert_to_agent(body: &str) {
    assert!(body.contains("<Enqueue") && !body.contains("<Gather"), "the caller goes to an agent: {body}");
}

#[tokio::test]
async fn a_failed_pin_step_is_asked_again_without_a_try_or_a_crm_call() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = at_pin_prompt(&app, &sid).await;
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&action)), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("text/xml"), "{}", r.content_type);
    assert_eq!(gather_action(&r.body), action, "the same prompt, on the same state: {}", r.body);
    assert!(r.body.contains("PIN"), "{}", r.body);
    assert_eq!(app.crm().count("verify"), 0, "the CRM was not asked");
    // The caller's entry at the prompt asked again runs: its claim is free.
    let mut with_pin = call_params(&sid, ADA_PHONE, SUPPORT_NUMBER);
    with_pin.push(("Digits".into(), ADA_PIN.into()));
    let r = app.post_form(&path_and_query(&action), &with_pin, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("<Gather"), "verified and handed on: {}", r.body);
    assert_eq!(app.crm().count("verify"), 1);
    app.written().await;
    let (_, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["verify_attempts"], 1, "the fallback counted no try: {record}");
    assert_eq!(record["idv_status"], "verified", "{record}");
}

#[tokio::test]
async fn a_failed_step_that_ran_after_all_gets_its_stored_answer() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = at_pin_prompt(&app, &sid).await;
    let mut wrong = call_params(&sid, ADA_PHONE, SUPPORT_NUMBER);
    wrong.push(("Digits".into(), "9087".into()));
    let first = app.post_form(&path_and_query(&action), &wrong, Some(AUTH_TOKEN)).await;
    assert_eq!(first.status, 200);
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&action)), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, first.body, "the answer the step gave, not the prompt again");
    assert_eq!(app.crm().count("verify"), 1);
}

#[tokio::test]
async fn a_failed_first_webhook_goes_to_an_agent_unidentified() {
    let app = spawn_app().await;
    let sid = call_sid();
    let error_url = format!("{}/voice", app.public);
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&error_url)), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_to_agent(&r.body);
    assert_eq!(app.crm().count("phone"), 0, "the CRM was not asked");
    app.written().await;
    let (status, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "the call is on record: {record}");
    assert_eq!(
        (record["idv_status"].as_str(), record["outcome"].as_str()),
        (Some("unidentified"), Some("agent")),
        "{record}"
    );
}

#[tokio::test]
async fn a_first_webhook_answered_after_all_gets_that_answer() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = at_pin_prompt(&app, &sid).await;
    let error_url = format!("{}/voice", app.public);
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&error_url)), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200);
    assert_eq!(gather_action(&r.body), action, "{}", r.body);
}

#[tokio::test]
async fn garbage_missing_or_tampered_error_urls_go_to_an_agent_with_a_200() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = at_pin_prompt(&app, &sid).await;
    let tampered = action.replace("state=", "state=x");
    let other_sid = call_sid();
    for error_url in [
        Some("not a url at all"),
        Some("https://example.com/voice/support/verify"),
        Some("https://example.com/nowhere?state=abc"),
        Some(tampered.as_str()),
        None,
    ] {
        let r = app.post_form("/fallback", &fallback_params(&sid, error_url), Some(AUTH_TOKEN)).await;
        assert_eq!(r.status, 200, "{error_url:?}: {}", r.body);
        assert_to_agent(&r.body);
    }
    // Another call's state is not this call's.
    let r = app.post_form("/fallback", &fallback_params(&other_sid, Some(&action)), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200);
    assert_to_agent(&r.body);
    assert_eq!(app.crm().count("verify"), 0);
}

#[tokio::test]
async fn an_unsigned_or_missigned_fallback_is_refused() {
    let app = spawn_app().await;
    let sid = call_sid();
    let action = at_pin_prompt(&app, &sid).await;
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&action)), None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app.post_form("/fallback", &fallback_params(&sid, Some(&action)), Some("wrong-token-wrong-token")).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

//! The admin API and the health check.

use crate::helpers::*;

#[tokio::test]
async fn the_call_api_needs_the_admin_token() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]).await;
    assert_eq!(app.api_call(&t.call_sid, None).await.0, 401);
    assert_eq!(app.api_call(&t.call_sid, Some("wrong-token-wrong-token")).await.0, 401);
    let (status, body) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    for field in [
        "call_sid",
        "service_line",
        "customer_id",
        "customer_name",
        "idv_status",
        "idv_method",
        "opted_out",
        "outcome",
        "identify_attempts",
        "verify_attempts",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["call_sid"], t.call_sid.as_str());
    assert_eq!(body["caller"], "+1********01", "the caller's number is masked");
}

#[tokio::test]
async fn an_unknown_call_is_404() {
    let app = spawn_app().await;
    let (status, body) = app.api_call(&call_sid(), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no such call");
}

#[tokio::test]
async fn a_call_in_progress_shows_how_far_it_got() {
    let app = spawn_app().await;
    let sid = call_sid();
    let r = app.post_form("/voice", &call_params(&sid, ADA_PHONE, SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200);
    let (_, body) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(body["outcome"], "in_progress");
    assert_eq!(body["idv_status"], "identified");
    assert_eq!(body["idv_method"], "ani");
}

#[tokio::test]
async fn without_an_admin_token_outside_demo_mode_the_api_is_off() {
    let app = spawn_with(Options { env: vec![("VOUCH_ADMIN_TOKEN", String::new())], ..Options::default() }).await;
    let (status, body) = app.api_call(&call_sid(), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("VOUCH_ADMIN_TOKEN"));
}

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let r = app.http.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

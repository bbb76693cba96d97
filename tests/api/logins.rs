//! Logging in and out, sessions and API tokens (`vouch hash-password` runs
//! as the real binary in `tests/cli`).

use crate::desk_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn the_right_password_logs_in_with_a_strict_http_only_cookie() {
    let app = spawn_desk().await;
    let form = app.page("/agent/login", None, None).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<label for=\"password\">Password</label>"));
    assert!(!form.body.contains("Demo mode"), "no demo hint outside demo mode");

    let (status, location, cookie) = app.login(AGENT, AGENT_PASSWORD, "/agent/calls/CA00").await;
    assert_eq!((status, location.as_str()), (303, "/agent/calls/CA00"));
    let cookie = cookie.expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http public URL");
    let page = app.page("/agent", Some(&cookie_value(&cookie)), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("Signed in as <strong>{AGENT}</strong>")), "{}", page.body);
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_gets_the_form_again() {
    let app = spawn_desk().await;
    for (name, password) in
        [(AGENT, "wrong password"), ("nobody", AGENT_PASSWORD), (AGENT, ""), (SUPERVISOR, AGENT_PASSWORD)]
    {
        let (status, _, cookie) = app.login(name, password, "/agent").await;
        assert_eq!(status, 401, "{name}/{password}");
        assert_eq!(cookie, None);
    }
    let r = app
        .http
        .post(format!("{}/agent/login", app.address))
        .form(&[("name", AGENT), ("password", "nope"), ("next", "/agent")])
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("Wrong name or password."), "{body}");
    let r = app.http.post(format!("{}/agent/login", app.address)).form(&[("name", AGENT)]).send().await.unwrap();
    assert_eq!(r.status(), 400, "a form without a password is a bad request");
    assert!(r.text().await.unwrap().contains("missing field `password`"));
    let r = app.http.post(format!("{}/agent/login", app.address)).json(&[AGENT]).send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.text().await.unwrap().contains("application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn after_login_only_local_agent_pages_are_redirect_targets() {
    let app = spawn_desk().await;
    for next in ["https://evil.example.com/", "//evil.example.com/agent", "/api/calls/x", "/agent/login", "/agentx"] {
        let (status, location, _) = app.login(AGENT, AGENT_PASSWORD, next).await;
        assert_eq!((status, location.as_str()), (303, "/agent"), "{next}");
    }
}

#[tokio::test]
async fn a_https_public_url_makes_the_cookie_secure_and_logout_clears_it() {
    let app = spawn_with(Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", users_toml()), ("VOUCH_PUBLIC_URL", "https://vouch.example.com".into())],
        ..Options::default()
    })
    .await;
    let (_, _, cookie) = app.login(AGENT, AGENT_PASSWORD, "/agent").await;
    assert!(cookie.expect("cookie").contains("Secure"));
    let r = app.http.post(format!("{}/agent/logout", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cleared = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(cleared.starts_with("vouch_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let r = app.http.get(format!("{}/agent/logout", app.address)).send().await.unwrap();
    assert_eq!(r.status(), 405, "logging out is a POST");
}

#[tokio::test]
async fn a_session_or_api_token_reads_the_call_api_and_the_admin_token_still_works() {
    let app = spawn_desk().await;
    let sid = app.call(ZOE_PHONE, SUPPORT_NUMBER, &[&format!("{ZOE_PIN}#")]).await.call_sid;
    let (status, body) = app.api_call(&sid, Some(API_TOKEN)).await;
    assert_eq!((status, body["customer_name"].as_str()), (200, Some(ZOE_NAME)));
    assert_eq!(app.api_call(&sid, Some(ADMIN_TOKEN)).await.0, 200);
    assert_eq!(app.api_call(&sid, Some("api-token-for-the-flex-plugin-0123456788")).await.0, 401);

    let session = app.session(AGENT, AGENT_PASSWORD).await;
    let r = app.page(&format!("/api/calls/{sid}"), Some(&session), None).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let r = app.page(&format!("/api/calls/{sid}"), Some(&session), Some("wrong-token-wrong-token")).await;
    assert_eq!(r.status, 401, "a wrong token is refused even beside a good cookie");
    assert!(r.body.contains("wrong bearer token"), "{}", r.body);

    let page = app.page("/agent", None, Some(API_TOKEN)).await;
    assert_eq!(page.status, 200, "machines may read the pages too");
}

#[tokio::test]
async fn a_session_from_another_key_or_a_removed_user_is_refused() {
    let app = spawn_desk().await;
    let session = app.session(AGENT, AGENT_PASSWORD).await;
    let other = spawn_with(Options {
        env: vec![
            ("VOUCH_USERS", users_toml()),
            ("VOUCH_STATE_SECRET", "another-state-secret-0123456789abcdef0123".into()),
        ],
        ..Options::default()
    })
    .await;
    let page = other.page("/agent", Some(&session), None).await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("session has expired or is no longer valid"), "{}", page.body);
    let without_users = spawn_app().await;
    assert_eq!(without_users.page("/agent", Some(&session), None).await.status, 401, "the user is gone");
}

#[tokio::test]
async fn demo_mode_has_a_labelled_demo_login() {
    let app = spawn_with(Options {
        env: vec![("TWILIO_AUTH_TOKEN", String::new()), ("TWILIO_AUTH_TOKEN_SECONDARY", String::new())],
        ..Options::default()
    })
    .await;
    let form = app.page("/agent/login", None, None).await;
    assert!(form.body.contains("Demo mode: log in as <code>demo</code>"), "{}", form.body);
    let session = app.session("demo", "demo").await;
    assert_eq!(app.page("/agent", Some(&session), None).await.status, 200);
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app.page("/static/agent.css", None, None).await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "text/css; charset=utf-8"));
    assert!(r.body.contains(".badge-verified"));
}

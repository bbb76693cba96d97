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

/// `POST /agent/login` from `address` (sent as `X-Forwarded-For`, which
/// Vouch believes from a loopback peer, as from a proxy): status,
/// `Retry-After`, body.
async fn login_from(app: &TestApp, address: &str, name: &str, password: &str) -> (u16, Option<u64>, String) {
    let r = app
        .http
        .post(format!("{}/agent/login", app.address))
        .header("x-forwarded-for", address)
        .form(&[("name", name), ("password", password), ("next", "/agent")])
        .send()
        .await
        .expect("request");
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn logins_beyond_the_password_check_bound_get_429_with_retry_after() {
    let app = spawn_desk().await;
    let attempts = (0..40).map(|i| {
        let app = &app;
        async move { login_from(app, &format!("198.51.100.{i}"), AGENT, AGENT_PASSWORD).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    assert!(
        answers.iter().all(|(s, _, _)| *s == 303 || *s == 429),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(answers.iter().any(|(s, _, _)| *s == 303), "some got in");
    assert!(busy.len() >= 20, "40 at once, 4 checked at a time: {} refused", busy.len());
    for (_, retry, body) in busy {
        assert_eq!(*retry, Some(1), "Retry-After");
        assert!(body.contains("busy checking other logins"), "{body}");
    }
    // Once the rush is over, logging in works.
    assert_eq!(login_from(&app, "198.51.100.200", AGENT, AGENT_PASSWORD).await.0, 303);
}

#[tokio::test]
async fn with_no_users_a_login_is_refused_at_once_without_hashing() {
    // Timed against a baseline in the same run: an unknown name where users
    // exist costs one (dummy) Argon2id check, tens of milliseconds.
    async fn median_refusal(app: &TestApp, expect: &str) -> std::time::Duration {
        let mut took = Vec::new();
        for i in 0..7 {
            let started = std::time::Instant::now();
            let (status, _, body) =
                login_from(app, &format!("198.51.100.{i}"), &format!("someone{i}"), "a password").await;
            took.push(started.elapsed());
            assert_eq!(status, 401);
            assert!(body.contains(expect), "{body}");
        }
        took.sort();
        took[3]
    }
    let hashing = median_refusal(&spawn_desk().await, "Wrong name or password").await;
    let nobody = median_refusal(&spawn_app().await, "Nobody can log in: no users are configured").await;
    assert!(nobody * 3 < hashing, "no users: {nobody:?} per refusal; one password check: {hashing:?}");
}

#[tokio::test]
async fn failures_at_one_name_back_off_from_any_address_but_never_lock_the_user_out_for_long() {
    let app = spawn_desk().await;
    for i in 1..=5 {
        assert_eq!(login_from(&app, &format!("203.0.113.{i}"), AGENT, "guess").await.0, 401, "free failure {i}");
    }
    // The sixth failure starts a backoff for the name, whatever the address.
    assert_eq!(login_from(&app, "203.0.113.6", AGENT, "guess").await.0, 401);
    let (status, retry, body) = login_from(&app, "203.0.113.9", AGENT, AGENT_PASSWORD).await;
    assert_eq!((status, retry), (429, Some(1)), "{body}");
    assert!(body.contains("Too many failed logins"), "{body}");
    assert_eq!(login_from(&app, "203.0.113.9", SUPERVISOR, SUPERVISOR_PASSWORD).await.0, 303, "other names are free");
    // The backoff is short and bounded: the user gets in once it is over.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(login_from(&app, "203.0.113.9", AGENT, AGENT_PASSWORD).await.0, 303);
}

#[tokio::test]
async fn failures_from_one_address_back_off_whatever_the_names_with_growing_delays() {
    let app = spawn_desk().await;
    let attacker = "203.0.113.50";
    for i in 1..=10 {
        assert_eq!(login_from(&app, attacker, &format!("name{i}"), "guess").await.0, 401, "free failure {i}");
    }
    assert_eq!(login_from(&app, attacker, "name11", "guess").await.0, 401, "the failure that starts the backoff");
    let (status, retry, _) = login_from(&app, attacker, AGENT, AGENT_PASSWORD).await;
    assert_eq!((status, retry), (429, Some(1)), "the address backs off, even with a right password");
    assert_eq!(login_from(&app, "203.0.113.51", AGENT, AGENT_PASSWORD).await.0, 303, "other addresses are free");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(login_from(&app, attacker, "name12", "guess").await.0, 401);
    let (status, retry, _) = login_from(&app, attacker, "name13", "guess").await;
    assert_eq!((status, retry), (429, Some(2)), "the next delay is longer");
}

#[tokio::test]
async fn logging_out_revokes_the_session_so_the_old_cookie_is_refused() {
    let app = spawn_desk().await;
    let session = app.session(AGENT, AGENT_PASSWORD).await;
    let other = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.page("/agent", Some(&session), None).await.status, 200);
    let r = app
        .http
        .post(format!("{}/agent/logout", app.address))
        .header("cookie", format!("vouch_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = app.page("/agent", Some(&session), None).await;
    assert_eq!(page.status, 401, "the cookie kept after logging out");
    assert!(page.body.contains("session has expired or is no longer valid"), "{}", page.body);
    assert_eq!(app.page("/api/calls/CA00", Some(&session), None).await.status, 401);
    assert_eq!(app.page("/agent", Some(&other), None).await.status, 200, "another session of the user goes on");
}

/// Two Vouch instances on one database, with the test users.
async fn two_desks(database_url: &str) -> (TestApp, TestApp) {
    let desk = || Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", users_toml())],
        database_url: Some(database_url.to_string()),
        ..Options::default()
    };
    (spawn_with(desk()).await, spawn_with(desk()).await)
}

async fn a_logout_on_one_instance_holds_on_the_other(first: &TestApp, second: &TestApp) {
    let session = first.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(second.page("/agent", Some(&session), None).await.status, 200, "a session is good on every instance");
    let r = first
        .http
        .post(format!("{}/agent/logout", first.address))
        .header("cookie", format!("vouch_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(second.page("/agent", Some(&session), None).await.status, 401, "revoked for every instance");
    assert_eq!(first.page("/agent", Some(&session), None).await.status, 401);
}

#[tokio::test]
async fn a_logout_holds_on_every_instance_sharing_a_sqlite_database() {
    let (url, _dir) = sqlite_url();
    let (first, second) = two_desks(&url).await;
    a_logout_on_one_instance_holds_on_the_other(&first, &second).await;
}

#[tokio::test]
async fn a_logout_holds_on_every_instance_sharing_a_postgres_database() {
    let Some(pg) = crate::database::postgres().await else { return };
    let (first, second) = two_desks(&pg.url).await;
    a_logout_on_one_instance_holds_on_the_other(&first, &second).await;
}

#[tokio::test]
async fn a_changed_password_or_a_removed_user_ends_their_sessions_on_every_instance_after_a_restart() {
    let (url, _dir) = sqlite_url();
    let (old, _) = two_desks(&url).await;
    let agent = old.session(AGENT, AGENT_PASSWORD).await;
    let supervisor = old.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    assert_eq!(old.page("/agent", Some(&agent), None).await.status, 200);

    // A new users file: the agent has a new password, the supervisor is gone.
    let new_hash = vouch::auth::password::hash("a brand new password").unwrap();
    let agent_block = users_toml().split("\n\n").next().unwrap().to_string();
    let old_hash = agent_block.split("password_hash = \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let changed = agent_block.replace(&old_hash, &new_hash);
    let restarted = spawn_with(Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", changed)],
        database_url: Some(url.clone()),
        ..Options::default()
    })
    .await;
    for (who, cookie) in [("the agent", &agent), ("the supervisor", &supervisor)] {
        let page = restarted.page("/agent", Some(cookie), None).await;
        assert_eq!(page.status, 401, "{who} on the restarted instance");
        // The instance still running with the old users file was told too.
        assert_eq!(old.page("/agent", Some(cookie), None).await.status, 401, "{who} on the old instance");
    }
    let fresh = restarted.session(AGENT, "a brand new password").await;
    assert_eq!(restarted.page("/agent", Some(&fresh), None).await.status, 200);
}

//! The audit log: every login (success or failure), every screen pop
//! opened and every lockout lifted, with a named actor, readable by
//! supervisors only at `GET /api/audit`, with filters and JSON lines.

use crate::desk_helpers::*;
use crate::helpers::*;
use sqlx::Connection;

/// `GET /api/audit?query` with a bearer token or a session: status, body.
async fn audit(app: &TestApp, query: &str, bearer: Option<&str>, session: Option<&str>) -> (u16, String, String) {
    let mut rb = app.http.get(format!("{}/api/audit{query}", app.address));
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    if let Some(s) = session {
        rb = rb.header("cookie", format!("vouch_session={s}"));
    }
    let r = rb.send().await.unwrap();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), content_type, r.text().await.unwrap())
}

/// The entries the admin token reads with `query`.
async fn entries(app: &TestApp, query: &str) -> Vec<serde_json::Value> {
    let (status, _, body) = audit(app, query, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["entries"].as_array().unwrap().clone()
}

fn has(entries: &[serde_json::Value], actor: &str, action: &str, target: &str) -> bool {
    entries.iter().any(|e| e["actor"] == actor && e["action"] == action && e["target"] == target)
}

/// A name someone typed with their password in it.
const TYPED: &str = "hunter2-typed-into-the-name";

async fn lift_lockout(app: &TestApp, session: Option<&str>, bearer: Option<&str>) -> u16 {
    let mut rb = app.http.delete(format!("{}/api/lockouts/{ADA_ID}", app.address));
    if let Some(s) = session {
        rb = rb.header("cookie", format!("vouch_session={s}"));
    }
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    rb.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_login_screen_pop_and_lifted_lockout_is_audited_with_its_actor() {
    let app = &spawn_desk().await;
    let session = app.session(AGENT, AGENT_PASSWORD).await;
    assert_eq!(app.login(AGENT, "wrong", "/agent").await.0, 401);
    assert_eq!(app.login(TYPED, AGENT_PASSWORD, "/agent").await.0, 401);
    let sid = app.call(ZOE_PHONE, SUPPORT_NUMBER, &[&format!("{ZOE_PIN}#")]).await.call_sid;
    assert_eq!(app.page(&format!("/agent/calls/{sid}"), Some(&session), None).await.status, 200);
    assert_eq!(app.page(&screen_pop_link(&sid, now()), None, None).await.status, 200);
    let supervisor = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    assert_eq!(lift_lockout(app, None, Some(ADMIN_TOKEN)).await, 200);
    assert_eq!(lift_lockout(app, Some(&supervisor), None).await, 200);

    let call = format!("call:{sid}");
    let user = format!("user:{AGENT}");
    let all = wait_for_entries(app, |e| has(e, "screen-pop link", "screen_pop", &call)).await;
    assert!(has(&all, AGENT, "login", &user), "{all:#?}");
    assert!(has(&all, AGENT, "login_failed", ""), "{all:#?}");
    assert!(has(&all, "unknown user", "login_failed", ""), "{all:#?}");
    assert!(has(&all, AGENT, "screen_pop", &call), "{all:#?}");
    let lifted: Vec<_> = all.iter().filter(|e| e["action"] == "lockout_lifted").collect();
    assert_eq!(lifted.len(), 2, "{all:#?}");
    assert!(lifted.iter().any(|e| e["actor"] == "admin token"));
    assert!(lifted.iter().any(|e| e["actor"] == SUPERVISOR));
    for e in &lifted {
        let target = e["target"].as_str().unwrap();
        assert!(target.starts_with("customer:c_") && !target.contains(ADA_ID), "a keyed hash: {target}");
    }
    assert!(all.iter().all(|e| e["detail"].is_object() && e["at"].is_u64() && e["time"].is_string()));

    // Neither the API nor the database holds the typed name of a failed
    // login, or the customer id.
    app.written().await;
    let (_, _, export) = audit(app, "?format=jsonl&limit=10000", Some(ADMIN_TOKEN), None).await;
    assert!(!export.contains(TYPED) && !export.contains(ADA_ID), "{export}");
    let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT actor, action, target, detail FROM audit_log").fetch_all(&mut db).await.unwrap();
    assert!(rows.len() >= 8, "{rows:?}");
    for row in &rows {
        let text = format!("{row:?}");
        assert!(!text.contains(TYPED) && !text.contains(ADA_ID), "{text}");
    }
}

/// Polls the log until `ready` holds (screen pops are audited in the background).
async fn wait_for_entries(app: &TestApp, ready: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let found = entries(app, "?limit=1000").await;
        if ready(&found) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for the audit entries: {found:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn only_supervisors_read_the_audit_log() {
    let app = &spawn_desk().await;
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    let supervisor = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let (status, _, body) = audit(app, "", None, Some(&agent)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("supervisor role"), "{body}");
    assert_eq!(audit(app, "", Some(API_TOKEN), None).await.0, 403, "an agent's API token");
    assert_eq!(audit(app, "", None, None).await.0, 401);
    assert_eq!(audit(app, "", Some("wrong-token-wrong-token"), None).await.0, 401);
    let (status, content_type, body) = audit(app, "", None, Some(&supervisor)).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{body}");
    assert!(body.contains(&format!("\"actor\":\"{SUPERVISOR}\"")), "{body}");
}

#[tokio::test]
async fn the_audit_log_filters_and_exports_json_lines() {
    filters_and_json_lines(&spawn_desk().await).await;
}

#[tokio::test]
async fn the_audit_log_filters_in_postgres() {
    let Some(pg) = crate::database::postgres().await else { return };
    let app = spawn_with(Options {
        toml: agent_line_toml(),
        env: vec![("VOUCH_USERS", users_toml())],
        database_url: Some(pg.url.clone()),
        ..Options::default()
    })
    .await;
    filters_and_json_lines(&app).await;
}

async fn filters_and_json_lines(app: &TestApp) {
    app.session(AGENT, AGENT_PASSWORD).await;
    app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    assert_eq!(app.login(AGENT, "wrong", "/agent").await.0, 401);
    assert_eq!(lift_lockout(app, None, Some(ADMIN_TOKEN)).await, 200);
    assert_eq!(lift_lockout(app, None, Some(ADMIN_TOKEN)).await, 200);

    let logins = entries(app, "?action=login").await;
    assert_eq!(logins.len(), 2, "{logins:#?}");
    assert!(logins.iter().all(|e| e["action"] == "login"));
    assert_eq!(logins[0]["actor"], SUPERVISOR, "newest first");
    let agent = entries(app, &format!("?actor={AGENT}")).await;
    assert_eq!(agent.len(), 2, "a login and a failure: {agent:#?}");
    let ada = entries(app, &format!("?customer={ADA_ID}")).await;
    assert_eq!(ada.len(), 2, "found by the customer id, stored as a keyed hash: {ada:#?}");
    assert!(entries(app, &format!("?customer={GRACE_ID}")).await.is_empty());
    assert_eq!(entries(app, "?limit=1").await.len(), 1);
    let now = now();
    assert_eq!(entries(app, &format!("?since={}", now - 60)).await.len(), 5);
    assert!(entries(app, &format!("?since={}", now + 60)).await.is_empty());
    assert!(entries(app, &format!("?until={}", now - 60)).await.is_empty());

    let (status, content_type, body) = audit(app, "?format=jsonl&action=lockout_lifted", Some(ADMIN_TOKEN), None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/x-ndjson"));
    let lines: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|e| e["actor"] == "admin token"));
    let r = app
        .http
        .get(format!("{}/api/audit", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(r.text().await.unwrap().lines().count(), 5);

    for (query, reason) in [
        ("?action=nonsense", "unknown action"),
        ("?limit=0", "limit must be"),
        ("?since=yesterday", "since"),
        ("?colour=red", "unknown field"),
        ("?format=xml", "unknown format"),
    ] {
        let (status, _, body) = audit(app, query, Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(reason), "{query}: {body}");
    }
}

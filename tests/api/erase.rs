//! Erasing one customer (`DELETE /api/customers/{id}/records`): their call
//! records (database, cache, write buffer), their lockout counter and the
//! recordings of their calls go; another customer's stay; only supervisors
//! may, and doing it again removes nothing.

use crate::database::{all_rows_json, postgres, sqlite_bytes};
use crate::desk_helpers::*;
use crate::helpers::*;

const GRACE_PHONE: &str = "+15551230002";

/// Who asks.
enum As<'a> {
    Bearer(&'a str),
    Session(&'a str),
    Nobody,
}

async fn erase(app: &TestApp, id: &str, who: As<'_>) -> (u16, String, serde_json::Value) {
    let mut rb = app.http.delete(format!("{}/api/customers/{id}/records", app.address));
    match who {
        As::Bearer(token) => rb = rb.bearer_auth(token),
        As::Session(cookie) => rb = rb.header("cookie", format!("vouch_session={cookie}")),
        As::Nobody => {}
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, content_type, r.json().await.unwrap_or_default())
}

async fn failures(app: &TestApp, id: &str) -> u64 {
    let page = app.page(&format!("/api/lockouts/{id}"), None, Some(ADMIN_TOKEN)).await;
    serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["failures"].as_u64().unwrap()
}

/// The recordings in `dir` of the call `sid`.
fn recordings_of(dir: &std::path::Path, sid: &str) -> usize {
    std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(sid)).count()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn one_customer_is_erased_and_the_other_kept(database_url: Option<String>) {
    let recordings = tempfile::tempdir().unwrap();
    let dir = recordings.path();
    let app = spawn_with(Options {
        env: vec![("VOUCH_USERS", users_toml())],
        database_url,
        record_dir: Some(dir.to_path_buf()),
        ..Options::default()
    })
    .await;
    let url = app.database_url.clone();
    let ada_verified = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await.call_sid;
    let grace_verified = app.call(GRACE_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_PIN}#")]).await.call_sid;
    let grace_failed = app.call(GRACE_PHONE, SUPPORT_NUMBER, &["0000#", "", "", ""]).await.call_sid;
    app.written().await;
    let answers = all_rows_json(&url, "webhook_claims").await;
    assert!(answers.iter().any(|r| r.contains(&ada_verified)), "Ada's answers were stored: {answers:?}");
    if url.starts_with("sqlite:") {
        let bytes = sqlite_bytes(&url);
        assert!(contains(&bytes, ADA_ID) && contains(&bytes, "Ada Lovelace"), "the file held Ada before");
    }
    wait_for("Grace's failure to be counted", || async { failures(&app, GRACE_ID).await == 1 }).await;
    let grace_files = recordings_of(dir, &grace_verified) + recordings_of(dir, &grace_failed);

    // Only a supervisor may; refusals are JSON.
    let (status, content_type, body) = erase(&app, ADA_ID, As::Nobody).await;
    assert_eq!((status, content_type.as_str()), (401, "application/json"), "{body}");
    let (status, _, body) = erase(&app, ADA_ID, As::Bearer(API_TOKEN)).await;
    assert_eq!(status, 403, "an agent's token: {body}");
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    let (status, content_type, _) = erase(&app, ADA_ID, As::Session(&agent)).await;
    assert_eq!((status, content_type.as_str()), (403, "application/json"), "an agent's session");
    assert_eq!(app.api_call(&ada_verified, Some(ADMIN_TOKEN)).await.0, 200, "refusals erase nothing");
    let supervisor = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;

    // Two wrong PINs (a lockout counter of 2), and the erasure at once:
    // the failures' writes may still be in the background. (A record still
    // in the write buffer is the store's unit test: over HTTP the writer
    // is usually quicker than the erasure.)
    let ada_failed = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "", "", ""]).await.call_sid;
    let ada = [&ada_verified, &ada_failed];
    assert!(ada.iter().all(|sid| recordings_of(dir, sid) > 0), "each of Ada's calls was recorded");
    let ada_files: usize = ada.iter().map(|sid| recordings_of(dir, sid)).sum();
    let (status, _, body) = erase(&app, ADA_ID, As::Session(&supervisor)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({ "records": 2, "counters": 2, "files": ada_files, "report_files": 0 }));

    for sid in ada {
        assert_eq!(app.api_call(sid, Some(ADMIN_TOKEN)).await.0, 404, "{sid} is gone");
        assert_eq!(recordings_of(dir, sid), 0, "{sid}'s recordings are gone");
    }
    assert_eq!(failures(&app, ADA_ID).await, 0, "Ada's lockout counter is cleared");
    // The erasure is audited: who, what was removed, and Ada only as a keyed hash.
    let r = app.http.get(format!("{}/api/audit?action=erasure&format=jsonl", app.address)).bearer_auth(ADMIN_TOKEN);
    let audit = r.send().await.unwrap().text().await.unwrap();
    let entry: serde_json::Value = serde_json::from_str(audit.lines().next().expect("an erasure entry")).unwrap();
    assert_eq!((entry["actor"].as_str(), entry["action"].as_str()), (Some(SUPERVISOR), Some("erasure")), "{audit}");
    assert!(entry["target"].as_str().is_some_and(|t| t.starts_with("customer:c_")), "{audit}");
    assert!(!audit.contains(ADA_ID) && !audit.contains("Ada Lovelace"), "{audit}");
    let r =
        app.http.get(format!("{}/api/audit?action=erasure&customer={ADA_ID}", app.address)).bearer_auth(ADMIN_TOKEN);
    assert!(r.send().await.unwrap().text().await.unwrap().contains("erasure"), "found by the customer's id");
    // Nothing buffered before the erasure lands after it.
    app.written().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rows = all_rows_json(&url, "call_records").await;
    assert_eq!(rows.len(), 2, "Grace's two records are all that is left: {rows:?}");
    assert!(rows.iter().all(|r| !r.contains(ADA_ID) && !r.contains("Ada Lovelace")), "{rows:?}");
    assert!(all_rows_json(&url, "guard_events").await.iter().all(|r| !r.contains(ADA_ID)));
    let answers = all_rows_json(&url, "webhook_claims").await;
    assert!(answers.iter().all(|r| !r.contains(&ada_verified)), "her stored answers are gone: {answers:?}");
    assert!(answers.iter().any(|r| r.contains(&grace_verified)), "Grace's stay: {answers:?}");
    if url.starts_with("sqlite:") {
        let bytes = sqlite_bytes(&url);
        assert!(!contains(&bytes, ADA_ID), "the database file no longer holds Ada's id");
        assert!(!contains(&bytes, "Ada Lovelace"), "the database file no longer holds Ada's name");
        assert!(contains(&bytes, "Grace Hopper"), "the check reads what is there");
    }

    // Grace is untouched.
    for sid in [&grace_verified, &grace_failed] {
        let (status, record) = app.api_call(sid, Some(ADMIN_TOKEN)).await;
        assert_eq!((status, record["customer_id"].as_str()), (200, Some(GRACE_ID)));
    }
    assert_eq!(recordings_of(dir, &grace_verified) + recordings_of(dir, &grace_failed), grace_files);
    assert_eq!(failures(&app, GRACE_ID).await, 1);

    // Again, or for someone never seen: nothing to remove, and still 200.
    for id in [ADA_ID, "00000000"] {
        let (status, _, body) = erase(&app, id, As::Bearer(ADMIN_TOKEN)).await;
        assert_eq!(
            (status, body),
            (200, serde_json::json!({ "records": 0, "counters": 0, "files": 0, "report_files": 0 }))
        );
    }
}

#[tokio::test]
async fn a_supervisor_erases_one_customer_and_the_sqlite_file_keeps_no_trace() {
    one_customer_is_erased_and_the_other_kept(None).await;
}

#[tokio::test]
async fn a_supervisor_erases_one_customer_in_postgres() {
    let Some(pg) = postgres().await else { return };
    one_customer_is_erased_and_the_other_kept(Some(pg.url.clone())).await;
}

#[tokio::test]
async fn an_id_no_crm_would_give_is_refused_and_other_methods_are_not_allowed() {
    let app = spawn_app().await;
    let long = "1".repeat(257);
    for bad in [long.as_str(), "a%0Ab"] {
        let (status, _, body) = erase(&app, bad, As::Bearer(ADMIN_TOKEN)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("not a customer id")), "{bad}");
    }
    let r = app.http.get(format!("{}/api/customers/{ADA_ID}/records", app.address)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "DELETE"));
}

#[tokio::test]
async fn a_memory_only_store_erases_from_memory() {
    let app = spawn_with(Options { database_url: Some("memory:".into()), ..Options::default() }).await;
    let ada = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await.call_sid;
    let grace = app.call(GRACE_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_PIN}#")]).await.call_sid;
    let (status, _, body) = erase(&app, ADA_ID, As::Bearer(ADMIN_TOKEN)).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({ "records": 1, "counters": 0, "files": 0, "report_files": 0 }))
    );
    assert_eq!(app.api_call(&ada, Some(ADMIN_TOKEN)).await.0, 404);
    assert_eq!(app.api_call(&grace, Some(ADMIN_TOKEN)).await.0, 200);
    let (_, _, body) = erase(&app, ADA_ID, As::Bearer(ADMIN_TOKEN)).await;
    assert_eq!(body["records"], 0);
}

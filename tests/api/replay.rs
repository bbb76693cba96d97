//! Replayed and retried webhooks: a captured request (URL, body and
//! signature) sent again, with any idempotency header, gets the answer the
//! first one got, byte for byte. It never asks the CRM again, counts a try,
//! mints a hand-off token or rewrites a call's record; overlapping copies
//! wait for the first answer, on this instance or another sharing the
//! database; and a claim whose holder died lapses.

use crate::database::{postgres, SqliteLock};
use crate::helpers::*;
use std::time::{Duration, Instant};
use vouch::store::claims::ClaimKey;
use vouch::twilio::form::Params;
use vouch::twilio::signature;

/// The demo configuration with a lockout after `failures`.
fn with_lockout(failures: u64) -> String {
    format!("{}\n[security]\nlockout_failures = {failures}\n", vouch::config::DEMO_CONFIG)
}

/// A signed request as a logging proxy would keep it.
struct Captured {
    path: String,
    params: Params,
    signature: String,
}

impl Captured {
    fn new(app: &TestApp, path: &str, params: Vec<(String, String)>) -> Self {
        let params = Params::from_pairs(params);
        let signature = signature::sign(AUTH_TOKEN, &format!("{}{path}", app.public), &params);
        Self { path: path.to_string(), params, signature }
    }

    /// Sends it to `app` with `idempotency` as `I-Twilio-Idempotency-Token`.
    async fn send(&self, app: &TestApp, idempotency: &str) -> String {
        let r = app
            .http
            .post(format!("{}{}", app.address, self.path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &self.signature)
            .header("I-Twilio-Idempotency-Token", idempotency)
            .body(self.params.encode())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }
}

/// Ada's failed verifications, as `GET /api/lockouts/{id}` shows them.
async fn failures(app: &TestApp) -> u64 {
    let r = app.http.get(format!("{}/api/lockouts/{ADA_ID}", app.address)).bearer_auth(ADMIN_TOKEN).send().await;
    let body: serde_json::Value = r.unwrap().json().await.unwrap();
    body["failures"].as_u64().expect("a failure count")
}

/// Waits until Ada's count is `n`, then checks it stays there a moment
/// (counts are written in the background).
async fn failures_settle_at(app: &TestApp, n: u64) {
    wait_for(&format!("{n} failures"), || async { failures(app).await >= n }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failures(app).await, n);
}

#[tokio::test]
async fn a_captured_wrong_pin_replayed_with_new_idempotency_tokens_is_not_another_try() {
    let app = spawn_with(Options { toml: with_lockout(5), ..Options::default() }).await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let captured = Captured::new(&app, &action, with_digits(&sid, "9087"));
    let first = captured.send(&app, "original").await;
    assert!(first.contains("wasn&apos;t accepted") || first.contains("wasn't accepted"), "{first}");
    for i in 0..5 {
        let again = captured.send(&app, &format!("replay-{i}")).await;
        assert_eq!(again, first, "replay {i} gets the first answer, byte for byte");
    }
    assert_eq!(app.crm().count("verify"), 1, "the CRM was asked once");
    failures_settle_at(&app, 1).await;
    let (_, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["verify_attempts"], 1, "one try on the call's record");
}

#[tokio::test]
async fn a_captured_right_pin_replayed_mints_no_new_token_and_resets_no_failures() {
    let app = spawn_with(Options { toml: with_lockout(5), ..Options::default() }).await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let captured = Captured::new(&app, &action, with_digits(&sid, ADA_PIN));
    let verified = captured.send(&app, "original").await;
    assert!(verified.contains("<Redirect"), "handed on as verified: {verified}");

    // Two failures on another call after the success.
    app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#"]).await;
    failures_settle_at(&app, 2).await;
    // Later, in another second (a new token would carry a new time).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let replayed = captured.send(&app, "replayed").await;
    assert_eq!(replayed, verified, "the same answer: the same hand-off token, no new one");
    assert_eq!(app.crm().count("verify"), 3, "the replay did not reach the CRM");
    failures_settle_at(&app, 2).await;
}

/// A call's record as the API gives it, without what moves with the clock
/// alone: the screen-pop link (signed afresh, valid from the request) and
/// when the call was last heard of (a replayed webhook is heard of).
fn settled(mut record: serde_json::Value) -> serde_json::Value {
    let fields = record.as_object_mut().expect("a record");
    fields.remove("screen_pop_url");
    fields.remove("updated_at");
    fields.remove("timeline");
    record
}

/// The `event` of each timeline event.
fn events(record: &serde_json::Value) -> Vec<&str> {
    record["timeline"].as_array().expect("a timeline").iter().filter_map(|e| e["event"].as_str()).collect()
}

#[tokio::test]
async fn a_finished_call_is_not_rewritten_by_its_replayed_webhooks() {
    let (url, _dir) = sqlite_url();
    let opts = || Options {
        database_url: Some(url.clone()),
        env: vec![("VOUCH_PUBLIC_URL", "https://vouch.example.com".to_string())],
        ..Options::default()
    };
    let app = spawn_with(opts()).await;
    let sid = call_sid();
    let start = Captured::new(&app, "/voice", first_params(&sid));
    let first = start.send(&app, "start").await;
    let action = path_and_query(&gather_action(&first));
    let pin = Captured::new(&app, &action, with_digits(&sid, ADA_PIN));
    let verified = pin.send(&app, "pin").await;
    assert!(verified.contains("<Redirect"), "handed on as verified: {verified}");
    assert_eq!(app.status_callback(&sid, "completed", 3, Some(42)).await.status, 200);
    let (_, finished) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(
        (finished["outcome"].as_str(), finished["call_status"].as_str(), finished["idv_status"].as_str()),
        (Some("self_service"), Some("completed"), Some("verified")),
        "{finished}"
    );

    assert_eq!(start.send(&app, "replayed-start").await, first, "the first webhook's answer again");
    assert_eq!(pin.send(&app, "replayed-pin").await, verified, "the step's answer again");
    let replayed = app.api_call(&sid, Some(ADMIN_TOKEN)).await.1;
    assert_eq!(settled(replayed.clone()), settled(finished.clone()), "the record is unchanged");
    assert_eq!(replayed["timeline"], finished["timeline"], "the steps did not run again");

    // Even once its claim is gone (purged), a first webhook never resets a
    // call that has a record: on an instance that never saw the call.
    app.written().await;
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&app.database_url).await.unwrap();
    sqlx::query("DELETE FROM webhook_claims").execute(&mut db).await.unwrap();
    let other = spawn_with(opts()).await;
    let again = start.send(&other, "after-purge").await;
    assert!(again.contains("<Gather"), "answered as a first webhook: {again}");
    // Its answer is stored just after it was sent.
    let answered = "SELECT COUNT(*) FROM webhook_claims WHERE key = $1 AND answer IS NOT NULL";
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let taken: i64 = sqlx::query_scalar(answered).bind(format!("start:{sid}")).fetch_one(&mut db).await.unwrap();
        if taken == 1 {
            break;
        }
        assert!(Instant::now() < until, "the first step ran again, and was claimed again: {taken} answers stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    other.written().await;
    let after = other.api_call(&sid, Some(ADMIN_TOKEN)).await.1;
    assert!(after["updated_at"].as_u64() >= finished["updated_at"].as_u64(), "{after}");
    assert_eq!(settled(after.clone()), settled(finished.clone()), "the record is still unchanged");
    // The timeline says what happened: the first step ran again, after the end.
    let (before, now) = (events(&finished), events(&after));
    assert_eq!(now.len(), before.len() + 2, "{after}");
    assert_eq!((&now[..before.len()], &now[before.len()..]), (&before[..], &["crm", "prompt"][..]));
}

#[tokio::test]
async fn overlapping_copies_while_the_crm_is_slow_make_one_crm_call() {
    let app = spawn_with(Options { toml: with_lockout(5), ..Options::default() }).await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    app.crm().set_mode(CrmMode::Slow(Duration::from_millis(500)));
    let captured = Captured::new(&app, &action, with_digits(&sid, "9087"));
    let (a, b, c) = tokio::join!(
        captured.send(&app, "same-token"),
        captured.send(&app, "same-token"),
        captured.send(&app, "same-token"),
    );
    assert!(a.contains("wasn&apos;t accepted") || a.contains("wasn't accepted"), "{a}");
    assert_eq!((&b, &c), (&a, &a), "three identical answers");
    assert_eq!(app.crm().count("verify"), 1, "one CRM call");
    failures_settle_at(&app, 1).await;
}

/// Two Vouch instances on one database, behind one public URL (as behind a
/// load balancer): a copy on the second gets the first one's answer, both
/// while the first is still answering and afterwards.
async fn a_copy_on_another_instance_gets_the_first_answer(database_url: String) {
    let opts = || Options {
        toml: with_lockout(5),
        database_url: Some(database_url.clone()),
        env: vec![("VOUCH_PUBLIC_URL", "https://vouch.example.com".to_string())],
        ..Options::default()
    };
    let (a, b) = (spawn_with(opts()).await, spawn_with(opts()).await);
    let sid = call_sid();
    let action = verify_action(&a, &sid).await;
    a.crm().set_mode(CrmMode::Slow(Duration::from_millis(500)));
    let captured = Captured::new(&a, &action, with_digits(&sid, "9087"));
    let (on_a, on_b) = tokio::join!(captured.send(&a, "token-1"), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        captured.send(&b, "token-1").await
    });
    assert!(on_a.contains("wasn&apos;t accepted") || on_a.contains("wasn't accepted"), "{on_a}");
    assert_eq!(on_b, on_a, "the copy on B waited for A's answer");
    assert_eq!(captured.send(&b, "token-2").await, on_a, "and a later one gets it too");
    assert_eq!(a.crm().count("verify") + b.crm().count("verify"), 1, "the CRM was asked once");
    // The first webhook, replayed on B, is A's too.
    let start = Captured::new(&a, "/voice", first_params(&sid));
    let first = a.post_form("/voice", &first_params(&sid), Some(AUTH_TOKEN)).await.body;
    assert_eq!(start.send(&b, "start-on-b").await, first);
    assert_eq!(b.crm().count("phone"), 0, "B never ran the first step");
}

#[tokio::test]
async fn a_copy_on_another_instance_sharing_sqlite_gets_the_first_answer() {
    let (url, _dir) = sqlite_url();
    a_copy_on_another_instance_gets_the_first_answer(url).await;
}

#[tokio::test]
async fn a_copy_on_another_instance_sharing_postgres_gets_the_first_answer() {
    let Some(pg) = postgres().await else { return };
    a_copy_on_another_instance_gets_the_first_answer(pg.url.clone()).await;
}

/// Two copies of a call's first webhook at the same moment on two
/// instances: the first to claim it runs the caller-ID lookup, the other
/// waits for its answer; both send it, the call is on the record once, and
/// a later copy runs nothing.
async fn simultaneous_first_webhooks_on_two_instances_send_one_answer(database_url: String) {
    let opts = || Options {
        database_url: Some(database_url.clone()),
        env: vec![("VOUCH_PUBLIC_URL", "https://vouch.example.com".to_string())],
        ..Options::default()
    };
    let (a, b) = (spawn_with(opts()).await, spawn_with(opts()).await);
    for app in [&a, &b] {
        app.crm().set_mode(CrmMode::Slow(Duration::from_millis(300)));
    }
    let sid = call_sid();
    let start = Captured::new(&a, "/voice", first_params(&sid));
    let (on_a, on_b) = tokio::join!(start.send(&a, "copy-a"), start.send(&b, "copy-b"));
    assert!(on_a.contains("<Gather") && on_a.contains("/verify?state="), "{on_a}");
    assert_eq!(on_b, on_a, "one answer, sent by both");
    assert_eq!(a.crm().count("phone") + b.crm().count("phone"), 1, "the CRM was asked once");
    assert_eq!(start.send(&b, "later").await, on_a, "a later copy gets it");
    assert_eq!(start.send(&a, "later").await, on_a);
    assert_eq!(a.crm().count("phone") + b.crm().count("phone"), 1, "and runs nothing");
    a.written().await;
    b.written().await;
    let record = a.api_call(&sid, Some(ADMIN_TOKEN)).await.1;
    assert_eq!(events(&record), ["crm", "prompt"], "one copy's steps: {record}");
}

#[tokio::test]
async fn simultaneous_first_webhooks_on_two_instances_sharing_sqlite_send_one_answer() {
    let (url, _dir) = sqlite_url();
    simultaneous_first_webhooks_on_two_instances_send_one_answer(url).await;
}

#[tokio::test]
async fn simultaneous_first_webhooks_on_two_instances_sharing_postgres_send_one_answer() {
    let Some(pg) = postgres().await else { return };
    simultaneous_first_webhooks_on_two_instances_send_one_answer(pg.url.clone()).await;
}

#[tokio::test]
async fn a_claim_whose_holder_died_lapses_and_the_step_runs_once_more() {
    // The shortest deadline: a claim lapses 1 s + 2 s after it was taken.
    let toml = with_lockout(5)
        .replace("state_ttl_secs = 1800", "state_ttl_secs = 1800\nwebhook_deadline_ms = 1000")
        .replace("timeout_ms = 2000", "timeout_ms = 500");
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let sid = call_sid();
    let action = verify_action(&app, &sid).await;
    let state = query_of(&format!("https://x{action}"))["state"].clone();
    // An instance took this step and died before answering it.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&app.database_url).await.unwrap();
    sqlx::query("INSERT INTO webhook_claims (key, call_sid, claimed_at) VALUES ($1, $2, $3)")
        .bind(ClaimKey::state(&state, &sid).as_str())
        .bind(&sid)
        .bind(now)
        .execute(&mut db)
        .await
        .unwrap();

    let captured = Captured::new(&app, &action, with_digits(&sid, "9087"));
    let started = Instant::now();
    let late = captured.send(&app, "load-balancer-retry").await;
    let waited = started.elapsed();
    assert!(late.contains("wasn&apos;t accepted") || late.contains("wasn't accepted"), "the step ran: {late}");
    assert!(waited >= Duration::from_millis(2500), "it waited for the claim to lapse first ({waited:?})");
    assert!(waited < Duration::from_secs(8), "and answered in time ({waited:?})");
    assert_eq!(captured.send(&app, "again").await, late, "the step runs once more, not twice");
    assert_eq!(app.crm().count("verify"), 1);
    failures_settle_at(&app, 1).await;
}

#[tokio::test]
async fn while_the_database_is_locked_copies_are_still_answered_once_by_this_instance() {
    let app = spawn_with(Options { toml: with_lockout(5), ..Options::default() }).await;
    let lock = SqliteLock::take(&app.database_url).await;
    let sid = call_sid();
    let started = Instant::now();
    let action = verify_action(&app, &sid).await;
    assert!(started.elapsed() < Duration::from_secs(2), "answered without the database ({:?})", started.elapsed());
    let captured = Captured::new(&app, &action, with_digits(&sid, "9087"));
    let first = captured.send(&app, "original").await;
    // The lockout cannot count the try: verification fails closed (an agent,
    // no CRM call), and the copies get that same answer.
    assert!(first.contains("connect you to an agent") && first.contains("<Enqueue"), "{first}");
    for i in 0..3 {
        assert_eq!(captured.send(&app, &format!("replay-{i}")).await, first, "replay {i}");
    }
    assert_eq!(app.crm().count("verify"), 0, "the CRM was not asked");
    lock.release().await;
}

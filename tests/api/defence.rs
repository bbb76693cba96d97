//! Defences across calls: the verification lockout and the enumeration
//! throttle, counted in the store so they hold across calls, restarts and
//! Vouch instances sharing a database.

use crate::helpers::*;
use std::time::Duration;
use vouch::sim::End;

fn with_limits(lockout_failures: u64, unknown_ids: u64) -> String {
    format!(
        "{}\n[security]\nlockout_failures = {lockout_failures}\nenumeration_unknown_ids = {unknown_ids}\n",
        vouch::config::DEMO_CONFIG
    )
}

async fn record(app: &TestApp, sid: &str) -> serde_json::Value {
    app.api_call(sid, Some(ADMIN_TOKEN)).await.1
}

async fn lockout_api(app: &TestApp, method: reqwest::Method, id: &str, token: &str) -> (u16, serde_json::Value) {
    let r =
        app.http.request(method, format!("{}/api/lockouts/{id}", app.address)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn repeated_wrong_pins_across_calls_lock_the_customer_without_telling_the_caller() {
    let app = spawn_with(Options { toml: with_limits(3, 10), ..Options::default() }).await;
    // Two calls, two wrong PINs each: the fourth failure is past the limit of 3.
    for _ in 0..2 {
        let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "", "", ""]).await;
        assert!(matches!(t.end, End::Enqueued { .. }));
    }
    assert_eq!(app.crm().count("verify"), 3, "the CRM is not asked once the customer is locked");
    // Now even the right PIN is not accepted, and it sounds exactly like a wrong one.
    let locked = app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#", "1234#", "1234#", "1234#"]).await;
    let wrong = spawn_app().await.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "9087#", "9087#", "9087#"]).await;
    assert_eq!(locked.said(), wrong.said(), "no oracle: a locked customer hears what a wrong PIN hears");
    assert_eq!(app.crm().count("verify"), 3);
    assert!(
        matches!(&locked.end, End::Enqueued { queue, .. } if queue == "support"),
        "the real customer still reaches an agent"
    );
    let r = record(&app, &locked.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["lockout"].as_bool()), (Some("identified"), Some(true)));
    let page = app
        .http
        .get(format!("{}/agent/calls/{}", app.address, locked.call_sid))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Verification locked"), "the agent's screen pop says why: {page}");
    let (status, body) = lockout_api(&app, reqwest::Method::GET, ADA_ID, ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!((body["locked"].as_bool(), body["failures"].as_u64()), (Some(true), Some(3)));

    // A supervisor lifts it; the right PIN works again.
    let (status, _) = lockout_api(&app, reqwest::Method::DELETE, ADA_ID, ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]).await;
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
}

#[tokio::test]
async fn a_successful_verification_resets_the_count() {
    let app = spawn_with(Options { toml: with_limits(3, 10), ..Options::default() }).await;
    for _ in 0..2 {
        let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "1234#"]).await;
        assert!(t.said().contains("Your status is verified"), "{}", t.said());
        // The success resets the count in the background (the caller does
        // not wait for it): the next call comes once it has.
        wait_for("the success to reset the count", || async {
            lockout_api(&app, reqwest::Method::GET, ADA_ID, ADMIN_TOKEN).await.1["failures"] == 0
        })
        .await;
    }
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]).await;
    assert!(t.said().contains("Your status is verified"), "four failures in all, but never three since a success");
    assert_eq!(app.crm().count("verify"), 7, "every PIN was checked with the CRM: none was locked");
}

#[tokio::test]
async fn lockouts_need_a_supervisor_and_hold_across_instances_sharing_a_database() {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db", db.path().display());
    let opts = || Options { toml: with_limits(2, 10), env: vec![("DATABASE_URL", url.clone())], ..Options::default() };
    let first = spawn_with(opts()).await;
    first.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "", "", ""]).await;
    let second = spawn_with(opts()).await;
    // The first instance stores its counts in the background: wait for them.
    wait_for("the lockout to reach the shared database", || async {
        lockout_api(&second, reqwest::Method::GET, ADA_ID, ADMIN_TOKEN).await.1["locked"] == true
    })
    .await;
    let t = second.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#", "", "", ""]).await;
    assert_eq!(second.crm().count("verify"), 0, "the other instance sees the lockout");
    assert_eq!(record(&second, &t.call_sid).await["lockout"], true);
    assert_eq!(lockout_api(&second, reqwest::Method::DELETE, ADA_ID, "wrong-token").await.0, 401);
}

#[tokio::test]
async fn a_number_keying_many_unknown_identifiers_is_sent_straight_to_an_agent() {
    let app = spawn_with(Options { toml: with_limits(5, 3), ..Options::default() }).await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["99999991#", "99999992#", "99999993#", "99999994#"]).await;
    assert!(matches!(t.end, End::Enqueued { .. }));
    let lookups = app.crm().count("id");
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["87654321#", "4321#"]).await;
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"), "{:?}", t.end);
    assert!(!t.said().contains("account number"), "not asked: {}", t.said());
    assert_eq!(app.crm().count("id"), lookups, "no more identifier lookups from this number");
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["outcome"].as_str()), (Some("unidentified"), Some("agent")));
    // Other numbers are not affected.
    let t = app.call("+15559990001", SUPPORT_NUMBER, &["87654321#", "4321#"]).await;
    assert!(t.said().contains("Your status is verified"));
}

fn with_withheld_limit(unknown_ids: u64, withheld_ids: u64) -> String {
    format!("{}enumeration_withheld_ids = {withheld_ids}\n", with_limits(5, unknown_ids))
}

/// The last thing said: the hand-off's words.
fn last_said(t: &vouch::sim::Transcript) -> String {
    t.said().lines().last().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_number_gets_exactly_its_limit_of_unknown_identifiers_checked_at_each_try() {
    let app = spawn_with(Options { toml: with_limits(5, 5), ..Options::default() }).await;
    // Four tries in the first call (retries = 3), then the limit comes at
    // the second try of the next call: not at its start.
    // (Each identifier once: Vouch caches "no match" answers.)
    let first = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["99999991#", "99999992#", "99999993#", "99999994#"]).await;
    assert!(first.said().contains("connect you to an agent"), "{}", first.said());
    let second = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["99999995#", "99999996#", "99999997#", "99999998#"]).await;
    assert_eq!(app.crm().count("id"), 5, "exactly security.enumeration_unknown_ids identifiers checked, not 12-13");
    assert!(matches!(&second.end, End::Enqueued { queue, .. } if queue == "support"), "{:?}", second.end);
    assert_eq!(
        second.said().matches("find that account number").count(),
        1,
        "one unknown identifier, then straight to an agent: {}",
        second.said()
    );
    assert_eq!(last_said(&second), "Please hold while we connect you to an agent.", "the words of any agent hand-off");
    let r = record(&app, &second.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["outcome"].as_str()), (Some("unidentified"), Some("agent")));
    assert_eq!(app.metrics().await.get("vouch_enumeration_throttled_total{subject=\"caller\"}"), Some(&1.0));
    // Another number is not affected.
    let t = app.call("+15559990002", SUPPORT_NUMBER, &["87654321#", "4321#"]).await;
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
}

#[tokio::test]
async fn withheld_caller_ids_share_one_limit_per_line_and_then_reach_an_agent_unidentified() {
    let app = spawn_with(Options { toml: with_withheld_limit(10, 3), ..Options::default() }).await;
    // Withheld, Twilio's "anonymous" stand-in and no number at all are one
    // caller to the throttle (on this line).
    let t = app.call("anonymous", SUPPORT_NUMBER, &["99999991#", "99999992#"]).await;
    assert!(t.said().contains("find that account number"));
    let t = app.call("+266696687", SUPPORT_NUMBER, &["99999993#", "99999994#", "99999995#"]).await;
    assert_eq!(app.crm().count("id"), 3, "the third withheld unknown identifier was the last one checked");
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"), "{:?}", t.end);
    assert_eq!(last_said(&t), "Please hold while we connect you to an agent.");
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["outcome"].as_str()), (Some("unidentified"), Some("agent")));
    // The next withheld call goes straight to an agent, not asked anything.
    let t = app.call("", SUPPORT_NUMBER, &["87654321#", "4321#"]).await;
    assert!(!t.said().contains("account number"), "not asked: {}", t.said());
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"), "{:?}", t.end);
    assert_eq!(app.crm().count("id"), 3);
    let metrics = app.metrics().await;
    assert_eq!(metrics.get("vouch_enumeration_throttled_total{subject=\"withheld\"}"), Some(&2.0), "{metrics:?}");
    assert_eq!(metrics.get("vouch_enumeration_throttled_total{subject=\"caller\"}"), Some(&0.0));
    // Callers who show their number, and withheld callers on another line, go on.
    let t = app.call("+15559990001", SUPPORT_NUMBER, &["87654321#", "4321#"]).await;
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
    let t = app.call("anonymous", SALES_NUMBER, &["87654321#"]).await;
    assert!(t.said().contains("customer ID"), "{}", t.said());
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "sales"), "{:?}", t.end);
}

#[tokio::test]
async fn a_locked_answer_takes_as_long_as_the_crm_takes_to_check_a_pin() {
    let app = spawn_with(Options { toml: with_limits(2, 10), ..Options::default() }).await;
    let crm_delay = Duration::from_millis(300);
    app.crm().set_mode(CrmMode::Slow(crm_delay));
    // Two wrong PINs checked by the slow CRM, then two locked ones.
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "6502#", "1234#"]).await;
    assert_eq!(app.crm().count("verify"), 2, "locked after two");
    let pin_steps: Vec<Duration> = t.requests.iter().filter(|r| r.url.contains("/verify")).map(|r| r.elapsed).collect();
    assert_eq!(pin_steps.len(), 4, "{:?}", t.requests);
    for (i, took) in pin_steps.iter().enumerate() {
        assert!(*took >= crm_delay * 8 / 10, "PIN {} was answered in {took:?}: the lockout is audible", i + 1);
    }
}

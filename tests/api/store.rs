//! Durable call records: whole calls, then the records read back from the
//! database itself (SQLite, and PostgreSQL when `VOUCH_TEST_POSTGRES_URL` is
//! set), status callbacks, a database that goes away mid-call, the write
//! buffer's bound and counters, the shutdown flush, and no keyed PIN stored.

use crate::database::*;
use crate::helpers::*;
use crate::leaks;
use std::time::{Duration, Instant};
use vouch::flow::{IdvMethod, IdvStatus};
use vouch::sim::CallSpec;
use vouch::store::{CallRecord, RecordOutcome};

/// PINs keyed in these tests that are nobody's PIN nor part of any
/// identifier, so finding one anywhere would be a leak.
const KEYED_PINS: [&str; 3] = ["9087", "7310", "6502"];

async fn call_with_sid(app: &TestApp, from: &str, keys: &[&str]) -> String {
    let spec = CallSpec { from: from.into(), call_sid: Some(call_sid()), ..CallSpec::default() };
    app.call_spec(&spec, keys).await.call_sid
}

/// The first webhook only: the caller is still in the IVR.
async fn first_webhook(app: &TestApp, from: &str) -> (String, String) {
    let sid = call_sid();
    let r = app.post_form("/voice", &call_params(&sid, from, SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (sid, r.body)
}

/// Keys `digits` at the Gather of `twiml`, as Twilio would post them.
async fn key_at(app: &TestApp, sid: &str, from: &str, twiml: &str, digits: &str) -> (Answer, Duration) {
    let mut params = call_params(sid, from, SUPPORT_NUMBER);
    params.push(("Digits".into(), digits.into()));
    params.push(("FinishedOnKey".into(), "#".into()));
    let started = Instant::now();
    let r = app.post_form(&path_and_query(&gather_action(twiml)), &params, Some(AUTH_TOKEN)).await;
    (r, started.elapsed())
}

fn assert_in_order(r: &CallRecord) {
    let steps = [Some(r.started_at), r.identified_at, r.verified_at, r.handed_off_at, r.ended_at];
    let known: Vec<u64> = steps.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "steps out of order: {r:?}");
    assert!(r.updated_at >= *known.last().unwrap(), "{r:?}");
}

/// Calls of every kind against a Vouch on `database_url`, then each record
/// read from the database, by itself and through a fresh Vouch's API.
async fn whole_calls_are_recorded(database_url: Option<String>) {
    let mut app = spawn_with(Options { database_url, ..Options::default() }).await;
    let verified = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    let agent = call_with_sid(&app, ADA_PHONE, &["9087#", "7310#", "6502#", "9999#"]).await;
    let opted_out = call_with_sid(&app, STRANGER_PHONE, &["*"]).await;
    app.crm().set_mode(CrmMode::Status(500));
    let crm_down = call_with_sid(&app, STRANGER_PHONE, &[&format!("{GRACE_ID}#")]).await;
    app.crm().set_mode(CrmMode::Normal);
    let (abandoned, _) = first_webhook(&app, ADA_PHONE).await;
    let stir = CallSpec {
        from: STRANGER_PHONE.into(),
        stir_verstat: Some("TN-Validation-Passed-A".into()),
        call_sid: Some(call_sid()),
        ..CallSpec::default()
    };
    let keyed = app.call_spec(&stir, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await.call_sid;

    for (sid, duration) in [(&verified, 31), (&agent, 95), (&abandoned, 7)] {
        let r = app.status_callback(sid, "completed", 3, Some(duration)).await;
        assert_eq!((r.status, r.body.as_str()), (200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"));
    }
    // The server stops as on SIGTERM: whatever is still buffered is written.
    app.stop().await;

    let url = app.database_url.clone();
    let get = |sid: String| {
        let url = url.clone();
        async move { stored(&url, &sid).await.unwrap_or_else(|| panic!("{sid} is in the database")) }
    };
    let r = get(verified.clone()).await;
    assert_eq!(
        (r.outcome, r.idv_status, r.idv_method),
        (RecordOutcome::SelfService, IdvStatus::Verified, IdvMethod::Ani)
    );
    assert_eq!((r.customer_id.as_deref(), r.customer_name.as_deref()), (Some(ADA_ID), Some("Ada Lovelace")));
    assert_eq!((r.service_line.as_str(), r.caller.as_str()), ("support", "+1********01"));
    assert_eq!((r.identify_attempts, r.verify_attempts, r.opted_out), (0, 1, false));
    assert_eq!((r.call_status.as_deref(), r.call_duration), (Some("completed"), Some(31)));
    assert!(r.identified_at.is_some() && r.verified_at.is_some() && r.handed_off_at.is_some() && r.ended_at.is_some());
    assert_in_order(&r);

    let r = get(agent.clone()).await;
    assert_eq!((r.outcome, r.idv_status, r.verify_attempts), (RecordOutcome::Agent, IdvStatus::Identified, 4));
    assert!(r.identified_at.is_some() && r.verified_at.is_none() && r.handed_off_at.is_some());
    assert_eq!(r.call_duration, Some(95));
    assert_in_order(&r);

    let r = get(opted_out.clone()).await;
    assert_eq!((r.outcome, r.opted_out, r.idv_status), (RecordOutcome::OptedOut, true, IdvStatus::Unidentified));
    assert_eq!((r.identified_at, r.call_status.as_deref()), (None, None), "no status callback for this one");
    assert_in_order(&r);

    let r = get(crm_down.clone()).await;
    assert_eq!(r.outcome, RecordOutcome::CrmUnavailable);
    assert_eq!(r.identify_attempts, 1);

    let r = get(abandoned.clone()).await;
    assert_eq!(
        (r.outcome, r.call_status.as_deref(), r.call_duration),
        (RecordOutcome::Abandoned, Some("completed"), Some(7))
    );
    assert_eq!(r.idv_status, IdvStatus::Identified, "recognised by caller ID before hanging up");
    assert_eq!(r.handed_off_at, None);
    assert_in_order(&r);

    let r = get(keyed.clone()).await;
    assert_eq!((r.idv_method, r.idv_status), (IdvMethod::Keyed, IdvStatus::Verified));
    assert_eq!((r.customer_id.as_deref(), r.stir_verstat.as_deref()), (Some(GRACE_ID), Some("TN-Validation-Passed-A")));
    assert_eq!((r.identify_attempts, r.verify_attempts), (1, 1));

    // A new Vouch on the same database (nothing in its memory) serves them.
    let fresh = spawn_with(Options { database_url: Some(app.database_url.clone()), ..Options::default() }).await;
    let (status, body) = fresh.api_call(&abandoned, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "abandoned");
    assert_eq!(body["call_status"], "completed");
    assert_eq!(body["call_duration"], 7);
    let (_, body) = fresh.api_call(&verified, Some(ADMIN_TOKEN)).await;
    assert_eq!((body["outcome"].as_str(), body["idv_status"].as_str()), (Some("self_service"), Some("verified")));
    assert!(body["verified_at"].is_u64() && body["started_at"].is_u64(), "{body}");
    let recent = fresh.store.recent(100).await;
    assert_eq!(recent.len(), 6, "every call, from the database");
    assert!(recent.windows(2).all(|w| w[0].updated_at >= w[1].updated_at), "newest first");
    // And the second Vouch carries on a call the first one started.
    assert_eq!(fresh.status_callback(&opted_out, "completed", 1, Some(12)).await.status, 200);
    fresh.written().await;
    assert_eq!(stored(&fresh.database_url, &opted_out).await.unwrap().call_duration, Some(12));
}

#[tokio::test]
async fn whole_calls_are_recorded_in_sqlite() {
    whole_calls_are_recorded(None).await;
}

#[tokio::test]
async fn whole_calls_are_recorded_in_postgres() {
    let Some(pg) = postgres().await else { return };
    whole_calls_are_recorded(Some(pg.url.clone())).await;
}

#[tokio::test]
async fn a_caller_who_hangs_up_in_the_ivr_is_abandoned_and_one_handed_on_is_not() {
    let app = spawn_app().await;
    let (in_ivr, _) = first_webhook(&app, STRANGER_PHONE).await;
    let handed_on = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    // Out of order: the final callback first, then an older one.
    assert_eq!(app.status_callback(&in_ivr, "no-answer", 2, Some(0)).await.status, 200);
    assert_eq!(app.status_callback(&in_ivr, "ringing", 1, None).await.status, 200);
    assert_eq!(app.status_callback(&handed_on, "completed", 2, Some(64)).await.status, 200);
    let (_, r) = app.api_call(&in_ivr, Some(ADMIN_TOKEN)).await;
    assert_eq!((r["outcome"].as_str(), r["call_status"].as_str()), (Some("abandoned"), Some("no-answer")));
    assert!(r["ended_at"].is_u64());
    let (_, r) = app.api_call(&handed_on, Some(ADMIN_TOKEN)).await;
    assert_eq!((r["outcome"].as_str(), r["call_status"].as_str()), (Some("self_service"), Some("completed")));
    assert_eq!(r["call_duration"], 64);
    app.written().await;
    assert_eq!(stored(&app.database_url, &in_ivr).await.unwrap().outcome, RecordOutcome::Abandoned);
}

#[tokio::test]
async fn a_status_callback_shows_at_once_when_the_calls_record_is_already_written() {
    let app = spawn_app().await;
    let sid = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    // The record is in the database; the callback's write is still buffered
    // (the writer lingers 50 ms) when the API reads the call.
    app.written().await;
    assert_eq!(app.status_callback(&sid, "completed", 2, Some(30)).await.status, 200);
    let (_, r) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!((r["outcome"].as_str(), r["call_status"].as_str()), (Some("self_service"), Some("completed")), "{r}");
    assert_eq!(r["call_duration"], 30);
}

#[tokio::test]
async fn status_callbacks_are_signed_checked_and_unknown_calls_ignored() {
    let app = spawn_app().await;
    let (sid, _) = first_webhook(&app, ADA_PHONE).await;
    let mut params = call_params(&sid, ADA_PHONE, SUPPORT_NUMBER);
    params.retain(|(k, _)| k != "CallStatus");
    params.push(("CallStatus".into(), "completed".into()));
    let r = app.post_form("/status", &params, None).await;
    assert_eq!(r.status, 403, "unsigned");
    let r = app.post_form("/status", &params, Some("not-the-auth-token-0000")).await;
    assert_eq!(r.status, 403, "wrongly signed");
    params.retain(|(k, _)| k != "CallStatus");
    let r = app.post_form("/status", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 400, "no CallStatus");
    assert!(r.body.contains("CallStatus"));
    let (_, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["outcome"], "in_progress", "none of those changed the record");

    let unknown = call_sid();
    let r = app.status_callback(&unknown, "completed", 0, Some(5)).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/xml"));
    assert!(r.body.ends_with("<Response/>"), "{}", r.body);
    assert_eq!(app.api_call(&unknown, Some(ADMIN_TOKEN)).await.0, 404, "no record is made up");
}

/// No keyed PIN, wrong or right, in any stored row (every column) nor, for
/// SQLite, anywhere in the database's files.
async fn no_keyed_pin_is_stored(database_url: Option<String>) {
    let mut app = spawn_with(Options { database_url, ..Options::default() }).await;
    call_with_sid(&app, ADA_PHONE, &[&format!("{}#", KEYED_PINS[0]), &format!("{ADA_PIN}#")]).await;
    call_with_sid(&app, STRANGER_PHONE, &[&format!("{GRACE_ID}#"), &format!("{}#", KEYED_PINS[1]), "4321#"]).await;
    call_with_sid(&app, ADA_PHONE, &[&format!("{}#", KEYED_PINS[2])]).await;
    app.stop().await;
    let rows = all_rows_json(&app.database_url, "call_records").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let rows = rows.join("\n");
    assert!(rows.contains(ADA_ID) && rows.contains("Grace Hopper"), "the scan sees the rows: {rows}");
    // As values (a column holding the PIN), not inside a longer number, an
    // identifier (1234 of 12345678) or a hash (a unix time like 1795639087
    // holds 9087 now and then).
    let pins = [KEYED_PINS[0], KEYED_PINS[1], KEYED_PINS[2], ADA_PIN, GRACE_PIN];
    let found = leaks::find_all(&rows, &pins);
    assert!(found.is_empty(), "keyed PINs are stored:\n{}", leaks::report(&found));
    if app.database_url.starts_with("sqlite:") {
        let bytes = sqlite_bytes(&app.database_url);
        assert!(bytes.windows(ADA_ID.len()).any(|w| w == ADA_ID.as_bytes()), "the scan sees the file");
        for pin in pins {
            // Whole tokens only: the right PINs are parts of the demo ids.
            let leak = leaks::bytes_leak(&bytes, pin);
            assert!(leak.is_none(), "PIN {pin} is in the database files: {}", leak.unwrap());
        }
    }
}

#[tokio::test]
async fn no_keyed_pin_is_stored_in_sqlite() {
    no_keyed_pin_is_stored(None).await;
}

#[tokio::test]
async fn no_keyed_pin_is_stored_in_postgres() {
    let Some(pg) = postgres().await else { return };
    no_keyed_pin_is_stored(Some(pg.url.clone())).await;
}

#[tokio::test]
async fn calls_are_answered_while_postgres_is_unreachable_and_recorded_once_it_is_back() {
    let Some(pg) = postgres().await else { return };
    let gate = Gate::start(&pg.url).await;
    let app = spawn_with(Options { database_url: Some(gate.url(&pg.url)), ..Options::default() }).await;
    let (sid, twiml) = first_webhook(&app, ADA_PHONE).await;
    app.written().await;
    assert!(stored(&pg.url, &sid).await.is_some(), "the first step is stored");

    gate.cut();
    // Mid-call: the PIN is keyed while the database is unreachable. The
    // lockout counter cannot count the try, so verification fails closed
    // (an agent, identified: `verification_unavailable`), within the
    // counter's 1 s bound.
    let (r, elapsed) = key_at(&app, &sid, ADA_PHONE, &twiml, ADA_PIN).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<Enqueue"), "handed to an agent: {}", r.body);
    assert!(elapsed < Duration::from_secs(2), "answered without waiting for the database: {elapsed:?}");
    // A whole new call too.
    let started = Instant::now();
    let other = call_with_sid(&app, STRANGER_PHONE, &["*"]).await;
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let (_, live) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    // Verification fails closed while the store is unreachable (issue 11).
    assert_eq!(live["outcome"], "verification_unavailable", "the API answers from memory meanwhile");
    wait_for("a failed write", || async { app.metrics().await["vouch_store_write_retries_total"] >= 1.0 }).await;
    let m = app.metrics().await;
    assert_eq!(m["vouch_store_database_up"], 0.0);
    assert_eq!(m["vouch_store_buffer_depth"], 2.0);
    assert_eq!(m["vouch_store_records_dropped_total"], 0.0);
    assert_eq!(stored(&pg.url, &sid).await.unwrap().outcome, RecordOutcome::InProgress, "not yet written");

    gate.restore();
    app.written().await;
    let r = stored(&pg.url, &sid).await.unwrap();
    assert_eq!((r.outcome, r.idv_status), (RecordOutcome::VerificationUnavailable, IdvStatus::Identified));
    assert_eq!(stored(&pg.url, &other).await.unwrap().outcome, RecordOutcome::OptedOut);
    let m = app.metrics().await;
    assert_eq!((m["vouch_store_database_up"], m["vouch_store_buffer_depth"]), (1.0, 0.0));
}

#[tokio::test]
async fn a_locked_sqlite_file_delays_writes_not_calls_and_a_full_buffer_drops_and_counts() {
    let toml = format!("{}\n[database]\nbuffer_capacity = 2\n", vouch::config::DEMO_CONFIG);
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let (sid, twiml) = first_webhook(&app, ADA_PHONE).await;
    app.written().await;

    let lock = SqliteLock::take(&app.database_url).await;
    // The PIN step waits only for the lockout counter's 1 s bound, then
    // fails closed (an agent, identified).
    let (r, elapsed) = key_at(&app, &sid, ADA_PHONE, &twiml, ADA_PIN).await;
    assert_eq!(r.status, 200);
    assert!(elapsed < Duration::from_secs(2), "answered without waiting for the lock: {elapsed:?}");
    let second = call_with_sid(&app, STRANGER_PHONE, &["*"]).await;
    // The buffer holds two calls; a third new call is still answered, but
    // each version of its record (first webhook, opt-out, and the hold
    // route's "waiting") is dropped.
    let started = Instant::now();
    let third = call_with_sid(&app, STRANGER_PHONE, &["*"]).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let m = app.metrics().await;
    assert_eq!((m["vouch_store_buffer_depth"], m["vouch_store_records_dropped_total"]), (2.0, 3.0));
    wait_for("a failed write", || async { app.metrics().await["vouch_store_write_retries_total"] >= 1.0 }).await;

    lock.release().await;
    app.written().await;
    assert_eq!(stored(&app.database_url, &sid).await.unwrap().outcome, RecordOutcome::VerificationUnavailable);
    assert_eq!(stored(&app.database_url, &second).await.unwrap().outcome, RecordOutcome::OptedOut);
    assert!(stored(&app.database_url, &third).await.is_none(), "dropped, as counted");
    assert_eq!(app.metrics().await["vouch_store_records_dropped_total"], 3.0);
}

#[tokio::test]
async fn a_graceful_stop_writes_what_is_still_buffered() {
    let mut app = spawn_app().await;
    let lock = SqliteLock::take(&app.database_url).await;
    let sid = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    assert_eq!(app.store.stats().unwrap().depth, 1, "held back by the lock");
    // The lock goes while the server is stopping: once it has stopped
    // serving, before the store is closed.
    app.stop_serving().await;
    assert_eq!(app.store.stats().unwrap().depth, 1, "still held back");
    lock.release().await;
    app.stop().await;
    // Verification failed closed under the lock: an agent, as such.
    assert_eq!(stored(&app.database_url, &sid).await.unwrap().outcome, RecordOutcome::VerificationUnavailable);
}

/// A stop empties the SQLite file's log into the file: the next start
/// has nothing to read back, and the calls are in the file itself.
#[tokio::test]
async fn a_graceful_stop_leaves_the_sqlite_log_empty() {
    let mut app = spawn_app().await;
    let sid = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    let file = app.database_url.strip_prefix("sqlite://").expect("a SQLite file").to_string();
    app.written().await;
    let wal = std::fs::metadata(format!("{file}-wal")).map(|m| m.len()).unwrap_or(0);
    assert!(wal > 0, "the call is in the log while the server runs");
    app.stop().await;
    let wal = std::fs::metadata(format!("{file}-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "the log emptied at the stop");
    assert!(stored(&app.database_url, &sid).await.unwrap().verified_at.is_some(), "Ada verified, in the file");
}

#[tokio::test]
async fn metrics_need_the_admin_token_and_count_writes() {
    let app = spawn_app().await;
    call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    app.written().await;
    // A scrape without (or with a wrong) token gets a plain 401 a
    // Prometheus log can show, not the login page.
    for token in [None, Some("not-the-token")] {
        let mut r = app.http.get(format!("{}/metrics", app.address));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"), "{:?}", r.headers());
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body = r.text().await.unwrap();
        assert!(body.starts_with("401 Unauthorized: ") && !body.contains("<html"), "{body}");
    }
    let r = app.http.get(format!("{}/metrics", app.address)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE vouch_store_records_written_total counter"), "{text}");
    let m = app.metrics().await;
    assert!(m["vouch_store_records_written_total"] >= 1.0, "{m:?}");
    assert_eq!((m["vouch_store_durable"], m["vouch_store_database_up"]), (1.0, 1.0));
    assert_eq!(m["vouch_store_buffer_capacity"], 10_000.0);
}

#[tokio::test]
async fn memory_only_keeps_records_without_a_database() {
    let app = spawn_with(Options { database_url: Some("memory:".into()), ..Options::default() }).await;
    let sid = call_with_sid(&app, ADA_PHONE, &[&format!("{ADA_PIN}#")]).await;
    let (_, r) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(r["outcome"], "self_service");
    assert_eq!(app.store.recent(10).await.len(), 1);
    let m = app.metrics().await;
    assert_eq!((m["vouch_store_durable"], m["vouch_store_records_written_total"]), (0.0, 0.0));
}

#[tokio::test]
async fn enumeration_counts_made_while_sqlite_is_locked_reach_the_database_once_it_is_free() {
    let app = spawn_app().await;
    let lock = SqliteLock::take(&app.database_url).await;
    // An unknown customer ID on the sales line: a try the throttle counts,
    // here only while the database is locked.
    let t = app.call(STRANGER_PHONE, SALES_NUMBER, &["999999#", "", "", ""]).await;
    assert!(matches!(t.end, vouch::sim::End::Enqueued { .. }), "{:?}", t.end);
    assert!(app.store.guard().unsent() >= 1, "counted here, waiting for the database");
    assert!(crate::database::all_rows_json(&app.database_url, "guard_events").await.is_empty());
    lock.release().await;
    wait_for("the events counted during the outage to be stored", || async {
        app.store.guard().unsent() == 0
            && crate::database::all_rows_json(&app.database_url, "guard_events")
                .await
                .iter()
                .any(|r| r.contains("unknown"))
    })
    .await;
}

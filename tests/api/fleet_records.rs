//! Two Vouch instances on one database (a SQLite file, and PostgreSQL when
//! `VOUCH_TEST_POSTGRES_URL` is set), as behind a round-robin load
//! balancer: the steps of one call alternate between them, status
//! callbacks land on the instance holding the stale copy or arrive before
//! the record, and the database and both instances' APIs agree.

use crate::database::*;
use crate::helpers::*;
use vouch::flow::IdvStatus;
use vouch::store::timeline::What;
use vouch::store::{CallRecord, RecordOutcome};

/// Two instances sharing `database_url` (`None`: a new SQLite file).
async fn fleet(database_url: Option<String>) -> (TestApp, TestApp) {
    let a = spawn_with(Options { database_url, ..Options::default() }).await;
    let b = spawn_with(Options { database_url: Some(a.database_url.clone()), ..Options::default() }).await;
    (a, b)
}

async fn first_webhook(app: &TestApp, sid: &str, from: &str) -> String {
    let r = app.post_form("/voice", &call_params(sid, from, SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Keys `digits` at the Gather of `twiml`, on `app`.
async fn key(app: &TestApp, sid: &str, from: &str, twiml: &str, digits: &str) -> String {
    let mut params = call_params(sid, from, SUPPORT_NUMBER);
    params.push(("Digits".into(), digits.into()));
    params.push(("FinishedOnKey".into(), "#".into()));
    let r = app.post_form(&path_and_query(&gather_action(twiml)), &params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Ada's call: first webhook on `one`, a wrong PIN on `two`, the right PIN
/// on `one`, each write landed before the next step (as with a load
/// balancer's round robin and a lively database).
async fn ada_call_alternating(one: &TestApp, two: &TestApp, sid: &str, settle: bool) {
    let twiml = first_webhook(one, sid, ADA_PHONE).await;
    if settle {
        one.written().await;
    }
    let twiml = key(two, sid, ADA_PHONE, &twiml, "9087#").await;
    assert!(twiml.contains("<Gather"), "asked again: {twiml}");
    if settle {
        two.written().await;
    }
    let twiml = key(one, sid, ADA_PHONE, &twiml, &format!("{ADA_PIN}#")).await;
    assert!(!twiml.contains("<Gather"), "handed on: {twiml}");
}

/// A stranger's call: first webhook on `one`, Ada's customer number on
/// `two`, her PIN on `one`, nothing waited for in between.
async fn keyed_call_alternating(one: &TestApp, two: &TestApp, sid: &str, from: &str, (id, pin): (&str, &str)) {
    let twiml = first_webhook(one, sid, from).await;
    let twiml = key(two, sid, from, &twiml, &format!("{id}#")).await;
    assert!(twiml.contains("<Gather"), "asked for the PIN: {twiml}");
    let twiml = key(one, sid, from, &twiml, &format!("{pin}#")).await;
    assert!(!twiml.contains("<Gather"), "handed on: {twiml}");
}

fn assert_verified_and_completed(r: &CallRecord, duration: u64) {
    assert_verified_after(r, duration, 2);
}

fn assert_verified_after(r: &CallRecord, duration: u64, verify_attempts: u8) {
    assert_eq!(
        (r.idv_status, r.outcome, r.verify_attempts),
        (IdvStatus::Verified, RecordOutcome::SelfService, verify_attempts),
        "{r:?}"
    );
    assert_eq!((r.call_status.as_deref(), r.call_duration), (Some("completed"), Some(duration)), "{r:?}");
    assert!(r.verified_at.is_some() && r.handed_off_at.is_some() && r.ended_at.is_some(), "{r:?}");
}

/// A record's timeline in short words: the event, and its answer, entry,
/// outcome or status.
fn steps(r: &CallRecord) -> Vec<String> {
    fn name<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
    r.timeline
        .iter()
        .map(|e| match &e.what {
            What::Crm { question, answer, .. } => format!("crm {} {}", name(question), name(answer)),
            What::Entry { entry, .. } => format!("entry {}", name(entry)),
            What::Prompt { .. } => "prompt".to_string(),
            What::Handoff { outcome, .. } => format!("handoff {}", outcome.as_str()),
            What::Status { status, .. } => format!("status {status}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Both instances' API show what the database has.
async fn assert_all_agree(a: &TestApp, b: &TestApp, sid: &str) -> CallRecord {
    let stored = stored(&a.database_url, sid).await.unwrap_or_else(|| panic!("{sid} is in the database"));
    for app in [a, b] {
        let (code, r) = app.api_call(sid, Some(ADMIN_TOKEN)).await;
        assert_eq!(code, 200);
        assert_eq!(r["idv_status"], stored.idv_status.as_str(), "{r}");
        assert_eq!(r["outcome"], serde_json::to_value(stored.outcome).unwrap(), "{r}");
        assert_eq!(r["call_status"].as_str(), stored.call_status.as_deref(), "{r}");
        assert_eq!(r["call_duration"].as_u64(), stored.call_duration, "{r}");
        assert_eq!(r["verify_attempts"], stored.verify_attempts, "{r}");
    }
    stored
}

async fn steps_alternating_between_instances_lose_nothing(database_url: Option<String>) {
    let (a, b) = fleet(database_url).await;
    // A, B, A; then the final status callback on B, whose copy is stale.
    let sid = call_sid();
    ada_call_alternating(&a, &b, &sid, true).await;
    a.written().await;
    assert_eq!(b.status_callback(&sid, "completed", 3, Some(47)).await.status, 200);
    b.written().await;
    let r = assert_all_agree(&a, &b, &sid).await;
    assert_verified_and_completed(&r, 47);
    // Each instance wrote its steps' events: the timeline has them all.
    assert_eq!(
        steps(&r),
        [
            "crm caller_id found",
            "prompt", // on A
            "entry accepted",
            "crm verify rejected",
            "prompt", // on B
            "entry accepted",
            "crm verify verified",
            "prompt",
            "handoff self_service", // on A
            "status completed",     // on B
        ],
        "{:?}",
        r.timeline
    );

    // A status callback before the first webhook: kept, then applied.
    let early = call_sid();
    assert_eq!(b.status_callback(&early, "completed", 2, Some(31)).await.status, 200);
    b.written().await;
    assert_eq!(a.api_call(&early, Some(ADMIN_TOKEN)).await.0, 404, "a pending status alone is no record");
    ada_call_alternating(&a, &b, &early, true).await;
    a.written().await;
    let r = assert_all_agree(&a, &b, &early).await;
    assert_verified_and_completed(&r, 31);

    // Out of order, across instances: the final callback, then an older
    // one on the other instance; a ringing one before the record.
    let ooo = call_sid();
    assert_eq!(a.status_callback(&ooo, "ringing", 0, None).await.status, 200);
    ada_call_alternating(&b, &a, &ooo, false).await;
    assert_eq!(a.status_callback(&ooo, "completed", 3, Some(58)).await.status, 200);
    a.written().await;
    assert_eq!(b.status_callback(&ooo, "in-progress", 2, None).await.status, 200);
    b.written().await;
    a.written().await;
    let r = assert_all_agree(&a, &b, &ooo).await;
    assert_verified_and_completed(&r, 58);
    let statuses: Vec<String> = steps(&r).into_iter().filter(|s| s.starts_with("status")).collect();
    assert_eq!(statuses, ["status ringing", "status completed"], "the older in-progress was not applied");
    let superseded = |m: &std::collections::HashMap<String, f64>| m["vouch_store_writes_superseded_total"];
    assert!(superseded(&b.metrics().await) >= 1.0, "the older status callback counts as superseded");

    // A write built on a stale copy (the first webhook's view): the
    // database keeps the newer values, and the write is counted.
    let before = superseded(&a.metrics().await);
    let mut stale = CallRecord::new(&sid, "support", "+1********01".into(), r.started_at);
    stale.updated_at = r.updated_at;
    a.store.put(stale).await;
    a.written().await;
    assert_eq!(superseded(&a.metrics().await), before + 1.0);
    let again = assert_all_agree(&a, &b, &sid).await;
    assert_verified_and_completed(&again, 47);
}

#[tokio::test]
async fn steps_alternating_between_instances_lose_nothing_in_sqlite() {
    steps_alternating_between_instances_lose_nothing(None).await;
}

#[tokio::test]
async fn steps_alternating_between_instances_lose_nothing_in_postgres() {
    let Some(pg) = postgres().await else { return };
    steps_alternating_between_instances_lose_nothing(Some(pg.url.clone())).await;
}

/// Many calls at once, each alternating between the instances, each status
/// callback on the instance that did not take the last step.
async fn concurrent_calls_alternating(database_url: Option<String>) {
    let (a, b) = fleet(database_url).await;
    let sids: Vec<String> = (0..24).map(|_| call_sid()).collect();
    let customer = |i: usize| if i.is_multiple_of(2) { (ADA_ID, ADA_PIN) } else { (GRACE_ID, GRACE_PIN) };
    // Waves of four at once (two per customer: the per-customer PIN tries
    // in flight are bounded by the lockout limit, across the fleet).
    for wave in sids.chunks(4).enumerate() {
        let (w, wave) = wave;
        let calls = wave.iter().enumerate().map(|(j, sid)| {
            let i = w * 4 + j;
            let (one, two) = if i % 4 < 2 { (&a, &b) } else { (&b, &a) };
            async move {
                keyed_call_alternating(one, two, sid, &format!("+1555777{i:04}"), customer(i)).await;
                assert_eq!(two.status_callback(sid, "completed", 3, Some(40 + i as u64)).await.status, 200);
            }
        });
        futures_util::future::join_all(calls).await;
    }
    a.written().await;
    b.written().await;
    for (i, sid) in sids.iter().enumerate() {
        let r = assert_all_agree(&a, &b, sid).await;
        assert_eq!(r.customer_id.as_deref(), Some(customer(i).0));
        assert_verified_after(&r, 40 + i as u64, 1);
    }
}

#[tokio::test]
async fn concurrent_calls_alternating_between_instances_are_all_right_in_sqlite() {
    concurrent_calls_alternating(None).await;
}

#[tokio::test]
async fn concurrent_calls_alternating_between_instances_are_all_right_in_postgres() {
    let Some(pg) = postgres().await else { return };
    concurrent_calls_alternating(Some(pg.url.clone())).await;
}

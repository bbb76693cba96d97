//! Supervisors' figures after real calls: `/metrics` (calls by line,
//! outcome and ID&V result, lockouts, refused webhooks, the CRM cache, each
//! counted once) and `/api/stats` (the ID&V funnel, counted in the database).

use crate::desk_helpers::*;
use crate::helpers::*;
use std::collections::HashMap;

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series).unwrap_or_else(|| panic!("no {series} in /metrics: {:?}", m.keys().collect::<Vec<_>>()))
}

fn handed_on(outcome: &str, status: &str, method: &str) -> String {
    format!(
        "vouch_calls_handed_on_total{{line=\"support\",outcome=\"{outcome}\",idv_status=\"{status}\",idv_method=\"{method}\"}}"
    )
}

#[tokio::test]
async fn calls_are_counted_by_line_outcome_and_idv_result_once_each() {
    let toml = format!("{}\n[security]\nlockout_failures = 2\n", vouch::config::DEMO_CONFIG);
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let before = app.metrics().await;
    assert_eq!(get(&before, "vouch_calls_started_total{line=\"support\"}"), 0.0);
    assert_eq!(get(&before, "vouch_calls_started_total{line=\"sales\"}"), 0.0, "every line shows from zero");

    let verified = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await;
    app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    // Two wrong PINs reach the limit: the right one is then refused unasked.
    let locked = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", &format!("{ADA_PIN}#"), "", ""]).await;
    let (_, record) = app.api_call(&locked.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!((record["lockout"].as_bool(), record["outcome"].as_str()), (Some(true), Some("agent")), "{record}");
    // Twilio retrying a first webhook gets the same answer; the step is not run again.
    let again = app.post_form("/voice", &first_params(&verified.call_sid), Some(AUTH_TOKEN)).await;
    assert_eq!(again.status, 200);
    // Refused before any step: no signature, a wrong one, a malformed body.
    let sid = call_sid();
    assert_eq!(app.post_form("/voice", &first_params(&sid), None).await.status, 403);
    assert_eq!(app.post_form("/voice", &first_params(&sid), Some("not-the-auth-token")).await.status, 403);
    let garbled = app.post_raw("/voice", "application/json", b"{}".to_vec(), Some("c2ln".into())).await;
    assert_eq!(garbled.status, 415);

    let m = app.metrics().await;
    assert_eq!(get(&m, "vouch_calls_started_total{line=\"support\"}"), 4.0);
    assert_eq!(get(&m, "vouch_calls_started_total{line=\"sales\"}"), 0.0);
    assert_eq!(get(&m, &handed_on("self_service", "verified", "ani")), 1.0);
    assert_eq!(get(&m, &handed_on("opted_out", "unidentified", "none")), 1.0);
    assert_eq!(get(&m, &handed_on("self_service", "verified", "keyed")), 1.0);
    assert_eq!(get(&m, &handed_on("agent", "identified", "ani")), 1.0);
    let handed: f64 = m.iter().filter(|(k, _)| k.starts_with("vouch_calls_handed_on_total{")).map(|(_, v)| v).sum();
    assert_eq!(handed, 4.0, "each call handed on once");
    assert_eq!(get(&m, "vouch_calls_locked_out_total{line=\"support\"}"), 1.0);
    assert_eq!(get(&m, "vouch_webhooks_refused_total{reason=\"missing_signature\"}"), 1.0);
    assert_eq!(get(&m, "vouch_webhooks_refused_total{reason=\"bad_signature\"}"), 1.0);
    assert_eq!(get(&m, "vouch_webhooks_refused_total{reason=\"malformed\"}"), 1.0);
    // Four caller-ID lookups, Ada's and the stranger's each asked once
    // and then answered from the cache; one account number, asked.
    let cache = |action: &str, result: &str| {
        get(&m, &format!("vouch_crm_cache_lookups_total{{action=\"{action}\",result=\"{result}\"}}"))
    };
    assert_eq!((cache("find_by_phone", "miss"), cache("find_by_phone", "hit")), (2.0, 2.0));
    assert_eq!((cache("find_by_identifier", "miss"), cache("find_by_identifier", "hit")), (1.0, 0.0));
}

#[tokio::test]
async fn the_stats_api_counts_the_funnel_in_the_database_for_supervisors_only() {
    let app = spawn_desk().await;
    let from = vouch::clock::now();
    app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await;
    app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    app.call(ADA_PHONE, SUPPORT_NUMBER, &["9087#", "7310#", "1111#", "2222#"]).await;
    app.written().await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let range = format!("/api/stats?from={from}&to={}", vouch::clock::now() + 1);
    let r = app.page(&range, Some(&session), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let stats: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let support = stats["lines"].as_array().unwrap().iter().find(|l| l["line"] == "support").unwrap().clone();
    let n = |k: &str| support[k].as_u64().unwrap_or_else(|| panic!("{k} in {support}"));
    assert_eq!(n("calls"), 4);
    assert_eq!((n("identified_by_caller_id"), n("identified_by_keyed_id"), n("verified")), (2, 1, 2));
    assert_eq!((n("opted_out"), n("failed_identification"), n("failed_verification")), (1, 0, 1));
    // The desk's support line hands verified callers to an agent too.
    assert_eq!((n("self_service"), n("agent"), n("handed_on"), n("locked")), (0, 3, 4, 0));
    assert_eq!(support["containment"], 0.0);
    assert!(support["ivr_seconds_p90"].is_u64(), "{support}");
    assert_eq!(stats["total"]["calls"], 4, "the other lines had none");
    let sales = stats["lines"].as_array().unwrap().iter().find(|l| l["line"] == "sales").unwrap().clone();
    assert_eq!(sales["calls"], 0, "every line shows, with or without calls");
    // The same figures for the admin token; an earlier range has none.
    let admin = app.page(&range, None, Some(ADMIN_TOKEN)).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&admin.body).unwrap()["total"], stats["total"]);
    let before = app.page(&format!("/api/stats?from={}&to={from}", from - 3600), None, Some(ADMIN_TOKEN)).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&before.body).unwrap()["total"]["calls"], 0);

    let agent = app.page(&range, None, Some(API_TOKEN)).await;
    assert_eq!(agent.status, 403, "an agent's token: {}", agent.body);
    assert!(agent.body.contains("supervisor role"), "{}", agent.body);
    assert_eq!(app.page(&range, None, None).await.status, 401);
    for (query, reason) in [
        ("from=10&to=5", "from must be before to"),
        ("from=0&to=99999999", "a range of at most 400 days"),
        ("from=yesterday", "from and to: Unix seconds"),
        ("since=5", "from and to: Unix seconds"),
    ] {
        let r = app.page(&format!("/api/stats?{query}"), None, Some(ADMIN_TOKEN)).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains(reason), "{query}: {}", r.body);
    }
}

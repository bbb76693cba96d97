//! `/metrics` after real calls: calls by line, outcome and ID&V result,
//! lockouts, refused webhooks and the CRM cache, each counted once.

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

//! A CRM that is down, slow or talking nonsense never strands a caller; the
//! cache saves requests without ever caching a verification.

use crate::helpers::*;
use std::time::Duration;
use vouch::sim::{End, Transcript};

fn fast_timeout_toml() -> String {
    vouch::config::DEMO_CONFIG.replace("timeout_ms = 2000", "timeout_ms = 300")
}

async fn record(app: &TestApp, sid: &str) -> serde_json::Value {
    app.api_call(sid, Some(ADMIN_TOKEN)).await.1
}

#[tokio::test]
async fn a_crm_that_is_down_sends_keyed_callers_to_an_agent_with_an_apology() {
    // A port nothing listens on: bound (so no other test can take it) but
    // not listening, so connections are refused.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    let app = spawn_with(Options { crm_double: false, crm_url: Some(url), ..Options::default() }).await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_ID}#")]).await;
    // The failed caller-ID lookup fell back to asking; the failed id lookup went to an agent.
    assert!(t.said().contains("account number"));
    assert!(t.said().contains("we can't look up your details right now"), "{}", t.said());
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"));
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["outcome"].clone(), r["idv_status"].clone()), ("crm_unavailable".into(), "unidentified".into()));
}

#[tokio::test]
async fn a_crm_failing_at_verification_keeps_the_status_reached_so_far() {
    let app = spawn_app().await;
    let crm = app.crm().clone();
    let spec = vouch::sim::CallSpec { from: ADA_PHONE.into(), to: SUPPORT_NUMBER.into(), ..Default::default() };
    // Caller ID works; then the CRM starts failing before the PIN is checked.
    struct FailThenKey(TestCrm);
    impl vouch::sim::Keypad for FailThenKey {
        fn keys(&mut self, _: &[vouch::sim::Heard], _: &vouch::sim::twiml::Node) -> Option<String> {
            self.0.set_mode(CrmMode::Status(503));
            Some("1234#".into())
        }
    }
    let t = app.phone.place(&spec, &mut FailThenKey(crm)).await.unwrap();
    assert!(matches!(&t.end, End::Enqueued { .. }));
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["outcome"].clone(), r["idv_status"].clone()), ("crm_unavailable".into(), "identified".into()));
    assert_eq!(r["idv_method"], "ani");
}

#[tokio::test]
async fn garbage_and_error_statuses_are_crm_failures_not_no_match() {
    for mode in [CrmMode::Garbage, CrmMode::Status(500), CrmMode::Status(401)] {
        let app = spawn_app().await;
        app.crm().set_mode(mode);
        let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#")]).await;
        assert!(!t.said().contains("couldn't find"), "{mode:?} is not a 'no match'");
        let r = record(&app, &t.call_sid).await;
        assert_eq!(r["outcome"], "crm_unavailable", "{mode:?}");
    }
}

#[tokio::test]
async fn a_hanging_crm_is_cut_off_by_the_default_two_second_timeout() {
    let app = spawn_app().await;
    app.crm().set_mode(CrmMode::Slow(Duration::from_secs(30)));
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_ID}#")]).await;
    assert!(matches!(&t.end, End::Enqueued { .. }));
    assert_eq!(record(&app, &t.call_sid).await["outcome"], "crm_unavailable");
    // One caller-ID lookup, then one lookup of the keyed account number:
    // each hung, was cut off, and was not retried.
    assert_eq!((app.crm().count("phone"), app.crm().count("id"), app.crm().count("verify")), (1, 1, 0));
    let waited: Vec<Duration> = t.requests.iter().map(|r| r.elapsed).filter(|e| *e >= CRM_TIMEOUT).collect();
    assert_eq!(waited.len(), 2, "the two webhooks that asked the CRM waited for its timeout: {:?}", t.requests);
    for r in &t.requests {
        // Cut off by the 2 s CRM timeout, far from the 10 s webhook
        // deadline that would be the next thing to stop it.
        assert!(r.elapsed < WEBHOOK_DEADLINE / 2, "each webhook answered well inside the deadline: {:?}", r.elapsed);
    }
}

/// The demo configuration's CRM timeout, and the default webhook deadline.
const CRM_TIMEOUT: Duration = Duration::from_millis(2000);
const WEBHOOK_DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_slow_crm_inside_the_timeout_is_waited_for() {
    let app = spawn_app().await;
    let slow = Duration::from_millis(300);
    app.crm().set_mode(CrmMode::Slow(slow));
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    assert!(t.said().contains("Your status is verified"), "{}", t.said());
    // Caller ID, then the PIN: one request each, both waited for.
    assert_eq!((app.crm().count("phone"), app.crm().count("id"), app.crm().count("verify")), (1, 0, 1));
    let asked: Vec<Duration> = t.requests.iter().map(|r| r.elapsed).filter(|e| *e >= slow).collect();
    assert_eq!(asked.len(), 2, "the lookup and the verification each took the CRM's time: {:?}", t.requests);
    for r in &t.requests {
        assert!(r.elapsed < CRM_TIMEOUT, "answered inside the CRM timeout: {:?}", r.elapsed);
    }
}

#[tokio::test]
async fn repeated_lookups_hit_the_cache_but_verifications_never_do() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
        assert!(t.said().contains("verified"));
    }
    assert_eq!(app.crm().count("phone"), 1, "caller-ID lookups are cached");
    assert_eq!(app.crm().count("verify"), 3, "verifications are never cached");
    for _ in 0..2 {
        app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["99999999#", &format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")])
            .await;
    }
    assert_eq!(app.crm().count("phone"), 2, "a 'no match' is cached too");
    assert_eq!(app.crm().count("id"), 2, "one request per distinct id");
}

#[tokio::test]
async fn concurrent_lookups_of_one_number_share_one_crm_request() {
    // Simultaneous verifications of one customer count against the lockout
    // while in flight: a limit above the 8 calls lets all of them through.
    let toml = format!("{}\n[security]\nlockout_failures = 8\n", vouch::config::DEMO_CONFIG);
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    app.crm().set_mode(CrmMode::Slow(Duration::from_millis(300)));
    let calls = (0..8).map(|_| app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]));
    let transcripts = futures_util::future::join_all(calls).await;
    assert!(transcripts.iter().all(|t| t.said().contains("verified")));
    assert_eq!(app.crm().count("phone"), 1);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let app = spawn_with(Options { toml: fast_timeout_toml(), ..Options::default() }).await;
    app.crm().set_mode(CrmMode::Status(500));
    app.call(ADA_PHONE, SUPPORT_NUMBER, &[]).await;
    app.crm().set_mode(CrmMode::Normal);
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    assert!(t.said().contains("verified"), "the failed lookup was retried: {}", t.said());
    assert_eq!(app.crm().count("phone"), 2);
}

#[tokio::test]
async fn the_crm_gets_the_pin_in_the_body_and_a_bearer_token_when_configured() {
    let app =
        spawn_with(Options { env: vec![("VOUCH_CRM_TOKEN", "crm-secret-token".into())], ..Options::default() }).await;
    app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]).await;
    let bodies = app.crm().verify_bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let (auth, body) = bodies[0].split_once('\n').unwrap();
    assert_eq!(auth, "Bearer crm-secret-token");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!((v["factor"].as_str(), v["value"].as_str()), (Some("pin"), Some("1234")));
}

#[tokio::test]
async fn a_saturated_crm_sends_callers_down_the_fallback_path_at_once() {
    // One CRM request at a time, and a CRM slow enough (inside a long
    // timeout) that the second caller arrives while the first is waiting.
    let toml = vouch::config::DEMO_CONFIG
        .replace("negative_cache_ttl_secs = 30", "negative_cache_ttl_secs = 30\nmax_in_flight = 1")
        .replace("timeout_ms = 2000", "timeout_ms = 8000");
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let slow = Duration::from_secs(3);
    app.crm().set_mode(CrmMode::Slow(slow));
    let (first_sid, second_sid) = (call_sid(), call_sid());
    let first_params = call_params(&first_sid, ADA_PHONE, SUPPORT_NUMBER);
    let first = app.post_form("/voice", &first_params, Some(AUTH_TOKEN));
    let second = async {
        wait_for("the first caller's lookup to reach the CRM", || async { app.crm().in_flight() == 1 }).await;
        let r =
            app.post_form("/voice", &call_params(&second_sid, "+15551230002", SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
        (r, app.crm().in_flight())
    };
    let (first, (second, in_flight_then)) = tokio::join!(first, second);
    assert!(first.body.contains("PIN"), "the first caller was looked up: {}", first.body);
    assert!(second.body.contains("account number"), "the second caller is asked instead: {}", second.body);
    assert_eq!(in_flight_then, 1, "answered while the first lookup was still waiting on the CRM");
    assert_eq!(app.crm().count("phone"), 1, "the second caller's number never reached the CRM");
}

#[tokio::test]
async fn a_crm_that_keeps_failing_opens_the_breaker_and_metrics_show_it() {
    let toml = format!("{}\n[crm.breaker]\nfailures = 2\ncool_down_secs = 60\n", vouch::config::DEMO_CONFIG);
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    app.crm().set_mode(CrmMode::Status(500));
    let ask_for_account = |t: &Transcript| t.said().contains("account number");
    // Two callers whose lookups fail open it; a third skips the CRM.
    for from in ["+15551230001", "+15551230002", "+15551230003"] {
        let t = app.call(from, SUPPORT_NUMBER, &[]).await;
        assert!(ask_for_account(&t), "a failed lookup asks for the account number: {}", t.said());
    }
    assert_eq!(app.crm().count("phone"), 2, "the third caller's number never reached the CRM");
    let m = app.metrics().await;
    assert_eq!(m.get("vouch_crm_breaker_open"), Some(&1.0));
    let errors = |class: &str| m.get(&format!("vouch_crm_errors_total{{action=\"find_by_phone\",class=\"{class}\"}}"));
    assert_eq!(errors("status"), Some(&2.0), "each 500 counted once: {m:?}");
    assert_eq!(errors("breaker_open"), Some(&1.0));
    assert_eq!(m.get("vouch_crm_request_duration_seconds_count{action=\"find_by_phone\"}"), Some(&2.0));
}

#[tokio::test]
async fn answers_that_miss_the_mapping_count_as_body_errors() {
    let app = spawn_app().await;
    app.crm().set_mode(CrmMode::Garbage);
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[]).await;
    assert!(t.said().contains("account number"), "{}", t.said());
    let m = app.metrics().await;
    assert_eq!(m.get("vouch_crm_errors_total{action=\"find_by_phone\",class=\"body\"}"), Some(&1.0), "{m:?}");
    assert_eq!(m.get("vouch_crm_breaker_open"), Some(&0.0));
}

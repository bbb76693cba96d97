//! The CRM transport over real HTTP: each auth type against a server that
//! checks the header it got, OAuth token caching, expiry, the one refresh
//! after a 401 and coalesced token requests, rate limits, the circuit
//! breaker, the 1 MiB cap, TLS with a custom CA and a client certificate
//! (made here with rcgen), and the proxy the environment names (a small
//! proxy here counts what goes through it).
//!
//! These call `Transport::send` directly with prepared requests: the data
//! action engine that builds them (and whole calls through it) is tested in
//! `crm.rs`.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vouch::clock::ManualClock;
use vouch::config::Config;
use vouch::crm::{CrmMetrics, Prepared, Reply, Transport, TransportError};

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn each_static_auth_type_sends_exactly_its_header() {
    let crm = serve(|seen| Resp::json(200, &format!(r#"{{"authorization":{:?}}}"#, seen.header("authorization"))));
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<(&'a str, &'a str)>);
    let cases: [Case; 6] = [
        ("", &[], None),
        ("[crm.auth]\ntype = \"none\"", &[("VOUCH_CRM_TOKEN", "unused")], None),
        (
            "[crm.auth]\ntype = \"bearer\"",
            &[("VOUCH_CRM_TOKEN", "hs-private-app")],
            Some(("authorization", "Bearer hs-private-app")),
        ),
        (
            "[crm.auth]\ntype = \"basic\"\nusername = \"ops@acme.com/token\"",
            &[("VOUCH_CRM_PASSWORD", "zd-api-token")],
            // base64("ops@acme.com/token:zd-api-token")
            Some(("authorization", "Basic b3BzQGFjbWUuY29tL3Rva2VuOnpkLWFwaS10b2tlbg==")),
        ),
        (
            "[crm.auth]\ntype = \"basic\"\npassword_literal = \"X\"",
            &[("VOUCH_CRM_USERNAME", "fd-api-key")],
            // base64("fd-api-key:X")
            Some(("authorization", "Basic ZmQtYXBpLWtleTpY")),
        ),
        (
            "[crm.auth]\ntype = \"header\"\nname = \"X-API-Key\"",
            &[("VOUCH_CRM_TOKEN", "key-123")],
            Some(("x-api-key", "key-123")),
        ),
    ];
    for (toml, vars, expected) in cases {
        let (t, _, _) = transport(toml, vars);
        let reply = t.send(get("find_by_phone", &format!("{}/customers?phone=%2B15551230001", crm.url))).await;
        assert_eq!(reply.map(|r| r.status), Ok(200), "{toml}");
        let seen = crm.last();
        let auth_headers: Vec<(String, String)> = seen
            .headers
            .iter()
            .filter(|(k, _)| *k == "authorization" || *k == "x-api-key")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(auth_headers, expected, "{toml}");
        assert_eq!(
            seen.header("accept"),
            Some("application/json"),
            "JSON is asked for unless the action says otherwise"
        );
    }
}

#[tokio::test]
async fn the_legacy_auth_header_and_token_keep_working() {
    let crm = serve(|_| Resp::json(200, "{}"));
    let (t, _, _) = transport("[crm]\nauth_header = \"X-Crm-Key\"", &[("VOUCH_CRM_TOKEN", "legacy-token")]);
    t.send(get("find_by_phone", &crm.url)).await.expect("answered");
    assert_eq!(crm.last().header("x-crm-key"), Some("legacy-token"));
    assert_eq!(crm.last().header("authorization"), None);
    assert_eq!(t.masked_auth_headers(), vec![("X-Crm-Key".to_string(), "****".to_string())]);
}

#[tokio::test]
async fn a_static_credential_the_crm_refuses_is_an_auth_error_and_is_not_retried() {
    let crm = serve(|_| Resp::json(401, r#"{"error":"invalid token"}"#));
    let (t, _, m) = transport("[crm.auth]\ntype = \"bearer\"", &[("VOUCH_CRM_TOKEN", "wrong")]);
    let e = t.send(get("verify", &crm.url)).await.expect_err("refused");
    assert!(matches!(&e, TransportError::Auth(why) if why.contains("401")), "{e:?}");
    assert_eq!(crm.count(), 1);
    assert_eq!(m.errors("verify", "auth"), 1);
}

#[tokio::test]
async fn check_config_sees_the_auth_with_every_secret_masked() {
    let (t, _, _) = transport(
        "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"https://login.salesforce.com/services/oauth2/token\"\nclient_id = \"3MVG9-consumer-key\"",
        &[("VOUCH_CRM_CLIENT_SECRET", "sf-consumer-secret")],
    );
    let text = format!("{} {:?}", t.describe_auth(), t.masked_auth_headers());
    assert!(text.contains("https://login.salesforce.com/services/oauth2/token") && text.contains("3MVG****"), "{text}");
    assert!(!text.contains("sf-consumer-secret") && !text.contains("consumer-key"), "{text}");
    assert_eq!(t.masked_auth_headers(), vec![("Authorization".to_string(), "Bearer ****".to_string())]);
}

#[tokio::test]
async fn a_prepared_body_and_headers_are_sent_as_given_and_the_credential_wins() {
    let crm = serve(|_| Resp::json(200, r#"{"verified":true}"#));
    let (t, _, _) = transport("[crm.auth]\ntype = \"bearer\"", &[("VOUCH_CRM_TOKEN", "real")]);
    let mut req = get("verify", &format!("{}/customers/12345678/verify", crm.url));
    req.method = reqwest::Method::POST;
    req.headers = vec![
        (HeaderName::from_static("accept"), HeaderValue::from_static("application/vnd.api+json")),
        (HeaderName::from_static("authorization"), HeaderValue::from_static("Bearer from-a-template")),
    ];
    req.body = Some(("application/json", br#"{"factor":"pin","value":"1234"}"#.to_vec()));
    assert_eq!(t.send(req).await.map(|r| r.body), Ok(br#"{"verified":true}"#.to_vec()));
    let seen = crm.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/customers/12345678/verify"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("accept"), Some("application/vnd.api+json"));
    assert_eq!(seen.header("authorization"), Some("Bearer real"));
    assert_eq!(seen.body, br#"{"factor":"pin","value":"1234"}"#);
}

// ---------------------------------------------------------------- OAuth

#[tokio::test]
async fn an_oauth_token_is_fetched_once_with_the_documented_form_and_reused() {
    let sf = OAuthDouble::start();
    let (t, _, m) = transport(&sf.toml("scope = \"api refresh_token\""), &sf.env());
    for _ in 0..3 {
        assert_eq!(t.send(get("find_by_phone", &sf.crm_url())).await.map(|r| r.status), Ok(200));
    }
    assert_eq!((sf.token_requests(), sf.crm_requests()), (1, 3));
    let token_request = sf.server.seen().into_iter().find(|s| s.target == "/token").expect("a token request");
    assert_eq!(token_request.method, "POST");
    assert_eq!(token_request.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&token_request.body).expect("a form");
    let expected: HashMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("client_id", "client-id-1"),
        ("client_secret", "client-secret-1"),
        ("scope", "api refresh_token"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(form, expected);
    assert_eq!(sf.last_crm_auth().as_deref(), Some("Bearer tok-1"));
    assert_eq!(m.requests("token"), 1, "the token request is timed as action=\"token\"");
}

#[tokio::test]
async fn a_token_is_refreshed_in_the_background_once_its_expiry_less_the_margin_has_passed() {
    let ms = OAuthDouble::start();
    *ms.expires_in.lock().unwrap() = Some(serde_json::json!("3599")); // Microsoft sends a string
                                                                      // A token request may take up to 8 s, so that the slow one below is not cut off.
    let toml = format!("[crm]\ntimeout_ms = 8000\n{}", ms.toml("refresh_margin_secs = 60"));
    let (t, clock, m) = transport(&toml, &ms.env());
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("first");
    clock.advance(Duration::from_secs(3539 - 1));
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("still the first token");
    assert_eq!(ms.token_requests(), 1);
    // The token endpoint takes its time, so that the request is surely
    // answered while the refresh is still out, however loaded the machine
    // (set before the clock moves: anything the move wakes must see it).
    // A second was once not enough, on a machine running two test suites.
    *ms.token_delay.lock().unwrap() = Duration::from_secs(4);
    clock.advance(Duration::from_secs(1));
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("served by tok-1 while tok-2 is fetched");
    assert_eq!(ms.last_crm_auth().as_deref(), Some("Bearer tok-1"));
    wait_until_within(Duration::from_secs(15), || t.tokens_fetched() == 2).await;
    *ms.token_delay.lock().unwrap() = Duration::ZERO;
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("the new token");
    assert_eq!(ms.token_requests(), 2);
    assert_eq!(ms.last_crm_auth().as_deref(), Some("Bearer tok-2"));
    // A failing refresh within the margin: tok-2 still serves, and the
    // token endpoint is asked again only after a pause, not per request.
    clock.advance(Duration::from_secs(3540));
    ms.token_status.store(500, SeqCst);
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("tok-2 serves");
    wait_until(|| m.errors("token", "auth") == 1).await;
    for _ in 0..3 {
        t.send(get("find_by_phone", &ms.crm_url())).await.expect("tok-2 still serves");
    }
    assert_eq!((ms.token_requests(), ms.last_crm_auth().as_deref()), (3, Some("Bearer tok-2")));
    ms.token_status.store(200, SeqCst);
    clock.advance(Duration::from_secs(59));
    *ms.token_delay.lock().unwrap() = Duration::from_millis(100);
    t.send(get("find_by_phone", &ms.crm_url())).await.expect("an expired token is waited for");
    assert_eq!((ms.token_requests(), ms.last_crm_auth().as_deref()), (4, Some("Bearer tok-3")));
}

#[tokio::test]
async fn without_expires_in_a_token_is_kept_until_a_401_then_refreshed_once_and_the_request_retried() {
    let sf = OAuthDouble::start(); // Salesforce: no expires_in
    let (t, clock, _) = transport(&sf.toml(""), &sf.env());
    t.send(get("find_by_phone", &sf.crm_url())).await.expect("first");
    clock.advance(Duration::from_secs(7 * 86_400));
    t.send(get("find_by_phone", &sf.crm_url())).await.expect("same token a week later");
    assert_eq!(sf.token_requests(), 1);
    sf.revoked.store(1, SeqCst); // the session timed out in Salesforce
    let reply = t.send(get("find_by_identifier", &sf.crm_url())).await;
    assert_eq!(reply.map(|r| r.status), Ok(200));
    assert_eq!((sf.token_requests(), sf.crm_requests()), (2, 4), "one refresh, one retry");
    assert_eq!(sf.last_crm_auth().as_deref(), Some("Bearer tok-2"));
}

#[tokio::test]
async fn fifty_concurrent_401s_to_one_revoked_token_make_exactly_one_refresh() {
    let sf = OAuthDouble::start();
    let (t, _, _) = transport(&sf.toml(""), &sf.env());
    t.send(get("find_by_phone", &sf.crm_url())).await.expect("tok-1 cached");
    sf.revoked.store(1, SeqCst);
    let sends = (0..50).map(|_| {
        let t = t.clone();
        let url = sf.crm_url();
        tokio::spawn(async move { t.send(get("find_by_phone", &url)).await })
    });
    for result in futures_util::future::join_all(sends).await {
        assert_eq!(result.expect("joined").map(|r| r.status), Ok(200));
    }
    assert_eq!(sf.token_requests(), 2, "tok-1, then one shared refresh");
}

#[tokio::test]
async fn a_401_after_a_fresh_token_is_an_auth_error_not_a_loop() {
    let sf = OAuthDouble::start();
    sf.reject_all.store(true, SeqCst);
    let (t, _, m) = transport(&sf.toml(""), &sf.env());
    let e = t.send(get("verify", &sf.crm_url())).await.expect_err("refused");
    assert!(matches!(&e, TransportError::Auth(why) if why.contains("freshly fetched")), "{e:?}");
    assert_eq!((sf.token_requests(), sf.crm_requests()), (2, 2));
    assert_eq!(m.errors("verify", "auth"), 1);
}

#[tokio::test]
async fn fifty_concurrent_sends_with_a_cold_cache_make_exactly_one_token_request() {
    let sf = OAuthDouble::start();
    *sf.token_delay.lock().unwrap() = Duration::from_millis(200);
    let (t, _, _) = transport(&sf.toml(""), &sf.env());
    let sends = (0..50).map(|_| {
        let t = t.clone();
        let url = sf.crm_url();
        tokio::spawn(async move { t.send(get("find_by_phone", &url)).await })
    });
    for result in futures_util::future::join_all(sends).await {
        assert_eq!(result.expect("joined").map(|r| r.status), Ok(200));
    }
    assert_eq!((sf.token_requests(), sf.crm_requests()), (1, 50));
    assert_eq!(t.tokens_fetched(), 1);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_an_auth_error_at_once_and_the_crm_is_not_called() {
    let sf = OAuthDouble::start();
    sf.token_status.store(400, SeqCst);
    let (t, _, m) = transport(&sf.toml(""), &sf.env());
    let started = Instant::now();
    let e = t.send(get("find_by_phone", &sf.crm_url())).await.expect_err("no token");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert!(matches!(&e, TransportError::Auth(why) if why.contains("400") && why.contains("invalid_client")), "{e:?}");
    assert!(!e.to_string().contains("client-secret-1"));
    assert_eq!(sf.crm_requests(), 0);
    assert_eq!((m.errors("find_by_phone", "auth"), m.errors("token", "auth")), (1, 1));
}

#[tokio::test]
async fn a_slow_token_endpoint_is_an_auth_error_within_the_requests_timeout() {
    let sf = OAuthDouble::start();
    *sf.token_delay.lock().unwrap() = Duration::from_secs(5);
    let (t, _, _) = transport(&sf.toml(""), &sf.env());
    let started = Instant::now();
    let mut req = get("find_by_phone", &sf.crm_url());
    req.timeout = Duration::from_millis(300);
    let e = t.send(req).await.expect_err("no token in time");
    let took = started.elapsed();
    assert!(matches!(&e, TransportError::Auth(why) if why.contains("did not answer")), "{e:?}");
    assert!(took >= Duration::from_millis(290) && took < Duration::from_millis(800), "{took:?}");
    assert_eq!(sf.crm_requests(), 0);
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn rate_limits_and_unavailability_come_back_at_once_with_retry_after_reported() {
    let cases: [(Resp, TransportError, &str); 4] = [
        (
            Resp::json(429, "{}").header("retry-after", "120"),
            TransportError::RateLimited { retry_after: Some(Duration::from_secs(120)) },
            "rate_limited",
        ),
        (Resp::json(429, "{}"), TransportError::RateLimited { retry_after: None }, "rate_limited"),
        (
            Resp::json(503, "").header("retry-after", "30"),
            TransportError::Unavailable("503, retry after 30 s".into()),
            "unavailable",
        ),
        (
            Resp::json(403, r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#),
            TransportError::RateLimited { retry_after: None },
            "rate_limited",
        ),
    ];
    for (resp, expected, class) in cases {
        let crm = serve(move |_| resp.clone());
        let (t, _, m) = transport("", &[]);
        let started = Instant::now();
        assert_eq!(t.send(get("find_by_phone", &crm.url)).await, Err(expected));
        assert!(started.elapsed() < Duration::from_millis(500), "never waits for Retry-After");
        assert_eq!(m.errors("find_by_phone", class), 1);
        assert_eq!(crm.count(), 1, "not retried");
    }
}

#[tokio::test]
async fn other_statuses_come_back_for_the_engine_to_judge() {
    let forbidden = r#"[{"message":"no access","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]"#;
    for (status, body) in [(200, "{}"), (404, ""), (400, "{}"), (403, forbidden), (500, "oops")] {
        let crm = serve(move |_| Resp::json(status, body));
        let (t, _, m) = transport("", &[]);
        let reply = t.send(get("find_by_identifier", &crm.url)).await;
        assert_eq!(reply, Ok(Reply { status, body: body.as_bytes().to_vec() }));
        assert_eq!(m.errors("find_by_identifier", "status"), u64::from(status >= 500), "{status}");
    }
}

#[tokio::test]
async fn a_slow_crm_is_a_timeout_within_the_requests_own_timeout() {
    let crm = serve(|_| Resp::json(200, "{}").delay(Duration::from_secs(3)));
    let (t, _, m) = transport("", &[]);
    let mut req = get("verify", &crm.url);
    req.timeout = Duration::from_millis(250);
    let started = Instant::now();
    assert_eq!(t.send(req).await, Err(TransportError::Timeout));
    assert!(started.elapsed() < Duration::from_millis(700), "{:?}", started.elapsed());
    assert_eq!(m.errors("verify", "timeout"), 1);
}

#[tokio::test]
async fn past_max_in_flight_a_request_is_refused_at_once() {
    let crm = serve(|_| Resp::json(200, "{}").delay(Duration::from_millis(500)));
    let (t, _, m) = transport("[crm]\nmax_in_flight = 1", &[]);
    let slow = {
        let (t, url) = (t.clone(), crm.url.clone());
        tokio::spawn(async move { t.send(get("find_by_phone", &url)).await })
    };
    wait_until(|| crm.count() == 1).await;
    assert_eq!(t.send(get("find_by_phone", &crm.url)).await, Err(TransportError::Saturated));
    assert_eq!(slow.await.expect("joined").map(|r| r.status), Ok(200));
    assert_eq!(m.errors("find_by_phone", "saturated"), 1);
}

#[tokio::test]
async fn errors_never_carry_the_url_and_its_identifier() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/customers/98765432", closed.local_addr().unwrap().port());
    drop(closed);
    let (t, _, m) = transport("", &[]);
    let e = t.send(get("find_by_identifier", &url)).await.expect_err("nothing listens");
    assert!(matches!(e, TransportError::Connect(_)), "{e:?}");
    assert!(!e.to_string().contains("98765432"), "{e}");
    assert_eq!(m.errors("find_by_identifier", "connect"), 1);
}

// ---------------------------------------------------------------- breaker

#[tokio::test]
async fn the_breaker_opens_after_n_failures_then_lets_exactly_one_probe_through() {
    let status = Arc::new(AtomicU16::new(500));
    let crm = {
        let status = status.clone();
        serve(move |_| Resp::json(status.load(SeqCst), "{}").delay(Duration::from_millis(200)))
    };
    let (t, clock, m) = transport("[crm.breaker]\nfailures = 3\ncool_down_secs = 30", &[]);
    for _ in 0..3 {
        assert_eq!(t.send(get("find_by_phone", &crm.url)).await.map(|r| r.status), Ok(500));
    }
    let started = Instant::now();
    assert_eq!(t.send(get("find_by_phone", &crm.url)).await, Err(TransportError::BreakerOpen));
    assert!(started.elapsed() < Duration::from_millis(150), "skips the CRM at once (it answers in 200 ms)");
    assert_eq!(crm.count(), 3);
    assert!(metrics_text(&m).contains("\nvouch_crm_breaker_open 1\n"));

    clock.advance(Duration::from_secs(29));
    assert_eq!(t.send(get("find_by_phone", &crm.url)).await, Err(TransportError::BreakerOpen));
    clock.advance(Duration::from_secs(1));
    status.store(200, SeqCst);
    let sends = (0..5).map(|_| {
        let (t, url) = (t.clone(), crm.url.clone());
        tokio::spawn(async move { t.send(get("find_by_phone", &url)).await })
    });
    let results: Vec<_> = futures_util::future::join_all(sends).await.into_iter().map(|r| r.expect("joined")).collect();
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(reply) if reply.status == 200)).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| **r == Err(TransportError::BreakerOpen)).count(), 4);
    assert_eq!(crm.count(), 4, "exactly one probe reached the CRM");
    assert!(!t.breaker_open());
    assert_eq!(t.send(get("find_by_phone", &crm.url)).await.map(|r| r.status), Ok(200));
    assert!(metrics_text(&m).contains("\nvouch_crm_breaker_open 0\n"));
    assert_eq!(m.errors("find_by_phone", "breaker_open"), 6);
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_for_another_cool_down() {
    let crm = serve(|_| Resp::json(503, ""));
    let (t, clock, _) = transport("[crm.breaker]\nfailures = 1\ncool_down_secs = 10", &[]);
    assert!(matches!(t.send(get("verify", &crm.url)).await, Err(TransportError::Unavailable(_))));
    clock.advance(Duration::from_secs(10));
    assert!(matches!(t.send(get("verify", &crm.url)).await, Err(TransportError::Unavailable(_))), "the probe");
    assert_eq!(t.send(get("verify", &crm.url)).await, Err(TransportError::BreakerOpen));
    assert_eq!(crm.count(), 2);
}

#[tokio::test]
async fn failures_the_engine_reports_count_towards_the_breaker() {
    let crm = serve(|_| Resp::json(200, r#"{"unexpected":"shape"}"#));
    let (t, _, m) = transport("[crm.breaker]\nfailures = 2", &[]);
    for _ in 0..2 {
        assert_eq!(t.send(get("find_by_phone", &crm.url)).await.map(|r| r.status), Ok(200));
        t.record_failure("find_by_phone", "body");
    }
    assert_eq!(t.send(get("find_by_phone", &crm.url)).await, Err(TransportError::BreakerOpen));
    assert_eq!(m.errors("find_by_phone", "body"), 2);
}

#[tokio::test]
async fn the_logs_say_once_when_the_breaker_opens_and_when_it_closes_and_never_carry_a_secret() {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    let sf = OAuthDouble::start();
    sf.token_status.store(401, SeqCst); // its error_description quotes the client secret
    let (t, clock, _) = transport(&format!("{}\n[crm.breaker]\nfailures = 2", sf.toml("")), &sf.env());
    for _ in 0..2 {
        assert!(matches!(t.send(get("find_by_phone", &sf.crm_url())).await, Err(TransportError::Auth(_))));
    }
    for _ in 0..3 {
        assert_eq!(t.send(get("find_by_phone", &sf.crm_url())).await, Err(TransportError::BreakerOpen));
    }
    sf.token_status.store(200, SeqCst);
    clock.advance(Duration::from_secs(30));
    assert_eq!(t.send(get("find_by_phone", &sf.crm_url())).await.map(|r| r.status), Ok(200));
    let text = logs.text();
    assert_eq!(text.matches("CRM circuit breaker open").count(), 1, "{text}");
    assert!(text.lines().any(|l| l.contains("WARN") && l.contains("CRM circuit breaker open")), "{text}");
    assert!(text.lines().any(|l| l.contains("INFO") && l.contains("CRM circuit breaker closed")), "{text}");
    assert_eq!(text.matches("CRM OAuth token request failed").count(), 2, "{text}");
    assert!(text.contains("(invalid_client)"), "{text}");
    for secret in ["client-secret-1", "tok-1", "/crm"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

// ---------------------------------------------------------------- size cap

#[tokio::test]
async fn answers_over_one_mib_are_refused_whether_or_not_their_length_is_announced() {
    const MIB: usize = 1024 * 1024;
    for (len, chunked, ok) in [
        (MIB - 1, false, true),
        (MIB, false, true),
        (MIB + 1, false, false),
        (MIB - 1, true, true),
        (MIB + 1, true, false),
    ] {
        let crm = serve(move |_| Resp { chunked, ..Resp::json(200, &"x".repeat(len)) });
        let (t, _, m) = transport("", &[]);
        let reply = t.send(get("find_by_phone", &crm.url)).await;
        if ok {
            assert_eq!(reply.map(|r| r.body.len()), Ok(len), "{len} chunked={chunked}");
        } else {
            assert_eq!(reply, Err(TransportError::TooLarge), "{len} chunked={chunked}");
            assert_eq!(m.errors("find_by_phone", "too_large"), 1);
        }
    }
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn a_crm_signed_by_a_private_ca_is_trusted_only_with_ca_file() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, false).await;
    let (t, _, _) = transport("", &[]);
    let e = t.send(get("find_by_phone", &server.url)).await.expect_err("unknown issuer");
    assert!(matches!(&e, TransportError::Connect(why) if why.to_lowercase().contains("certificate")), "{e:?}");
    let (t, _, _) = transport(&format!("[crm]\nca_file = {:?}", pki.ca_file()), &[]);
    let reply = t.send(get("find_by_phone", &server.url)).await.expect("trusted");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &br#"{"client_certificate":false}"#[..]));
    assert!(t.describe_network().iter().any(|l| l.contains(&pki.ca_file())));
}

#[tokio::test]
async fn a_crm_that_requires_a_client_certificate_gets_the_configured_one() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, true).await;
    let ca_only = format!("[crm]\nca_file = {:?}", pki.ca_file());
    let (t, _, _) = transport(&ca_only, &[]);
    let e = t.send(get("verify", &server.url)).await.expect_err("no client certificate");
    assert!(matches!(e, TransportError::Connect(_)), "{e:?}");
    let (cert, key) = pki.client_files();
    let mtls = format!("{ca_only}\nclient_cert_file = {cert:?}\nclient_key_file = {key:?}");
    let (t, _, _) = transport(&mtls, &[]);
    let reply = t.send(get("verify", &server.url)).await.expect("mutual TLS");
    assert_eq!((reply.status, reply.body.as_slice()), (200, &br#"{"client_certificate":true}"#[..]));
}

// ---------------------------------------------------------------- proxies

#[tokio::test]
async fn http_proxy_carries_http_requests_unless_no_proxy_names_the_host() {
    let crm = serve(|_| Resp::json(200, r#"{"from":"crm"}"#));
    let proxy = Proxy::start().await;
    let (t, _, _) = transport("", &[("HTTP_PROXY", &proxy.url)]);
    let reply = t.send(get("find_by_phone", &format!("{}/customers?phone=%2B1555", crm.url))).await.expect("proxied");
    assert_eq!(reply.body, br#"{"from":"proxy"}"#);
    assert_eq!(proxy.requests(), vec![format!("GET {}/customers?phone=%2B1555 HTTP/1.1", crm.url)]);
    assert_eq!(crm.count(), 0);

    let (t, _, _) = transport("", &[("HTTP_PROXY", &proxy.url), ("NO_PROXY", "localhost,127.0.0.1")]);
    let reply = t.send(get("find_by_phone", &crm.url)).await.expect("direct");
    assert_eq!(reply.body, br#"{"from":"crm"}"#);
    assert_eq!((proxy.requests().len(), crm.count()), (1, 1));
}

#[tokio::test]
async fn https_proxy_tunnels_https_requests_with_connect() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki, false).await;
    let proxy = Proxy::start().await;
    let (t, _, _) = transport(&format!("[crm]\nca_file = {:?}", pki.ca_file()), &[("HTTPS_PROXY", &proxy.url)]);
    let reply = t.send(get("find_by_phone", &server.url)).await.expect("tunnelled");
    assert_eq!(reply.status, 200);
    let authority = server.url.trim_start_matches("https://");
    assert_eq!(proxy.requests(), vec![format!("CONNECT {authority} HTTP/1.1")]);
    assert!(t.describe_network().iter().any(|l| l.contains("(HTTPS_PROXY)")));
}

// ---------------------------------------------------------------- metrics

#[tokio::test]
async fn the_metrics_text_has_a_histogram_per_action_and_errors_by_class() {
    let crm = serve(|s| {
        if s.target.ends_with("/slow") {
            Resp::json(200, "{}").delay(Duration::from_millis(30))
        } else {
            Resp::json(503, "")
        }
    });
    let (t, _, m) = transport("", &[]);
    t.send(get("verify", &format!("{}/slow", crm.url))).await.expect("answered");
    t.send(get("verify", &format!("{}/slow", crm.url))).await.expect("answered");
    let _ = t.send(get("find_by_phone", &format!("{}/down", crm.url))).await;
    let text = metrics_text(&m);
    for kind in [
        "# TYPE vouch_crm_request_duration_seconds histogram",
        "# TYPE vouch_crm_errors_total counter",
        "# TYPE vouch_crm_breaker_open gauge",
    ] {
        assert!(text.contains(kind), "{kind}");
    }
    let samples: HashMap<String, f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').expect("name value"))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect();
    let bucket =
        |le: &str| samples[&format!("vouch_crm_request_duration_seconds_bucket{{action=\"verify\",le=\"{le}\"}}")];
    assert_eq!(bucket("0.025"), 0.0, "each took at least 30 ms");
    assert_eq!(bucket("5"), 2.0);
    assert_eq!(bucket("+Inf"), 2.0);
    assert_eq!(samples["vouch_crm_request_duration_seconds_count{action=\"verify\"}"], 2.0);
    let sum = samples["vouch_crm_request_duration_seconds_sum{action=\"verify\"}"];
    assert!((0.06..2.0).contains(&sum), "{sum}");
    assert_eq!(samples["vouch_crm_errors_total{action=\"find_by_phone\",class=\"unavailable\"}"], 1.0);
    assert_eq!(samples["vouch_crm_errors_total{action=\"verify\",class=\"unavailable\"}"], 0.0);
    assert_eq!(samples["vouch_crm_breaker_open"], 0.0);
    let labels_ok =
        text.lines().filter(|l| !l.starts_with('#')).all(|l| !l.contains("/slow") && !l.contains("127.0.0.1"));
    assert!(labels_ok, "labels are fixed strings");
}

// ================================================================ helpers

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A transport from a `[crm]` configuration, on a clock the test moves.
fn transport(toml: &str, vars: &[(&str, &str)]) -> (Transport, Arc<ManualClock>, Arc<CrmMetrics>) {
    let config = Config::from_toml(&format!("{toml}\n[lines.main]\n"), &env(vars)).expect("config");
    let clock = Arc::new(ManualClock::default());
    let metrics = Arc::new(CrmMetrics::default());
    let t = Transport::with_clock(&config.crm, metrics.clone(), clock.clone()).expect("transport");
    (t, clock, metrics)
}

fn get(action: &'static str, url: &str) -> Prepared {
    Prepared {
        action,
        method: reqwest::Method::GET,
        url: url::Url::parse(url).expect("url"),
        headers: Vec::<(HeaderName, HeaderValue)>::new(),
        body: None,
        timeout: Duration::from_secs(2),
    }
}

fn metrics_text(m: &CrmMetrics) -> String {
    let mut text = String::new();
    m.render(&mut text);
    text
}

async fn wait_until(done: impl FnMut() -> bool) {
    wait_until_within(Duration::from_secs(5), done).await;
}

async fn wait_until_within(limit: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within {limit:?}");
}

/// Log lines written on this test's thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// One request as a test server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a test server answers.
#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Streamed without a `Content-Length`.
    chunked: bool,
}

impl Resp {
    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A real HTTP server (actix) answering every request with `handler`, and
/// keeping what it received.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn last(&self) -> Seen {
        self.seen().pop().expect("a request")
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn serve(handler: impl Fn(&Seen) -> Resp + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<dyn Fn(&Seen) -> Resp + Send + Sync> = Arc::new(handler);
    let server = {
        let seen = seen.clone();
        HttpServer::new(move || {
            let (seen, handler) = (seen.clone(), handler.clone());
            App::new().app_data(web::PayloadConfig::new(4 * 1024 * 1024)).default_service(web::to(
                move |req: HttpRequest, body: web::Bytes| {
                    let s = Seen {
                        method: req.method().to_string(),
                        target: req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect(),
                        body: body.to_vec(),
                    };
                    let resp = handler(&s);
                    seen.lock().unwrap().push(s);
                    async move {
                        tokio::time::sleep(resp.delay).await;
                        let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(resp.status).unwrap());
                        for (k, v) in &resp.headers {
                            b.insert_header((*k, v.as_str()));
                        }
                        if resp.chunked {
                            let chunks = resp
                                .body
                                .chunks(64 * 1024)
                                .map(|c| Ok::<_, actix_web::Error>(web::Bytes::copy_from_slice(c)))
                                .collect::<Vec<_>>();
                            b.streaming(futures_util::stream::iter(chunks))
                        } else {
                            b.body(resp.body)
                        }
                    }
                },
            ))
        })
    }
    .workers(2)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    Server { url, seen }
}

/// An OAuth token endpoint (`/token`) and a CRM (`/crm`) on one server. It
/// issues `tok-1`, `tok-2`…; the CRM accepts any token issued, but none at
/// or below `revoked` (a session the CRM ended).
struct OAuthDouble {
    server: Server,
    token_status: Arc<AtomicU16>,
    token_delay: Arc<Mutex<Duration>>,
    expires_in: Arc<Mutex<Option<serde_json::Value>>>,
    revoked: Arc<AtomicUsize>,
    reject_all: Arc<AtomicBool>,
}

impl OAuthDouble {
    fn start() -> Self {
        let issued = Arc::new(AtomicUsize::new(0));
        let token_status = Arc::new(AtomicU16::new(200));
        let token_delay = Arc::new(Mutex::new(Duration::ZERO));
        let expires_in: Arc<Mutex<Option<serde_json::Value>>> = Arc::new(Mutex::new(None));
        let revoked = Arc::new(AtomicUsize::new(0));
        let reject_all = Arc::new(AtomicBool::new(false));
        let server = {
            let (token_status, token_delay, expires_in) =
                (token_status.clone(), token_delay.clone(), expires_in.clone());
            let (revoked, reject_all) = (revoked.clone(), reject_all.clone());
            serve(move |seen| {
                if seen.target == "/token" {
                    let delay = *token_delay.lock().unwrap();
                    let status = token_status.load(SeqCst);
                    if status != 200 {
                        return Resp::json(
                            status,
                            r#"{"error":"invalid_client","error_description":"client-secret-1 wrong"}"#,
                        )
                        .delay(delay);
                    }
                    let n = issued.fetch_add(1, SeqCst) + 1;
                    let mut doc = serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer",
                        "instance_url": "https://acme.my.salesforce.com"});
                    if let Some(e) = expires_in.lock().unwrap().clone() {
                        doc["expires_in"] = e;
                    }
                    return Resp::json(200, &doc.to_string()).delay(delay);
                }
                // Any token issued and not revoked is good, as at real
                // providers: an old token still works while a new one is
                // on its way (counted as issued before its answer is sent).
                let number = seen.header("authorization").and_then(|h| h.strip_prefix("Bearer tok-"));
                let number = number.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
                let accepted =
                    !reject_all.load(SeqCst) && number > revoked.load(SeqCst) && number <= issued.load(SeqCst);
                if accepted {
                    Resp::json(200, r#"{"totalSize":0,"records":[]}"#)
                } else {
                    Resp::json(401, r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#)
                }
            })
        };
        Self { server, token_status, token_delay, expires_in, revoked, reject_all }
    }

    fn toml(&self, extra: &str) -> String {
        format!(
            "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"client-id-1\"\n{extra}",
            self.server.url
        )
    }

    fn env(&self) -> [(&'static str, &'static str); 1] {
        [("VOUCH_CRM_CLIENT_SECRET", "client-secret-1")]
    }

    fn crm_url(&self) -> String {
        format!("{}/crm", self.server.url)
    }

    /// The `Authorization` header of the last request to the CRM.
    fn last_crm_auth(&self) -> Option<String> {
        let seen = self.server.seen().into_iter().rev().find(|s| s.target == "/crm")?;
        seen.header("authorization").map(str::to_string)
    }

    fn token_requests(&self) -> usize {
        self.server.seen().iter().filter(|s| s.target == "/token").count()
    }

    fn crm_requests(&self) -> usize {
        self.server.seen().iter().filter(|s| s.target == "/crm").count()
    }
}

/// A private CA, a server certificate for 127.0.0.1 and a client
/// certificate, all signed by it, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
    server: (Vec<u8>, Vec<u8>),
}

impl Pki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Vouch test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().expect("key");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let mut p = CertificateParams::new(names).expect("params");
            p.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().expect("key");
            let cert = p.signed_by(&key, &issuer).expect("signed");
            (cert, key)
        };
        let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "crm.test");
        let (client_cert, client_key) = leaf(Vec::new(), "vouch-client");
        std::fs::write(dir.path().join("client.pem"), client_cert.pem()).expect("write");
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).expect("write");
        Self { dir, ca_der: ca.der().to_vec(), server: (server_cert.der().to_vec(), server_key.serialize_der()) }
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").to_string_lossy().into_owned()
    }

    fn client_files(&self) -> (String, String) {
        let p = |f: &str| self.dir.path().join(f).to_string_lossy().into_owned();
        (p("client.pem"), p("client.key"))
    }
}

/// An HTTPS server (tokio-rustls) answering every request with whether the
/// client presented a certificate; with `require_client_cert`, one signed
/// by the test CA is required.
struct TlsServer {
    url: String,
}

impl TlsServer {
    async fn start(pki: &Pki, require_client_cert: bool) -> Self {
        use tokio_rustls::rustls::{self, pki_types};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocols");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki_types::CertificateDer::from(pki.ca_der.clone())).expect("CA");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(
                vec![pki_types::CertificateDer::from(pki.server.0.clone())],
                pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(pki.server.1.clone())),
            )
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    if read_head(&mut tls).await.is_none() {
                        return;
                    }
                    let client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    let body = format!(r#"{{"client_certificate":{client_cert}}}"#);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { url }
    }
}

/// Reads a request's head (up to the blank line); its first line.
async fn read_head(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().map(str::to_string)
}

/// An HTTP proxy that keeps each request line: a `CONNECT` is tunnelled to
/// its target, any other request is answered by the proxy itself.
struct Proxy {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let Some(line) = read_head(&mut client).await else { return };
                    kept.lock().unwrap().push(line.clone());
                    if let Some(target) = line.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()) {
                        let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else { return };
                        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    } else {
                        let body = r#"{"from":"proxy"}"#;
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = client.write_all(resp.as_bytes()).await;
                        let _ = client.shutdown().await;
                    }
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

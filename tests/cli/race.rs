//! The PIN lockout under a race, against the real binary: 20 calls reach
//! the PIN prompt for one customer, then all key a wrong PIN at the same
//! moment. At most `security.lockout_failures` of them may reach the CRM,
//! whatever the store (memory, SQLite, PostgreSQL) and however many Vouch
//! instances share it. And when the store cannot count a try, the
//! verification fails closed: an agent, identified, and the CRM not asked.
//!
//! The tests here run one at a time (they flood the binary on a 2-core
//! machine), with a CRM double in this process that counts verify requests.

use crate::database::{postgres, SqliteLock};
use crate::support::{Reply, Serve, TempDir, Tiny, DEMO_TOKEN};
use std::sync::Arc;
use std::time::Duration;
use vouch::sim::{CallSpec, Phone};
use vouch::twilio::form::Params;
use vouch::twilio::signature;

const LIMIT: usize = 5;
const CALLS: usize = 20;
const ADA_PHONE: &str = "+15551230001";
const ADMIN_TOKEN: &str = "race-admin-token-0123456789abcdef";

/// A CRM that finds Ada by her number and rejects every PIN after 300 ms
/// (so the simultaneous verifications overlap), counting them.
fn counting_crm() -> Tiny {
    Tiny::start(|seen| {
        let (body, delay) = if seen.method == "POST" && seen.path.ends_with("/verify") {
            (r#"{"verified":false}"#, Duration::from_millis(300))
        } else {
            (r#"{"customers":[{"id":"12345678","name":"Ada Lovelace"}]}"#, Duration::ZERO)
        };
        Reply { status: 200, content_type: "application/json", body: body.into(), delay }
    })
}

fn verifies(crm: &Tiny) -> usize {
    crm.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/verify")).count()
}

/// The demo configuration with a lockout after `LIMIT` failures, in `dir`.
fn config_file(dir: &TempDir) -> String {
    let toml = format!("{}\n[security]\nlockout_failures = {LIMIT}\n", vouch::config::DEMO_CONFIG);
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("vouch.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_str().expect("a UTF-8 path").to_string()
}

fn serve(config: &str, crm: &Tiny, database_url: &str) -> Serve {
    Serve::start(
        &["--config", config],
        &[("VOUCH_CRM_URL", &crm.url), ("DATABASE_URL", database_url), ("VOUCH_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

/// A call of Ada's waiting at the PIN prompt: its phone, its parameters and
/// the prompt's action URL.
struct AtPin {
    phone: Arc<Phone>,
    params: Vec<(String, String)>,
    action: String,
    call_sid: String,
}

/// Calls Ada's line from her number on `server` and stops at the PIN prompt.
async fn to_pin_prompt(server: &Serve) -> AtPin {
    let phone = Arc::new(Phone::new(&server.address, &server.public, DEMO_TOKEN));
    let call_sid = vouch::sim::call::new_call_sid();
    let spec = CallSpec { from: ADA_PHONE.into(), ..CallSpec::default() };
    let params = Phone::call_params(&spec, &call_sid);
    let voice = format!("{}/voice", server.public);
    let (status, _, body, _) = phone.post(&voice, &Params::from_pairs(params.clone())).await.expect("first webhook");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("PIN"), "Ada is asked for her PIN: {body}");
    let doc = vouch::sim::twiml::parse(&body).expect("TwiML");
    let action = doc.walk().into_iter().find(|n| n.name == "Gather").and_then(|g| g.attr("action")).expect("a Gather");
    let action = url::Url::parse(&voice).unwrap().join(action).unwrap().to_string();
    AtPin { phone, params, action, call_sid }
}

/// Keys `pin` at the prompt, signed as Twilio signs; the answer's status and body.
async fn key(call: &AtPin, pin: &str) -> (u16, String) {
    let mut params = call.params.clone();
    params.extend([("Digits".to_string(), pin.to_string()), ("FinishedOnKey".to_string(), "#".to_string())]);
    let params = Params::from_pairs(params);
    let send_to = call.action.replacen(&call.phone.public, &call.phone.target, 1);
    let r = reqwest::Client::new()
        .post(send_to)
        .header("X-Twilio-Signature", signature::sign(DEMO_TOKEN, &call.action, &params))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(params.encode())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("PIN webhook");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// `CALLS` calls spread over `servers` reach the PIN prompt, then all key a
/// wrong PIN at once; returns how many verifications reached the CRM.
async fn race(servers: &[&Serve], crm: &Tiny) -> usize {
    let mut calls = Vec::new();
    for i in 0..CALLS {
        calls.push(to_pin_prompt(servers[i % servers.len()]).await);
    }
    assert_eq!(verifies(crm), 0);
    let start = Arc::new(tokio::sync::Barrier::new(CALLS));
    let keyed: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                key(&call, "9087").await
            })
        })
        .collect();
    for k in keyed {
        let (status, body) = k.await.unwrap();
        assert_eq!(status, 200, "every caller gets an answer: {body}");
        assert!(body.contains("<Response>"), "{body}");
    }
    let lines = |needle: &str| servers.iter().map(|s| s.count_lines(needle)).sum::<usize>();
    // Past the CRM's checks, each try was refused as locked, or failed closed
    // when the store could not count it in time (safe too, but not expected).
    let (locked, closed) = (lines("verification locked"), lines("verification fails closed"));
    eprintln!("race: {} checked by the CRM, {locked} locked, {closed} failed closed", verifies(crm));
    verifies(crm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_pins_reach_the_crm_at_most_the_limit_in_memory() {
    let _one = crate::support::stress_lock_async().await;
    let crm = counting_crm();
    let dir = TempDir::new("race-memory");
    let server = serve(&config_file(&dir), &crm, "memory:");
    let checked = race(&[&server], &crm).await;
    assert!(checked <= LIMIT, "{checked} of {CALLS} simultaneous wrong PINs reached the CRM (limit {LIMIT})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_pins_reach_the_crm_at_most_the_limit_on_sqlite() {
    let _one = crate::support::stress_lock_async().await;
    let crm = counting_crm();
    let dir = TempDir::new("race-sqlite");
    let config = config_file(&dir);
    let url = format!("sqlite://{}/vouch.db", dir.path());
    let server = serve(&config, &crm, &url);
    let checked = race(&[&server], &crm).await;
    assert!(checked <= LIMIT, "{checked} of {CALLS} simultaneous wrong PINs reached the CRM (limit {LIMIT})");
    assert_eq!(checked, LIMIT, "the limit's worth of guesses were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_a_sqlite_file_together_put_at_most_the_limit_through() {
    let _one = crate::support::stress_lock_async().await;
    let crm = counting_crm();
    let dir = TempDir::new("race-sqlite-two");
    let config = config_file(&dir);
    let url = format!("sqlite://{}/vouch.db", dir.path());
    let (a, b) = (serve(&config, &crm, &url), serve(&config, &crm, &url));
    let checked = race(&[&a, &b], &crm).await;
    assert!(checked <= LIMIT, "{checked} of {CALLS} simultaneous wrong PINs reached the CRM (limit {LIMIT})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_pins_reach_the_crm_at_most_the_limit_on_postgres() {
    let _one = crate::support::stress_lock_async().await;
    let Some(pg) = postgres().await else { return };
    let crm = counting_crm();
    let dir = TempDir::new("race-postgres");
    let server = serve(&config_file(&dir), &crm, &pg.url);
    let checked = race(&[&server], &crm).await;
    assert!(checked <= LIMIT, "{checked} of {CALLS} simultaneous wrong PINs reached the CRM (limit {LIMIT})");
    assert_eq!(checked, LIMIT, "the limit's worth of guesses were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_postgres_together_put_at_most_the_limit_through() {
    let _one = crate::support::stress_lock_async().await;
    let Some(pg) = postgres().await else { return };
    let crm = counting_crm();
    let dir = TempDir::new("race-postgres-two");
    let config = config_file(&dir);
    let (a, b) = (serve(&config, &crm, &pg.url), serve(&config, &crm, &pg.url));
    let checked = race(&[&a, &b], &crm).await;
    assert!(checked <= LIMIT, "{checked} of {CALLS} simultaneous wrong PINs reached the CRM (limit {LIMIT})");
    assert_eq!(checked, LIMIT, "the limit's worth of guesses were checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_that_cannot_count_the_try_fails_closed_to_an_agent_as_identified() {
    let _one = crate::support::stress_lock_async().await;
    let crm = counting_crm();
    let dir = TempDir::new("race-locked-store");
    let url = format!("sqlite://{}/vouch.db", dir.path());
    let server = serve(&config_file(&dir), &crm, &url);
    let call = to_pin_prompt(&server).await;
    // Another writer holds the database (a backup, a stuck process): the
    // lockout counter cannot count a try.
    let lock = SqliteLock::take(&url).await;
    let (status, body) = key(&call, "9087").await;
    lock.release().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(verifies(&crm), 0, "no guess is spent: the CRM was not asked");
    assert!(body.contains("<Enqueue") && body.contains("connect you to an agent"), "to an agent: {body}");
    assert!(!body.contains("<Gather"), "not asked again: {body}");
    let record: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/calls/{}", server.address, call.call_sid))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (record["idv_status"].as_str(), record["outcome"].as_str(), record["lockout"].as_bool()),
        (Some("identified"), Some("verification_unavailable"), Some(false)),
        "{record}"
    );
    assert!(server.logs().contains("verification fails closed"), "a WARN says so:\n{}", server.logs());
}

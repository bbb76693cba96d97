//! Whole calls through each shipped `examples/crm/*.toml`, as written, with
//! only the CRM's address (`VOUCH_CRM_URL`, and the OAuth token URL) pointed
//! at that CRM's double ([`crate::crm_doubles`]): a caller identified by
//! caller ID and verified, one identified by a keyed identifier, a wrong
//! factor, an unknown identifier, a shared phone, and a rate-limited CRM
//! (the agent path, never a dead call). Every request the double received
//! must be the one that CRM documents. Each example also loads as
//! `vouch check-config` resolves it, so a broken example fails here.

use crate::crm_doubles::*;
use crate::helpers::*;
use serde_json::Value;
use vouch::config::Config;
use vouch::sim::{End, Transcript};

/// The number each example's support line answers.
const LINE_NUMBER: &str = "+18005550100";
/// A number no example CRM knows.
const NOBODY: &str = "+15559990000";
/// The example file of each double's CRM.
const EXAMPLES: [(Kind, &str); 5] = [
    (Kind::Salesforce, "salesforce"),
    (Kind::Hubspot, "hubspot"),
    (Kind::Zendesk, "zendesk"),
    (Kind::Dataverse, "dataverse"),
    (Kind::Freshdesk, "freshdesk"),
];

async fn spawn_example(kind: Kind, double: &Double) -> TestApp {
    spawn_with(Options {
        toml: example_for(kind, double),
        env: example_secrets(kind),
        crm_double: false,
        crm_url: Some(double.url.clone()),
        ..Options::default()
    })
    .await
}

fn wrong_factor(kind: Kind) -> &'static str {
    match kind {
        Kind::Salesforce => "01011970",
        Kind::Zendesk => "99999",
        _ => "9999",
    }
}

/// The TaskRouter attributes the call was enqueued with.
fn task_of(t: &Transcript) -> Value {
    match &t.end {
        End::Enqueued { task: Some(task), .. } => {
            assert!(task.len() <= 1024, "within Flex's limit: {task}");
            serde_json::from_str(task).expect("Task JSON")
        }
        other => panic!("expected an Enqueue with a Task, got {other:?}\n{}", t.said()),
    }
}

fn keys(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

async fn whole_calls_through(kind: Kind) {
    let double = Double::start(kind);
    let app = spawn_example(kind, &double).await;

    // Ada: identified by caller ID, verified.
    let t = app.call(ADA.phone, LINE_NUMBER, &keys(&[format!("{}#", factor(kind, &ADA))])).await;
    let task = task_of(&t);
    assert_eq!(
        (task["idv_status"].as_str(), task["idv_method"].as_str(), task["customer_name"].as_str()),
        (Some("verified"), Some("ani"), Some("Ada Lovelace")),
        "{kind:?}: {task}"
    );
    assert_eq!(task["customer_id"].as_str(), Some(double.id_of(&ADA).as_str()));
    assert_eq!(task["customer_attributes"]["tier"], "Gold", "{kind:?}: {task}");
    let (status, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(record["attributes"]["tier"], "Gold", "{kind:?}: {record}");

    // Grace, from a number the CRM does not know: her account number, then her factor.
    let t = app
        .call(NOBODY, LINE_NUMBER, &keys(&[format!("{}#", GRACE.account), format!("{}#", factor(kind, &GRACE))]))
        .await;
    let task = task_of(&t);
    assert_eq!(
        (task["idv_status"].as_str(), task["idv_method"].as_str(), task["customer_name"].as_str()),
        (Some("verified"), Some("keyed"), Some("Grace Hopper")),
        "{kind:?}: {task}"
    );
    assert_eq!(task["customer_attributes"]["tier"], "Silver", "{kind:?}: {task}");

    // Ada keys a wrong factor every time: an agent, identified only.
    let wrong = format!("{}#", wrong_factor(kind));
    let t = app.call(ADA.phone, LINE_NUMBER, &[wrong.as_str(); 4]).await;
    let task = task_of(&t);
    assert_eq!((task["idv_status"].as_str(), task["lockout"].as_bool()), (Some("identified"), Some(false)));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["verify_attempts"], 4, "{kind:?}: {record}");

    // An identifier nobody has: a failed try; the caller then opts out.
    let t = app.call(NOBODY, LINE_NUMBER, &["99999999#", "*"]).await;
    let task = task_of(&t);
    assert_eq!((task["idv_status"].as_str(), task["opted_out"].as_bool()), (Some("unidentified"), Some(true)));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    // Two tries: the unknown identifier, then the opt-out.
    assert_eq!(record["identify_attempts"], 2, "{kind:?}: {record}");
    assert!(record["customer_id"].is_null());

    // Alan shares his phone with Joan: asked for the account number.
    let t = app
        .call(ALAN.phone, LINE_NUMBER, &keys(&[format!("{}#", ALAN.account), format!("{}#", factor(kind, &ALAN))]))
        .await;
    let task = task_of(&t);
    assert_eq!(
        (task["idv_status"].as_str(), task["idv_method"].as_str(), task["customer_name"].as_str()),
        (Some("verified"), Some("keyed"), Some("Alan Turing")),
        "{kind:?}: {task}"
    );
    double.assert_clean();

    // The CRM's rate limit: the agent path, with an apology, never a dead call.
    double.set_mode(Mode::RateLimited);
    let before = double.seen().len();
    let t = app.call("+15559990001", LINE_NUMBER, &keys(&[format!("{}#", JOAN.account)])).await;
    let task = task_of(&t);
    assert_eq!(task["idv_status"], "unidentified", "{kind:?}: {task}");
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["outcome"], "crm_unavailable", "{kind:?}: {record}");
    let asked = double.seen();
    assert!(asked.len() > before, "the CRM was asked and answered its rate limit");
    assert!(asked[before..].iter().all(|s| s.method == "GET" || s.method == "POST"), "{:?}", &asked[before..]);

    // The CRM's own error answer (a 5xx): the same.
    double.set_mode(Mode::Failing);
    let t = app.call("+15559990002", LINE_NUMBER, &keys(&[format!("{}#", JOAN.account)])).await;
    assert_eq!(task_of(&t)["idv_status"], "unidentified");
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["outcome"], "crm_unavailable", "{kind:?}: {record}");
    double.assert_clean();
}

#[tokio::test]
async fn whole_calls_through_the_salesforce_example() {
    whole_calls_through(Kind::Salesforce).await;
}

#[tokio::test]
async fn whole_calls_through_the_hubspot_example() {
    whole_calls_through(Kind::Hubspot).await;
}

#[tokio::test]
async fn whole_calls_through_the_zendesk_example() {
    whole_calls_through(Kind::Zendesk).await;
}

#[tokio::test]
async fn whole_calls_through_the_dataverse_example() {
    whole_calls_through(Kind::Dataverse).await;
}

#[tokio::test]
async fn whole_calls_through_the_freshdesk_example() {
    whole_calls_through(Kind::Freshdesk).await;
}

#[tokio::test]
async fn the_salesforce_oauth_token_is_fetched_once_for_many_requests() {
    let double = Double::start(Kind::Salesforce);
    let app = spawn_example(Kind::Salesforce, &double).await;
    for from in [ADA.phone, GRACE.phone, NOBODY] {
        app.call(from, LINE_NUMBER, &["*"]).await;
    }
    assert!(double.seen().len() >= 4, "three searches and the token");
    assert_eq!(double.tokens_issued(), 1, "cached: Salesforce sends no expires_in");
    double.assert_clean();
}

#[tokio::test]
async fn the_salesforce_pin_line_verifies_against_a_bcrypt_hash() {
    let double = Double::start(Kind::Salesforce);
    let app = spawn_example(Kind::Salesforce, &double).await;
    let t = app.call(ADA.phone, "+18005550101", &[&format!("{}#", ADA.pin)]).await;
    assert_eq!(task_of(&t)["idv_status"], "verified");
    let t = app.call(ADA.phone, "+18005550101", &["9999#"; 4]).await;
    assert_eq!(task_of(&t)["idv_status"], "identified");
    assert!(double.seen().iter().any(|s| s.query.iter().any(|(k, v)| k == "fields" && v == "PIN_Hash__c")));
    double.assert_clean();
}

/// An identifier that tries to break out of its quoted literal finds nobody,
/// and the CRM received a well-formed query (the double refuses any other).
#[tokio::test]
async fn an_injected_identifier_cannot_change_the_soql_odata_or_zendesk_query() {
    for kind in [Kind::Salesforce, Kind::Dataverse, Kind::Zendesk] {
        let double = Double::start(kind);
        let mut env: std::collections::HashMap<String, String> =
            example_secrets(kind).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        env.insert("VOUCH_CRM_URL".into(), double.url.clone());
        env.insert("TWILIO_AUTH_TOKEN".into(), AUTH_TOKEN.into());
        env.insert("VOUCH_STATE_SECRET".into(), STATE_SECRET.into());
        let config = Config::from_toml(&example_for(kind, &double), &env).expect("the example loads");
        let base = config.crm.url.clone().expect("a CRM URL");
        let checker = vouch::auth::checker::PasswordChecker::new(1, 4);
        let crm = vouch::crm::CrmClient::new(&config.crm, &base, checker).expect("a CRM client");
        let line = config.lines.get("support").expect("the support line");
        for injected in ["1' OR '1'='1", "1\" OR \"1\"=\"1", "1\\' OR 1=1 --"] {
            let found = crm.find_by_id(line, injected).await;
            assert_eq!(found, vouch::flow::Lookup::NotFound, "{kind:?}: {injected}");
        }
        assert!(
            matches!(crm.find_by_id(line, ADA.account).await, vouch::flow::Lookup::Found(_)),
            "{kind:?}: the same query finds Ada"
        );
        let seen = double.seen();
        assert!(seen.len() >= 4, "{kind:?}: the CRM was asked each time");
        let searches: Vec<_> = seen.iter().filter(|s| !s.path.ends_with("/token")).collect();
        assert!(searches.iter().all(|s| s.method == "GET" && s.body.is_empty()), "{searches:?}");
        double.assert_clean();
    }
}

/// Every shipped example resolves as `vouch check-config` resolves it: a
/// broken example fails CI.
#[test]
fn every_example_loads_as_check_config_resolves_it() {
    let dir = format!("{}/examples/crm", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/crm")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(names, ["dataverse.toml", "freshdesk.toml", "hubspot.toml", "salesforce.toml", "zendesk.toml"]);
    for (kind, name) in EXAMPLES {
        let text = example_text(name);
        assert_eq!(file_of(kind), name);
        let mut env: std::collections::HashMap<String, String> =
            example_secrets(kind).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        env.insert("TWILIO_AUTH_TOKEN".into(), AUTH_TOKEN.into());
        env.insert("VOUCH_STATE_SECRET".into(), STATE_SECRET.into());
        let config = Config::from_toml(&text, &env).unwrap_or_else(|e| panic!("examples/crm/{name}: {e}"));
        let url = config.crm.url.as_ref().expect("a CRM URL, not the demo CRM");
        assert_eq!(url.scheme(), "https", "{name}: the real CRM's URL");
        let described = vouch::cli::check_config::describe(&config);
        assert!(described.contains(url.host_str().unwrap()), "{name}: {described}");
        // Without its secret the example refuses to start, naming what is missing.
        let bare: std::collections::HashMap<String, String> =
            [("TWILIO_AUTH_TOKEN", AUTH_TOKEN), ("VOUCH_STATE_SECRET", STATE_SECRET)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let missing = Config::from_toml(&text, &bare).expect_err(&format!("{name} needs its CRM secret"));
        assert!(missing.to_string().contains("VOUCH_CRM_"), "{name}: {missing}");
    }
}

//! Configured CRM data actions, through whole calls: a Vouch with a custom
//! `[crm]` actions configuration against a CRM double over real HTTP that
//! answers Salesforce-shaped SOQL queries and an in-house REST API, and
//! keeps every request it receives.

use crate::helpers::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use vouch::sim::End;

const CLAIMS_NUMBER: &str = "+15005550008";
/// Ada's number, as the CRM's users typed it: `(555) 123-0001`.
const ADA: &str = "+15551230001";
const ADA_SF_ID: &str = "003ADA";
const ADA_PIN: &str = "2468";
/// An account number two contacts share.
const SHARED_ACCOUNT: &str = "11111111";
/// An account number the double answers 404 for (a misconfigured search).
const NOT_FOUND_ACCOUNT: &str = "40404040";
const POLICY: &str = "654321";
/// Grace's date of birth as the caller keys it (MMDDYYYY) and the CRM keeps it.
const GRACE_DOB_KEYED: &str = "12091906";

const TOML: &str = r#"
default_line = "support"

[crm]
timeout_ms = 1500

[crm.find_by_phone]
url = "/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE Phone = {phone:(###) ###-####|soql} OR Phone = {phone:e164|soql}"
list = "/records"
count = "/totalSize"
id = "/Id"
name = "{/FirstName} {/LastName}"
attributes = { tier = "/Tier__c" }

[crm.find_by_identifier]
url = "/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE Account.AccountNumber = {id|soql}"
list = "/records"
id = "/Id"
name = "{/FirstName} {/LastName}"

[crm.verify]
mode = "hash"
url = "/services/data/v60.0/sobjects/Contact/{id}?fields=PIN_Hash__c"
field = "/PIN_Hash__c"
hash = "argon2"

[lines.support]
numbers = ["+15005550006"]
[lines.support.identifier]
name = "account number"
min_digits = 8
max_digits = 8
[lines.support.verification]
factor = "pin"
name = "PIN"
length = 4
[lines.support.next]
type = "enqueue"
queue = "verified"
[lines.support.agent]
type = "enqueue"
queue = "support"

[lines.claims]
numbers = ["+15005550008"]
caller_id_lookup = false
[lines.claims.identifier]
name = "policy number"
min_digits = 6
max_digits = 6
[lines.claims.verification]
factor = "dob"
name = "date of birth"
length = 8
[lines.claims.next]
type = "enqueue"
queue = "claims-verified"
[lines.claims.agent]
type = "enqueue"
queue = "claims"
[lines.claims.crm.find_by_identifier]
url = "/api/policies?number={id}"
list = "/items"
id = "/holder_id"
name = "/holder_name"
[lines.claims.crm.verify]
mode = "compare"
url = "/api/customers/{id}"
field = "/date_of_birth"
field_format = "date:YYYY-MM-DD"
keyed_format = "MMDDYYYY"
"#;

/// One request the double received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, percent-decoded.
    target: String,
    /// As sent.
    raw: String,
}

/// A CRM double over real HTTP: Salesforce-shaped answers for SOQL
/// queries, and a small REST API for the claims line.
struct Crm {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    pin_hash: String,
}

impl Crm {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let pin_hash = vouch::auth::password::hash(ADA_PIN).unwrap();
        let state = web::Data::new((seen.clone(), pin_hash.clone()));
        let server = HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(answer)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        tokio::spawn(server);
        Self { url, seen, pin_hash }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

type State = web::Data<(Arc<Mutex<Vec<Seen>>>, String)>;

async fn answer(req: HttpRequest, state: State) -> HttpResponse {
    let raw = req.uri().to_string();
    let target = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy().into_owned();
    state.0.lock().unwrap().push(Seen { method: req.method().to_string(), target: target.clone(), raw });
    let soql = |records: serde_json::Value| {
        let n = records.as_array().map_or(0, Vec::len);
        HttpResponse::Ok().json(serde_json::json!({"totalSize": n, "done": true, "records": records}))
    };
    let ada = serde_json::json!({"Id": ADA_SF_ID, "FirstName": "Ada", "LastName": "Lovelace", "Tier__c": "gold"});
    let query = "/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE ";
    if let Some(q) = target.strip_prefix(query) {
        return match q {
            "Phone = '(555) 123-0001' OR Phone = '+15551230001'" => soql(serde_json::json!([ada])),
            "Account.AccountNumber = '12345678'" => soql(serde_json::json!([ada])),
            "Account.AccountNumber = '11111111'" => {
                soql(serde_json::json!([ada, {"Id": "003ALAN", "FirstName": "Alan"}]))
            }
            "Account.AccountNumber = '40404040'" => HttpResponse::NotFound().finish(),
            _ => soql(serde_json::json!([])),
        };
    }
    match target.as_str() {
        "/services/data/v60.0/sobjects/Contact/003ADA?fields=PIN_Hash__c" => {
            let bcrypt =
                bcrypt::hash_with_salt(ADA_PIN, 5, [9u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoY);
            HttpResponse::Ok()
                .json(serde_json::json!({"Id": ADA_SF_ID, "PIN_Hash__c": state.1, "PIN_Bcrypt__c": bcrypt}))
        }
        "/api/policies?number=654321" => {
            HttpResponse::Ok().json(serde_json::json!({"items": [{"holder_id": "H-9", "holder_name": "Grace Hopper"}]}))
        }
        t if t.starts_with("/api/policies?number=") => HttpResponse::Ok().json(serde_json::json!({"items": []})),
        "/api/customers/H-9" => {
            HttpResponse::Ok().json(serde_json::json!({"id": "H-9", "date_of_birth": "1906-12-09"}))
        }
        _ => HttpResponse::NotFound().finish(),
    }
}

async fn start() -> (TestApp, Crm) {
    start_with(TOML).await
}

async fn start_with(toml: &str) -> (TestApp, Crm) {
    let crm = Crm::start();
    let app = spawn_with(Options {
        toml: toml.into(),
        crm_double: false,
        crm_url: Some(crm.url.clone()),
        ..Options::default()
    })
    .await;
    (app, crm)
}

async fn record(app: &TestApp, sid: &str) -> serde_json::Value {
    app.api_call(sid, Some(ADMIN_TOKEN)).await.1
}

/// No keyed secret ever reached a URL the CRM saw.
fn assert_no_secret_in_urls(crm: &Crm, secrets: &[&str]) {
    for s in crm.seen() {
        for secret in secrets {
            assert!(!s.raw.contains(secret) && !s.target.contains(secret), "{secret} in {}", s.raw);
        }
    }
}

#[tokio::test]
async fn a_caller_is_identified_by_a_soql_phone_query_and_verified_against_an_argon2_hash() {
    let (app, crm) = start().await;
    let t = app.call(ADA, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "verified"), "{:?}\n{}", t.end, t.said());
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["idv_method"].as_str()), (Some("verified"), Some("ani")), "{r}");
    let seen = crm.seen();
    assert_eq!(seen.len(), 2, "one request per action: {seen:?}");
    assert_eq!(seen[0].method, "GET");
    // Each placeholder became one quoted SOQL literal, percent-encoded as a query value.
    assert!(
        seen[0].raw.contains("Phone%20=%20%27%28555%29%20123-0001%27%20OR%20Phone%20=%20%27%2B15551230001%27"),
        "{}",
        seen[0].raw
    );
    assert_eq!(seen[1].target, "/services/data/v60.0/sobjects/Contact/003ADA?fields=PIN_Hash__c");
    assert_no_secret_in_urls(&crm, &[ADA_PIN]);
    assert!(!crm.pin_hash.is_empty());
}

#[tokio::test]
async fn a_pin_is_verified_against_a_bcrypt_hash() {
    let toml =
        TOML.replace("field = \"/PIN_Hash__c\"\nhash = \"argon2\"", "field = \"/PIN_Bcrypt__c\"\nhash = \"bcrypt\"");
    assert_ne!(toml, TOML);
    let (app, crm) = start_with(&toml).await;
    let t = app.call(ADA, SUPPORT_NUMBER, &["1357#", &format!("{ADA_PIN}#")]).await;
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["verify_attempts"].as_u64()), (Some("verified"), Some(2)), "{r}");
    assert_no_secret_in_urls(&crm, &["1357", ADA_PIN]);
}

#[tokio::test]
async fn a_wrong_pin_against_the_hash_is_a_rejected_try() {
    let (app, crm) = start().await;
    let t = app.call(ADA, SUPPORT_NUMBER, &["1357#", &format!("{ADA_PIN}#")]).await;
    let r = record(&app, &t.call_sid).await;
    assert_eq!(r["idv_status"], "verified", "{r}");
    assert_eq!(r["verify_attempts"], 2, "the wrong PIN was a failed try: {r}");
    assert_no_secret_in_urls(&crm, &["1357", ADA_PIN]);
}

#[tokio::test]
async fn an_identifier_matching_two_contacts_is_a_failed_try() {
    let (app, crm) = start().await;
    let t = app
        .call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{SHARED_ACCOUNT}#"), "12345678#", &format!("{ADA_PIN}#")])
        .await;
    let r = record(&app, &t.call_sid).await;
    assert_eq!((r["idv_status"].as_str(), r["idv_method"].as_str()), (Some("verified"), Some("keyed")), "{r}");
    assert_eq!(r["identify_attempts"], 2, "the ambiguous identifier counted as a try: {r}");
    assert!(t.said().contains("couldn't find") || t.said().contains("find that account number"), "{}", t.said());
    let targets = crm.targets();
    assert!(targets.iter().any(|t| t.ends_with("Account.AccountNumber = '11111111'")), "{targets:?}");
}

#[tokio::test]
async fn a_404_on_a_search_is_a_crm_failure_not_an_unknown_caller() {
    let (app, _crm) = start().await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{NOT_FOUND_ACCOUNT}#")]).await;
    assert!(t.said().contains("can't look up your details"), "{}", t.said());
    assert_eq!(record(&app, &t.call_sid).await["outcome"], "crm_unavailable");
}

#[tokio::test]
async fn an_injected_identifier_stays_one_soql_literal() {
    // Callers key digits only, so the engine is asked directly: the query
    // the double receives must carry the whole value as one literal.
    let (app, crm) = start().await;
    let _ = app; // the configuration is the one Vouch runs with
    let config = vouch::config::Config::from_toml(
        TOML,
        &std::collections::HashMap::from([("VOUCH_CRM_URL".to_string(), crm.url.clone())]),
    )
    .unwrap();
    let base = url::Url::parse(&crm.url).unwrap();
    let client =
        vouch::crm::CrmClient::new(&config.crm, &base, vouch::auth::checker::PasswordChecker::new(1, 1)).unwrap();
    let lookup = client.find_by_id(config.lines.get("support").unwrap(), "1' OR '1'='1").await;
    assert_eq!(lookup, vouch::flow::Lookup::NotFound, "no contact has that account number");
    let targets = crm.targets();
    assert_eq!(
        targets.last().unwrap(),
        r"/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE Account.AccountNumber = '1\' OR \'1\'=\'1'"
    );
}

#[tokio::test]
async fn a_line_override_compares_a_date_of_birth_and_is_used_only_on_its_line() {
    let (app, crm) = start().await;
    let t = app
        .call(STRANGER_PHONE, CLAIMS_NUMBER, &[&format!("{POLICY}#"), "12101906#", &format!("{GRACE_DOB_KEYED}#")])
        .await;
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "claims-verified"), "{:?}\n{}", t.end, t.said());
    let r = record(&app, &t.call_sid).await;
    assert_eq!(r["idv_status"], "verified", "{r}");
    assert_eq!(r["verify_attempts"], 2, "the wrong date was a failed try: {r}");
    let claims: Vec<String> = crm.targets();
    assert_eq!(
        claims,
        ["/api/policies?number=654321", "/api/customers/H-9", "/api/customers/H-9"],
        "the claims line used its own actions (and no caller-ID lookup)"
    );
    assert_no_secret_in_urls(&crm, &["12101906", GRACE_DOB_KEYED]);

    // The support line keeps the [crm] actions for the same digits.
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{POLICY}00#")]).await;
    let after: Vec<String> = crm.targets().split_off(claims.len());
    assert!(after.iter().all(|t| t.starts_with("/services/data/v60.0/query")), "{after:?}");
    assert!(after.iter().any(|t| t.ends_with("Account.AccountNumber = '65432100'")), "{after:?}");
    assert!(t.said().contains("couldn't find") || t.said().contains("find that account number"), "{}", t.said());
}

#[tokio::test]
async fn concurrent_first_lookups_of_one_number_make_one_crm_request() {
    let (app, crm) = start().await;
    let config = vouch::config::Config::from_toml(TOML, &std::collections::HashMap::new()).unwrap();
    let base = url::Url::parse(&crm.url).unwrap();
    let client =
        vouch::crm::CrmClient::new(&config.crm, &base, vouch::auth::checker::PasswordChecker::new(1, 1)).unwrap();
    let phone = vouch::flow::E164::parse(ADA).unwrap();
    let lookups: Vec<_> = (0..500).map(|_| client.find_by_phone(&phone)).collect();
    let results = futures_util::future::join_all(lookups).await;
    let tier = vec![("tier".to_string(), "gold".to_string())];
    assert!(results
        .iter()
        .all(|l| matches!(l, vouch::flow::Lookup::Found(c) if c.id == ADA_SF_ID && c.attributes == tier)));
    assert_eq!(crm.seen().len(), 1, "500 concurrent first lookups, one request");
    // The identifier action is a different cache entry, even for the same text.
    let _ = client.find_by_id(config.lines.get("support").unwrap(), ADA).await;
    assert_eq!(crm.seen().len(), 2);
    let _ = app;
}

#[tokio::test]
async fn a_busy_hash_checker_fails_the_verification_at_once_and_frees_up_after() {
    let (_app, crm) = start().await;
    let config = vouch::config::Config::from_toml(TOML, &std::collections::HashMap::new()).unwrap();
    let base = url::Url::parse(&crm.url).unwrap();
    // One place only, shared with logins, as in production (there: 2 + 2).
    let checker = vouch::auth::checker::PasswordChecker::new(1, 0);
    let client = vouch::crm::CrmClient::new(&config.crm, &base, checker.clone()).unwrap();
    let line = config.lines.get("support").unwrap();
    let pin = vouch::config::Secret::new(ADA_PIN);
    // A login check holds the only place while the call verifies.
    let slow = argon2::password_hash::PasswordHasher::hash_password(
        &argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(65_536, 8, 1, None).unwrap(),
        ),
        b"x",
        &argon2::password_hash::SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap(),
    )
    .unwrap()
    .to_string();
    let login = tokio::spawn({
        let checker = checker.clone();
        async move { checker.check(Some(slow), "y".into()).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let started = std::time::Instant::now();
    let busy = client.verify(line, ADA_SF_ID, &pin).await;
    assert_eq!(busy, vouch::flow::Verification::Failed, "refused at once, not queued");
    assert!(login.await.unwrap().is_ok(), "the login was checked");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(client.verify(line, ADA_SF_ID, &pin).await, vouch::flow::Verification::Verified);
}

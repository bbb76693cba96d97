//! The real binary's logs of retention and erasure: the purge at start says
//! what it removed, and an erasure names who did it and a keyed hash of the
//! customer, never the customer id (not even in the request log's path).

use crate::support::{Serve, DEMO_TOKEN};
use std::time::Duration;
use vouch::keyring::Keyring;
use vouch::sim::{CallSpec, Phone, Scripted};

const STATE_SECRET: &str = "0123456789abcdef0123456789abcdef-erase";
const ADMIN: &str = "admin-token-for-the-erasure-test-0123";
const ADA_ID: &str = "12345678";

#[tokio::test]
async fn an_erasure_is_logged_with_a_keyed_hash_and_the_purge_with_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("vouch.db").display());
    let record_dir = dir.path().join("recordings");
    let mut server = Serve::start(
        &["--record-dir", record_dir.to_str().unwrap()],
        &[("DATABASE_URL", &database_url), ("VOUCH_STATE_SECRET", STATE_SECRET), ("VOUCH_ADMIN_TOKEN", ADMIN)],
    );
    server.wait_for_lines("retention: expired data purged", 1, Duration::from_secs(20));

    let phone = Phone::new(&server.address, &server.public, DEMO_TOKEN);
    let spec = CallSpec { from: "+15551230001".into(), ..CallSpec::default() };
    phone.place(&spec, &mut Scripted::new(["1234#"])).await.expect("call completes");
    let r = reqwest::Client::new()
        .delete(format!("{}/api/customers/{ADA_ID}/records", server.address))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["records"], 1, "{body}");
    assert!(body["files"].as_u64().unwrap() > 0, "the call was recorded: {body}");

    server.wait_for_lines("customer records erased", 1, Duration::from_secs(20));
    server.stop();
    let logs = server.logs();
    let hash = Keyring::single(STATE_SECRET).customer_hash(ADA_ID);
    let line = logs.lines().find(|l| l.contains("customer records erased")).unwrap();
    assert!(line.contains(&hash) && line.contains("\"by\":\"admin\""), "{line}");
    assert!(line.contains("\"level\":\"INFO\""), "{line}");
    let purge = logs.lines().find(|l| l.contains("retention: expired data purged")).unwrap();
    assert!(purge.contains("\"call_records\":0") && purge.contains("\"level\":\"INFO\""), "{purge}");
    assert!(!logs.contains(ADA_ID), "the customer id appears in the logs:\n{logs}");
}

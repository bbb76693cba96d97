//! `vouch lockouts`: on the database a running Vouch uses, it lists the
//! customers whose verification is locked and lifts a lockout, audited as
//! done from the command line; the customer's next call verifies.

use crate::support::{run, Serve, DEMO_TOKEN};
use vouch::sim::{CallSpec, Phone, Scripted};

const STATE_SECRET: &str = "0123456789abcdef0123456789abcdef-lockouts";
const ADMIN: &str = "admin-token-for-the-lockouts-test-0123";
const ADA_ID: &str = "12345678";

/// `GET path` with the admin token: a 200's JSON.
async fn admin_get(server: &Serve, path: &str) -> serde_json::Value {
    let r = reqwest::Client::new().get(format!("{}{path}", server.address)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

async fn lockout(server: &Serve) -> serde_json::Value {
    admin_get(server, &format!("/api/lockouts/{ADA_ID}")).await
}

#[tokio::test]
async fn a_locked_customer_is_listed_and_lifted_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vouch.db").display());
    let env = [("DATABASE_URL", url.as_str()), ("VOUCH_STATE_SECRET", STATE_SECRET), ("VOUCH_ADMIN_TOKEN", ADMIN)];
    let server = Serve::start(&[], &env);

    let (out, stdout, stderr) = run(&["lockouts", "list"], &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("nobody is locked") && stdout.contains("5 failed verifications within 15 min"), "{stdout}");

    // Wrong PINs, call after call, until Ada is locked (the demo: 5).
    let phone = Phone::new(&server.address, &server.public, DEMO_TOKEN);
    let spec = CallSpec { from: "+15551230001".into(), ..CallSpec::default() };
    for _ in 0..5 {
        if lockout(&server).await["locked"] == true {
            break;
        }
        phone.place(&spec, &mut Scripted::new(["0000#", "0000#", "0000#"])).await.expect("call completes");
    }
    assert_eq!(lockout(&server).await["locked"], true);

    // `simulate` says so, and how to lift it: the caller's words don't.
    let (out, stdout, stderr) = server.run(&["simulate", "--keys", "1234#"], &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Verification is LOCKED for customer 12345678"), "{stdout}");
    let handoff = &stdout[stdout.find("── handoff ──").expect("the hand-off")..];
    let handoff = &handoff[..handoff.find("── status callback").expect("then the status")];
    assert!(handoff.contains("⚠ verification LOCKED for customer 12345678"), "in the hand-off's summary: {handoff}");
    assert!(stdout.contains("  vouch lockouts clear 12345678\n"), "{stdout}");
    let record = stdout.find("── the call's record").expect("the record is shown");
    let status = stdout.find("── status callback").expect("the status callback is shown");
    assert!(status < record, "the record is fetched after the status callback: {stdout}");
    assert!(stdout[record..].contains("\"call_status\": \"completed\""), "{stdout}");

    let (out, stdout, stderr) = run(&["lockouts", "list"], &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    let row = stdout.lines().find(|l| l.trim_start().starts_with(ADA_ID)).unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..3], ["5", "yes"], "{row}");
    assert!(row.contains("UTC"), "{row}");

    let (out, stdout, stderr) = run(&["lockouts", "clear", ADA_ID], &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("customer {ADA_ID} was locked (5 failed verifications forgotten)")), "{stdout}");
    assert_eq!(lockout(&server).await["locked"], false, "every Vouch on the database sees it at once");
    let (_, stdout, _) = run(&["lockouts", "list"], &env);
    assert!(stdout.contains("nobody is locked"), "{stdout}");

    let audit = admin_get(&server, "/api/audit?action=lockout_lifted").await;
    let entries = audit["entries"].as_array().unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "command line");
    assert!(!entries[0]["target"].as_str().unwrap().contains(ADA_ID), "a keyed hash: {audit}");

    let t = phone.place(&spec, &mut Scripted::new(["1234#"])).await.expect("call completes");
    assert!(t.said().contains("Thank you, you're verified."), "{}", t.said());
    let (_, stdout, _) = server.run(&["simulate", "--keys", "1234#"], &env);
    assert!(!stdout.contains("LOCKED"), "{stdout}");
}

#[test]
fn with_memory_only_it_says_the_lockouts_are_out_of_reach() {
    let (out, stdout, stderr) = run(&["lockouts", "list"], &[("DATABASE_URL", "memory:")]);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("DELETE /api/lockouts/"), "{stderr}");
}

#[test]
fn clear_refuses_what_is_no_customer_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vouch.db").display());
    let (out, _, stderr) = run(&["lockouts", "clear", " "], &[("DATABASE_URL", &url)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("is not a customer id"), "{stderr}");
}

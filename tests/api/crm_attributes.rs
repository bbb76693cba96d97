//! A customer's extra CRM attributes through the real server: mapped from
//! the CRM's answer (the HubSpot example's `customer_tier` and
//! `hs_language`), kept on the call record (the call API), shown on the
//! screen pop, nested in the TaskRouter attributes, and in none of the URLs
//! Twilio fetches or the sealed flow state between steps.

use crate::crm_doubles::*;
use crate::helpers::*;
use vouch::sim::End;

/// The HubSpot example with its token in the legacy `VOUCH_CRM_TOKEN`
/// bearer rule (the same `Authorization: Bearer` header as `[crm.auth]`).
async fn hubspot_app(double: &Double, attributes: bool) -> TestApp {
    hubspot_app_on(double, attributes, None).await
}

async fn hubspot_app_on(double: &Double, attributes: bool, database_url: Option<String>) -> TestApp {
    let path = format!("{}/examples/crm/hubspot.toml", env!("CARGO_MANIFEST_DIR"));
    let mut toml = std::fs::read_to_string(path).unwrap().replace("[crm.auth]\ntype = \"bearer\"\n", "");
    if !attributes {
        toml = toml.lines().filter(|l| !l.starts_with("attributes =")).collect::<Vec<_>>().join("\n");
    }
    spawn_with(Options {
        toml,
        env: vec![("VOUCH_CRM_TOKEN", HUBSPOT_TOKEN.into())],
        crm_double: false,
        crm_url: Some(double.url.clone()),
        database_url,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_attributes_reach_the_record_the_screen_pop_and_the_task_but_no_url() {
    let double = Double::start(Kind::Hubspot);
    let app = hubspot_app(&double, true).await;
    // Caller ID, then the PIN: the state is sealed between the two steps,
    // so the hand-off reads the attributes back from the record.
    let t = app.call(ADA.phone, "+18005550100", &[&format!("{}#", ADA.pin)]).await;
    let End::Enqueued { task: Some(task), .. } = &t.end else { panic!("{:?}", t.end) };
    assert!(task.len() <= 1024);
    let task: serde_json::Value = serde_json::from_str(task).unwrap();
    assert_eq!(task["idv_status"], "verified");
    assert_eq!(task["customer_attributes"], serde_json::json!({ "tier": "Gold", "language": "en" }), "{task}");
    assert!(task.get("tier").is_none(), "nested, never beside the context names");

    let (status, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(record["attributes"], serde_json::json!({ "tier": "Gold", "language": "en" }), "{record}");

    let link = task["screen_pop_url"].as_str().unwrap();
    let page = app.http.get(format!("{}{}", app.address, path_and_query(link))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h2 id=\"attributes\">Attributes</h2>"), "{html}");
    assert!(html.contains("<dt>tier</dt><dd>Gold</dd>") && html.contains("<dt>language</dt><dd>en</dd>"), "{html}");

    // Twilio's request logs keep every URL it fetched: none carries them.
    assert!(t.requests.len() >= 2, "two webhooks: the state travelled sealed between them");
    for r in &t.requests {
        assert!(!r.url.contains("Gold") && !r.url.contains("tier"), "{}", r.url);
    }
    // Nor does any TwiML but the one Enqueue's Task.
    let carrying: Vec<&str> = t.requests.iter().map(|r| r.body.as_str()).filter(|b| b.contains("Gold")).collect();
    assert_eq!(carrying.len(), 1, "{carrying:?}");
    assert!(carrying[0].contains("<Task>"));
    double.assert_clean();
}

#[tokio::test]
async fn the_sealed_state_is_no_longer_with_attributes_than_without() {
    // The same caller, line and CRM, once with the example's attribute
    // mapping and once without: the sealed state is exactly as long, so it
    // carries none of them.
    let double = Double::start(Kind::Hubspot);
    let with = hubspot_app(&double, true).await;
    let without = hubspot_app(&double, false).await;
    let mut lengths = Vec::new();
    for app in [&with, &without] {
        let first =
            app.post_form("/voice", &call_params(&call_sid(), ADA.phone, "+18005550100"), Some(AUTH_TOKEN)).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let state = query_of(&gather_action(&first.body))["state"].clone();
        assert!(!first.body.contains("Gold"));
        lengths.push(state.len());
    }
    assert_eq!(lengths[0], lengths[1]);
    let sid = call_sid();
    with.post_form("/voice", &call_params(&sid, ADA.phone, "+18005550100"), Some(AUTH_TOKEN)).await;
    with.written().await;
    let (_, record) = with.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["attributes"]["tier"], "Gold", "kept on the record from the first step: {record}");
    double.assert_clean();
}

/// Lines handing Ada on every way that is not a Task: none of them carries
/// an attribute (redirect query or token, encrypted or signed, `<Parameter>`,
/// SIP header, whisper).
const OTHER_HANDOFFS: &str = r#"
[lines.redirect.next]
type = "redirect"
url = "https://self.example.com/ivr?src=vouch"

[lines.plain.next]
type = "redirect"
url = "https://self.example.com/ivr?src=vouch"
context = "plain"

[lines.client.next]
type = "dial_client"
identity = "agent_ada"

[lines.sip.next]
type = "dial_sip"
uri = "sip:agent@pbx.example.com"

[lines.phone.next]
type = "dial_number"
number = "+15551112222"
"#;

#[tokio::test]
async fn no_other_handoff_carries_the_attributes() {
    use base64::Engine as _;
    let double = Double::start(Kind::Hubspot);
    let path = format!("{}/examples/crm/hubspot.toml", env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(path).unwrap().replace("[crm.auth]\ntype = \"bearer\"\n", "") + OTHER_HANDOFFS;
    let app = spawn_with(Options {
        toml,
        env: vec![("VOUCH_CRM_TOKEN", HUBSPOT_TOKEN.into())],
        crm_double: false,
        crm_url: Some(double.url.clone()),
        ..Options::default()
    })
    .await;
    for line in ["redirect", "plain", "client", "sip", "phone"] {
        let spec = vouch::sim::CallSpec { from: ADA.phone.into(), line: Some(line.into()), ..Default::default() };
        let t = app.call_spec(&spec, &[&format!("{}#", ADA.pin)]).await;
        let everything: Vec<String> = t
            .requests
            .iter()
            .flat_map(|r| [r.url.clone(), r.body.clone()])
            .chain(t.agent_heard.iter().map(|h| format!("{h:?}")))
            .chain([format!("{:?}", t.end)])
            .collect();
        assert!(everything.iter().any(|s| s.contains("verified")), "{line}: Ada was verified and handed on");
        for text in &everything {
            assert!(!text.contains("Gold") && !text.contains("customer_attributes"), "{line}: {text}");
        }
        if let End::RedirectedAway { url } = &t.end {
            let token = query_of(url)["token"].clone();
            let claims = match line {
                "redirect" => crate::handoff::decrypt_jwe(&token, HANDOFF_SECRET).expect("a JWE").1,
                _ => {
                    let payload = token.split('.').nth(1).expect("a JWT");
                    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
                    serde_json::from_slice(&bytes).unwrap()
                }
            };
            assert_eq!(claims["customer_name"], "Ada Lovelace", "{line}: {claims}");
            assert!(!claims.to_string().contains("Gold"), "{line}: {claims}");
        }
    }
    double.assert_clean();
}

#[tokio::test]
async fn erasing_the_customer_erases_their_attributes_from_the_database_file() {
    let double = Double::start(Kind::Hubspot);
    let app = hubspot_app(&double, true).await;
    let grace = app.call(GRACE.phone, "+18005550100", &[&format!("{}#", GRACE.pin)]).await.call_sid;
    let ada = app.call(ADA.phone, "+18005550100", &[&format!("{}#", ADA.pin)]).await.call_sid;
    app.written().await;
    let stored = |needle: &str| {
        let bytes = crate::database::sqlite_bytes(&app.database_url);
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    assert!(stored(r#"{"tier":"Gold","language":"en"}"#), "Ada's attributes are on her record");
    let r = app
        .http
        .delete(format!("{}/api/customers/{}/records", app.address, double.id_of(&ADA)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!stored(r#"{"tier":"Gold","language":"en"}"#), "gone with the record");
    assert_eq!(app.api_call(&ada, Some(ADMIN_TOKEN)).await.0, 404);
    let (_, kept) = app.api_call(&grace, Some(ADMIN_TOKEN)).await;
    assert_eq!(kept["attributes"]["tier"], "Silver", "another customer's stay");
    double.assert_clean();
}

/// The column round-trips through PostgreSQL too (the same migration), and
/// an erasure deletes it with the row.
#[tokio::test]
async fn attributes_are_kept_and_erased_in_postgres() {
    let Some(pg) = crate::database::postgres().await else { return };
    let double = Double::start(Kind::Hubspot);
    let app = hubspot_app_on(&double, true, Some(pg.url.clone())).await;
    let ada = app.call(ADA.phone, "+18005550100", &[&format!("{}#", ADA.pin)]).await.call_sid;
    app.written().await;
    let rows = crate::database::all_rows_json(&pg.url, "call_records").await;
    assert!(rows.iter().any(|r| r.contains("Gold")), "{rows:?}");
    let (_, record) = app.api_call(&ada, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["attributes"], serde_json::json!({ "tier": "Gold", "language": "en" }), "{record}");
    let r = app
        .http
        .delete(format!("{}/api/customers/{}/records", app.address, double.id_of(&ADA)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = crate::database::all_rows_json(&pg.url, "call_records").await;
    assert!(!rows.iter().any(|r| r.contains("Gold")), "{rows:?}");
    double.assert_clean();
}

/// The step after identification lands on another instance (one database,
/// a round-robin load balancer): that instance has no copy of the call, so
/// it reads the attributes from the database for the Task.
#[tokio::test]
async fn a_step_on_another_instance_reads_the_attributes_from_the_database() {
    let double = Double::start(Kind::Hubspot);
    let one = hubspot_app(&double, true).await;
    let two = hubspot_app_on(&double, true, Some(one.database_url.clone())).await;
    let sid = call_sid();
    let first = one.post_form("/voice", &call_params(&sid, ADA.phone, "+18005550100"), Some(AUTH_TOKEN)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    one.written().await;
    let mut params = call_params(&sid, ADA.phone, "+18005550100");
    params.push(("Digits".into(), ADA.pin.into()));
    params.push(("FinishedOnKey".into(), "#".into()));
    let r = two.post_form(&path_and_query(&gather_action(&first.body)), &params, Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let root = vouch::sim::twiml::parse(&r.body).expect("TwiML");
    let task = root.walk().into_iter().find(|n| n.name == "Task").expect("a Task").text.clone();
    let task: serde_json::Value = serde_json::from_str(&task).unwrap();
    assert_eq!(task["idv_status"], "verified");
    assert_eq!(task["customer_attributes"]["tier"], "Gold", "{task}");
    double.assert_clean();
}

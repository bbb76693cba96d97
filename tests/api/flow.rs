//! Every path of the call flow, placed as whole calls the way Twilio does.

use crate::helpers::*;
use vouch::sim::{CallSpec, End, Heard};

/// The context a redirect away carried: its clear query, with the customer
/// (who is only in the encrypted token) added from the decrypted token.
fn redirected_context(end: &End) -> std::collections::HashMap<String, String> {
    let mut q = match end {
        End::RedirectedAway { url } => query_of(url),
        other => panic!("expected a redirect away, got {other:?}"),
    };
    assert!(!q.contains_key("customer_id") && !q.contains_key("customer_name"), "the customer in the clear: {q:?}");
    let (_, claims) = crate::handoff::decrypt_jwe(&q["token"], HANDOFF_SECRET).expect("an encrypted token");
    for name in ["idv_status", "idv_method", "service_line", "ani_attestation"] {
        assert_eq!(claims[name].as_str(), Some(q[name].as_str()), "{name}: the query and the token agree");
    }
    for name in ["customer_id", "customer_name"] {
        q.insert(name.to_string(), claims[name].as_str().expect(name).to_string());
    }
    q
}

fn gathers(t: &vouch::sim::Transcript) -> usize {
    t.heard.iter().filter(|h| matches!(h, Heard::Gather { .. })).count()
}

fn self_service_line_toml() -> String {
    // The demo config, with verified callers redirected to an external app.
    vouch::config::DEMO_CONFIG
        .replace("url = \"/demo/self-service\"", "url = \"https://self.example.com/menu?src=ivr\"")
}

#[tokio::test]
async fn a_caller_recognised_by_number_who_keys_the_right_pin_is_verified() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
    // The demo's next step is its own self-service stand-in, which ends the call.
    assert_eq!(t.end, End::Hangup);
    assert!(t.said().contains("Hello Ada Lovelace. Your status is verified."), "{}", t.said());
    assert_eq!(gathers(&t), 1, "asked only for the PIN");
    let (status, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(record["idv_status"], "verified");
    assert_eq!(record["idv_method"], "ani");
    assert_eq!(record["customer_id"], ADA_ID);
    assert_eq!(record["outcome"], "self_service");
    assert_eq!(record["verify_attempts"], 1);
    assert_eq!(record["identify_attempts"], 0);
}

#[tokio::test]
async fn the_redirect_to_a_self_service_app_carries_the_whole_context_the_customer_encrypted() {
    let app = spawn_with(Options { toml: self_service_line_toml(), ..Options::default() }).await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    let q = redirected_context(&t.end);
    assert!(matches!(&t.end, End::RedirectedAway { url } if url.starts_with("https://self.example.com/menu?src=ivr&")));
    assert_eq!(q["customer_id"], GRACE_ID);
    assert_eq!(q["customer_name"], "Grace Hopper");
    assert_eq!(q["idv_status"], "verified");
    assert_eq!(q["idv_method"], "keyed");
    assert_eq!(q["service_line"], "support");
    assert_eq!(q["opted_out"], "false");
    let End::RedirectedAway { url } = &t.end else { unreachable!() };
    let clear = query_of(url);
    let mut names: Vec<&str> = clear.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["ani_attestation", "idv_method", "idv_status", "lockout", "opted_out", "service_line", "src", "token"]
    );
    assert!(!q.values().any(|v| v == GRACE_PIN), "no PIN in the URL");
}

#[tokio::test]
async fn a_wrong_pin_four_times_reaches_an_agent_identified_only() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9999#", "9998#", "9997#", "9996#", "1234#"]).await;
    assert_eq!(gathers(&t), 4, "1 try + 3 retries");
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"), "{:?}", t.end);
    assert_eq!(app.crm().count("verify"), 4);
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["idv_status"], "identified");
    assert_eq!(record["customer_name"], "Ada Lovelace");
    assert_eq!(record["outcome"], "agent");
    assert_eq!(record["verify_attempts"], 4);
}

#[tokio::test]
async fn the_fourth_and_last_pin_try_can_still_succeed() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["9999#", "9998#", "9997#", "1234#"]).await;
    assert_eq!(t.end, End::Hangup);
    assert!(t.said().contains("Your status is verified"));
}

#[tokio::test]
async fn an_unknown_number_is_asked_for_the_account_number_then_the_pin() {
    let app = spawn_app().await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    assert!(t.said().contains("Hello Grace Hopper. Your status is verified."), "{}", t.said());
    assert!(t.said().contains("account number"));
    assert_eq!(app.crm().count("phone"), 1);
    assert_eq!(app.crm().count("id"), 1);
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["idv_method"], "keyed");
    assert_eq!(record["identify_attempts"], 1);
}

#[tokio::test]
async fn withheld_and_odd_numbers_skip_the_caller_id_lookup() {
    let app = spawn_app().await;
    for from in ["anonymous", "+266696687", "Restricted", "Unknown", "", "5551230001", "client:alice"] {
        let t = app.call(from, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
        assert!(t.said().contains("Your status is verified"), "{from:?}: {}", t.said());
    }
    assert_eq!(app.crm().count("phone"), 0, "no caller-ID lookup for unusable numbers");
}

#[tokio::test]
async fn a_shared_phone_asks_for_the_account_number() {
    let app = spawn_app().await;
    let t = app.call(SHARED_PHONE, SUPPORT_NUMBER, &["11113333#", "3333#"]).await;
    assert!(t.said().contains("Hello Joan Turing"), "{}", t.said());
    assert_eq!(gathers(&t), 2);
}

#[tokio::test]
async fn opting_out_at_the_account_number_goes_to_an_agent_unidentified() {
    let app = spawn_app().await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await;
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"));
    assert!(t.said().contains("No problem."));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["opted_out"], true);
    assert_eq!(record["idv_status"], "unidentified");
    assert_eq!(record["outcome"], "opted_out");
    assert_eq!(app.crm().count("id"), 0);
}

#[tokio::test]
async fn opting_out_at_the_pin_keeps_the_identification() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["*#"]).await;
    assert!(matches!(&t.end, End::Enqueued { .. }));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!((record["opted_out"].clone(), record["idv_status"].clone()), (true.into(), "identified".into()));
    assert_eq!(app.crm().count("verify"), 0);
}

#[tokio::test]
async fn a_caller_who_stays_silent_at_every_prompt_ends_with_an_agent() {
    let app = spawn_app().await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[]).await;
    assert_eq!(gathers(&t), 4);
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "support"), "never a dead line: {:?}", t.end);
    assert_eq!(t.said().matches("Sorry, we didn't get that.").count(), 4);
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["identify_attempts"], 4);
    assert_eq!(record["idv_status"], "unidentified");
}

#[tokio::test]
async fn a_silent_caller_recognised_by_number_ends_with_an_agent_identified() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &[]).await;
    assert_eq!(gathers(&t), 4);
    assert!(matches!(&t.end, End::Enqueued { .. }));
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["idv_status"], "identified");
}

#[tokio::test]
async fn malformed_entries_are_failed_tries_without_a_crm_call() {
    let app = spawn_app().await;
    // The Gather has numDigits=8, so a longer entry cannot be keyed.
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["123#", "1234567#", "12*34#"]).await;
    // "12*34" contains the opt-out key: that opts out, after two malformed tries.
    assert!(t.said().matches("doesn't look like a valid account number").count() == 2, "{}", t.said());
    assert_eq!(app.crm().count("id"), 0);
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["outcome"], "opted_out");
    assert_eq!(record["identify_attempts"], 3);
}

#[tokio::test]
async fn unknown_account_numbers_retry_then_reach_an_agent_unidentified() {
    let app = spawn_app().await;
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["99999991#", "99999992#", "99999993#", "99999994#"]).await;
    assert_eq!(t.said().matches("couldn't find that account number").count(), 4);
    assert!(matches!(&t.end, End::Enqueued { .. }));
    assert_eq!(app.crm().count("id"), 4);
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!((record["idv_status"].clone(), record["outcome"].clone()), ("unidentified".into(), "agent".into()));
}

#[tokio::test]
async fn the_sales_line_is_chosen_by_the_dialled_number_and_skips_lookup_and_verification() {
    let app = spawn_app().await;
    let t = app.call(ADA_PHONE, SALES_NUMBER, &["1234567#"]).await;
    assert!(t.said().contains("Welcome to Vouch Demo Bank sales."));
    assert!(matches!(&t.heard[0], Heard::Say { voice: Some(v), .. } if v == "Polly.Matthew"));
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "sales"));
    assert_eq!(app.crm().count("phone"), 0, "caller-ID lookup is off on this line");
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["service_line"], "sales");
    assert_eq!(record["idv_status"], "identified");
    assert_eq!(record["customer_name"], "Dorothy Vaughan");
    assert_eq!(record["outcome"], "agent");
}

#[tokio::test]
async fn the_line_can_be_chosen_by_path_and_unclaimed_numbers_get_the_default_line() {
    let app = spawn_app().await;
    let spec = CallSpec {
        from: ADA_PHONE.into(),
        to: "+19998887777".into(),
        line: Some("sales".into()),
        ..CallSpec::default()
    };
    let t = app.call_spec(&spec, &["1234567#"]).await;
    assert!(matches!(&t.end, End::Enqueued { queue, .. } if queue == "sales"));
    let t = app.call(ADA_PHONE, "+19998887777", &[&format!("{ADA_PIN}#")]).await;
    assert!(t.said().contains("Thank you for calling Vouch Demo Bank."), "default line: {}", t.said());
}

#[tokio::test]
async fn names_with_xml_special_characters_survive_twiml_and_urls() {
    let app = spawn_with(Options { toml: self_service_line_toml(), ..Options::default() }).await;
    let t = app.call("+447700900123", SUPPORT_NUMBER, &["5555#"]).await;
    let q = redirected_context(&t.end);
    assert_eq!(q["customer_name"], "Zoë O'Brien & <Sons> \"Ltd\"");
    let t = spawn_app().await.call("+447700900123", SUPPORT_NUMBER, &["5555#"]).await;
    assert!(t.said().contains("Hello Zoë O'Brien & <Sons> \"Ltd\"."), "{}", t.said());
}

#[tokio::test]
async fn a_taskrouter_enqueue_carries_the_context_as_task_attributes() {
    let toml = vouch::config::DEMO_CONFIG.replace(
        "[lines.support.agent]\ntype = \"enqueue\"\nqueue = \"support\"",
        "[lines.support.agent]\ntype = \"enqueue\"\nqueue = \"support\"\nworkflow_sid = \"WW0123456789abcdef0123456789abcdef\"\ntask_priority = 5",
    );
    assert_ne!(toml, vouch::config::DEMO_CONFIG);
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["0000#", "0000#", "0000#", "0000#"]).await;
    let End::Enqueued { workflow_sid, task, .. } = &t.end else { panic!("{:?}", t.end) };
    assert_eq!(workflow_sid.as_deref(), Some("WW0123456789abcdef0123456789abcdef"));
    let attrs: serde_json::Value = serde_json::from_str(task.as_deref().expect("a Task")).unwrap();
    assert_eq!(attrs["customer_id"], ADA_ID);
    assert_eq!(attrs["customer_name"], "Ada Lovelace");
    assert_eq!(attrs["idv_status"], "identified");
    assert_eq!(attrs["idv_method"], "ani");
    assert_eq!(attrs["service_line"], "support");
    assert_eq!(attrs["opted_out"], false);
}

#[tokio::test]
async fn every_answer_is_small_well_formed_twiml_with_nothing_before_the_declaration() {
    let app = spawn_app().await;
    let t = app
        .call(STRANGER_PHONE, SUPPORT_NUMBER, &["", "123#", "99999999#", &format!("{GRACE_ID}#"), "", "1111#", "*"])
        .await;
    assert!(t.requests.len() >= 6);
    for r in &t.requests {
        assert!(r.body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response"), "{}", r.body);
        assert!(r.body.len() < 64 * 1024);
        let root = vouch::sim::twiml::parse(&r.body).expect("Twilio would accept it");
        for gather in root.walk().into_iter().filter(|n| n.name == "Gather") {
            assert!(gather.children.iter().all(|c| ["Say", "Play", "Pause"].contains(&c.name.as_str())));
            assert_eq!(gather.attr("finishOnKey"), Some("#"));
            assert!(gather.attr("action").is_some_and(|a| a.starts_with(&app.public)));
        }
        // After every Gather comes the fall-through for silence.
        let verbs: Vec<&str> = root.children.iter().map(|n| n.name.as_str()).collect();
        if let Some(i) = verbs.iter().position(|v| *v == "Gather") {
            assert_eq!(verbs.get(i + 1), Some(&"Redirect"), "{verbs:?}");
        }
    }
}

#[tokio::test]
async fn prompts_can_be_audio_and_silence() {
    let toml = vouch::config::DEMO_CONFIG.replace(
        "welcome = \"Thank you for calling Vouch Demo Bank.\"",
        "welcome = { play = \"https://cdn.example.com/welcome.mp3\" }\nverified = \"\"",
    );
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &["1234#"]).await;
    assert_eq!(t.heard[0], Heard::Play { url: "https://cdn.example.com/welcome.mp3".into() });
    assert!(!t.said().contains("you're verified"), "the verified prompt is silenced");
}

#[tokio::test]
async fn an_attested_only_line_uses_caller_id_only_with_full_attestation_and_records_it() {
    let toml = self_service_line_toml().replace("caller_id_lookup = true", "caller_id_lookup = \"attested\"");
    let app = spawn_with(Options { toml, ..Options::default() }).await;
    let spec = |stir: &str| CallSpec {
        from: ADA_PHONE.into(),
        to: SUPPORT_NUMBER.into(),
        stir_verstat: Some(stir.into()),
        ..CallSpec::default()
    };
    let t = app.call_spec(&spec("TN-Validation-Passed-A"), &[&format!("{ADA_PIN}#")]).await;
    let q = redirected_context(&t.end);
    assert_eq!((q["idv_method"].as_str(), q["ani_attestation"].as_str()), ("ani", "A"));
    assert_eq!(q["idv_status"], "verified", "verified by the PIN, not by the attestation");
    assert_eq!(app.crm().count("phone"), 1);
    for weaker in ["TN-Validation-Passed-B", "TN-Validation-Passed-A-Diverted", "No-TN-Validation"] {
        let t = app.call_spec(&spec(weaker), &[&format!("{ADA_ID}#"), &format!("{ADA_PIN}#")]).await;
        let q = redirected_context(&t.end);
        assert_eq!(q["idv_method"], "keyed", "{weaker}: asked for the account number");
    }
    assert_eq!(app.crm().count("phone"), 1, "no caller-ID lookup without A attestation");
}

/// The demo's support line asking for the account number first, caller ID
/// only cross-checking it, redirecting to an external app.
fn identifier_first_toml() -> String {
    self_service_line_toml().replacen(
        "caller_id_lookup = true\n",
        "caller_id_lookup = true\nidentifier_first = true\n",
        1,
    )
}

/// What the caller heard, without the Gathers' action URLs (each holds a
/// new sealed state).
fn heard_words(t: &vouch::sim::Transcript) -> Vec<String> {
    t.heard
        .iter()
        .map(|h| match h {
            Heard::Gather { num_digits, keys, .. } => format!("gather {num_digits:?} {keys:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn an_identifier_first_line_asks_every_caller_the_same_and_cross_checks_caller_id() {
    let app = spawn_with(Options { toml: identifier_first_toml(), ..Options::default() }).await;
    let ada_keys = [format!("{ADA_ID}#"), format!("{ADA_PIN}#")];
    let ada_keys: Vec<&str> = ada_keys.iter().map(String::as_str).collect();
    // Ada from her own number: asked for the account number, and her number agrees.
    let t = app.call(ADA_PHONE, SUPPORT_NUMBER, &ada_keys).await;
    assert_eq!(gathers(&t), 2, "the account number, then the PIN");
    assert!(t.said().contains("account number"), "{}", t.said());
    let q = redirected_context(&t.end);
    assert_eq!((q["customer_id"].as_str(), q["idv_status"].as_str()), (ADA_ID, "verified"));
    assert_eq!(q["idv_method"], "keyed_ani", "the number named the same customer");
    let (_, record) = app.api_call(&t.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(record["idv_method"], "keyed_ani");
    assert_eq!(app.crm().count("phone"), 1, "the number was looked up, to cross-check");
    let from_her_number = heard_words(&t);

    // Ada's account keyed from a number nobody has: the same words, method keyed.
    let t = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &ada_keys).await;
    assert_eq!(heard_words(&t), from_her_number, "a number on file sounds like any other");
    assert_eq!(redirected_context(&t.end)["idv_method"], "keyed");

    // Grace's account keyed from Ada's number (a mismatch), and from a
    // stranger's: the caller hears the same either way.
    let grace_keys = [format!("{GRACE_ID}#"), format!("{GRACE_PIN}#")];
    let grace_keys: Vec<&str> = grace_keys.iter().map(String::as_str).collect();
    let mismatch = app.call(ADA_PHONE, SUPPORT_NUMBER, &grace_keys).await;
    let stranger = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &grace_keys).await;
    assert_eq!(heard_words(&mismatch), heard_words(&stranger));
    let q = redirected_context(&mismatch.end);
    assert_eq!(
        (q["customer_id"].as_str(), q["idv_method"].as_str()),
        (GRACE_ID, "keyed"),
        "the keyed identifier decides"
    );

    // Silence from Ada's number and from a stranger's: the same prompts to the end.
    let (silent_ada, silent_stranger) =
        (app.call(ADA_PHONE, SUPPORT_NUMBER, &[]).await, app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[]).await);
    assert_eq!(heard_words(&silent_ada), heard_words(&silent_stranger));
    let (_, record) = app.api_call(&silent_ada.call_sid, Some(ADMIN_TOKEN)).await;
    assert_eq!((record["idv_status"].as_str(), record["customer_id"].as_str()), (Some("unidentified"), None));

    // Without the setting, a number on file goes straight to the PIN: the oracle this closes.
    let plain = spawn_with(Options { toml: self_service_line_toml(), ..Options::default() }).await;
    let (known, unknown) =
        (plain.call(ADA_PHONE, SUPPORT_NUMBER, &[]).await, plain.call(STRANGER_PHONE, SUPPORT_NUMBER, &[]).await);
    assert_ne!(heard_words(&known), heard_words(&unknown));
}

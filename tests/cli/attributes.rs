//! A CRM that returns more extra attributes than Flex's 1 KiB of Task
//! attributes holds: the real binary hands the call on with a Task within
//! the limit, leaves out whole attributes (in configuration order), and
//! says which in a WARN that names them and never their values.

use crate::support::{Reply, Serve, Tiny, DEMO_TOKEN};
use std::time::Duration;
use vouch::sim::{CallSpec, End, Phone, Scripted};

const TOML: &str = r#"
default_line = "main"

[crm.find_by_phone]
url = "/customers?phone={phone}"
list = "/customers"
id = "/id"
name = "/name"
attributes = { a_tier = "/tier", b_notes = "/notes", c_history = "/history", d_segment = "/segment", e_owner = "/owner", f_region = "/region" }

[lines.main]
caller_id_lookup = true

[lines.main.verification]
required = false

[lines.main.next]
type = "enqueue"
queue = "main"
workflow_sid = "WW0123456789abcdef0123456789abcdef"
"#;

/// A value of 200 characters (the most a CRM attribute keeps) that no log
/// line could hold by chance.
fn long(tag: &str) -> String {
    tag.repeat(200 / tag.len() + 1)[..200].to_string()
}

#[tokio::test]
async fn attributes_past_flexs_limit_are_left_out_whole_with_a_warning_naming_them() {
    let values = [
        ("tier", "Gold".to_string()),
        ("notes", long("NotesQz7")),
        ("history", long("HistWq3")),
        ("segment", long("SegXk9")),
        ("owner", long("OwnerJv5")),
        ("region", "EMEA-Zr2".to_string()),
    ];
    let mut customer = serde_json::json!({ "id": "12345678", "name": "Ada Lovelace" });
    for (k, v) in &values {
        customer[*k] = serde_json::json!(v);
    }
    let body = serde_json::json!({ "customers": [customer] }).to_string();
    let crm = Tiny::start(move |_| Reply {
        status: 200,
        content_type: "application/json",
        body: body.clone(),
        delay: Duration::ZERO,
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vouch.toml");
    std::fs::write(&config, TOML).unwrap();
    let mut server = Serve::start(&["--config", config.to_str().unwrap()], &[("VOUCH_CRM_URL", crm.url.as_str())]);

    let phone = Phone::new(&server.address, &server.public, DEMO_TOKEN);
    let spec = CallSpec { from: "+15551230001".into(), to: "+15005550006".into(), ..CallSpec::default() };
    let t = phone.place(&spec, &mut Scripted::new(Vec::<String>::new())).await.expect("the call completes");
    let End::Enqueued { task: Some(task), .. } = &t.end else { panic!("{:?}", t.end) };
    assert!(task.len() <= 1024, "{} bytes", task.len());
    let task: serde_json::Value = serde_json::from_str(task).unwrap();
    assert_eq!(task["customer_name"], "Ada Lovelace", "the context is never what gives way");
    let kept = task["customer_attributes"].as_object().expect("the attributes that fit");
    assert_eq!(kept["a_tier"], "Gold", "the first in configuration order fits");
    let names = ["a_tier", "b_notes", "c_history", "d_segment", "e_owner", "f_region"];
    let dropped: Vec<&str> = names.iter().copied().filter(|n| !kept.contains_key(*n)).collect();
    assert!(!dropped.is_empty(), "six attributes of up to 200 characters cannot all fit: {task}");
    for (n, (_, v)) in names.iter().zip(&values) {
        if let Some(kept) = kept.get(*n) {
            assert_eq!(kept.as_str(), Some(v.as_str()), "{n} is kept whole, never cut");
        }
    }

    server.wait_for_lines("customer attributes left out", 1, Duration::from_secs(10));
    server.stop();
    let logs = server.logs();
    let warn = logs.lines().find(|l| l.contains("customer attributes left out")).unwrap();
    let line: serde_json::Value = serde_json::from_str(warn).expect("a JSON log line");
    assert_eq!(line["level"], "WARN", "{warn}");
    assert_eq!(
        line["fields"]["dropped"].as_str().or(line["dropped"].as_str()),
        Some(dropped.join(",").as_str()),
        "{warn}"
    );
    for (_, v) in &values[1..] {
        let start = &v[..v.len().min(16)];
        assert!(!logs.contains(start), "an attribute's value reached the logs: {start}");
    }
}

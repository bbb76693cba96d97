//! The end of a simulated call in words: each request with its timing, then
//! the handoff (queue and task attributes, redirect and its context, or the
//! Dial and its nouns) as the next party would receive it.

use crate::sim::twiml::{self, Node};
use crate::sim::{End, Transcript};
use std::fmt::Write as _;

/// The path of a URL, with a long query shortened to `?…`.
fn short(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.query().is_some() => format!("{}?…", u.path()),
        Ok(u) => u.path().to_string(),
        Err(_) => url.to_string(),
    }
}

/// `── requests ──` and one line per webhook.
pub fn requests(t: &Transcript) -> String {
    let mut out = String::from("── requests ──\n");
    for r in &t.requests {
        let ms = r.elapsed.as_secs_f64() * 1000.0;
        let _ = writeln!(out, "  POST {} → {} in {ms:.1} ms", short(&r.url), r.status);
    }
    out
}

/// A URL's query parameters, one `name = value` line each.
fn query_lines(url: &str) -> String {
    let mut out = String::new();
    if let Ok(u) = url::Url::parse(url) {
        for (k, v) in u.query_pairs() {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
    out
}

/// A TwiML node and its children, indented.
fn tree(node: &Node, depth: usize, out: &mut String) {
    let attrs: Vec<String> = node.attrs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    let text = node.text.trim();
    let _ = write!(out, "{}<{}>", "  ".repeat(depth + 1), node.name);
    if !attrs.is_empty() {
        let _ = write!(out, " {}", attrs.join(" "));
    }
    if !text.is_empty() {
        let _ = write!(out, " {text}");
    }
    out.push('\n');
    for child in &node.children {
        tree(child, depth + 1, out);
    }
}

/// The `<Dial>` of the call's last document, as a tree.
fn last_dial(t: &Transcript) -> String {
    let mut out = String::new();
    let doc = t.requests.last().and_then(|r| twiml::parse(&r.body).ok());
    if let Some(dial) = doc.as_ref().and_then(|d| d.walk().into_iter().find(|n| n.name == "Dial")) {
        tree(dial, 0, &mut out);
    }
    out
}

/// The last redirect within Vouch that carried a handoff context, if any.
fn internal_handoff(t: &Transcript) -> Option<&str> {
    t.requests
        .iter()
        .rev()
        .map(|r| r.url.as_str())
        .find(|u| url::Url::parse(u).is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "idv_status")))
}

/// `── handoff ──` and where the call went, with its context, and a
/// line when the customer's verification is locked (from the context, or
/// the call's `record` when there is one).
pub fn handoff(t: &Transcript, record: Option<&serde_json::Value>) -> String {
    let mut out = String::from("── handoff ──\n");
    match &t.end {
        End::Enqueued { queue, workflow_sid, task, wait_url, .. } => {
            match workflow_sid {
                // TaskRouter's <Enqueue> names a workflow, not a queue.
                Some(w) if queue.is_empty() => {
                    let _ = writeln!(out, "Enqueue into TaskRouter workflow {w} (it picks the queue)");
                }
                Some(w) => {
                    let _ = writeln!(out, "Enqueue into queue {queue:?}\n  TaskRouter workflow {w}");
                }
                None => {
                    let _ = writeln!(out, "Enqueue into queue {queue:?}");
                }
            }
            if let Some(w) = wait_url {
                let _ = writeln!(out, "  wait URL {w}");
            }
            match task.as_deref().map(serde_json::from_str::<serde_json::Value>) {
                Some(Ok(json)) => {
                    let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
                    let _ = writeln!(out, "task attributes (what Flex shows the agent):\n{pretty}");
                }
                Some(Err(e)) => {
                    let _ = writeln!(out, "task attributes are not JSON ({e}): {}", task.as_deref().unwrap_or(""));
                }
                None => {
                    out.push_str("  (no task attributes: the agent sees the context via the admin API or screen pop)\n")
                }
            }
        }
        End::RedirectedAway { url, .. } => {
            let _ = writeln!(out, "Redirect away from Vouch to {url}\ncontext:");
            out.push_str(&query_lines(url));
        }
        End::Dialed { .. } => {
            out.push_str("Dial (the agent side):\n");
            out.push_str(&last_dial(t));
        }
        End::Hangup | End::Rejected | End::Ended => {
            let how = match t.end {
                End::Hangup => "<Hangup>",
                End::Rejected => "<Reject>",
                _ => "the document ran out of verbs",
            };
            match internal_handoff(t) {
                Some(url) => {
                    let _ = writeln!(out, "Redirect within Vouch to {}, which ended with {how}\ncontext:", short(url));
                    out.push_str(&query_lines(url));
                }
                None => {
                    let _ = writeln!(out, "the call ended with {how}, handed to no one");
                }
            }
        }
    }
    if let Some(customer) = locked(t, record) {
        let _ = writeln!(
            out,
            "⚠ verification LOCKED for customer {customer}: handed on identified, not verified (see ── lockout ── below)"
        );
    }
    for (who, heard) in
        [("on hold the caller hears", &t.hold), ("the agent hears before the caller is bridged", &t.agent_heard)]
    {
        if !heard.is_empty() {
            let _ = writeln!(out, "{who}:");
            for line in heard.iter().filter_map(super::keypad::heard_line) {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// What the hand-off's context says of `name`: the task attributes, a
/// redirect's query (away, or within Vouch), or a `<Dial>`'s parameters.
fn context_value(t: &Transcript, name: &str) -> Option<String> {
    let from_query =
        |url: &str| url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    match &t.end {
        End::Enqueued { task: Some(task), .. } => {
            let json: serde_json::Value = serde_json::from_str(task).ok()?;
            match &json[name] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                v => Some(v.to_string()),
            }
        }
        End::RedirectedAway { url } => from_query(url),
        End::Dialed(_) => {
            let doc = twiml::parse(&t.requests.last()?.body).ok()?;
            let walk = doc.walk();
            let param = walk.iter().find(|n| n.name == "Parameter" && n.attr("name") == Some(name));
            param.and_then(|p| p.attr("value")).map(str::to_string)
        }
        _ => internal_handoff(t).and_then(from_query),
    }
}

/// The customer whose verification is locked, when the hand-off's context
/// or the call's record says so (`CUSTOMER_ID` when neither names them).
fn locked(t: &Transcript, record: Option<&serde_json::Value>) -> Option<String> {
    let in_record = record.is_some_and(|r| r["lockout"] == true);
    if !in_record && context_value(t, "lockout").as_deref() != Some("true") {
        return None;
    }
    Some(
        record
            .and_then(|r| r["customer_id"].as_str().map(str::to_string))
            .or_else(|| context_value(t, "customer_id"))
            .unwrap_or_else(|| "CUSTOMER_ID".into()),
    )
}

/// `── lockout ──` when the call reached an agent because the customer's
/// verification is locked (from the hand-off's context, or the call's
/// record): what it means and how to lift it. The caller heard nothing of
/// it (a lock sounds like a wrong PIN), so this is where a tester learns it.
pub fn lockout(t: &Transcript, record: Option<&serde_json::Value>) -> Option<String> {
    let customer = locked(t, record)?;
    Some(format!(
        "── lockout ──\n\
         Verification is LOCKED for customer {customer}: too many failed verifications lately\n\
         (security.lockout_failures within security.lockout_window_secs). Vouch did not ask the CRM\n\
         and sent the call to an agent as identified, not verified; the caller heard the same\n\
         words as for a wrong PIN. Lift it now with:\n  \
         vouch lockouts clear {customer}\n\
         (or DELETE /api/lockouts/{customer} with the admin token); `vouch lockouts list` shows who is locked.\n"
    ))
}

//! The context handed on with a call, encoded for each receiver: name/value
//! pairs (in PRODUCT.md's order) for `<Parameter>`s and redirect queries, and
//! the TaskRouter attributes Flex shows, kept within Flex's budget.
//!
//! The customer's extra CRM attributes go only into the Task attributes, as
//! one nested object, `customer_attributes` (a Flex plugin reads
//! `task.attributes.customer_attributes.tier`): nested, a CRM attribute can
//! never shadow a context name or one of Flex's own (`name`, `type`…). They
//! are never among the pairs, so never in a URL, a `<Parameter>` or a SIP
//! header.

use crate::flow::HandoffContext;

/// Flex shows task attributes up to this size.
pub const MAX_TASK_ATTRIBUTES: usize = 1024;

/// The context as name/value pairs, in the order PRODUCT.md lists them.
pub fn pairs(c: &HandoffContext) -> Vec<(&'static str, String)> {
    vec![
        ("customer_id", c.customer_id.clone().unwrap_or_default()),
        ("customer_name", c.customer_name.clone().unwrap_or_default()),
        ("idv_status", c.idv_status.as_str().to_string()),
        ("idv_method", c.idv_method.as_str().to_string()),
        ("service_line", c.service_line.clone()),
        ("opted_out", c.opted_out.to_string()),
        ("ani_attestation", c.ani_attestation.as_str().to_string()),
        ("lockout", c.lockout.to_string()),
    ]
}

/// The Task attribute holding the customer's extra CRM attributes.
pub const CUSTOMER_ATTRIBUTES: &str = "customer_attributes";

/// The TaskRouter attributes: the context and the agent's screen pop link,
/// kept under Flex's limit by shortening the name (never by dropping the
/// status), then the customer's extra attributes as far as they fit (see
/// [`with_customer_attributes`]).
pub fn task_attributes(context: &HandoffContext, screen_pop_url: &str) -> String {
    let base = base_task_attributes(context, screen_pop_url);
    if context.attributes.is_empty() {
        return base;
    }
    let (json, dropped) = with_customer_attributes(&base, &context.attributes);
    if !dropped.is_empty() {
        // The names only: the values are the customer's data.
        tracing::warn!(
            dropped = %dropped.join(","),
            limit = MAX_TASK_ATTRIBUTES,
            "customer attributes left out of the TaskRouter attributes: over Flex's size limit"
        );
    }
    json
}

/// Adds `attributes` to the Task JSON `base` (an object) under
/// [`CUSTOMER_ATTRIBUTES`], whole attributes in configuration order, each
/// only while the whole JSON stays within [`MAX_TASK_ATTRIBUTES`] bytes; one
/// that does not fit is left out (a later, shorter one may still fit).
/// Returns the JSON and the names left out.
pub fn with_customer_attributes<'a>(base: &str, attributes: &'a [(String, String)]) -> (String, Vec<&'a str>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(base) else {
        return (base.to_string(), attributes.iter().map(|(k, _)| k.as_str()).collect());
    };
    let render = |kept: &serde_json::Map<String, serde_json::Value>| {
        let mut map = map.clone();
        if !kept.is_empty() {
            map.insert(CUSTOMER_ATTRIBUTES.into(), serde_json::Value::Object(kept.clone()));
        }
        serde_json::Value::Object(map).to_string()
    };
    let mut kept = serde_json::Map::new();
    let mut dropped = Vec::new();
    for (name, value) in attributes {
        let mut trial = kept.clone();
        trial.insert(name.clone(), serde_json::Value::String(value.clone()));
        if render(&trial).len() <= MAX_TASK_ATTRIBUTES {
            kept = trial;
        } else {
            dropped.push(name.as_str());
        }
    }
    (render(&kept), dropped)
}

/// The Task attributes without the customer's extra attributes.
fn base_task_attributes(context: &HandoffContext, screen_pop_url: &str) -> String {
    let build = |name: &str| {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs(context) {
            let value = match k {
                "customer_name" => serde_json::Value::String(name.to_string()),
                "opted_out" => serde_json::Value::Bool(context.opted_out),
                "lockout" => serde_json::Value::Bool(context.lockout),
                _ => serde_json::Value::String(v),
            };
            map.insert(k.to_string(), value);
        }
        map.insert("screen_pop_url".into(), serde_json::Value::String(screen_pop_url.to_string()));
        serde_json::Value::Object(map).to_string()
    };
    let mut name: String = context.customer_name.clone().unwrap_or_default();
    loop {
        let json = build(&name);
        if json.len() <= MAX_TASK_ATTRIBUTES || name.is_empty() {
            return json;
        }
        // A character takes at most 6 bytes in JSON (`\uXXXX`): dropping
        // excess/6 of them never cuts more than needed.
        let excess = json.len() - MAX_TASK_ATTRIBUTES;
        let keep = name.chars().count().saturating_sub(excess.div_ceil(6));
        name = name.chars().take(keep).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_attributes_fit_flex_and_keep_the_status() {
        let c = HandoffContext { customer_name: Some("\u{1F600}\"<&".repeat(400)), ..HandoffContext::example() };
        let pop = "https://vouch.example.com/agent/calls/CA0123?exp=1&sig=abc";
        let json = task_attributes(&c, pop);
        assert!(json.len() <= MAX_TASK_ATTRIBUTES, "{}", json.len());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["idv_status"], "verified");
        assert_eq!(v["screen_pop_url"], pop);
        assert_eq!(v["opted_out"], false);
        assert!(!v["customer_name"].as_str().unwrap().is_empty());
    }

    fn attrs(list: &[(&str, String)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn customer_attributes_are_nested_and_never_among_the_pairs() {
        let c = HandoffContext {
            attributes: attrs(&[("tier", "Gold".into()), ("segment", "SMB \"<&>\"".into())]),
            ..HandoffContext::example()
        };
        let json = task_attributes(&c, "https://x/pop");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[CUSTOMER_ATTRIBUTES]["tier"], "Gold");
        assert_eq!(v[CUSTOMER_ATTRIBUTES]["segment"], "SMB \"<&>\"");
        assert!(v.get("tier").is_none(), "nested, never flat");
        assert!(pairs(&c).iter().all(|(k, v)| *k != "tier" && !v.contains("Gold")), "not a pair");
        let without = HandoffContext::example();
        let plain: serde_json::Value = serde_json::from_str(&task_attributes(&without, "https://x/pop")).unwrap();
        assert!(plain.get(CUSTOMER_ATTRIBUTES).is_none(), "no empty object");
    }

    #[test]
    fn attributes_that_would_pass_flexs_limit_are_left_out_whole_in_order() {
        let c = HandoffContext {
            attributes: attrs(&[
                ("tier", "Gold".into()),
                ("notes", "n".repeat(700)),
                ("history", "h".repeat(600)),
                ("language", "fr".into()),
            ]),
            ..HandoffContext::example()
        };
        let base = base_task_attributes(&c, "https://x/pop");
        let (json, dropped) = with_customer_attributes(&base, &c.attributes);
        assert!(json.len() <= MAX_TASK_ATTRIBUTES, "{}", json.len());
        assert_eq!(dropped, ["history"], "the first that fits is kept; the next too big is left out");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let kept = v[CUSTOMER_ATTRIBUTES].as_object().unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept["notes"].as_str().unwrap().len(), 700, "whole, never cut");
        assert_eq!(v["customer_name"], "Ada Lovelace", "the context is untouched");
        assert_eq!(task_attributes(&c, "https://x/pop"), json);
    }

    #[test]
    fn a_json_escape_counts_against_the_budget() {
        // Each `"` is two bytes in JSON: 500 of them cannot fit 1 KiB.
        let c = HandoffContext { attributes: attrs(&[("quote", "\"".repeat(500))]), ..HandoffContext::example() };
        let (json, dropped) = with_customer_attributes(&base_task_attributes(&c, "https://x/pop"), &c.attributes);
        assert_eq!(dropped, ["quote"]);
        assert!(!json.contains(CUSTOMER_ATTRIBUTES));
    }
}

//! The context handed on with a call, encoded for each receiver: name/value
//! pairs (in PRODUCT.md's order) for `<Parameter>`s and redirect queries, and
//! the TaskRouter attributes Flex shows, kept within Flex's budget.

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

/// The TaskRouter attributes: the context and the agent's screen pop link,
/// kept under Flex's limit by shortening the name (never by dropping the status).
pub fn task_attributes(context: &HandoffContext, screen_pop_url: &str) -> String {
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
}

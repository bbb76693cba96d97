//! Turns the flow's [`Reply`] into TwiML for one line: the prompts it names,
//! a Gather whose action carries the signed state, or the handoff verb with
//! the context. Pure: the URLs, the signers, the time and the sealed state
//! are passed in.

use crate::config::{Line, Speech};
use crate::flow::{Context, Destination, Prompt, Reply, Stage};
use crate::handoff::HandoffTokens;
use crate::keyring::links::{screen_pop_path, ScreenPopLinks};
use crate::twilio::twiml::{Gather, Response, Speak, Verb};

/// Flex shows task attributes up to this size.
pub const MAX_TASK_ATTRIBUTES: usize = 1024;

/// Where URLs point, and what signs the links a handoff carries.
pub struct Urls<'a> {
    /// The public base URL, without a trailing slash.
    pub base: &'a str,
    /// The call being answered.
    pub call_sid: &'a str,
    /// Unix seconds, for link and token expiry.
    pub now: u64,
    pub links: &'a ScreenPopLinks,
    pub tokens: &'a HandoffTokens,
}

impl Urls<'_> {
    /// The agent's screen pop for this call: a signed, expiring absolute link.
    pub fn screen_pop(&self) -> String {
        format!("{}{}", self.base, self.links.sign(&screen_pop_path(self.call_sid), self.now))
    }

    /// The whisper an answering agent hears about this call.
    pub fn whisper(&self) -> String {
        format!("{}/whisper/{}", self.base, self.call_sid)
    }

    /// The `<Dial action>`: where Twilio reports how the dial ended.
    pub fn dialed(&self, line: &str) -> String {
        format!("{}/voice/{line}/dialed", self.base)
    }

    /// The action URL for an entry at `stage` on `line`.
    pub fn entry(&self, line: &str, stage: Stage, token: &str) -> String {
        format!("{}/voice/{line}/{}?state={token}", self.base, stage.as_str())
    }

    /// A configured URL: absolute as is, or a path on Vouch's public URL.
    pub fn resolve(&self, url: &str) -> String {
        if url.starts_with('/') && !url.starts_with("//") {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }
}

fn speak(s: &Speech) -> Speak {
    match s {
        Speech::Say { text, voice, language } => {
            Speak::Say { text: text.clone(), voice: voice.clone(), language: language.clone() }
        }
        Speech::Play { url } => Speak::Play { url: url.clone(), loops: None },
    }
}

/// The line's configured speech for `names`, skipping silenced prompts.
pub fn prompts(line: &Line, names: &[Prompt]) -> Vec<Speak> {
    names.iter().filter_map(|p| line.speech(*p)).map(speak).collect()
}

/// The TwiML for `reply`. `seal` signs the next state for the action URL.
pub fn render(
    line: &Line,
    reply: &Reply,
    urls: &Urls<'_>,
    seal: impl FnOnce(&crate::flow::FlowState) -> String,
) -> Response {
    let mut doc = Response::new();
    match reply {
        Reply::Ask { preface, state } => {
            let (ask, rules) = match state.stage {
                Stage::Identify => (Prompt::AskIdentifier, &line.rules.identifier),
                Stage::Verify => {
                    (Prompt::AskFactor, line.rules.verification.as_ref().unwrap_or(&line.rules.identifier))
                }
            };
            let action = urls.entry(&line.name, state.stage, &seal(state));
            let mut children = prompts(line, preface);
            children.extend(prompts(line, &[ask]));
            doc.push(Verb::Gather(Gather {
                action: action.clone(),
                timeout_secs: line.gather_timeout_secs,
                finish_on_key: '#',
                num_digits: (rules.min_digits == rules.max_digits).then_some(rules.max_digits),
                children,
            }));
            // A Gather that times out falls through: come back with no Digits,
            // which the flow counts as a silent try.
            doc.push(Verb::Redirect { url: action });
        }
        Reply::Handoff { preface, to, context, .. } => {
            for s in prompts(line, preface) {
                doc.push(Verb::Speak(s));
            }
            let handoff = match to {
                Destination::Next => &line.next,
                Destination::Agent => &line.agent,
                Destination::OptOut => &line.opt_out,
            };
            doc.push(crate::handoff::verb(&line.name, handoff, context, urls));
        }
    }
    doc
}

/// The context as name/value pairs, in the order PRODUCT.md lists them.
pub fn context_pairs(c: &Context) -> Vec<(&'static str, String)> {
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
pub fn task_attributes(context: &Context, screen_pop_url: &str) -> String {
    let build = |name: &str| {
        let mut map = serde_json::Map::new();
        for (k, v) in context_pairs(context) {
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
        let c = Context { customer_name: Some("\u{1F600}\"<&".repeat(400)), ..Context::example() };
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

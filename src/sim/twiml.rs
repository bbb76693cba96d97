//! Reads TwiML back the way Twilio does: parses the document and refuses
//! what Twilio would refuse, with the error code its debugger shows
//! (12100 parse failure, 12200 schema, 13320 bad Gather child, 11750 size,
//! 13521 Say too long). Used by `vouch simulate` and by the tests.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element of a document, with its attributes, text and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every descendant (depth first), this node included.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// A refusal, as Twilio's debugger would report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Twilio error {code}: {message}")]
pub struct TwimlError {
    pub code: u32,
    pub message: String,
}

fn err(code: u32, message: impl Into<String>) -> TwimlError {
    TwimlError { code, message: message.into() }
}

pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
pub const MAX_SAY_CHARS: usize = 4096;

/// Verbs, the attributes Twilio knows for each, and the children allowed.
const VERBS: &[(&str, &[&str], &[&str])] = &[
    ("Say", &["voice", "language", "loop"], &[]),
    ("Play", &["loop", "digits"], &[]),
    ("Pause", &["length"], &[]),
    (
        "Gather",
        &[
            "input",
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "numDigits",
            "actionOnEmptyResult",
            "speechTimeout",
            "hints",
            "language",
            "speechModel",
            "enhanced",
            "profanityFilter",
            "partialResultCallback",
            "partialResultCallbackMethod",
        ],
        &["Say", "Play", "Pause"],
    ),
    ("Redirect", &["method"], &[]),
    ("Enqueue", &["action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize"], &["Task"]),
    (
        "Dial",
        &[
            "action",
            "method",
            "timeout",
            "callerId",
            "answerOnBridge",
            "hangupOnStar",
            "timeLimit",
            "record",
            "ringTone",
            "recordingStatusCallback",
            "recordingStatusCallbackMethod",
            "recordingStatusCallbackEvent",
            "trim",
            "sequential",
            "referUrl",
            "referMethod",
        ],
        &["Number", "Client", "Sip", "Queue", "Conference"],
    ),
    ("Hangup", &[], &[]),
    ("Reject", &["reason"], &[]),
    ("Leave", &[], &[]),
];

/// Nouns inside verbs, with their attributes and children.
const NOUNS: &[(&str, &[&str], &[&str])] = &[
    ("Task", &["priority", "timeout"], &[]),
    (
        "Number",
        &["url", "method", "sendDigits", "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "byoc"],
        &[],
    ),
    (
        "Client",
        &["url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod"],
        &["Identity", "Parameter"],
    ),
    ("Identity", &[], &[]),
    ("Parameter", &["name", "value"], &[]),
    (
        "Sip",
        &["url", "method", "username", "password", "statusCallback", "statusCallbackEvent", "statusCallbackMethod"],
        &[],
    ),
    ("Queue", &["url", "method", "reservationSid", "postWorkActivitySid"], &[]),
    ("Conference", &["startConferenceOnEnter", "endConferenceOnExit", "waitUrl", "beep", "muted"], &[]),
];

fn rules(name: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    VERBS.iter().chain(NOUNS).find(|(n, _, _)| *n == name).map(|(_, a, c)| (*a, *c))
}

/// Parses and checks a whole document; returns the `<Response>` node.
pub fn parse(doc: &str) -> Result<Node, TwimlError> {
    if doc.len() > MAX_DOCUMENT_BYTES {
        return Err(err(11750, format!("response body is {} bytes, over Twilio's 64 kB limit", doc.len())));
    }
    if !doc.starts_with('<') {
        return Err(err(12100, "document parse failure: content before the XML declaration or root element"));
    }
    let root = read_tree(doc)?;
    if root.name != "Response" {
        return Err(err(12100, format!("root element is <{}>, not <Response>", root.name)));
    }
    for verb in &root.children {
        check(verb, None)?;
    }
    Ok(root)
}

fn check(node: &Node, parent: Option<&str>) -> Result<(), TwimlError> {
    let Some((attrs, children)) = rules(&node.name) else {
        return Err(err(12200, format!("schema validation warning: unknown element <{}>", node.name)));
    };
    let is_verb = VERBS.iter().any(|(n, _, _)| *n == node.name);
    if parent.is_none() && !is_verb {
        return Err(err(12200, format!("<{}> is not a verb and cannot appear in <Response>", node.name)));
    }
    for (k, _) in &node.attrs {
        if !attrs.contains(&k.as_str()) {
            return Err(err(12200, format!("schema validation warning: unknown attribute {k} on <{}>", node.name)));
        }
    }
    for child in &node.children {
        if !children.contains(&child.name.as_str()) {
            let code = if node.name == "Gather" { 13320 } else { 12200 };
            return Err(err(code, format!("<{}> cannot be nested in <{}>", child.name, node.name)));
        }
        check(child, Some(&node.name))?;
    }
    if node.name == "Say" && node.text.chars().count() > MAX_SAY_CHARS {
        return Err(err(13521, "Say text is too long"));
    }
    if node.name == "Gather" {
        if let Some(k) = node.attr("finishOnKey") {
            if !(k.is_empty() || (k.len() == 1 && "0123456789#*".contains(k))) {
                return Err(err(12200, format!("invalid finishOnKey {k:?}")));
            }
        }
    }
    Ok(())
}

fn start_node(e: &BytesStart<'_>) -> Result<Node, TwimlError> {
    let mut node = Node { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), ..Node::default() };
    for a in e.attributes() {
        let a = a.map_err(|e| err(12100, format!("bad attribute: {e}")))?;
        let value = a.unescape_value().map_err(|e| err(12100, format!("bad attribute value: {e}")))?;
        node.attrs.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value.into_owned()));
    }
    Ok(node)
}

fn read_tree(doc: &str) -> Result<Node, TwimlError> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        match reader.read_event().map_err(|e| err(12100, format!("document parse failure: {e}")))? {
            Event::Start(e) => stack.push(start_node(&e)?),
            Event::Empty(e) => {
                let node = start_node(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err(err(12100, "more than one root element")),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| err(12100, "unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err(err(12100, "more than one root element")),
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| err(12100, format!("bad text: {e}")))?;
                let text = quick_xml::escape::unescape(&text).map_err(|e| err(12100, format!("bad entity: {e}")))?;
                match stack.last_mut() {
                    Some(n) => n.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(err(12100, "text outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| err(12100, format!("bad entity: {e}")))?;
                let resolved = match name.as_ref() {
                    "amp" => "&".to_string(),
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    other => match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(err(12100, format!("unknown entity &{other};"))),
                    },
                };
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&resolved);
                }
            }
            Event::CData(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err(12100, "unclosed element"));
    }
    root.ok_or_else(|| err(12100, "empty document"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_vouch_writes() {
        let doc = r##"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf" action="/a?x=1&amp;y=2" finishOnKey="#"><Say voice="Polly.Joanna">Zoë &amp; &lt;Sons&gt;</Say></Gather><Redirect method="POST">/a</Redirect></Response>"##;
        let root = parse(doc).unwrap();
        assert_eq!(root.children[0].attr("action"), Some("/a?x=1&y=2"));
        assert_eq!(root.children[0].children[0].text, "Zoë & <Sons>");
    }

    #[test]
    fn refuses_what_twilio_refuses() {
        for (doc, code) in [
            (" <?xml version=\"1.0\"?><Response/>", 12100),
            ("<Response><Say>unclosed</Response>", 12100),
            ("<Resp/>", 12100),
            ("<Response><Speak>hi</Speak></Response>", 12200),
            ("<Response><Say colour=\"red\">hi</Say></Response>", 12200),
            ("<Response><Gather><Dial>+1555</Dial></Gather></Response>", 13320),
            ("<Response><Gather><Redirect>/x</Redirect></Gather></Response>", 13320),
            ("<Response><Number>+1555</Number></Response>", 12200),
        ] {
            assert_eq!(parse(doc).map_err(|e| e.code), Err(code), "{doc}");
        }
        let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(MAX_SAY_CHARS + 1));
        assert_eq!(parse(&long).map_err(|e| e.code), Err(13521));
        let huge = format!("<Response>{}</Response>", "<Pause/>".repeat(MAX_DOCUMENT_BYTES / 8));
        assert_eq!(parse(&huge).map_err(|e| e.code), Err(11750));
    }
}

//! TwiML documents: a small typed tree of the verbs Vouch uses, written
//! with quick-xml so every text and attribute is escaped. The types make the
//! nesting rules hard to break: a Gather holds only Say, Play and Pause, and
//! a Dial exactly one noun.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// Twilio refuses documents over 64 kB (error 11750).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// What may be said or played, inside or outside a Gather.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speak {
    Say {
        text: String,
        voice: Option<String>,
        language: Option<String>,
    },
    /// `loops`: `<Play loop>` (`None`: once; `Some(0)`: until interrupted).
    Play {
        url: String,
        loops: Option<u32>,
    },
    Pause {
        seconds: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    pub action: String,
    pub timeout_secs: u8,
    pub finish_on_key: char,
    pub num_digits: Option<usize>,
    pub children: Vec<Speak>,
}

/// TaskRouter task attributes for an Enqueue with a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub json: String,
    pub priority: Option<u32>,
    pub timeout_secs: Option<u32>,
}

/// `<Dial>`: connects the caller to one party. Twilio requests `action`
/// when the dialled leg ends (answered or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub action: Option<String>,
    pub timeout_secs: Option<u32>,
    pub caller_id: Option<String>,
    /// The caller keeps hearing ringing until the agent is bridged.
    pub answer_on_bridge: Option<bool>,
    pub noun: DialNoun,
}

/// Whom a Dial connects to. Each `url` is a document Twilio runs on the
/// answering party's end before bridging (for a Queue: on the dequeued
/// caller's end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialNoun {
    Number {
        number: String,
        url: Option<String>,
    },
    /// A Voice SDK client; `params` reach it as custom parameters.
    Client {
        identity: String,
        url: Option<String>,
        params: Vec<(String, String)>,
    },
    Sip {
        uri: String,
        url: Option<String>,
    },
    Queue {
        name: String,
        url: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Speak(Speak),
    Gather(Gather),
    Redirect { url: String },
    Enqueue { queue: String, workflow_sid: Option<String>, wait_url: Option<String>, task: Option<Task> },
    Dial(Dial),
    Hangup,
}

/// A whole `<Response>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub verbs: Vec<Verb>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, verb: Verb) -> &mut Self {
        self.verbs.push(verb);
        self
    }

    /// The document, starting with the XML declaration (no leading bytes).
    pub fn render(&self) -> String {
        let mut w = Writer::new(Vec::with_capacity(512));
        // Writing to a Vec cannot fail.
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        if self.verbs.is_empty() {
            let _ = w.write_event(Event::Empty(BytesStart::new("Response")));
        } else {
            let _ = w.write_event(Event::Start(BytesStart::new("Response")));
            for verb in &self.verbs {
                write_verb(&mut w, verb);
            }
            let _ = w.write_event(Event::End(BytesEnd::new("Response")));
        }
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }
}

fn element<'a>(name: &'a str, attrs: &[(&str, Option<&str>)]) -> BytesStart<'a> {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        if let Some(v) = v {
            e.push_attribute((*k, *v));
        }
    }
    e
}

fn text_element(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>, text: &str) {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let _ = w.write_event(Event::Start(start));
    let _ = w.write_event(Event::Text(BytesText::new(text)));
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

fn write_speak(w: &mut Writer<Vec<u8>>, s: &Speak) {
    match s {
        Speak::Say { text, voice, language } => {
            text_element(w, element("Say", &[("voice", voice.as_deref()), ("language", language.as_deref())]), text)
        }
        Speak::Play { url, loops } => {
            let loops = loops.map(|n| n.to_string());
            text_element(w, element("Play", &[("loop", loops.as_deref())]), url)
        }
        Speak::Pause { seconds } => {
            let secs = seconds.to_string();
            let _ = w.write_event(Event::Empty(element("Pause", &[("length", Some(&secs))])));
        }
    }
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) {
    match verb {
        Verb::Speak(s) => write_speak(w, s),
        Verb::Gather(g) => {
            let timeout = g.timeout_secs.to_string();
            let finish = g.finish_on_key.to_string();
            let num = g.num_digits.map(|n| n.to_string());
            let start = element(
                "Gather",
                &[
                    ("input", Some("dtmf")),
                    ("action", Some(&g.action)),
                    ("method", Some("POST")),
                    ("timeout", Some(&timeout)),
                    ("finishOnKey", Some(&finish)),
                    ("numDigits", num.as_deref()),
                ],
            );
            if g.children.is_empty() {
                let _ = w.write_event(Event::Empty(start));
            } else {
                let _ = w.write_event(Event::Start(start));
                for c in &g.children {
                    write_speak(w, c);
                }
                let _ = w.write_event(Event::End(BytesEnd::new("Gather")));
            }
        }
        Verb::Redirect { url } => text_element(w, element("Redirect", &[("method", Some("POST"))]), url),
        Verb::Enqueue { queue, workflow_sid, wait_url, task } => {
            let start = element(
                "Enqueue",
                &[
                    ("workflowSid", workflow_sid.as_deref()),
                    ("waitUrl", wait_url.as_deref()),
                    ("waitUrlMethod", wait_url.as_ref().map(|_| "POST")),
                ],
            );
            match task {
                None => text_element(w, start, queue),
                Some(t) => {
                    let _ = w.write_event(Event::Start(start));
                    let priority = t.priority.map(|p| p.to_string());
                    let timeout = t.timeout_secs.map(|p| p.to_string());
                    text_element(
                        w,
                        element("Task", &[("priority", priority.as_deref()), ("timeout", timeout.as_deref())]),
                        &t.json,
                    );
                    let _ = w.write_event(Event::End(BytesEnd::new("Enqueue")));
                }
            }
        }
        Verb::Dial(d) => write_dial(w, d),
        Verb::Hangup => {
            let _ = w.write_event(Event::Empty(BytesStart::new("Hangup")));
        }
    }
}

fn write_dial(w: &mut Writer<Vec<u8>>, d: &Dial) {
    let timeout = d.timeout_secs.map(|t| t.to_string());
    let bridge = d.answer_on_bridge.map(|b| if b { "true" } else { "false" });
    let start = element(
        "Dial",
        &[
            ("action", d.action.as_deref()),
            ("method", d.action.as_ref().map(|_| "POST")),
            ("timeout", timeout.as_deref()),
            ("callerId", d.caller_id.as_deref()),
            ("answerOnBridge", bridge),
        ],
    );
    let _ = w.write_event(Event::Start(start));
    let with_url = |name, url: &Option<String>| {
        element(name, &[("url", url.as_deref()), ("method", url.as_ref().map(|_| "POST"))])
    };
    match &d.noun {
        DialNoun::Number { number, url } => text_element(w, with_url("Number", url), number),
        DialNoun::Sip { uri, url } => text_element(w, with_url("Sip", url), uri),
        DialNoun::Queue { name, url } => text_element(w, with_url("Queue", url), name),
        DialNoun::Client { identity, url, params } => {
            let _ = w.write_event(Event::Start(with_url("Client", url)));
            text_element(w, BytesStart::new("Identity"), identity);
            for (name, value) in params {
                let _ =
                    w.write_event(Event::Empty(element("Parameter", &[("name", Some(name)), ("value", Some(value))])));
            }
            let _ = w.write_event(Event::End(BytesEnd::new("Client")));
        }
    }
    let _ = w.write_event(Event::End(BytesEnd::new("Dial")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_response_is_self_closing() {
        assert_eq!(Response::new().render(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut r = Response::new();
        r.push(Verb::Speak(Speak::Say {
            text: "Zoë & <Sons> \"Ltd\"".into(),
            voice: Some("a\"b".into()),
            language: None,
        }));
        r.push(Verb::Redirect { url: "https://x.test/a?b=1&c=2".into() });
        let xml = r.render();
        assert!(xml.contains("Zoë &amp; &lt;Sons&gt;"), "{xml}");
        assert!(xml.contains(r#"voice="a&quot;b""#), "{xml}");
        assert!(xml.contains("b=1&amp;c=2"), "{xml}");
    }

    #[test]
    fn gather_and_enqueue_with_task() {
        let mut r = Response::new();
        r.push(Verb::Gather(Gather {
            action: "/a".into(),
            timeout_secs: 6,
            finish_on_key: '#',
            num_digits: Some(4),
            children: vec![Speak::Pause { seconds: 1 }],
        }));
        r.push(Verb::Enqueue {
            queue: "support".into(),
            workflow_sid: Some("WW0123".into()),
            wait_url: None,
            task: Some(Task { json: r#"{"a":"<b>"}"#.into(), priority: Some(5), timeout_secs: None }),
        });
        assert_eq!(
            r.render(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r##"<Gather input="dtmf" action="/a" method="POST" timeout="6" finishOnKey="#" numDigits="4"><Pause length="1"/></Gather>"##,
                r#"<Enqueue workflowSid="WW0123"><Task priority="5">{&quot;a&quot;:&quot;&lt;b&gt;&quot;}</Task></Enqueue>"#,
                "</Response>"
            )
        );
    }

    #[test]
    fn dial_with_each_noun() {
        let dial = |noun| {
            let mut r = Response::new();
            r.push(Verb::Dial(Dial {
                action: Some("https://v.test/d?a=1&b=2".into()),
                timeout_secs: Some(20),
                caller_id: Some("+15005550006".into()),
                answer_on_bridge: Some(true),
                noun,
            }));
            r.render()
        };
        let open = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="https://v.test/d?a=1&amp;b=2" method="POST" timeout="20" callerId="+15005550006" answerOnBridge="true">"#;
        assert_eq!(
            dial(DialNoun::Number { number: "+15551234567".into(), url: Some("https://v.test/w".into()) }),
            format!(r#"{open}<Number url="https://v.test/w" method="POST">+15551234567</Number></Dial></Response>"#)
        );
        assert_eq!(
            dial(DialNoun::Client {
                identity: "agent_ada".into(),
                url: None,
                params: vec![("customer_name".into(), "Zoë & \"Sons\"".into())],
            }),
            format!(
                r#"{open}<Client><Identity>agent_ada</Identity><Parameter name="customer_name" value="Zoë &amp; &quot;Sons&quot;"/></Client></Dial></Response>"#
            )
        );
        assert_eq!(
            dial(DialNoun::Sip { uri: "sip:a@pbx.test?x-a=1&x-b=2".into(), url: None }),
            format!(r#"{open}<Sip>sip:a@pbx.test?x-a=1&amp;x-b=2</Sip></Dial></Response>"#)
        );
        assert_eq!(
            dial(DialNoun::Queue { name: "support".into(), url: Some("/q".into()) }),
            format!(r#"{open}<Queue url="/q" method="POST">support</Queue></Dial></Response>"#)
        );
    }

    #[test]
    fn play_loops() {
        let mut r = Response::new();
        r.push(Verb::Speak(Speak::Play { url: "https://v.test/hold.wav".into(), loops: Some(3) }));
        assert!(r.render().ends_with(r#"<Response><Play loop="3">https://v.test/hold.wav</Play></Response>"#));
    }
}

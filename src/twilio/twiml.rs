//! TwiML documents: a small typed tree of the verbs Vouch uses, written
//! so that every text and attribute is escaped. The types make the
//! nesting rules hard to break: a Gather holds only Say, Play and Pause, and
//! a Dial exactly one noun.

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
        let mut w = Xml(String::with_capacity(1024));
        w.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        if self.verbs.is_empty() {
            w.empty("Response", &[]);
        } else {
            w.open("Response", &[]);
            for verb in &self.verbs {
                write_verb(&mut w, verb);
            }
            w.close("Response");
        }
        w.0
    }
}

/// An attribute: written when it has a value.
type Attr<'a> = (&'a str, Option<&'a str>);

/// A document being written. Names are the verbs' own (constants); every
/// text and attribute value is escaped as quick-xml escapes them (`<`, `>`,
/// `&`, `'` and `"`, in both), which the tests check against quick-xml.
/// Written by hand: quick-xml's writer built each element's attributes in
/// a buffer of their own and escaped them through a copy (BENCHMARKS.md,
/// sixth round).
struct Xml(String);

impl Xml {
    fn start(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.0.push('<');
        self.0.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.0.push(' ');
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_into(&mut self.0, value);
                self.0.push('"');
            }
        }
    }

    fn open(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.start(name, attrs);
        self.0.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.start(name, attrs);
        self.0.push_str("/>");
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    fn text_element(&mut self, name: &str, attrs: &[Attr<'_>], text: &str) {
        self.open(name, attrs);
        escape_into(&mut self.0, text);
        self.close(name);
    }
}

/// Appends `text` with XML's five special characters as entities. Most
/// text has none (a URL with a sealed state is mostly base64), so the
/// special characters are searched for with memchr's vector scans rather
/// than byte by byte: one scan for `<`, `>` and `&`, one for the quotes,
/// each resumed only past what it found, so no byte is scanned twice by
/// either (a CRM's text full of one kind costs no more than the other).
fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let markup_from = |from: usize| memchr::memchr3(b'<', b'>', b'&', &bytes[from..]).map(|i| from + i);
    let quote_from = |from: usize| memchr::memchr2(b'\'', b'"', &bytes[from..]).map(|i| from + i);
    let (mut markup, mut quote) = (markup_from(0), quote_from(0));
    let mut written = 0;
    loop {
        let i = match (markup, quote) {
            (Some(m), Some(q)) => m.min(q),
            (Some(i), None) | (None, Some(i)) => i,
            (None, None) => break,
        };
        let entity = match bytes[i] {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\'' => "&apos;",
            _ => "&quot;",
        };
        // An ASCII byte never occurs inside a multi-byte character, so `i`
        // is a character boundary.
        out.push_str(&text[written..i]);
        out.push_str(entity);
        written = i + 1;
        if markup == Some(i) {
            markup = markup_from(written);
        } else {
            quote = quote_from(written);
        }
    }
    out.push_str(&text[written..]);
}

fn write_speak(w: &mut Xml, s: &Speak) {
    match s {
        Speak::Say { text, voice, language } => {
            w.text_element("Say", &[("voice", voice.as_deref()), ("language", language.as_deref())], text)
        }
        Speak::Play { url, loops } => {
            let loops = loops.map(|n| n.to_string());
            w.text_element("Play", &[("loop", loops.as_deref())], url)
        }
        Speak::Pause { seconds } => w.empty("Pause", &[("length", Some(&seconds.to_string()))]),
    }
}

fn write_verb(w: &mut Xml, verb: &Verb) {
    match verb {
        Verb::Speak(s) => write_speak(w, s),
        Verb::Gather(g) => {
            let timeout = g.timeout_secs.to_string();
            let mut finish = [0u8; 4];
            let num = g.num_digits.map(|n| n.to_string());
            let attrs = [
                ("input", Some("dtmf")),
                ("action", Some(g.action.as_str())),
                ("method", Some("POST")),
                ("timeout", Some(timeout.as_str())),
                ("finishOnKey", Some(&*g.finish_on_key.encode_utf8(&mut finish))),
                ("numDigits", num.as_deref()),
            ];
            if g.children.is_empty() {
                w.empty("Gather", &attrs);
            } else {
                w.open("Gather", &attrs);
                for c in &g.children {
                    write_speak(w, c);
                }
                w.close("Gather");
            }
        }
        Verb::Redirect { url } => w.text_element("Redirect", &[("method", Some("POST"))], url),
        Verb::Enqueue { queue, workflow_sid, wait_url, task } => {
            let attrs = [
                ("workflowSid", workflow_sid.as_deref()),
                ("waitUrl", wait_url.as_deref()),
                ("waitUrlMethod", wait_url.as_ref().map(|_| "POST")),
            ];
            match task {
                None => w.text_element("Enqueue", &attrs, queue),
                Some(t) => {
                    w.open("Enqueue", &attrs);
                    let priority = t.priority.map(|p| p.to_string());
                    let timeout = t.timeout_secs.map(|p| p.to_string());
                    w.text_element(
                        "Task",
                        &[("priority", priority.as_deref()), ("timeout", timeout.as_deref())],
                        &t.json,
                    );
                    w.close("Enqueue");
                }
            }
        }
        Verb::Dial(d) => write_dial(w, d),
        Verb::Hangup => w.empty("Hangup", &[]),
    }
}

/// A Dial noun's `url` and its method.
fn with_url(url: &Option<String>) -> [Attr<'_>; 2] {
    [("url", url.as_deref()), ("method", url.as_ref().map(|_| "POST"))]
}

fn write_dial(w: &mut Xml, d: &Dial) {
    let timeout = d.timeout_secs.map(|t| t.to_string());
    let bridge = d.answer_on_bridge.map(|b| if b { "true" } else { "false" });
    w.open(
        "Dial",
        &[
            ("action", d.action.as_deref()),
            ("method", d.action.as_ref().map(|_| "POST")),
            ("timeout", timeout.as_deref()),
            ("callerId", d.caller_id.as_deref()),
            ("answerOnBridge", bridge),
        ],
    );
    match &d.noun {
        DialNoun::Number { number, url } => w.text_element("Number", &with_url(url), number),
        DialNoun::Sip { uri, url } => w.text_element("Sip", &with_url(url), uri),
        DialNoun::Queue { name, url } => w.text_element("Queue", &with_url(url), name),
        DialNoun::Client { identity, url, params } => {
            w.open("Client", &with_url(url));
            w.text_element("Identity", &[], identity);
            for (name, value) in params {
                w.empty("Parameter", &[("name", Some(name)), ("value", Some(value))]);
            }
            w.close("Client");
        }
    }
    w.close("Dial");
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
    fn escaping_matches_quick_xml() {
        let samples = [
            "",
            "plain",
            "Zoë & <Sons> \"Ltd\" 'n' co",
            "&&&<<<>>>'''\"\"\"",
            "\"\"''\"'<&>\"a'&",
            "ends with &",
            "<starts",
            "日本語 & ünïcödé > 🎉 ' \"",
            "&amp; already an entity",
            "a\tb\nc\r",
        ];
        // Longer than the vector scans' blocks, specials at every offset.
        let long: Vec<String> = (0..70)
            .map(|k| {
                (0..300)
                    .map(|i| ["<", ">", "&", "'", "\"", "é", "a"][if i % 70 == k { i % 5 } else { 5 + i % 2 }])
                    .collect()
            })
            .collect();
        for s in samples.into_iter().chain(long.iter().map(String::as_str)) {
            let mut ours = String::new();
            escape_into(&mut ours, s);
            assert_eq!(ours, quick_xml::escape::escape(s), "{s:?}");
        }
    }

    #[test]
    fn a_written_document_reads_back_as_written() {
        let tricky = "Zoë & <Sons> \"Ltd\" 'n' co";
        let mut r = Response::new();
        r.push(Verb::Speak(Speak::Say { text: tricky.into(), voice: Some(tricky.into()), language: None }));
        let xml = r.render();
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut voice, mut text) = (None, String::new());
        let mut in_say = false;
        loop {
            match reader.read_event().expect("well-formed") {
                quick_xml::events::Event::Start(e) if e.name().as_ref() == b"Say" => {
                    in_say = true;
                    let a = e.try_get_attribute("voice").expect("attributes").expect("a voice");
                    voice = Some(a.unescape_value().expect("escaped").into_owned());
                }
                quick_xml::events::Event::End(_) => in_say = false,
                quick_xml::events::Event::Text(t) if in_say => text.push_str(&t.decode().expect("text")),
                quick_xml::events::Event::GeneralRef(r) if in_say => {
                    let name = r.decode().expect("entity").into_owned();
                    text.push_str(quick_xml::escape::resolve_predefined_entity(&name).expect("predefined"));
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(voice.as_deref(), Some(tricky));
        assert_eq!(text, tricky);
    }

    #[test]
    fn play_loops() {
        let mut r = Response::new();
        r.push(Verb::Speak(Speak::Play { url: "https://v.test/hold.wav".into(), loops: Some(3) }));
        assert!(r.render().ends_with(r#"<Response><Play loop="3">https://v.test/hold.wav</Play></Response>"#));
    }
}

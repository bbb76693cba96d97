//! The call driver. Requests go to `target` but are signed for `public`,
//! the URL Vouch checks signatures against, as Twilio signs through a proxy.
//! What happens past the handoff (hold, the agent's leg) is in [`super::legs`].

use super::twiml::{self, Node, TwimlError};
use crate::paths::Urls;
use crate::twilio::form::Params;
use crate::twilio::signature;
use rand::Rng;
use std::time::{Duration, Instant};

/// What the caller heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Say {
        text: String,
        voice: Option<String>,
        language: Option<String>,
    },
    Play {
        url: String,
    },
    Pause {
        seconds: u32,
    },
    /// A Gather started listening; `keys` is what the caller pressed
    /// (`None`: silence, the Gather timed out).
    Gather {
        action: String,
        num_digits: Option<usize>,
        keys: Option<String>,
    },
}

/// How the call left the IVR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `<Enqueue>`: the queue, the TaskRouter workflow and task JSON if any.
    Enqueued {
        queue: String,
        workflow_sid: Option<String>,
        task: Option<String>,
        wait_url: Option<String>,
    },
    /// `<Dial>` with its nouns as parsed.
    Dialed(Node),
    /// A `<Redirect>` out of Vouch: to a self-service app, say.
    RedirectedAway {
        url: String,
    },
    Hangup,
    Rejected,
    /// The document ran out of verbs: Twilio hangs up.
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub status: u16,
    pub elapsed: Duration,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub call_sid: String,
    pub heard: Vec<Heard>,
    pub requests: Vec<Request>,
    pub end: End,
    /// What the caller heard on hold: the `<Enqueue waitUrl>` document on
    /// Vouch, fetched once (Twilio repeats it until an agent answers).
    pub hold: Vec<Heard>,
    /// What the answering agent heard before being bridged: the whisper
    /// (a `<Dial>` noun's `url` document), if any.
    pub agent_heard: Vec<Heard>,
}

impl Transcript {
    /// Everything said, joined by newlines.
    pub fn said(&self) -> String {
        self.heard
            .iter()
            .filter_map(|h| match h {
                Heard::Say { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{url} answered HTTP {status} (Twilio error 11200): {body}")]
    Http { url: String, status: u16, body: String },
    #[error("{url}: {source} (Twilio error 11205)")]
    Connect { url: String, source: reqwest::Error },
    #[error("{url} answered Content-Type {content_type:?} (Twilio error 12300)")]
    ContentType { url: String, content_type: String },
    #[error("{url}: {error}")]
    Twiml { url: String, error: TwimlError },
    #[error("more than {0} requests: the call is looping")]
    Loop(usize),
    #[error("cannot resolve URL {0:?}")]
    BadUrl(String),
}

/// Where the caller's keys come from.
pub trait Keypad {
    /// Keys for a Gather, `None` for silence.
    fn keys(&mut self, heard_so_far: &[Heard], gather: &Node) -> Option<String>;
}

/// Keys from a list: each entry answers one Gather; `""` is silence; when
/// the list runs out the caller stays silent.
pub struct Scripted(std::collections::VecDeque<String>);

impl Scripted {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) -> Self {
        Self(keys.into_iter().map(Into::into).collect())
    }

    /// Parses `--keys '87654321#,1111#'`.
    pub fn parse(list: &str) -> Self {
        Self::new(list.split(',').map(str::trim))
    }
}

impl Keypad for Scripted {
    fn keys(&mut self, _: &[Heard], _: &Node) -> Option<String> {
        self.0.pop_front().filter(|k| !k.is_empty())
    }
}

/// What the party a `<Dial>` rings does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Agent {
    /// Answers, hears the whisper, talks; then the caller hangs up.
    #[default]
    Answers,
    Busy,
    NoAnswer,
    Fails,
}

impl Agent {
    /// Twilio's `DialCallStatus` for this behaviour (once the call ended).
    pub fn dial_status(self) -> &'static str {
        match self {
            Self::Answers => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Fails => "failed",
        }
    }
}

/// The call to place.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub from: String,
    pub to: String,
    /// `Some(line)`: call `/voice/{line}`; `None`: `/voice`.
    pub line: Option<String>,
    pub stir_verstat: Option<String>,
    pub call_sid: Option<String>,
    /// What a dialled agent does.
    pub agent: Agent,
}

impl Default for CallSpec {
    fn default() -> Self {
        Self {
            from: "+15551230001".into(),
            to: "+15005550006".into(),
            line: None,
            stir_verstat: None,
            call_sid: None,
            agent: Agent::Answers,
        }
    }
}

/// Plays Twilio against one Vouch.
pub struct Phone {
    http: reqwest::Client,
    /// Where requests are sent, without a trailing slash.
    pub target: String,
    /// The URL Vouch's signatures are computed for, without a trailing slash.
    pub public: String,
    pub token: String,
    pub max_requests: usize,
}

/// A fresh CallSid: `CA` and 32 hex digits.
pub fn new_call_sid() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    format!("CA{}", hex::encode(bytes))
}

impl Phone {
    pub fn new(target: &str, public: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain reqwest client builds");
        Self {
            http,
            target: target.trim_end_matches('/').to_string(),
            public: public.trim_end_matches('/').to_string(),
            token: token.to_string(),
            max_requests: 40,
        }
    }

    /// The parameters Twilio sends with every request of this call.
    pub fn call_params(spec: &CallSpec, call_sid: &str) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("CallSid", call_sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", spec.from.as_str()),
            ("To", spec.to.as_str()),
            ("Caller", spec.from.as_str()),
            ("Called", spec.to.as_str()),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(v) = &spec.stir_verstat {
            p.push(("StirVerstat".into(), v.clone()));
        }
        p
    }

    /// Sends one signed POST to a public URL; returns status, content type and body.
    pub async fn post(&self, public_url: &str, params: &Params) -> Result<(u16, String, String, Duration), SimError> {
        let sig = signature::sign(&self.token, public_url, params);
        let send_to = match public_url.strip_prefix(&self.public) {
            Some(rest) => format!("{}{rest}", self.target),
            None => public_url.to_string(),
        };
        let started = Instant::now();
        let resp = self
            .http
            .post(&send_to)
            .header("X-Twilio-Signature", sig)
            .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
            .header("User-Agent", "TwilioProxy/1.1")
            .header("I-Twilio-Idempotency-Token", hex::encode(rand::thread_rng().gen::<[u8; 8]>()))
            .body(params.encode())
            .send()
            .await
            .map_err(|source| SimError::Connect { url: public_url.to_string(), source })?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = resp.text().await.map_err(|source| SimError::Connect { url: public_url.to_string(), source })?;
        Ok((status, content_type, body, started.elapsed()))
    }

    pub(super) fn resolve(&self, current: &str, url: &str) -> Result<String, SimError> {
        let base = url::Url::parse(current).map_err(|_| SimError::BadUrl(current.to_string()))?;
        base.join(url).map(|u| u.to_string()).map_err(|_| SimError::BadUrl(url.to_string()))
    }

    /// POSTs `params` to `url` as Twilio would and reads the answer as a
    /// TwiML document, refusing what Twilio refuses.
    pub(super) async fn fetch(
        &self,
        url: &str,
        params: &Params,
        requests: &mut Vec<Request>,
    ) -> Result<Node, SimError> {
        if requests.len() >= self.max_requests {
            return Err(SimError::Loop(self.max_requests));
        }
        let (status, content_type, body, elapsed) = self.post(url, params).await?;
        requests.push(Request { url: url.to_string(), status, elapsed, body: body.clone() });
        if status != 200 {
            return Err(SimError::Http { url: url.to_string(), status, body });
        }
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !matches!(mime, "text/xml" | "application/xml") {
            return Err(SimError::ContentType { url: url.to_string(), content_type });
        }
        twiml::parse(&body).map_err(|error| SimError::Twiml { url: url.to_string(), error })
    }

    /// Places a whole call and follows it to its end.
    pub async fn place(&self, spec: &CallSpec, keypad: &mut dyn Keypad) -> Result<Transcript, SimError> {
        let call_sid = spec.call_sid.clone().unwrap_or_else(new_call_sid);
        let base_params = Self::call_params(spec, &call_sid);
        let mut url = Urls::new(&self.public).voice(spec.line.as_deref());
        let mut extra: Vec<(String, String)> = Vec::new();
        let mut t = Transcript {
            call_sid: call_sid.clone(),
            heard: Vec::new(),
            requests: Vec::new(),
            end: End::Ended,
            hold: Vec::new(),
            agent_heard: Vec::new(),
        };
        // Set while the request under way is a bridged Dial's action: the
        // caller has hung up, so its answer is read but not played.
        let mut bridged: Option<Node> = None;
        loop {
            let params = Params::from_pairs(base_params.iter().cloned().chain(extra.drain(..)));
            let doc = self.fetch(&url, &params, &mut t.requests).await?;
            if let Some(dial) = bridged.take() {
                t.end = End::Dialed(dial);
                return Ok(t);
            }
            let mut start = 0;
            let next = loop {
                match self.run(&doc, start, &url, &mut t.heard, keypad)? {
                    Next::Dial { node, after } => {
                        let leg = self.dial(spec, &base_params, &url, &node, &mut t).await?;
                        match node.attr("action") {
                            Some(action) => {
                                if leg.bridged {
                                    bridged = Some(node.clone());
                                }
                                break (self.resolve(&url, action)?, leg.params);
                            }
                            None if leg.bridged => {
                                t.end = End::Dialed(node);
                                return Ok(t);
                            }
                            // No action and nobody answered: Twilio reads on.
                            None => start = after,
                        }
                    }
                    Next::Request { url, params } => break (url, params),
                    Next::End(end) => {
                        if let End::Enqueued { wait_url: Some(wait), .. } = &end {
                            self.hold(&base_params, &url, wait, &mut t).await?;
                        }
                        t.end = end;
                        return Ok(t);
                    }
                }
            };
            // A Redirect away from Vouch ends the simulated call there.
            if !next.0.starts_with(&self.public) {
                t.end = End::RedirectedAway { url: next.0 };
                return Ok(t);
            }
            (url, extra) = next;
        }
    }

    fn run(
        &self,
        doc: &Node,
        start: usize,
        current: &str,
        heard: &mut Vec<Heard>,
        keypad: &mut dyn Keypad,
    ) -> Result<Next, SimError> {
        for (i, verb) in doc.children.iter().enumerate().skip(start) {
            match verb.name.as_str() {
                "Say" | "Play" | "Pause" => heard.push(speak(verb)),
                "Gather" => {
                    for child in &verb.children {
                        heard.push(speak(child));
                    }
                    let action = self.resolve(current, verb.attr("action").unwrap_or(current))?;
                    let num_digits = verb.attr("numDigits").and_then(|n| n.parse().ok());
                    let finish = verb.attr("finishOnKey").unwrap_or("#").to_string();
                    let pressed = keypad.keys(heard, verb);
                    let keys = pressed.as_deref().map(|k| gathered(k, &finish, num_digits));
                    heard.push(Heard::Gather { action: action.clone(), num_digits, keys: pressed.clone() });
                    match keys {
                        Some((digits, finished)) if !digits.is_empty() => {
                            let mut params = vec![("Digits".to_string(), digits)];
                            if let Some(k) = finished {
                                params.push(("FinishedOnKey".to_string(), k));
                            }
                            return Ok(Next::Request { url: action, params });
                        }
                        // Silence (or only the finish key): fall through.
                        _ => {}
                    }
                }
                "Redirect" => {
                    return Ok(Next::Request { url: self.resolve(current, verb.text.trim())?, params: Vec::new() });
                }
                "Enqueue" => {
                    let task = verb.children.iter().find(|c| c.name == "Task").map(|t| t.text.clone());
                    return Ok(Next::End(End::Enqueued {
                        queue: verb.text.trim().to_string(),
                        workflow_sid: verb.attr("workflowSid").map(str::to_string),
                        task,
                        wait_url: verb.attr("waitUrl").map(str::to_string),
                    }));
                }
                "Dial" => return Ok(Next::Dial { node: verb.clone(), after: i + 1 }),
                "Hangup" => return Ok(Next::End(End::Hangup)),
                "Reject" => return Ok(Next::End(End::Rejected)),
                _ => {}
            }
        }
        Ok(Next::End(End::Ended))
    }
}

enum Next {
    Request {
        url: String,
        params: Vec<(String, String)>,
    },
    /// A `<Dial>`; `after` is the index of the verb that follows it.
    Dial {
        node: Node,
        after: usize,
    },
    End(End),
}

pub(super) fn speak(node: &Node) -> Heard {
    match node.name.as_str() {
        "Play" => Heard::Play { url: node.text.trim().to_string() },
        "Pause" => Heard::Pause { seconds: node.attr("length").and_then(|l| l.parse().ok()).unwrap_or(1) },
        _ => Heard::Say {
            text: node.text.clone(),
            voice: node.attr("voice").map(str::to_string),
            language: node.attr("language").map(str::to_string),
        },
    }
}

/// What Twilio submits for keys pressed at a Gather: digits up to the
/// finish key (which is dropped) or up to `numDigits`.
fn gathered(keys: &str, finish: &str, num_digits: Option<usize>) -> (String, Option<String>) {
    let mut digits = String::new();
    for c in keys.chars() {
        if !finish.is_empty() && finish.starts_with(c) {
            return (digits, Some(finish.to_string()));
        }
        digits.push(c);
        if num_digits.is_some_and(|n| digits.chars().count() >= n) {
            break;
        }
    }
    (digits, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_keys_stop_at_the_finish_key_or_num_digits() {
        assert_eq!(gathered("1234#", "#", None), ("1234".into(), Some("#".into())));
        assert_eq!(gathered("123456", "#", Some(4)), ("1234".into(), None));
        assert_eq!(gathered("#", "#", None), (String::new(), Some("#".into())));
        assert_eq!(gathered("*", "#", None), ("*".into(), None));
    }

    #[test]
    fn scripted_keys_parse_and_run_out_as_silence() {
        let mut k = Scripted::parse("87654321#,,1111#");
        let g = Node::default();
        assert_eq!(k.keys(&[], &g), Some("87654321#".into()));
        assert_eq!(k.keys(&[], &g), None);
        assert_eq!(k.keys(&[], &g), Some("1111#".into()));
        assert_eq!(k.keys(&[], &g), None);
    }
}

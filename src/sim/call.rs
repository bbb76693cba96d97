//! The call driver. Requests go to `target` but are signed for `public`,
//! the URL Vouch checks signatures against, as Twilio signs through a proxy.

use super::twiml::{self, Node, TwimlError};
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

/// The call to place.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub from: String,
    pub to: String,
    /// `Some(line)`: call `/voice/{line}`; `None`: `/voice`.
    pub line: Option<String>,
    pub stir_verstat: Option<String>,
    pub call_sid: Option<String>,
}

impl Default for CallSpec {
    fn default() -> Self {
        Self { from: "+15551230001".into(), to: "+15005550006".into(), line: None, stir_verstat: None, call_sid: None }
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

    fn resolve(&self, current: &str, url: &str) -> Result<String, SimError> {
        let base = url::Url::parse(current).map_err(|_| SimError::BadUrl(current.to_string()))?;
        base.join(url).map(|u| u.to_string()).map_err(|_| SimError::BadUrl(url.to_string()))
    }

    /// Places a whole call and follows it to its end.
    pub async fn place(&self, spec: &CallSpec, keypad: &mut dyn Keypad) -> Result<Transcript, SimError> {
        let call_sid = spec.call_sid.clone().unwrap_or_else(new_call_sid);
        let base_params = Self::call_params(spec, &call_sid);
        let mut url = match &spec.line {
            Some(line) => format!("{}/voice/{line}", self.public),
            None => format!("{}/voice", self.public),
        };
        let mut extra: Vec<(String, String)> = Vec::new();
        let mut heard = Vec::new();
        let mut requests = Vec::new();
        loop {
            if requests.len() >= self.max_requests {
                return Err(SimError::Loop(self.max_requests));
            }
            let params = Params::from_pairs(base_params.iter().cloned().chain(extra.drain(..)));
            let (status, content_type, body, elapsed) = self.post(&url, &params).await?;
            requests.push(Request { url: url.clone(), status, elapsed, body: body.clone() });
            if status != 200 {
                return Err(SimError::Http { url, status, body });
            }
            let mime = content_type.split(';').next().unwrap_or("").trim();
            if !matches!(mime, "text/xml" | "application/xml") {
                return Err(SimError::ContentType { url, content_type });
            }
            let doc = twiml::parse(&body).map_err(|error| SimError::Twiml { url: url.clone(), error })?;
            match self.run(&doc, &url, &mut heard, keypad)? {
                Next::Request { url: next, params } => {
                    // A Redirect away from Vouch ends the simulated call there.
                    if !next.starts_with(&self.public) {
                        return Ok(Transcript { call_sid, heard, requests, end: End::RedirectedAway { url: next } });
                    }
                    url = next;
                    extra = params;
                }
                Next::End(end) => return Ok(Transcript { call_sid, heard, requests, end }),
            }
        }
    }

    fn run(
        &self,
        doc: &Node,
        current: &str,
        heard: &mut Vec<Heard>,
        keypad: &mut dyn Keypad,
    ) -> Result<Next, SimError> {
        for verb in &doc.children {
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
                "Dial" => return Ok(Next::End(End::Dialed(verb.clone()))),
                "Hangup" => return Ok(Next::End(End::Hangup)),
                "Reject" => return Ok(Next::End(End::Rejected)),
                _ => {}
            }
        }
        Ok(Next::End(End::Ended))
    }
}

enum Next {
    Request { url: String, params: Vec<(String, String)> },
    End(End),
}

fn speak(node: &Node) -> Heard {
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

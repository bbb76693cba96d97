//! Where a line sends a call when the flow ends, checked: each handoff
//! variant Twilio offers a contact center, with its limits enforced at
//! start-up so a bad value never reaches a live call.

use super::error::ConfigError;
use super::file::HandoffFile;
use super::urls::http_url;
use crate::flow::E164;

/// Where a finished flow sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// `<Redirect>` to an absolute URL, or a path (`/demo/self-service`) on
    /// Vouch's public URL, with the context in a token in the query.
    Redirect { url: String, context: RedirectContext },
    /// `<Enqueue>`, through TaskRouter when `workflow_sid` is set.
    Enqueue {
        queue: String,
        workflow_sid: Option<String>,
        /// An absolute URL, or a path on Vouch (`/hold`).
        wait_url: Option<String>,
        task_priority: Option<u32>,
        task_timeout_secs: Option<u32>,
    },
    /// `<Dial>` to one agent, falling back to the line's queue when nobody answers.
    Dial {
        to: DialTo,
        caller_id: Option<String>,
        timeout_secs: Option<u32>,
        answer_on_bridge: bool,
        /// The agent hears the caller's status before being bridged.
        whisper: bool,
    },
}

impl Handoff {
    /// A plain queue: where a line sends callers when nothing else is set.
    pub(super) fn queue_named(name: &str) -> Self {
        Self::Enqueue {
            queue: name.to_string(),
            workflow_sid: None,
            wait_url: None,
            task_priority: None,
            task_timeout_secs: None,
        }
    }
}

/// How a redirect carries the context (`context = "encrypted" | "plain"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectContext {
    /// The default: an encrypted token (JWE, `dir` + `A256GCM`) alone
    /// carries the customer; the query names none (the status, method,
    /// line, opt-out, attestation and lockout stay readable beside it).
    #[default]
    Encrypted,
    /// Every context name as a plain query parameter, and a signed,
    /// readable JWT (HS256): Twilio's and any proxy's logs can read the
    /// customer's id and name.
    Plain,
}

impl RedirectContext {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Encrypted => "encrypted",
            Self::Plain => "plain",
        }
    }
}

/// Whom a `Dial` handoff rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTo {
    /// An E.164 number.
    Number(String),
    /// A Voice SDK identity.
    Client(String),
    /// A `sip:` or `sips:` URI, without headers (Vouch adds the context as `X-` headers).
    Sip(String),
}

/// Room left for the context headers inside Twilio's 255-character SIP URI.
pub const MAX_SIP_BASE_CHARS: usize = 128;
/// Twilio's limit for a client identity.
const MAX_IDENTITY_CHARS: usize = 256;

fn err(key: &str, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("{key}.{field}"), message)
}

/// A configured URL: an absolute http(s) URL, or a path on Vouch.
fn url_or_path(key: &str, raw: &str) -> Result<(), ConfigError> {
    if raw.starts_with('/') && !raw.starts_with("//") {
        return url::Url::parse("http://vouch.invalid")
            .and_then(|base| base.join(raw))
            .map(|_| ())
            .map_err(|e| ConfigError::new(key, format!("{raw:?} is not a path: {e}")));
    }
    http_url(key, raw).map(|_| ())
}

/// Client identities: Twilio refuses control characters, spaces and URL
/// delimiters; the mobile SDKs accept only letters, digits and `_`.
pub fn valid_identity(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_IDENTITY_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

fn check_sip(key: &str, uri: &str) -> Result<(), ConfigError> {
    let lower = uri.to_ascii_lowercase();
    let rest = lower.strip_prefix("sip:").or_else(|| lower.strip_prefix("sips:"));
    let host = rest.map(|r| r.rsplit('@').next().unwrap_or(r));
    if host.is_none_or(|h| h.is_empty() || h.starts_with(';')) {
        return Err(err(key, "uri", format!("{uri:?} is not a sip: or sips: URI with a host")));
    }
    if uri.contains('?') {
        return Err(err(key, "uri", "must not carry headers: Vouch adds the context as X- headers itself"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"')) {
        return Err(err(key, "uri", format!("{uri:?} contains a space, control character or <>\"")));
    }
    if uri.chars().count() > MAX_SIP_BASE_CHARS {
        return Err(err(
            key,
            "uri",
            format!("at most {MAX_SIP_BASE_CHARS} characters, leaving room for the context headers in Twilio's 255"),
        ));
    }
    Ok(())
}

/// A Dial's `callerId`: a number on the account or a client identity; for
/// SIP, Twilio takes any string of letters, digits and `+ - _ .`.
fn check_caller_id(key: &str, caller_id: &str, sip: bool) -> Result<(), ConfigError> {
    let ok = match caller_id.strip_prefix("client:") {
        Some(identity) => valid_identity(identity),
        None if sip => {
            !caller_id.is_empty()
                && caller_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_' | b'.'))
        }
        None => E164::parse(caller_id).is_some(),
    };
    match (ok, sip) {
        (true, _) => Ok(()),
        (false, true) => Err(err(key, "caller_id", format!("{caller_id:?}: letters, digits and + - _ . only"))),
        (false, false) => {
            Err(err(key, "caller_id", format!("{caller_id:?} is neither an E.164 number nor client:<identity>")))
        }
    }
}

/// Checks one `[lines.X.next|agent|opt_out]` table; `key` names it.
pub fn resolve(key: &str, h: HandoffFile) -> Result<Handoff, ConfigError> {
    match h {
        HandoffFile::Redirect { url, context } => {
            url_or_path(&format!("{key}.url"), &url)?;
            let context = match context.as_deref() {
                None | Some("encrypted") => RedirectContext::Encrypted,
                Some("plain") => RedirectContext::Plain,
                Some(other) => {
                    return Err(err(
                        key,
                        "context",
                        format!(
                            "{other:?}: use \"encrypted\" (a JWE, the default) or \"plain\" (readable query and JWT)"
                        ),
                    ))
                }
            };
            Ok(Handoff::Redirect { url, context })
        }
        HandoffFile::Enqueue { queue, workflow_sid, wait_url, task_priority, task_timeout_secs } => {
            check_queue(key, &queue, workflow_sid.as_deref(), wait_url.as_deref())?;
            Ok(Handoff::Enqueue { queue, workflow_sid, wait_url, task_priority, task_timeout_secs })
        }
        HandoffFile::DialNumber { number, caller_id, timeout_secs, answer_on_bridge, whisper } => {
            if E164::parse(&number).is_none() {
                return Err(err(key, "number", format!("{number:?} is not an E.164 number (+ and 7–15 digits)")));
            }
            dial(key, DialTo::Number(number), caller_id, timeout_secs, answer_on_bridge, whisper)
        }
        HandoffFile::DialClient { identity, caller_id, timeout_secs, answer_on_bridge, whisper } => {
            if !valid_identity(&identity) {
                return Err(err(
                    key,
                    "identity",
                    format!("{identity:?}: a client identity is 1–256 of A-Z a-z 0-9 _ - . @ (mobile SDKs: only letters, digits and _)"),
                ));
            }
            dial(key, DialTo::Client(identity), caller_id, timeout_secs, answer_on_bridge, whisper)
        }
        HandoffFile::DialSip { uri, caller_id, timeout_secs, answer_on_bridge, whisper } => {
            check_sip(key, &uri)?;
            dial(key, DialTo::Sip(uri), caller_id, timeout_secs, answer_on_bridge, whisper)
        }
    }
}

/// A queue name, and a TaskRouter workflow and wait URL when given.
fn check_queue(key: &str, queue: &str, workflow_sid: Option<&str>, wait_url: Option<&str>) -> Result<(), ConfigError> {
    if queue.trim().is_empty() || queue.chars().count() > 64 {
        return Err(err(key, "queue", "a queue name is 1–64 characters"));
    }
    if let Some(sid) = workflow_sid {
        let ok = sid.len() == 34 && sid.starts_with("WW") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(err(key, "workflow_sid", format!("{sid:?} is not a workflow SID (WW + 32 hex)")));
        }
    }
    if let Some(u) = wait_url {
        url_or_path(&format!("{key}.wait_url"), u)?;
    }
    Ok(())
}

/// What every Dial variant shares; answer-on-bridge and the whisper are on unless turned off.
fn dial(
    key: &str,
    to: DialTo,
    caller_id: Option<String>,
    timeout_secs: Option<u32>,
    answer_on_bridge: Option<bool>,
    whisper: Option<bool>,
) -> Result<Handoff, ConfigError> {
    if let Some(c) = &caller_id {
        check_caller_id(key, c, matches!(to, DialTo::Sip(_)))?;
    }
    if let Some(t) = timeout_secs {
        HandoffFile::TIMEOUT_SECS.check(t).map_err(|e| e.under(key))?;
    }
    Ok(Handoff::Dial {
        to,
        caller_id,
        timeout_secs,
        answer_on_bridge: answer_on_bridge.unwrap_or(true),
        whisper: whisper.unwrap_or(true),
    })
}

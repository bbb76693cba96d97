//! Webhook parameters as types, each parsed once: a handler holding a
//! [`CallSid`] knows it is well-formed, and what a caller keyed is a
//! [`Keyed`] that never prints itself.

use std::fmt;

/// A Twilio Call SID: `CA` followed by 32 hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallSid(String);

impl CallSid {
    /// `Some` only for `CA` + 32 hex digits, exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 34 && raw.starts_with("CA") && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallSid({})", self.0)
    }
}

impl AsRef<str> for CallSid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Another call a request names (`ParentCallSid`): absent, a call, or
/// something that is not a Call SID (which names no call of ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Related {
    Absent,
    Call(CallSid),
    Malformed,
}

impl Related {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            None => Self::Absent,
            Some(s) => CallSid::parse(s).map_or(Self::Malformed, Self::Call),
        }
    }
}

/// What a caller keyed (`Digits`) or said (`SpeechResult`): possibly a
/// secret, so it never prints, and it is read only where it is classified.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyed(String);

impl Keyed {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the classifier and the CRM's verify action.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Keyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyed(<{} chars>)", self.0.chars().count())
    }
}

/// Twilio's `CallStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    Queued,
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    Failed,
    NoAnswer,
    Canceled,
    /// Not one Twilio sends (kept, cut short, for the log line that says so).
    Unknown(String),
}

impl CallStatus {
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "queued" => Self::Queued,
            "initiated" => Self::Initiated,
            "ringing" => Self::Ringing,
            "in-progress" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "failed" => Self::Failed,
            "no-answer" => Self::NoAnswer,
            "canceled" => Self::Canceled,
            other => Self::Unknown(other.chars().take(32).collect()),
        }
    }

    /// Twilio's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
            Self::Unknown(s) => s,
        }
    }
}

/// Twilio's `DialCallStatus` on a `<Dial action>`: how the dialled leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialCallStatus(String);

impl DialCallStatus {
    pub fn parse(raw: &str) -> Self {
        Self(raw.trim().chars().take(32).collect())
    }

    /// The agent answered (the call was bridged, and has ended).
    pub fn answered(&self) -> bool {
        matches!(self.0.as_str(), "completed" | "answered")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sids_are_ca_and_32_hex_digits_exactly() {
        assert!(CallSid::parse("CA0123456789abcdefABCDEF0123456789").is_some());
        for bad in ["", "CA", "ca0123456789abcdef0123456789abcdef", "CA0123456789abcdef0123456789abcdeg"] {
            assert_eq!(CallSid::parse(bad), None, "{bad}");
        }
        assert_eq!(CallSid::parse(&format!("CA{}", "0".repeat(33))), None);
        assert_eq!(CallSid::parse("CA0123456789abcdef0123456789abcdef "), None);
    }

    #[test]
    fn keyed_values_never_print() {
        assert_eq!(format!("{:?}", Keyed::new("1234")), "Keyed(<4 chars>)");
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_cut_short() {
        for s in
            ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"]
        {
            assert_eq!(CallStatus::parse(s).as_str(), s);
        }
        assert_eq!(CallStatus::parse(&"x".repeat(100)), CallStatus::Unknown("x".repeat(32)));
        assert!(DialCallStatus::parse("answered").answered() && !DialCallStatus::parse("busy").answered());
        assert_eq!(Related::parse(Some("nope")), Related::Malformed);
    }
}

//! The caller's number as Twilio reports it, parsed once: either a usable
//! E.164 number worth looking up in the CRM, or the reason it is not.

use std::fmt;

/// An E.164 number: `+`, a non-zero country digit, 7 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

/// Why a `From` value cannot identify a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Nothing was sent.
    Empty,
    /// The caller withheld the number (`anonymous`, `Restricted`, `Unknown`,
    /// or Twilio's `+266696687` placeholder).
    Withheld,
    /// A Voice SDK client (`client:alice`) or a SIP address.
    NotAPhone,
    /// Anything else that is not E.164.
    Malformed,
}

/// What the `From` parameter says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerNumber {
    Usable(E164),
    Unusable(Unusable),
}

/// What STIR/SHAKEN says about the caller's number (Twilio's `StirVerstat`).
/// Only full attestation (`TN-Validation-Passed-A`) means the originating
/// carrier vouches that the caller may use the number; it still proves the
/// number, never the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Attestation {
    #[serde(rename = "A")]
    A,
    /// Partial attestation, and full attestation on a diverted or
    /// passed-through call (the carrier no longer vouches for this leg).
    #[serde(rename = "B")]
    B,
    #[serde(rename = "C")]
    C,
    #[serde(rename = "failed")]
    Failed,
    /// `No-TN-Validation`, `NULL`, or no SHAKEN identity at all.
    #[default]
    #[serde(rename = "none")]
    None,
}

impl Attestation {
    pub fn parse(stir_verstat: Option<&str>) -> Self {
        let v = stir_verstat.unwrap_or("").trim();
        if v == "TN-Validation-Passed-A" {
            Self::A
        } else if v.starts_with("TN-Validation-Passed-A") || v.starts_with("TN-Validation-Passed-B") {
            Self::B
        } else if v.starts_with("TN-Validation-Passed-C") {
            Self::C
        } else if v.starts_with("TN-Validation-Failed") {
            Self::Failed
        } else {
            Self::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
            Self::Failed => "failed",
            Self::None => "none",
        }
    }
}

/// Twilio's stand-in for a withheld number ("ANONYMOUS" on a keypad).
const ANONYMOUS_PLACEHOLDER: &str = "+266696687";

impl CallerNumber {
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or("").trim();
        if raw.is_empty() {
            return Self::Unusable(Unusable::Empty);
        }
        let lower = raw.to_ascii_lowercase();
        if matches!(lower.as_str(), "anonymous" | "restricted" | "unknown" | "private" | "unavailable")
            || raw == ANONYMOUS_PLACEHOLDER
            || raw == "266696687"
        {
            return Self::Unusable(Unusable::Withheld);
        }
        if lower.starts_with("client:") || lower.starts_with("sip:") {
            return Self::Unusable(Unusable::NotAPhone);
        }
        match E164::parse(raw) {
            Some(n) => Self::Usable(n),
            None => Self::Unusable(Unusable::Malformed),
        }
    }

    pub fn usable(&self) -> Option<&E164> {
        match self {
            Self::Usable(n) => Some(n),
            Self::Unusable(_) => None,
        }
    }
}

impl E164 {
    /// Accepts exactly `+` followed by 7–15 digits, the first not zero.
    pub fn parse(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('+')?;
        let ok =
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        ok.then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    /// Displays masked, so a number never reaches a log by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

/// Masks an identifier for logs: keeps a short prefix for numbers (the
/// country code) and the last two characters, stars in between.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep_head = if chars[0] == '+' { 2 } else { 0 };
    let keep_tail = 2;
    chars.iter().enumerate().map(|(i, c)| if i < keep_head || i >= n - keep_tail { *c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_usable() {
        let n = CallerNumber::parse(Some("+15551230001"));
        assert_eq!(n.usable().map(E164::as_str), Some("+15551230001"));
    }

    #[test]
    fn withheld_and_odd_numbers_are_not() {
        for (raw, why) in [
            (None, Unusable::Empty),
            (Some(""), Unusable::Empty),
            (Some("  "), Unusable::Empty),
            (Some("anonymous"), Unusable::Withheld),
            (Some("Anonymous"), Unusable::Withheld),
            (Some("+266696687"), Unusable::Withheld),
            (Some("Restricted"), Unusable::Withheld),
            (Some("Unknown"), Unusable::Withheld),
            (Some("client:alice"), Unusable::NotAPhone),
            (Some("sip:bob@example.com"), Unusable::NotAPhone),
            (Some("5551230001"), Unusable::Malformed),
            (Some("+0551230001"), Unusable::Malformed),
            (Some("+1555"), Unusable::Malformed),
            (Some("+1234567890123456"), Unusable::Malformed),
            (Some("+1555-123-0001"), Unusable::Malformed),
        ] {
            assert_eq!(CallerNumber::parse(raw), CallerNumber::Unusable(why), "{raw:?}");
        }
    }

    #[test]
    fn only_plain_full_attestation_counts_as_a() {
        for (raw, want) in [
            (Some("TN-Validation-Passed-A"), Attestation::A),
            (Some("TN-Validation-Passed-A-Diverted"), Attestation::B),
            (Some("TN-Validation-Passed-A-Passthrough"), Attestation::B),
            (Some("TN-Validation-Passed-B"), Attestation::B),
            (Some("TN-Validation-Passed-C"), Attestation::C),
            (Some("TN-Validation-Failed-A"), Attestation::Failed),
            (Some("TN-Validation-Failed"), Attestation::Failed),
            (Some("No-TN-Validation"), Attestation::None),
            (Some("NULL"), Attestation::None),
            (Some("tn-validation-passed-a"), Attestation::None),
            (None, Attestation::None),
        ] {
            assert_eq!(Attestation::parse(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn masking_keeps_only_the_edges() {
        assert_eq!(mask("+15551230001"), "+1********01");
        assert_eq!(mask("12345678"), "******78");
        assert_eq!(mask("1234"), "****");
        assert_eq!(format!("{}", E164::parse("+447700900123").unwrap()), "+4*********23");
    }
}

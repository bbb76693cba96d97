//! The one PIN-leak scanner of the test suite: where a keyed value (a PIN,
//! an account number someone typed) shows up in what Vouch wrote: logs,
//! URLs, TwiML, pages, API answers, database rows and files.
//!
//! It is exact: a keyed value counts only where it stands as a value, a
//! whole token (no letter or digit right before or after it), in a form
//! that carries what a caller keyed:
//!
//! - a quoted string that is exactly the value: `"Digits":"1234"`,
//!   `"value":"1234"`, `\"value\":\"1234\"` inside an escaped JSON string,
//!   `value='1234'`;
//! - the value of a field that carries keyed input (`Digits`,
//!   `SpeechResult`, `value`, `pin`…), however it is written:
//!   `Digits=1234`, `"Digits":1234`, `digits: 1234`, `Digits = 1234`;
//! - a query-string or form parameter, whatever its name:
//!   `?state=…&Digits=1234`, `x-pin=1234` after `?`, `&` or `;`;
//! - a URL path segment (`/customers/1234/verify`) or an element's whole
//!   text (`<dd>1234</dd>`).
//!
//! Everywhere else a number that happens to equal a PIN is the server's own:
//! a latency (`"elapsed_us":1234`), a port (`127.0.0.1:1234`,
//! `"port":1234`), a timestamp (`2026-11-25T20:12:34.561234Z`,
//! `1764011234`) or a duration (`1234ms`, `took 1234 ms`), and is never a
//! leak. So a test that keys 1234 cannot fail because a request took
//! 1,234 µs.
//!
//! Database files are bytes without delimiters (SQLite stores a text value
//! raw, and integers in binary): there [`bytes_leak`] looks for the value as
//! a whole token, which no integer column or hash can form by chance.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

/// Names of fields that carry what a caller keyed or said (compared without
/// case): Twilio's parameters, the verify call's JSON, and names a careless
/// log line would use.
pub const CARRYING_FIELDS: &[&str] =
    &["Digits", "SpeechResult", "UnstableSpeechResult", "value", "pin", "factor_value", "entry", "keys", "keyed"];

/// One leak: the value found, the form it was found in, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub value: String,
    pub form: Form,
    /// Byte offset in the text.
    pub at: usize,
    /// The text around it, for the failure message.
    pub excerpt: String,
}

/// How a leaked value stood in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `"1234"` or `\"1234\"` or `'1234'`.
    Quoted,
    /// `Digits=1234`, `"value":1234`.
    CarryingField,
    /// `?x=1234`, `&Digits=1234`.
    Parameter,
    /// `/1234/`.
    PathSegment,
    /// `>1234<`.
    ElementText,
    /// A whole token in bytes (a database file).
    Raw,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} as {:?} at byte {}: …{}…", self.value, self.form, self.at, self.excerpt)
    }
}

fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

/// What ends a value in a query string, a form or a log line.
fn value_end(b: Option<u8>) -> bool {
    b.is_none_or(|b| {
        matches!(b, b'&' | b'#' | b';' | b'"' | b'\'' | b'\\' | b',' | b')' | b'<' | b'>' | b'}' | b']')
            || b.is_ascii_whitespace()
    })
}

fn excerpt(text: &[u8], at: usize, len: usize) -> String {
    let start = at.saturating_sub(60);
    let end = (at + len + 60).min(text.len());
    String::from_utf8_lossy(&text[start..end]).replace('\n', "\\n")
}

/// The name right before `end` (exclusive), skipping the quotes of `"name"`
/// and `\"name\"`; with where the name starts.
fn name_before(text: &[u8], mut end: usize) -> (&[u8], usize) {
    // `"name"` or `\"name\"`: drop the closing quote (and its backslash).
    if end > 0 && text[end - 1] == b'"' {
        end -= 1;
        if end > 0 && text[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0 && name_char(text[start - 1]) {
        start -= 1;
    }
    (&text[start..end], start)
}

fn carrying(name: &[u8]) -> bool {
    CARRYING_FIELDS.iter().any(|f| f.as_bytes().eq_ignore_ascii_case(name))
}

/// The form `value` stands in at `at`, if it is one that carries keyed input.
fn form_at(text: &[u8], at: usize, len: usize) -> Option<Form> {
    let before = |n: usize| at.checked_sub(n).map(|i| text[i]);
    let after = text.get(at + len).copied();
    if before(1).is_some_and(word) || after.is_some_and(word) {
        return None; // inside a longer run: a timestamp, a hash, a CallSid…
    }
    match before(1) {
        Some(q @ (b'"' | b'\'')) => {
            let closes = after == Some(q) || (after == Some(b'\\') && text.get(at + len + 1) == Some(&q));
            closes.then_some(Form::Quoted)
        }
        Some(b'=' | b':') => {
            // `name=value`, `"name":value`, `name: value` (one space allowed
            // after a colon).
            let sep = at - 1;
            let (name, start) = name_before(text, sep);
            if carrying(name) {
                return value_end(after).then_some(Form::CarryingField);
            }
            // A query-string or form parameter: its name follows `?`, `&` or `;`
            // (a log's own `elapsed_us=1234` follows a space).
            let parameter =
                text[sep] == b'=' && !name.is_empty() && start > 0 && matches!(text[start - 1], b'?' | b'&' | b';');
            (parameter && value_end(after)).then_some(Form::Parameter)
        }
        Some(b' ') => {
            // `name: value`, `name = value` (a printout's spacing): for
            // carrying fields only (`Content-Length: 1234` is no leak).
            let mut sep = at - 1;
            while sep > 0 && text[sep - 1] == b' ' {
                sep -= 1;
            }
            if sep == 0 || !matches!(text[sep - 1], b'=' | b':') {
                return None;
            }
            let mut end = sep - 1;
            while end > 0 && text[end - 1] == b' ' {
                end -= 1;
            }
            let (name, _) = name_before(text, end);
            (carrying(name) && value_end(after)).then_some(Form::CarryingField)
        }
        Some(b'/') => {
            matches!(after, None | Some(b'/' | b'?' | b'#' | b'"' | b'\'' | b'\\' | b' ')).then_some(Form::PathSegment)
        }
        Some(b'>') => (after == Some(b'<')).then_some(Form::ElementText),
        _ => None,
    }
}

/// Every leak of `value` in `text`.
pub fn leaks_of(text: &str, value: &str) -> Vec<Leak> {
    let bytes = text.as_bytes();
    text.match_indices(value)
        .filter_map(|(at, _)| {
            form_at(bytes, at, value.len()).map(|form| Leak {
                value: value.to_string(),
                form,
                at,
                excerpt: excerpt(bytes, at, value.len()),
            })
        })
        .collect()
}

/// The first leak of any of `values` in `text`.
pub fn find(text: &str, values: &[&str]) -> Option<Leak> {
    values.iter().find_map(|v| leaks_of(text, v).into_iter().next())
}

/// Every leak of any of `values` in `text`.
pub fn find_all(text: &str, values: &[&str]) -> Vec<Leak> {
    values.iter().flat_map(|v| leaks_of(text, v)).collect()
}

/// The leaks, one a line, for a failure message.
pub fn report(leaks: &[Leak]) -> String {
    leaks.iter().map(Leak::to_string).collect::<Vec<_>>().join("\n")
}

/// `value` as a whole token in raw bytes (a database file): no letter or
/// digit right before or after it.
pub fn bytes_leak(bytes: &[u8], value: &str) -> Option<Leak> {
    let n = value.len();
    (0..bytes.len().saturating_sub(n.saturating_sub(1)))
        .find(|&i| {
            &bytes[i..i + n] == value.as_bytes()
                && !(i > 0 && word(bytes[i - 1]))
                && !bytes.get(i + n).copied().is_some_and(word)
        })
        .map(|at| Leak { value: value.to_string(), form: Form::Raw, at, excerpt: excerpt(bytes, at, n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINS: [&str; 6] = ["1234", "4321", "5555", "9087", "7310", "6502"];

    /// Each carrying form with `pin` planted in it.
    fn planted(pin: &str) -> Vec<(String, Form)> {
        vec![
            (format!("Digits={pin}"), Form::CarryingField),
            (format!("Digits={pin}&FinishedOnKey=%23"), Form::CarryingField),
            (format!("CallSid=CA1&Digits={pin}&From=%2B1555"), Form::CarryingField),
            (format!(r#"{{"Digits":"{pin}"}}"#), Form::Quoted),
            (format!(r#"{{"Digits":{pin}}}"#), Form::CarryingField),
            (format!(r#"{{"factor":"pin","value":"{pin}"}}"#), Form::Quoted),
            (format!(r#""message":"body {{\"factor\":\"pin\",\"value\":\"{pin}\"}}""#), Form::Quoted),
            (format!(r#"{{"SpeechResult":"{pin}","Confidence":"0.9"}}"#), Form::Quoted),
            (format!("SpeechResult={pin} Confidence=0.9"), Form::CarryingField),
            (format!("UnstableSpeechResult: {pin}"), Form::CarryingField),
            (format!("POST /voice/support/verify\n  Digits = {pin}\n  From = +15551230001"), Form::CarryingField),
            (format!("2026-12-02T15:10:25Z DEBUG request: digits={pin} keyed"), Form::CarryingField),
            (format!(r#"{{"path":"/voice/support/verify?state=k1.abc.def&Digits={pin}"}}"#), Form::CarryingField),
            (format!("https://ivr.example.com/voice/support/verify?state=k1.x&attempt={pin}#top"), Form::Parameter),
            (format!("sip:agent@pbx.example.com?x-pin={pin}"), Form::Parameter),
            (format!(r#"{{"l":"support","s":"verify","p":"{pin}"}}"#), Form::Quoted),
            (format!("value='{pin}'"), Form::Quoted),
            (format!("/customers/{pin}/verify"), Form::PathSegment),
            (format!("<dd>{pin}</dd>"), Form::ElementText),
        ]
    }

    /// Lines with the PIN's digits where they are the server's own numbers.
    fn innocent(pin: &str) -> Vec<String> {
        let n: u64 = pin.parse().unwrap();
        vec![
            format!(
                r#"{{"timestamp":"2026-12-02T15:10:25.10{pin}Z","level":"INFO","fields":{{"status":200,"elapsed_us":{pin},"message":"answered"}}}}"#
            ),
            format!(r#"{{"fields":{{"elapsed_ms":{pin},"message":"CRM phone lookup"}}}}"#),
            format!(
                r#"{{"fields":{{"message":"vouch listening on 127.0.0.1:{pin}","port":{pin},"public_url":"http://localhost:{pin}"}}}}"#
            ),
            format!("http://127.0.0.1:{pin}/voice"),
            format!(r#"{{"timestamp":"2026-12-02T15:10:25.{pin}01Z"}}"#),
            format!(r#"{{"started_at":176401{pin},"exp":{}}}"#, 1_764_000_000 + n),
            format!("/agent/calls/CA{pin}ab?exp=176401{pin}&sig=x{pin}y"),
            format!("due to expire in 4992.{pin} milliseconds"),
            format!("took {pin} ms, {pin}ms, {pin}µs, 1.{pin}s, retry in {pin} ms"),
            format!(r#"{{"customer_id":"{pin}5678","caller":"+1********01","subject":"ab{pin}cd"}}"#),
            format!("elapsed_us={pin} status=200"),
            format!("← HTTP 200 OK in {pin} ms (text/xml)\n  CallDuration = {pin}\n  SequenceNumber : {pin}"),
            format!("Content-Length: {pin}"),
            format!(r#"{{"duration":{pin},"call_duration":{pin},"status_sequence":{pin}}}"#),
        ]
    }

    #[test]
    fn every_carrying_form_is_caught() {
        for pin in PINS {
            for (text, form) in planted(pin) {
                let found = leaks_of(&text, pin);
                assert!(found.iter().any(|l| l.form == form), "{pin} planted in {text:?}: found {found:?}");
                assert_eq!(find(&text, &PINS).map(|l| l.value), Some(pin.to_string()), "{text}");
            }
        }
    }

    #[test]
    fn latencies_ports_timestamps_and_durations_are_not_leaks() {
        for pin in PINS {
            for text in innocent(pin) {
                assert!(text.contains(pin), "the test plants {pin} in {text}");
                assert_eq!(leaks_of(&text, pin), vec![], "{text}");
            }
            // A whole log of them, with each PIN at once.
            let log = PINS.iter().flat_map(|p| innocent(p)).collect::<Vec<_>>().join("\n");
            assert_eq!(find_all(&log, &PINS), vec![]);
        }
    }

    #[test]
    fn a_leak_in_a_log_of_innocent_numbers_is_still_caught() {
        let mut log = PINS.iter().flat_map(|p| innocent(p)).collect::<Vec<_>>();
        log.insert(3, r#"{"fields":{"message":"verify","value":"7310"}}"#.to_string());
        let found = find_all(&log.join("\n"), &PINS);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].value.as_str(), found[0].form), ("7310", Form::Quoted));
    }

    #[test]
    fn a_longer_value_is_not_the_pin() {
        for text in ["Digits=12345", "Digits=01234", r#""value":"12340""#, "/customers/12345678", "<dd>1234 5</dd>"] {
            assert_eq!(leaks_of(text, "1234"), vec![], "{text}");
        }
    }

    #[test]
    fn raw_bytes_are_searched_for_whole_tokens() {
        assert!(bytes_leak(b"\x00\x15support\x1b9087\x00", "9087").is_some());
        assert!(bytes_leak(b"9087", "9087").is_some());
        for chance in [&b"updated_at=1795639087 "[..], b"subject=ab9087cd", b"CAab9087ff\x00", b"\x1724681357"] {
            assert!(bytes_leak(chance, "9087").is_none(), "{}", String::from_utf8_lossy(chance));
        }
    }
}

//! What keeps a value inside its place in a CRM request. First the query
//! language's escaper (`|soql`, `|odata`, `|zendesk`), which turns the value
//! into one complete quoted literal, so the template writes no quotes; then
//! the encoding for where it lands (a URL path segment, a query value, a
//! header, JSON string content, a form value), applied automatically.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// A query language's quoting, producing a complete literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    None,
    /// Salesforce SOQL: `'…'`, with `\ ' "` and control characters
    /// backslash-escaped (SOQL's quoted-string escapes).
    Soql,
    /// OData `$filter` (Dataverse): `'…'` with `'` doubled.
    Odata,
    /// Zendesk search: `"…"`, a quoted phrase. Zendesk's search syntax has
    /// no escape inside a phrase, so `"` and `\` are removed.
    Zendesk,
}

impl Escape {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "soql" => Some(Self::Soql),
            "odata" => Some(Self::Odata),
            "zendesk" => Some(Self::Zendesk),
            _ => None,
        }
    }

    pub fn apply(self, value: &str) -> String {
        match self {
            Self::None => value.to_string(),
            Self::Soql => {
                let mut out = String::with_capacity(value.len() + 2);
                out.push('\'');
                for c in value.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        '"' => out.push_str("\\\""),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        c if c.is_control() => {}
                        c => out.push(c),
                    }
                }
                out.push('\'');
                out
            }
            Self::Odata => {
                format!("'{}'", value.chars().filter(|c| !c.is_control()).collect::<String>().replace('\'', "''"))
            }
            Self::Zendesk => {
                format!(
                    "\"{}\"",
                    value.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '\\')).collect::<String>()
                )
            }
        }
    }
}

/// Where a placeholder sits in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The URL before `?`: one path segment.
    Path,
    /// The URL after `?`: a query value.
    Query,
    Header,
    /// Inside a string literal of a JSON body.
    Json,
    /// An `application/x-www-form-urlencoded` body.
    Form,
}

/// A path segment keeps only unreserved characters (`.` is encoded too).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');
/// A query value keeps unreserved characters; `+ & = # % ;` and space are encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~').remove(b'.');

/// Why a value cannot be put where the template puts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("an empty value or `.`/`..` cannot be a path segment")]
    Segment,
    #[error("a header value cannot hold control characters")]
    Header,
}

impl Location {
    pub fn encode(self, value: &str) -> Result<String, EncodeError> {
        Ok(match self {
            Self::Path => {
                // `%2E%2E` is `..` to a URL parser: refuse what would climb.
                if value.is_empty() || value.chars().all(|c| c == '.') {
                    return Err(EncodeError::Segment);
                }
                utf8_percent_encode(value, SEGMENT).to_string()
            }
            Self::Query => utf8_percent_encode(value, QUERY).to_string(),
            Self::Header => {
                if value.chars().any(|c| c.is_control()) {
                    return Err(EncodeError::Header);
                }
                value.to_string()
            }
            Self::Json => {
                let quoted = serde_json::Value::String(value.to_string()).to_string();
                quoted[1..quoted.len() - 1].to_string()
            }
            Self::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "URL path",
            Self::Query => "URL query",
            Self::Header => "header",
            Self::Json => "JSON body",
            Self::Form => "form body",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INJECTION: &str = "1' OR '1'='1";

    /// Splits a SOQL/OData string literal at its start: the literal's
    /// content and whatever follows its closing quote.
    fn single_quoted(text: &str, doubled: bool) -> (String, &str) {
        let mut chars = text.char_indices();
        assert_eq!(chars.next().map(|(_, c)| c), Some('\''), "{text}");
        let mut content = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if !doubled => content.push(chars.next().expect("an escaped character").1),
                '\'' if doubled && text[i + 1..].starts_with('\'') => {
                    chars.next();
                    content.push('\'');
                }
                '\'' => return (content, &text[i + 1..]),
                c => content.push(c),
            }
        }
        panic!("unterminated literal: {text}");
    }

    #[test]
    fn soql_keeps_an_injection_inside_one_literal() {
        let query = format!("SELECT Id FROM Contact WHERE AccountNumber = {}", Escape::Soql.apply(INJECTION));
        assert_eq!(query, r"SELECT Id FROM Contact WHERE AccountNumber = '1\' OR \'1\'=\'1'");
        let literal = query.split_once("= ").unwrap().1;
        let (content, rest) = single_quoted(literal, false);
        assert_eq!((content.as_str(), rest), (INJECTION, ""), "the whole value is one literal, nothing after it");
        for nasty in ["a\\' OR 1=1 --", "\\", "x\"y", "'", "\\'"] {
            let literal = Escape::Soql.apply(nasty);
            let (content, rest) = single_quoted(&literal, false);
            assert_eq!((content.as_str(), rest), (nasty, ""), "{nasty:?}");
        }
        assert_eq!(Escape::Soql.apply("a\nb"), "'a\\nb'", "a newline is written as \\n, not raw");
    }

    #[test]
    fn odata_keeps_an_injection_inside_one_literal() {
        let filter = format!("accountnumber eq {}", Escape::Odata.apply(INJECTION));
        assert_eq!(filter, "accountnumber eq '1'' OR ''1''=''1'");
        let (content, rest) = single_quoted(filter.split_once("eq ").unwrap().1, true);
        assert_eq!((content.as_str(), rest), (INJECTION, ""));
        for nasty in ["''", "' or 1 eq 1 or '", "a''b'"] {
            let literal = Escape::Odata.apply(nasty);
            let (content, rest) = single_quoted(&literal, true);
            assert_eq!((content.as_str(), rest), (nasty, ""), "{nasty:?}");
        }
    }

    #[test]
    fn zendesk_keeps_an_injection_inside_one_phrase() {
        assert_eq!(Escape::Zendesk.apply(INJECTION), "\"1' OR '1'='1\"");
        for nasty in [INJECTION, "1\" type:user \"x", "\\\"", "\"\"\""] {
            let phrase = Escape::Zendesk.apply(nasty);
            let inner = &phrase[1..phrase.len() - 1];
            assert!(phrase.starts_with('"') && phrase.ends_with('"'), "{phrase}");
            assert!(!inner.contains('"') && !inner.contains('\\'), "one phrase only: {phrase}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_value_stays_one_soql_or_odata_literal(value in "\\PC{0,40}") {
            let soql = Escape::Soql.apply(&value);
            let (content, rest) = single_quoted(&soql, false);
            proptest::prop_assert_eq!((content.as_str(), rest), (value.as_str(), ""));
            let odata = Escape::Odata.apply(&value);
            let (content, rest) = single_quoted(&odata, true);
            proptest::prop_assert_eq!((content.as_str(), rest), (value.as_str(), ""));
            let zendesk = Escape::Zendesk.apply(&value);
            proptest::prop_assert!(!zendesk[1..zendesk.len() - 1].contains(['"', '\\']));
        }

        #[test]
        fn any_value_decodes_back_from_its_location(value in "\\PC{1,40}") {
            for at in [Location::Path, Location::Query] {
                if let Ok(enc) = at.encode(&value) {
                    proptest::prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~.%".contains(&b)), "{}", enc);
                    let back = percent_encoding::percent_decode_str(&enc).decode_utf8().unwrap();
                    proptest::prop_assert_eq!(back.as_ref(), value.as_str());
                }
            }
            let json = format!("\"{}\"", Location::Json.encode(&value).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&json).unwrap(), value.clone());
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(format!("v={}", Location::Form.encode(&value).unwrap()).as_bytes()).into_owned().collect();
            proptest::prop_assert_eq!(form, vec![("v".to_string(), value.clone())]);
        }
    }

    #[test]
    fn each_location_encodes_its_own_way() {
        let v = "a b/c?d#e&f=g+h%i'j\"k";
        assert_eq!(Location::Path.encode(v).unwrap(), "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%25i%27j%22k");
        assert_eq!(Location::Query.encode(v).unwrap(), "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%25i%27j%22k");
        assert_eq!(Location::Query.encode("+15550001111").unwrap(), "%2B15550001111", "a + is %2B in a query");
        assert_eq!(Location::Json.encode("a\"b\\c\n").unwrap(), "a\\\"b\\\\c\\n");
        assert_eq!(Location::Form.encode("a b&c=d+e").unwrap(), "a+b%26c%3Dd%2Be");
        assert_eq!(Location::Header.encode("x\r\nEvil: 1"), Err(EncodeError::Header));
        assert_eq!(Location::Path.encode("1.5").unwrap(), "1%2E5");
        for climb in ["", ".", ".."] {
            assert_eq!(Location::Path.encode(climb), Err(EncodeError::Segment), "{climb:?}");
        }
    }
}

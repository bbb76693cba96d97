//! Request templates: text with `{NAME[:FORMAT][|ESCAPE]}` placeholders,
//! parsed once at start-up into literal runs and slots that each know where
//! they land (URL path or query, header, JSON or form body). Rendering a
//! request is then only concatenation: each value formatted, escaped for its
//! query language, and encoded for its place.
//!
//! A `{` not followed by a letter is literal text (a JSON object's brace).

use super::escape::{EncodeError, Escape, Location};
use super::phone_format::{PatternMismatch, PhoneFormat};
use crate::config::error::ConfigError;
use crate::flow::E164;

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// The caller's number (find_by_phone only).
    Phone,
    /// The keyed identifier, or for verify the customer id found.
    Id,
    /// The keyed secret (a verify endpoint's body only).
    Value,
    /// The line's factor name (`pin`, `dob`…).
    Factor,
}

impl Name {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "phone" => Self::Phone,
            "id" => Self::Id,
            "value" => Self::Value,
            "factor" => Self::Factor,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Id => "id",
            Self::Value => "value",
            Self::Factor => "factor",
        }
    }
}

/// What kind of text a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Url,
    Header,
    Json,
    Form,
}

/// One placeholder, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: Name,
    /// `{phone:FORMAT}`; `None`: the action's `phone_format`.
    pub format: Option<PhoneFormat>,
    pub escape: Escape,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Slot(Slot),
}

/// A template, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// The values a request is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub phone: Option<&'a E164>,
    pub phone_format: &'a PhoneFormat,
    pub id: Option<&'a str>,
    pub factor: Option<&'a str>,
    pub value: Option<&'a str>,
}

/// Why a request could not be rendered (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("no value for {{{}}}", .0.as_str())]
    Missing(Name),
    #[error("{0}")]
    Pattern(#[from] PatternMismatch),
    #[error("{{{}}} in the {}: {}", .0.as_str(), .1.as_str(), .2)]
    Encode(Name, Location, EncodeError),
}

impl Template {
    /// Parses `text` (the value of `key`), allowing only `allowed` names.
    pub fn parse(text: &str, key: &str, kind: Kind, allowed: &[Name]) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new(key, m);
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut location = match kind {
            Kind::Url => Location::Path,
            Kind::Header => Location::Header,
            Kind::Json => Location::Json,
            Kind::Form => Location::Form,
        };
        let mut json = JsonScan::default();
        // An absolute URL's scheme and host take no placeholder.
        let host_end = match kind {
            Kind::Url => text.find("://").map(|i| text[i + 3..].find('/').map_or(text.len(), |j| i + 3 + j)),
            _ => None,
        };
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let starts_slot = rest[open + 1..].chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if !starts_slot {
                literal.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
                continue;
            }
            literal.push_str(&rest[..open]);
            let inner_and_after = &rest[open + 1..];
            let close = inner_and_after.find('}').filter(|c| !inner_and_after[..*c].contains('{'));
            let Some(close) = close else {
                return Err(err(format!("the placeholder at {:?} is not closed with `}}`", &rest[open..])));
            };
            let inner = &inner_and_after[..close];
            let offset = text.len() - rest.len() + open;
            if host_end.is_some_and(|h| offset < h) {
                return Err(err(format!("{{{inner}}}: a placeholder cannot be in the URL's scheme or host")));
            }
            if kind == Kind::Url && location == Location::Path && literal_before_has_query(&pieces, &literal) {
                location = Location::Query;
            }
            if kind == Kind::Json {
                // Slots stand for string content: only the literal text
                // since the previous one can leave or enter a string.
                json.feed(&literal);
                if !json.in_string {
                    return Err(err(format!("{{{inner}}} must sit inside a JSON string literal (\"{{{inner}}}\")")));
                }
            }
            let slot = slot(inner, location, allowed).map_err(err)?;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Slot(slot));
            rest = &inner_and_after[close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let template = Self { pieces };
        if kind == Kind::Json {
            let probe = template.skeleton("x");
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&probe) {
                return Err(err(format!("is not JSON with each placeholder replaced by x: {e}")));
            }
        }
        Ok(template)
    }

    /// The names this template uses.
    pub fn names(&self) -> impl Iterator<Item = Name> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Slot(s) => Some(s.name),
            Piece::Literal(_) => None,
        })
    }

    /// The template with every placeholder replaced by `with`, as is.
    fn skeleton(&self, with: &str) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(l) => l.as_str(),
                Piece::Slot(_) => with,
            })
            .collect()
    }

    /// The text with `values` in place.
    pub fn render(&self, values: &Values<'_>) -> Result<String, RenderError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(l) => out.push_str(l),
                Piece::Slot(s) => {
                    let raw = match s.name {
                        Name::Phone => {
                            let phone = values.phone.ok_or(RenderError::Missing(Name::Phone))?;
                            s.format.as_ref().unwrap_or(values.phone_format).apply(phone)?
                        }
                        Name::Id => values.id.ok_or(RenderError::Missing(Name::Id))?.to_string(),
                        Name::Factor => values.factor.ok_or(RenderError::Missing(Name::Factor))?.to_string(),
                        Name::Value => values.value.ok_or(RenderError::Missing(Name::Value))?.to_string(),
                    };
                    let encoded =
                        s.at.encode(&s.escape.apply(&raw)).map_err(|e| RenderError::Encode(s.name, s.at, e))?;
                    out.push_str(&encoded);
                }
            }
        }
        Ok(out)
    }
}

/// Whether a `?` has appeared in the URL's literal text so far.
fn literal_before_has_query(pieces: &[Piece], literal: &str) -> bool {
    literal.contains('?') || pieces.iter().any(|p| matches!(p, Piece::Literal(l) if l.contains('?')))
}

/// Tracks whether JSON text so far leaves us inside a string literal. A
/// slot stands for string content, so the state carries across it.
#[derive(Default)]
struct JsonScan {
    in_string: bool,
    escaped: bool,
}

impl JsonScan {
    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            match (self.in_string, self.escaped, c) {
                (true, true, _) => self.escaped = false,
                (true, false, '\\') => self.escaped = true,
                (_, _, '"') => self.in_string = !self.in_string,
                _ => {}
            }
        }
    }
}

/// `NAME[:FORMAT][|ESCAPE]`.
fn slot(inner: &str, at: Location, allowed: &[Name]) -> Result<Slot, String> {
    let (head, escape) = match inner.rsplit_once('|') {
        Some((h, e)) => {
            let esc = Escape::parse(e)
                .ok_or_else(|| format!("{{{inner}}}: unknown escape {e:?} (use soql, odata or zendesk)"))?;
            (h, esc)
        }
        None => (inner, Escape::None),
    };
    let (name, format) = match head.split_once(':') {
        Some((n, f)) => (n, Some(f)),
        None => (head, None),
    };
    let name = Name::parse(name)
        .ok_or_else(|| format!("{{{inner}}}: unknown placeholder {name:?} (phone, id, value or factor)"))?;
    if !allowed.contains(&name) {
        let why = match name {
            Name::Value => "the keyed value is allowed only in a verify endpoint's body, never in a URL or header (CRM and proxy logs keep those)",
            Name::Phone => "{phone} is only for find_by_phone",
            Name::Id => "{id} is not known in find_by_phone",
            Name::Factor => "{factor} is only for verify",
        };
        return Err(format!("{{{inner}}}: {why}"));
    }
    let format = match format {
        None => None,
        Some(f) if name == Name::Phone => Some(PhoneFormat::parse(f).ok_or_else(|| {
            format!("{{{inner}}}: unknown phone format {f:?} (e164, national, digits, national_digits or a # pattern)")
        })?),
        Some(_) => return Err(format!("{{{inner}}}: only {{phone}} takes a format")),
    };
    if escape != Escape::None && matches!(at, Location::Header) {
        return Err(format!("{{{inner}}}: a query-language escape has no place in a header"));
    }
    Ok(Slot { name, format, escape, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Name] = &[Name::Phone, Name::Id, Name::Value, Name::Factor];

    fn values<'a>(phone: Option<&'a E164>, id: &'a str) -> Values<'a> {
        Values { phone, phone_format: &PhoneFormat::E164, id: Some(id), factor: Some("pin"), value: Some("1234") }
    }

    fn url(text: &str) -> Template {
        Template::parse(text, "crm.find_by_phone.url", Kind::Url, ALL).unwrap()
    }

    #[test]
    fn path_and_query_slots_encode_differently() {
        let t = url("/customers/{id}/x?phone={phone}&q={id}");
        let phone = E164::parse("+15550001111").unwrap();
        assert_eq!(
            t.render(&values(Some(&phone), "a/b c+")).unwrap(),
            "/customers/a%2Fb%20c%2B/x?phone=%2B15550001111&q=a%2Fb%20c%2B"
        );
    }

    #[test]
    fn soql_in_a_query_is_one_literal_then_encoded() {
        let t = url("/query?q=SELECT Id FROM Contact WHERE Phone = {phone:(###) ###-####|soql} OR Phone = {phone:e164|soql} OR N = {id|soql}");
        let phone = E164::parse("+15550001111").unwrap();
        let out = t.render(&values(Some(&phone), "1' OR '1'='1")).unwrap();
        assert_eq!(
            out,
            "/query?q=SELECT Id FROM Contact WHERE Phone = %27%28555%29%20000-1111%27 OR Phone = %27%2B15550001111%27 OR N = %271%5C%27%20OR%20%5C%271%5C%27%3D%5C%271%27"
        );
        let decoded = percent_encoding::percent_decode_str(out.rsplit_once("N = ").unwrap().1).decode_utf8().unwrap();
        assert_eq!(decoded, r"'1\' OR \'1\'=\'1'");
    }

    #[test]
    fn json_bodies_keep_values_inside_their_strings() {
        let t =
            Template::parse(r#"{"factor":"{factor}","value":"{value}"}"#, "crm.verify.body", Kind::Json, ALL).unwrap();
        let v = Values { value: Some("12\"}, \"verified\": true, \"x\":\"\\"), ..values(None, "1") };
        let body = t.render(&v).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["value"], "12\"}, \"verified\": true, \"x\":\"\\");
        assert_eq!(parsed.as_object().unwrap().len(), 2);
    }

    #[test]
    fn form_bodies_encode_values() {
        let t = Template::parse("factor={factor}&value={value}", "crm.verify.body", Kind::Form, ALL).unwrap();
        let v = Values { value: Some("1&admin=1 +"), ..values(None, "1") };
        assert_eq!(t.render(&v).unwrap(), "factor=pin&value=1%26admin%3D1+%2B");
    }

    #[test]
    fn bad_templates_are_refused_naming_the_key() {
        let cases: &[(&str, Kind, &[Name], &str)] = &[
            ("/c?x={nope}", Kind::Url, ALL, "unknown placeholder"),
            ("/c?x={id", Kind::Url, ALL, "not closed"),
            ("/c?x={value}", Kind::Url, &[Name::Id], "only in a verify endpoint's body"),
            ("/c?x={phone}", Kind::Url, &[Name::Id], "only for find_by_phone"),
            ("/c?x={id:e164}", Kind::Url, ALL, "only {phone} takes a format"),
            ("/c?x={phone:weird}", Kind::Url, ALL, "unknown phone format"),
            ("/c?x={id|sql}", Kind::Url, ALL, "unknown escape"),
            ("https://{id}.example.com/x", Kind::Url, ALL, "scheme or host"),
            (r#"{"v":{value}}"#, Kind::Json, ALL, "inside a JSON string"),
            (r#"{"v":"{value}""#, Kind::Json, ALL, "is not JSON"),
            ("{id|soql}", Kind::Header, ALL, "no place in a header"),
        ];
        for (text, kind, allowed, says) in cases {
            let e = Template::parse(text, "crm.verify.url", *kind, allowed).unwrap_err();
            assert_eq!(e.key, "crm.verify.url");
            assert!(e.message.contains(says), "{text}: {}", e.message);
        }
    }

    #[test]
    fn literal_braces_and_text_stay_as_written() {
        let t = Template::parse(r#"{"a":{},"b":["{id}"]}"#, "k", Kind::Json, ALL).unwrap();
        assert_eq!(t.render(&values(None, "7")).unwrap(), r#"{"a":{},"b":["7"]}"#);
        assert_eq!(url("/x?q=a b").render(&values(None, "7")).unwrap(), "/x?q=a b");
    }

    #[test]
    fn missing_values_and_bad_patterns_fail_the_render() {
        let t = url("/c?p={phone:###-####}");
        let phone = E164::parse("+15550001111").unwrap();
        assert!(matches!(t.render(&values(Some(&phone), "1")), Err(RenderError::Pattern(_))));
        assert_eq!(t.render(&values(None, "1")), Err(RenderError::Missing(Name::Phone)));
        assert!(matches!(
            url("/c/{id}").render(&values(None, "..")),
            Err(RenderError::Encode(Name::Id, Location::Path, _))
        ));
    }
}

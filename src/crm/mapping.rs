//! Response mapping by JSON Pointer (RFC 6901): where the list of matches
//! is, and in each match the id, the name (a pointer, or a template of
//! pointers such as `{/FirstName} {/LastName}`) and the extra attributes.
//! A pointer that misses is an error naming that pointer, never the body.

use crate::config::error::ConfigError;
use crate::flow::Customer;
use serde_json::Value;

/// Names longer than this are cut (they travel in TwiML and handoffs).
pub const MAX_NAME_CHARS: usize = 200;
/// Attribute values longer than this are cut.
pub const MAX_ATTRIBUTE_CHARS: usize = 200;
/// Ids longer than this are refused.
pub const MAX_ID_CHARS: usize = 64;

/// A JSON Pointer: `""` (the whole document) or `/a/0/b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    pub fn parse(s: &str, key: &str) -> Result<Self, ConfigError> {
        if !(s.is_empty() || s.starts_with('/')) || s.chars().any(char::is_control) {
            return Err(ConfigError::new(key, format!("{s:?} is not a JSON Pointer (\"\" or starting with /)")));
        }
        // `~` must be followed by 0 or 1 (RFC 6901).
        let bytes = s.as_bytes();
        if bytes.iter().enumerate().any(|(i, b)| *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1'))) {
            return Err(ConfigError::new(key, format!("{s:?}: `~` must be written ~0, and `/` in a name ~1")));
        }
        Ok(Self(s.to_string()))
    }

    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        doc.pointer(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\" (the root)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// How a match's name is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMap {
    Pointer(Pointer),
    /// Literal text and `{/pointer}`s.
    Template(Vec<(String, Option<Pointer>)>),
}

impl NameMap {
    pub fn parse(s: &str, key: &str) -> Result<Self, ConfigError> {
        if !s.contains('{') {
            return Pointer::parse(s, key).map(Self::Pointer);
        }
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| ConfigError::new(key, format!("{s:?}: a `{{` is not closed")))?;
            let pointer = Pointer::parse(&rest[open + 1..close], key)?;
            parts.push((rest[..open].to_string(), Some(pointer)));
            rest = &rest[close + 1..];
        }
        parts.push((rest.to_string(), None));
        Ok(Self::Template(parts))
    }

    fn render(&self, doc: &Value) -> String {
        let text = |p: &Pointer| p.get(doc).and_then(scalar).unwrap_or_default();
        match self {
            Self::Pointer(p) => text(p),
            Self::Template(parts) => parts
                .iter()
                .map(|(lit, p)| format!("{lit}{}", p.as_ref().map(text).unwrap_or_default()))
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// As written in the configuration.
    pub fn describe(&self) -> String {
        match self {
            Self::Pointer(p) => p.as_str().to_string(),
            Self::Template(parts) => parts
                .iter()
                .map(|(lit, p)| {
                    format!("{lit}{}", p.as_ref().map(|p| format!("{{{}}}", p.as_str())).unwrap_or_default())
                })
                .collect(),
        }
    }
}

/// Where the answers are in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The list of matches; `None`: the body is the one match (a fetch).
    pub list: Option<Pointer>,
    /// A count the CRM reports, only compared with the list's length.
    pub count: Option<Pointer>,
    pub id: Pointer,
    pub name: NameMap,
    /// Extra attributes, in configuration order.
    pub attributes: Vec<(String, Pointer)>,
}

/// A response that does not have the configured shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("the body is not JSON")]
    NotJson,
    #[error("list pointer {0} does not point at an array")]
    NotList(String),
    #[error("id pointer {0} is missing or not a string or number")]
    NoId(String),
    #[error("id at {0} is empty, longer than 64 characters or has control characters")]
    BadId(String),
    #[error("pointer {0} is missing or not a boolean")]
    NotBool(String),
    #[error("pointer {0} is missing or not a string or number")]
    NoField(String),
}

/// A search's result: the matches, and the count the CRM reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searched {
    pub matches: Vec<Customer>,
    pub count_hint: Option<u64>,
}

impl Mapping {
    /// The matches in a search's body (`list` set).
    pub fn search(&self, body: &[u8]) -> Result<Searched, MapError> {
        let doc = parse(body)?;
        let root = Pointer(String::new());
        let list_ptr = self.list.as_ref().unwrap_or(&root);
        let list =
            list_ptr.get(&doc).and_then(Value::as_array).ok_or_else(|| MapError::NotList(list_ptr.to_string()))?;
        let count_hint = self.count.as_ref().and_then(|p| p.get(&doc)).and_then(Value::as_u64);
        let matches = list.iter().map(|m| self.customer(m)).collect::<Result<_, _>>()?;
        Ok(Searched { matches, count_hint })
    }

    /// The one match a fetch's body is.
    pub fn fetch(&self, body: &[u8]) -> Result<Customer, MapError> {
        self.customer(&parse(body)?)
    }

    /// A match: its id (checked), name (cleaned, cut) and attributes.
    pub fn customer(&self, doc: &Value) -> Result<Customer, MapError> {
        let id = self.id.get(doc).and_then(scalar_id).ok_or_else(|| MapError::NoId(self.id.to_string()))?;
        let id = id.trim().to_string();
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
            return Err(MapError::BadId(self.id.to_string()));
        }
        let name = clean(&self.name.render(doc), MAX_NAME_CHARS);
        let attributes = self
            .attributes
            .iter()
            .filter_map(|(k, p)| p.get(doc).and_then(scalar).map(|v| (k.clone(), clean(&v, MAX_ATTRIBUTE_CHARS))))
            .collect();
        Ok(Customer { id, name, attributes })
    }
}

pub fn parse(body: &[u8]) -> Result<Value, MapError> {
    serde_json::from_slice(body).map_err(|_| MapError::NotJson)
}

/// A string or number, as text.
fn scalar_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string, number or boolean, as text; null and the rest: none.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        other => scalar_id(other),
    }
}

/// Control characters dropped, cut to `max` characters, trimmed.
fn clean(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(s: &str) -> Pointer {
        Pointer::parse(s, "k").unwrap()
    }

    fn mapping(list: Option<&str>, name: &str) -> Mapping {
        Mapping {
            list: list.map(ptr),
            count: Some(ptr("/totalSize")),
            id: ptr("/Id"),
            name: NameMap::parse(name, "k").unwrap(),
            attributes: vec![("tier".into(), ptr("/Tier__c")), ("segment".into(), ptr("/Account/Segment__c"))],
        }
    }

    #[test]
    fn a_soql_answer_maps_id_name_and_attributes_in_order() {
        let body = br#"{"totalSize":1,"records":[{"Id":"003X","FirstName":"Ada","LastName":"Lovelace",
            "Account":{"Segment__c":"gold"},"Tier__c":2}]}"#;
        let s = mapping(Some("/records"), "{/FirstName} {/LastName}").search(body).unwrap();
        assert_eq!(s.count_hint, Some(1));
        assert_eq!(
            s.matches,
            vec![Customer {
                id: "003X".into(),
                name: "Ada Lovelace".into(),
                attributes: vec![("tier".into(), "2".into()), ("segment".into(), "gold".into())],
            }]
        );
    }

    #[test]
    fn the_root_may_be_the_array_and_ids_may_be_numbers() {
        let body = br#"[{"Id":42,"Name":"A"},{"Id":" 43 ","Name":null}]"#;
        let s = mapping(Some(""), "/Name").search(body).unwrap();
        let got: Vec<_> = s.matches.iter().map(|c| (c.id.as_str(), c.name.as_str())).collect();
        assert_eq!(got, [("42", "A"), ("43", "")]);
        assert!(s.matches[0].attributes.is_empty(), "missing attributes are omitted");
    }

    #[test]
    fn pointer_misses_name_the_pointer() {
        let m = mapping(Some("/records"), "/Name");
        assert_eq!(m.search(br#"{"records":{}}"#), Err(MapError::NotList("/records".into())));
        assert_eq!(m.search(br#"{"value":[]}"#), Err(MapError::NotList("/records".into())));
        assert_eq!(m.search(br#"{"records":[{"id":"x"}]}"#), Err(MapError::NoId("/Id".into())));
        assert_eq!(m.search(br#"{"records":[{"Id":""}]}"#), Err(MapError::BadId("/Id".into())));
        assert_eq!(m.search(br#"{"records":[{"Id":{"a":1}}]}"#), Err(MapError::NoId("/Id".into())));
        assert_eq!(m.search(b"<html>"), Err(MapError::NotJson));
        assert_eq!(mapping(Some(""), "/Name").search(b"{}"), Err(MapError::NotList("\"\" (the root)".into())));
        let long = format!(r#"{{"Id":"{}"}}"#, "9".repeat(65));
        assert_eq!(mapping(None, "/Name").fetch(long.as_bytes()), Err(MapError::BadId("/Id".into())));
    }

    #[test]
    fn names_and_attributes_are_cleaned_and_cut() {
        let body = format!(r#"{{"Id":"1","Name":"Ada\u0007 {}","Tier__c":"{}"}}"#, "x".repeat(300), "y".repeat(300));
        let c = mapping(None, "/Name").fetch(body.as_bytes()).unwrap();
        assert_eq!(c.name.chars().count(), MAX_NAME_CHARS);
        assert!(c.name.starts_with("Ada x"));
        assert_eq!(c.attributes[0].1.chars().count(), MAX_ATTRIBUTE_CHARS);
    }

    #[test]
    fn bad_pointers_are_refused_at_start_up() {
        for bad in ["records", "/a~2", "/a~"] {
            assert_eq!(Pointer::parse(bad, "crm.find_by_phone.list").unwrap_err().key, "crm.find_by_phone.list");
        }
        assert!(NameMap::parse("{/First", "k").is_err());
        assert_eq!(NameMap::parse("{/A} {/B}", "k").unwrap().describe(), "{/A} {/B}");
    }
}

//! A customer's extra attributes as the record keeps them: a JSON object of
//! strings, in the order the configuration lists them (the API shows that
//! object; the database keeps it as TEXT, NULL when there are none).

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serializer};
use std::fmt;

/// Serializes the pairs as one JSON object, in their order.
pub fn serialize<S: Serializer>(attributes: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(attributes.len()))?;
    for (name, value) in attributes {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// The column's text: `None` (NULL) when there are no attributes.
pub fn to_column(attributes: &[(String, String)]) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    // Strings into a Vec cannot fail to serialize.
    serialize(attributes, &mut serde_json::Serializer::new(&mut out)).ok()?;
    String::from_utf8(out).ok()
}

/// The pairs a column holds, in the object's order (NULL: none).
pub fn from_column(text: Option<&str>) -> Result<Vec<(String, String)>, serde_json::Error> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::Deserializer::from_str(text).deserialize_map(Ordered),
    }
}

/// Reads a JSON object of strings keeping its order (a `Map` would sort it).
struct Ordered;

impl<'de> Visitor<'de> for Ordered {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(pair) = map.next_entry::<String, String>()? {
            pairs.push(pair);
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn attributes_round_trip_through_the_column_in_configuration_order() {
        let attributes = pairs(&[("tier", "Gold \"plus\""), ("segment", "Zoë & <Sons>"), ("language", "fr")]);
        let text = to_column(&attributes).unwrap();
        assert_eq!(text, r#"{"tier":"Gold \"plus\"","segment":"Zoë & <Sons>","language":"fr"}"#);
        assert_eq!(from_column(Some(&text)).unwrap(), attributes);
        assert_eq!(to_column(&[]), None);
        assert_eq!(from_column(None).unwrap(), Vec::new());
    }

    #[test]
    fn a_column_that_is_not_an_object_of_strings_is_an_error() {
        for bad in ["[]", "{\"a\":1}", "{\"a\":\"b\"", "null", ""] {
            assert!(from_column(Some(bad)).is_err(), "{bad}");
        }
    }
}

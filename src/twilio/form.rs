//! A strict `application/x-www-form-urlencoded` decoder that keeps repeated
//! names and refuses invalid UTF-8 and NUL bytes (Twilio sends neither).

use std::fmt;

/// Decoded form (or query) parameters, in the order received: every name
/// and value decoded into one string, so a request's few dozen parameters
/// cost two allocations, not two each.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params {
    text: String,
    /// Each pair's name `text[start..mid]` and value `text[mid..end]`.
    pairs: Vec<(usize, usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("parameter {0} is not valid UTF-8 once decoded")]
    InvalidUtf8(usize),
    #[error("parameter {0} contains a NUL byte")]
    Nul(usize),
    #[error("more than {MAX_PARAMS} parameters")]
    TooMany,
}

/// Twilio sends a few dozen; anything past this is not Twilio.
pub const MAX_PARAMS: usize = 256;

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, FormError> {
        let mut out = Self {
            text: String::with_capacity(raw.len()),
            pairs: Vec::with_capacity(raw.iter().filter(|b| **b == b'&').count() + 1),
        };
        let mut scratch = Vec::new();
        for (i, pair) in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()).enumerate() {
            if i >= MAX_PARAMS {
                return Err(FormError::TooMany);
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            let start = out.text.len();
            decode_into(&mut out.text, &mut scratch, name, i)?;
            let mid = out.text.len();
            decode_into(&mut out.text, &mut scratch, value, i)?;
            out.pairs.push((start, mid, out.text.len()));
        }
        Ok(out)
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out = Self::default();
        for (k, v) in pairs {
            let start = out.text.len();
            out.text.push_str(k.as_ref());
            let mid = out.text.len();
            out.text.push_str(v.as_ref());
            out.pairs.push((start, mid, out.text.len()));
        }
        out
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|&(start, mid, end)| (&self.text[start..mid], &self.text[mid..end]))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Encodes back to a form body.
    pub fn encode(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.iter() {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

/// Never prints values: `Digits` may hold a PIN.
impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(k, _)| k)).finish()
    }
}

/// Decodes one name or value of pair `index` onto the end of `text`
/// (`scratch` holds it meanwhile when it has escapes).
fn decode_into(text: &mut String, scratch: &mut Vec<u8>, raw: &[u8], index: usize) -> Result<(), FormError> {
    // Most of Twilio's values need no decoding at all: checked and copied
    // as they are.
    let bytes: &[u8] = if raw.iter().any(|b| matches!(b, b'+' | b'%')) {
        scratch.clear();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'+' => scratch.push(b' '),
                b'%' => match (raw.get(i + 1).and_then(hex), raw.get(i + 2).and_then(hex)) {
                    (Some(hi), Some(lo)) => {
                        scratch.push(hi << 4 | lo);
                        i += 2;
                    }
                    // Not an escape: kept as it is, as percent_decode does.
                    _ => scratch.push(b'%'),
                },
                b => scratch.push(b),
            }
            i += 1;
        }
        scratch
    } else {
        raw
    };
    if bytes.contains(&0) {
        return Err(FormError::Nul(index));
    }
    text.push_str(std::str::from_utf8(bytes).map_err(|_| FormError::InvalidUtf8(index))?);
    Ok(())
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_repeats() {
        let p = Params::parse(b"From=%2B15551230001&Digits=1&Digits=2&Name=Zo%C3%AB+O%27Brien&Empty=&Bare").unwrap();
        assert_eq!(p.get("From"), Some("+15551230001"));
        assert_eq!(p.iter().filter(|(k, _)| *k == "Digits").count(), 2);
        assert_eq!(p.get("Name"), Some("Zoë O'Brien"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Bare"), Some(""));
        let pairs: Vec<_> = p.iter().collect();
        assert_eq!(pairs[..3], [("From", "+15551230001"), ("Digits", "1"), ("Digits", "2")]);
        assert_eq!((p.len(), p.is_empty(), Params::default().is_empty()), (6, false, true));
    }

    #[test]
    fn refuses_invalid_utf8_and_nul() {
        assert_eq!(Params::parse(b"a=%FF"), Err(FormError::InvalidUtf8(0)));
        assert_eq!(Params::parse(b"a=1&b=%00"), Err(FormError::Nul(1)));
        assert_eq!(Params::parse(&[b'a', b'=', 0xC3]), Err(FormError::InvalidUtf8(0)));
        // Each half of a character is invalid, though the two side by side
        // would read as one.
        assert_eq!(Params::parse(b"a%C3=%A9"), Err(FormError::InvalidUtf8(0)));
        assert_eq!(Params::parse(b"x=1&a=%C3&%A9=b"), Err(FormError::InvalidUtf8(1)));
    }

    #[test]
    fn decodes_as_percent_encoding_does() {
        for raw in ["a%2", "%zz%41", "100%", "%%41", "a+b%2Bc", "%C3%A9%e2%82%AC", "plain"] {
            let expected: Vec<u8> = percent_encoding::percent_decode(raw.replace('+', " ").as_bytes()).collect();
            let got = Params::parse(format!("k={raw}").as_bytes()).unwrap();
            assert_eq!(got.get("k").unwrap().as_bytes(), &expected[..], "{raw}");
        }
    }

    #[test]
    fn refuses_too_many_params() {
        let body = vec!["a=1"; MAX_PARAMS + 1].join("&");
        assert_eq!(Params::parse(body.as_bytes()), Err(FormError::TooMany));
    }

    #[test]
    fn round_trips_through_encode() {
        let p = Params::from_pairs([("To", "+1 555"), ("X", "a&b=c")]);
        assert_eq!(Params::parse(p.encode().as_bytes()).unwrap(), p);
    }

    #[test]
    fn debug_hides_values() {
        let p = Params::from_pairs([("Digits", "1234")]);
        assert_eq!(format!("{p:?}"), "[\"Digits\"]");
    }
}

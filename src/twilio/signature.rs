//! `X-Twilio-Signature`, computed and checked the way Twilio's own helper
//! libraries do it (twilio-python's `RequestValidator` is the reference):
//! the full URL, then every POST parameter sorted by name with each name's
//! distinct values sorted, HMAC-SHA1 with the auth token, base64. The URL is
//! tried with and without its port, since Twilio drops it on HTTPS.

use super::form::Params;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The string Twilio signs: the URL, then each name and value, no delimiters.
pub fn signing_string(url: &str, params: &Params) -> String {
    let mut s = String::from(url);
    s.push_str(&params_part(params));
    s
}

/// What follows the URL in the signed string: every parameter sorted by
/// name, each name's distinct values sorted. Sorting the (name, value)
/// pairs and dropping repeats gives exactly that order.
fn params_part(params: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut s = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (name, value) in pairs {
        s.push_str(name);
        s.push_str(value);
    }
    s
}

/// The base64 HMAC-SHA1 signature of a request.
pub fn sign(token: &str, url: &str, params: &Params) -> String {
    let key = Keys::new([token]);
    let b64 = key.0[0].sign(&[url], &params_part(params));
    String::from_utf8_lossy(&b64).into_owned()
}

/// An auth token's HMAC-SHA1, keyed once: each signature clones it, so the
/// key is not derived again per request.
#[derive(Clone)]
struct Key(Hmac<Sha1>);

/// Base64 of a 20-byte MAC.
type Encoded = [u8; 28];

impl Key {
    fn sign(&self, url: &[&str], params_part: &str) -> Encoded {
        let mut mac = self.0.clone();
        for piece in url {
            mac.update(piece.as_bytes());
        }
        mac.update(params_part.as_bytes());
        let mut out = [0u8; 28];
        // 20 bytes always encode to 28.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(mac.finalize().into_bytes(), &mut out);
        out
    }
}

/// The auth tokens (primary, then secondary), each keyed once.
#[derive(Clone)]
pub struct Keys(Vec<Key>);

impl Keys {
    pub fn new<'t>(tokens: impl IntoIterator<Item = &'t str>) -> Self {
        // HMAC accepts keys of any length; this cannot fail.
        Self(
            tokens
                .into_iter()
                .map(|t| Key(Hmac::<Sha1>::new_from_slice(t.as_bytes()).expect("HMAC takes any key length")))
                .collect(),
        )
    }
}

/// The URL without and with its port, as twilio-python builds them: any
/// port is removed in the first; the scheme's default is added in the
/// second when none is given.
pub fn url_variants(url: &str) -> [String; 2] {
    variants(url).map(|pieces| pieces.concat())
}

/// [`url_variants`] as slices of `url` (and a default port), joined by the MAC.
fn variants(url: &str) -> [[&str; 3]; 2] {
    let Some(scheme_end) = url.find("://") else {
        return [[url, "", ""], [url, "", ""]];
    };
    let auth_start = scheme_end + 3;
    let auth_end = url[auth_start..].find(['/', '?', '#']).map_or(url.len(), |i| auth_start + i);
    let authority = &url[auth_start..auth_end];
    let host_end = authority.rfind(':').filter(|i| {
        let port = &authority[i + 1..];
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !authority[*i..].contains(']')
    });
    match host_end {
        Some(i) => [[&url[..auth_start + i], &url[auth_end..], ""], [url, "", ""]],
        None => {
            let port = if url[..scheme_end].eq_ignore_ascii_case("https") { ":443" } else { ":80" };
            [[url, "", ""], [&url[..auth_end], port, &url[auth_end..]]]
        }
    }
}

/// What was signed alongside the URL.
pub enum Body<'a> {
    /// Form parameters (POST) or none (GET: the URL alone).
    Form(&'a Params),
    /// A raw JSON body, vouched for by the URL's `bodySHA256` parameter.
    Json { raw: &'a [u8], body_sha256: &'a str },
}

/// Checks a signature against each token (primary, then secondary) and each
/// URL variant, until one matches. Comparisons are constant-time.
pub fn verify<'t>(tokens: impl IntoIterator<Item = &'t str>, url: &str, body: Body<'_>, signature: &str) -> bool {
    verify_with(&Keys::new(tokens), url, body, signature)
}

/// [`verify`] with the tokens keyed once, ahead of the requests.
pub fn verify_with(keys: &Keys, url: &str, body: Body<'_>, signature: &str) -> bool {
    let part = match body {
        Body::Form(p) => params_part(p),
        Body::Json { raw, body_sha256 } => {
            let actual = hex::encode(Sha256::digest(raw));
            if !bool::from(actual.as_bytes().ct_eq(body_sha256.to_ascii_lowercase().as_bytes())) {
                return false;
            }
            String::new()
        }
    };
    let given = signature.trim().as_bytes();
    // The URL as Twilio was given it first: that is what it signs.
    let mut forms = variants(url);
    if forms[1] == [url, "", ""] {
        forms.swap(0, 1);
    }
    // Each comparison is constant-time; the search stops at the first
    // match, which tells a timing observer only which token and URL form
    // matched (neither is secret), and spares a valid request the other
    // HMACs.
    keys.0.iter().any(|key| forms.iter().any(|form| bool::from(key.sign(form, &part).as_slice().ct_eq(given))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn call(caller: &str) -> Params {
        Params::from_pairs([
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn matches_twilios_documented_vectors() {
        assert_eq!(sign("12345", URL, &call("+12349013030")), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert_eq!(sign("12345", URL, &call("+14158675309")), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", with_port, &call("+14158675309")), "kvajT1Ptam85bY51eRf/AJRuM3w=");
    }

    #[test]
    fn repeated_params_sort_their_distinct_values() {
        let p = Params::from_pairs([
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign("12345", URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn accepts_the_url_with_or_without_the_default_port() {
        let p = call("+14158675309");
        assert!(verify(["12345"], URL, Body::Form(&p), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(verify(["12345"], with_port, Body::Form(&p), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn either_form_of_a_url_with_a_port_verifies_whichever_is_tried_first() {
        let p = call("+14158675309");
        for configured in ["http://localhost:8080/voice", "https://v.test/voice"] {
            for form in url_variants(configured) {
                let signature = sign("12345", &form, &p);
                assert!(verify(["12345"], configured, Body::Form(&p), &signature), "{form}");
                assert!(verify(["other", "12345"], configured, Body::Form(&p), &signature), "{form}, secondary");
                assert!(!verify(["54321"], configured, Body::Form(&p), &signature), "{form}");
            }
        }
    }

    #[test]
    fn url_variants_follow_twilio_python() {
        assert_eq!(
            url_variants("https://a.com/x?y=1"),
            ["https://a.com/x?y=1".to_string(), "https://a.com:443/x?y=1".to_string()]
        );
        assert_eq!(url_variants("http://a.com"), ["http://a.com".to_string(), "http://a.com:80".to_string()]);
        assert_eq!(
            url_variants("http://a.com:8080/v"),
            ["http://a.com/v".to_string(), "http://a.com:8080/v".to_string()]
        );
    }

    #[test]
    fn refuses_wrong_tokens_params_and_urls() {
        let p = call("+12349013030");
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(verify(["12345"], URL, Body::Form(&p), good));
        assert!(verify(["other", "12345"], URL, Body::Form(&p), good), "secondary token");
        assert!(!verify(["12346"], URL, Body::Form(&p), good));
        assert!(!verify(["12345"], "https://mycompany.com/myapp.php?foo=1&bar=3", Body::Form(&p), good));
        let tampered = Params::from_pairs(p.iter().map(|(k, v)| (k, if k == "Digits" { "9999" } else { v })));
        assert!(!verify(["12345"], URL, Body::Form(&tampered), good));
        assert!(!verify(["12345"], URL, Body::Form(&p), ""));
    }

    #[test]
    fn json_bodies_are_checked_through_their_hash() {
        let raw = br#"{"property": "value", "boolean": true}"#;
        let hash = hex::encode(Sha256::digest(raw));
        let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={hash}");
        let sig = sign("12345", &url, &Params::default());
        assert!(verify(["12345"], &url, Body::Json { raw, body_sha256: &hash }, &sig));
        assert!(!verify(["12345"], &url, Body::Json { raw: b"{}", body_sha256: &hash }, &sig));
    }
}

//! Signed, expiring links to pages about one call (the agent's screen pop),
//! so an agent can open them from a Flex task or a whisper without logging
//! in. The signature is HMAC-SHA256 under a key derived from the state key,
//! over the path and the expiry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a screen-pop link opens its page: the call, its wrap-up, and
/// a margin for an agent who looks back at it later in the shift.
pub const SCREEN_POP_TTL_SECS: u64 = 12 * 3600;

/// The path a screen-pop link signs (exactly this: the page checks it).
pub fn screen_pop_path(call_sid: &str) -> String {
    format!("/agent/calls/{call_sid}")
}

#[derive(Clone)]
pub struct LinkSigner {
    /// Derived keys: the first signs, all verify.
    keys: Vec<Vec<u8>>,
    ttl_secs: u64,
}

impl LinkSigner {
    /// `state_keys`: the state-signing keys (first current); must not be empty.
    pub fn new<'a>(state_keys: impl IntoIterator<Item = &'a str>, ttl_secs: u64) -> Self {
        let keys = state_keys
            .into_iter()
            .map(|k| {
                let mut mac = Hmac::<Sha256>::new_from_slice(k.as_bytes()).expect("HMAC takes any key length");
                mac.update(b"vouch-link-key-v1");
                mac.finalize().into_bytes().to_vec()
            })
            .collect();
        Self { keys, ttl_secs }
    }

    fn mac(key: &[u8], path: &str, exp: u64) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `path?exp=…&sig=…`, valid until `now + ttl`.
    pub fn sign(&self, path: &str, now: u64) -> String {
        let exp = now + self.ttl_secs;
        let sig = B64.encode(Self::mac(&self.keys[0], path, exp));
        format!("{path}?exp={exp}&sig={sig}")
    }

    /// Whether `sig` signs `path` until `exp`, and `exp` has not passed.
    pub fn verify(&self, path: &str, exp: u64, sig: &str, now: u64) -> bool {
        let Ok(given) = B64.decode(sig) else { return false };
        let valid = self.keys.iter().any(|k| bool::from(Self::mac(k, path, exp).as_slice().ct_eq(&given)));
        valid && exp >= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(link: &str) -> (u64, String) {
        let q: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(link.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
        (q["exp"].parse().unwrap(), q["sig"].clone())
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let s = LinkSigner::new(["k".repeat(32).as_str()], 600);
        let link = s.sign("/agent/calls/CA1", 1000);
        let (exp, sig) = query(&link);
        assert!(s.verify("/agent/calls/CA1", exp, &sig, 1600));
        assert!(!s.verify("/agent/calls/CA1", exp, &sig, 1601), "expired");
        assert!(!s.verify("/agent/calls/CA2", exp, &sig, 1000), "another call");
        assert!(!s.verify("/agent/calls/CA1", exp + 1, &sig, 1000), "altered expiry");
        assert!(!s.verify("/agent/calls/CA1", exp, "AAAA", 1000), "altered signature");
        let rotated = LinkSigner::new(["n".repeat(32).as_str(), "k".repeat(32).as_str()], 600);
        assert!(rotated.verify("/agent/calls/CA1", exp, &sig, 1000), "old key still verifies");
    }
}

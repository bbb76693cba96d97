//! Signed, expiring links to pages about one call (the agent's screen pop),
//! so an agent can open them from a Flex task or a whisper without logging
//! in. The signature ([`Purpose::ScreenPopLink`]) covers the path and the
//! expiry.

use super::{expired, expires_at, Keyring, Purpose};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// How long a screen-pop link opens its page: the call, its wrap-up, and
/// a margin for an agent who looks back at it later in the shift.
pub const SCREEN_POP_TTL_SECS: u64 = 12 * 3600;

/// Signs and checks screen-pop links.
#[derive(Clone)]
pub struct ScreenPopLinks {
    ring: Keyring,
    ttl_secs: u64,
}

impl ScreenPopLinks {
    /// Links valid for `ttl_secs`, under `ring`'s keys.
    pub fn new(ring: &Keyring, ttl_secs: u64) -> Self {
        Self { ring: ring.clone(), ttl_secs }
    }

    /// `path?exp=…&sig=…`, valid until `now + ttl`.
    pub fn sign(&self, path: &str, now: u64) -> String {
        let exp = expires_at(now, self.ttl_secs);
        let (_, mac) = self.ring.sign(Purpose::ScreenPopLink, &[path.as_bytes(), exp.to_string().as_bytes()]);
        format!("{path}?exp={exp}&sig={}", B64.encode(mac))
    }

    /// Whether `sig` signs `path` until `exp`, and `exp` has not passed.
    pub fn verify(&self, path: &str, exp: u64, sig: &str, now: u64) -> bool {
        let Ok(given) = B64.decode(sig) else { return false };
        let exp_text = exp.to_string();
        let parts: [&[u8]; 2] = [path.as_bytes(), exp_text.as_bytes()];
        self.ring.verify(Purpose::ScreenPopLink, None, &parts, &given).is_ok() && !expired(exp, now)
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

    const OLD: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const NEW: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

    #[test]
    fn a_link_verifies_until_it_expires() {
        let s = ScreenPopLinks::new(&Keyring::single(OLD), 600);
        let link = s.sign("/agent/calls/CA1", 1000);
        let (exp, sig) = query(&link);
        assert!(s.verify("/agent/calls/CA1", exp, &sig, 1600));
        assert!(!s.verify("/agent/calls/CA1", exp, &sig, 1601), "expired");
        assert!(!s.verify("/agent/calls/CA2", exp, &sig, 1000), "another call");
        assert!(!s.verify("/agent/calls/CA1", exp + 1, &sig, 1000), "altered expiry");
        assert!(!s.verify("/agent/calls/CA1", exp, "AAAA", 1000), "altered signature");
        let rotated = ScreenPopLinks::new(&Keyring::new([NEW, OLD]).unwrap(), 600);
        assert!(rotated.verify("/agent/calls/CA1", exp, &sig, 1000), "old key still verifies");
        let retired = ScreenPopLinks::new(&Keyring::single(NEW), 600);
        assert!(!retired.verify("/agent/calls/CA1", exp, &sig, 1000), "retired key");
    }
}

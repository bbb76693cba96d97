//! Login sessions without a session store: the cookie holds the user, the
//! role and an expiry, signed with HMAC-SHA256 under a key derived from the
//! state key (as `links.rs` does for links), so any Vouch instance sharing
//! `VOUCH_STATE_SECRET` accepts it and rotating that secret logs everyone out.

use crate::config::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "vouch_session";
/// How long a login lasts: a long shift.
pub const SESSION_TTL_SECS: u64 = 12 * 3600;

/// Whose session a valid cookie is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub exp: u64,
}

#[derive(Clone)]
pub struct SessionSigner {
    /// Derived keys: the first signs, all verify.
    keys: Vec<Vec<u8>>,
}

impl SessionSigner {
    /// `state_keys`: the state-signing keys (first current); must not be empty.
    pub fn new<'a>(state_keys: impl IntoIterator<Item = &'a str>) -> Self {
        let keys = state_keys
            .into_iter()
            .map(|k| {
                let mut mac = Hmac::<Sha256>::new_from_slice(k.as_bytes()).expect("HMAC takes any key length");
                mac.update(b"vouch-session-key-v1");
                mac.finalize().into_bytes().to_vec()
            })
            .collect();
        Self { keys }
    }

    fn mac(key: &[u8], payload: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The cookie value for `user` (a checked name: no `|`), valid until `now + ttl`.
    pub fn issue(&self, user: &str, role: Role, now: u64) -> String {
        let payload = format!("{user}|{}|{}", role.as_str(), now + SESSION_TTL_SECS);
        let sig = Self::mac(&self.keys[0], &payload);
        format!("{}.{}", B64.encode(payload), B64.encode(sig))
    }

    /// The session a cookie value proves, if it is intact and unexpired.
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        let (payload, sig) = value.split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        let sig = B64.decode(sig).ok()?;
        if !self.keys.iter().any(|k| bool::from(Self::mac(k, &payload).as_slice().ct_eq(&sig))) {
            return None;
        }
        let mut parts = payload.split('|');
        let (user, role, exp) = (parts.next()?, parts.next()?, parts.next()?);
        let session = Session { user: user.to_string(), role: Role::parse(role)?, exp: exp.parse().ok()? };
        (parts.next().is_none() && session.exp >= now).then_some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_until_it_expires_and_not_when_altered() {
        let s = SessionSigner::new(["k".repeat(32).as_str()]);
        let cookie = s.issue("ada", Role::Agent, 1000);
        let opened = s.open(&cookie, 1000 + SESSION_TTL_SECS).expect("valid");
        assert_eq!((opened.user.as_str(), opened.role), ("ada", Role::Agent));
        assert_eq!(s.open(&cookie, 1001 + SESSION_TTL_SECS), None, "expired");

        let (_, sig) = cookie.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode(format!("ada|supervisor|{}", 1000 + SESSION_TTL_SECS)));
        assert_eq!(s.open(&forged, 1000), None, "a changed role");
        assert_eq!(s.open("garbage", 1000), None);
        assert_eq!(s.open("a.b.c", 1000), None);
        assert_eq!(SessionSigner::new(["n".repeat(32).as_str()]).open(&cookie, 1000), None, "another key");
        let rotated = SessionSigner::new(["n".repeat(32).as_str(), "k".repeat(32).as_str()]);
        assert!(rotated.open(&cookie, 1000).is_some(), "an old key still verifies");
    }
}

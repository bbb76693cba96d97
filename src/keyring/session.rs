//! Login sessions without a session store: the cookie holds the user, the
//! role and an expiry, signed for [`Purpose::Session`], so any Vouch
//! instance sharing `VOUCH_STATE_SECRET` accepts it and retiring a key logs
//! out everyone whose session it signed.

use super::{expired, expires_at, Keyring, Purpose};
use crate::config::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

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

/// Issues and opens session cookies: `b64(user|role|exp).b64(mac)`.
#[derive(Clone)]
pub struct Sessions {
    ring: Keyring,
}

impl Sessions {
    /// Sessions under `ring`'s keys.
    pub fn new(ring: &Keyring) -> Self {
        Self { ring: ring.clone() }
    }

    /// The cookie value for `user` (a checked name: no `|`), valid until `now + ttl`.
    pub fn issue(&self, user: &str, role: Role, now: u64) -> String {
        let payload = format!("{user}|{}|{}", role.as_str(), expires_at(now, SESSION_TTL_SECS));
        let (_, mac) = self.ring.sign(Purpose::Session, &[payload.as_bytes()]);
        format!("{}.{}", B64.encode(payload), B64.encode(mac))
    }

    /// The session a cookie value proves, if it is intact and unexpired.
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        let (payload, sig) = value.split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        let sig = B64.decode(sig).ok()?;
        self.ring.verify(Purpose::Session, None, &[payload.as_bytes()], &sig).ok()?;
        let mut parts = payload.split('|');
        let (user, role, exp) = (parts.next()?, parts.next()?, parts.next()?);
        let session = Session { user: user.to_string(), role: Role::parse(role)?, exp: exp.parse().ok()? };
        (parts.next().is_none() && !expired(session.exp, now)).then_some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const NEW: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

    #[test]
    fn a_session_opens_until_it_expires_and_not_when_altered() {
        let s = Sessions::new(&Keyring::single(OLD));
        let cookie = s.issue("ada", Role::Agent, 1000);
        let opened = s.open(&cookie, 1000 + SESSION_TTL_SECS).expect("valid");
        assert_eq!((opened.user.as_str(), opened.role), ("ada", Role::Agent));
        assert_eq!(s.open(&cookie, 1001 + SESSION_TTL_SECS), None, "expired");

        let (_, sig) = cookie.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode(format!("ada|supervisor|{}", 1000 + SESSION_TTL_SECS)));
        assert_eq!(s.open(&forged, 1000), None, "a changed role");
        assert_eq!(s.open("garbage", 1000), None);
        assert_eq!(s.open("a.b.c", 1000), None);
        assert_eq!(Sessions::new(&Keyring::single(NEW)).open(&cookie, 1000), None, "another key");
        let rotated = Sessions::new(&Keyring::new([NEW, OLD]).unwrap());
        assert!(rotated.open(&cookie, 1000).is_some(), "an old key still verifies");
    }
}

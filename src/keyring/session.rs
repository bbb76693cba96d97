//! Login session cookies: the cookie holds the user, the role, an expiry,
//! a random session id and a fingerprint of the user's password hash,
//! signed for [`Purpose::Session`], so any Vouch instance sharing
//! `VOUCH_STATE_SECRET` can open it. Opening is not enough to be let in:
//! the session id must also be live in the session store (a logout or a
//! removed user revokes it there, for every instance), and the fingerprint
//! must match the user's current password hash (a changed password ends
//! every session at once).

use super::{expired, expires_at, Keyring, Purpose};
use crate::config::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::RngCore;

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
    /// The session's id in the session store (32 hex digits, random).
    pub id: String,
    /// [`Sessions::fingerprint`] of the password hash the user logged in with.
    pub fingerprint: String,
}

/// Issues and opens session cookies: `b64(user|role|exp|id|fingerprint).b64(mac)`.
#[derive(Clone)]
pub struct Sessions {
    ring: Keyring,
}

/// What a password fingerprint's MAC starts with. No cookie payload has a
/// newline, so a fingerprint is never a cookie's MAC.
const FINGERPRINT: &[u8] = b"password-fingerprint";

/// A new random session id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Sessions under `ring`'s keys.
    pub fn new(ring: &Keyring) -> Self {
        Self { ring: ring.clone() }
    }

    /// A keyed fingerprint of a password hash (its MAC, in hex): it changes
    /// when the password does, and tells nothing about the hash.
    pub fn fingerprint(&self, password_hash: &str) -> String {
        let (_, mac) = self.ring.sign(Purpose::Session, &[FINGERPRINT, password_hash.as_bytes()]);
        hex::encode(mac)
    }

    /// Whether `fingerprint` is of `password_hash`, under any key on the
    /// ring (so prepending a key logs nobody out).
    pub fn fingerprint_matches(&self, fingerprint: &str, password_hash: &str) -> bool {
        let Ok(tag) = hex::decode(fingerprint) else { return false };
        self.ring.verify(Purpose::Session, None, &[FINGERPRINT, password_hash.as_bytes()], &tag).is_ok()
    }

    /// The cookie value for session `id` of `user` (a checked name: no `|`),
    /// valid until `now + ttl`; `fingerprint` of their password hash.
    pub fn issue(&self, user: &str, role: Role, id: &str, fingerprint: &str, now: u64) -> String {
        let exp = expires_at(now, SESSION_TTL_SECS);
        let payload = format!("{user}|{}|{exp}|{id}|{fingerprint}", role.as_str());
        let (_, mac) = self.ring.sign(Purpose::Session, &[payload.as_bytes()]);
        format!("{}.{}", B64.encode(payload), B64.encode(mac))
    }

    /// The session a cookie value proves, if it is intact and unexpired
    /// (whether it is still live is the session store's answer).
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        let (payload, sig) = value.split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        let sig = B64.decode(sig).ok()?;
        self.ring.verify(Purpose::Session, None, &[payload.as_bytes()], &sig).ok()?;
        let mut parts = payload.split('|');
        let (user, role, exp) = (parts.next()?, parts.next()?, parts.next()?);
        let (id, fingerprint) = (parts.next()?, parts.next()?);
        let session = Session {
            user: user.to_string(),
            role: Role::parse(role)?,
            exp: exp.parse().ok()?,
            id: id.to_string(),
            fingerprint: fingerprint.to_string(),
        };
        (parts.next().is_none() && !id.is_empty() && !expired(session.exp, now)).then_some(session)
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
        let (id, fp) = (new_id(), s.fingerprint("$argon2id$hash"));
        let cookie = s.issue("ada", Role::Agent, &id, &fp, 1000);
        let opened = s.open(&cookie, 1000 + SESSION_TTL_SECS).expect("valid");
        assert_eq!((opened.user.as_str(), opened.role), ("ada", Role::Agent));
        assert_eq!((opened.id.as_str(), opened.fingerprint.as_str()), (id.as_str(), fp.as_str()));
        assert_eq!(s.open(&cookie, 1001 + SESSION_TTL_SECS), None, "expired");

        let (_, sig) = cookie.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode(format!("ada|supervisor|{}|{id}|{fp}", 1000 + SESSION_TTL_SECS)));
        assert_eq!(s.open(&forged, 1000), None, "a changed role");
        assert_eq!(s.open("garbage", 1000), None);
        assert_eq!(s.open("a.b.c", 1000), None);
        assert_eq!(Sessions::new(&Keyring::single(NEW)).open(&cookie, 1000), None, "another key");
        let rotated = Sessions::new(&Keyring::new([NEW, OLD]).unwrap());
        assert!(rotated.open(&cookie, 1000).is_some(), "an old key still verifies");
        assert_ne!(new_id(), id, "random ids");
    }

    #[test]
    fn a_cookie_without_a_session_id_is_refused() {
        let s = Sessions::new(&Keyring::single(OLD));
        let payload = format!("ada|agent|{}", 1000 + SESSION_TTL_SECS);
        let (_, mac) = s.ring.sign(Purpose::Session, &[payload.as_bytes()]);
        let old_style = format!("{}.{}", B64.encode(payload), B64.encode(mac));
        assert_eq!(s.open(&old_style, 1000), None, "an earlier build's cookie cannot be revoked, so it is refused");
    }

    #[test]
    fn a_fingerprint_follows_the_password_hash_and_the_key() {
        let s = Sessions::new(&Keyring::single(OLD));
        assert_eq!(s.fingerprint("h1"), s.fingerprint("h1"));
        assert_ne!(s.fingerprint("h1"), s.fingerprint("h2"));
        assert_ne!(s.fingerprint("h1"), Sessions::new(&Keyring::single(NEW)).fingerprint("h1"));
        assert!(s.fingerprint_matches(&s.fingerprint("h1"), "h1"));
        assert!(!s.fingerprint_matches(&s.fingerprint("h1"), "h2"));
        assert!(!s.fingerprint_matches("zz", "h1"));
        let rotated = Sessions::new(&Keyring::new([NEW, OLD]).unwrap());
        assert!(rotated.fingerprint_matches(&s.fingerprint("h1"), "h1"), "made under an older key");
    }
}

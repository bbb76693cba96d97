//! One keyring for every token Vouch signs or seals for itself: flow state
//! in action URLs (sealed: encrypted and authenticated), screen-pop links,
//! login session cookies, and the keyed caller hash of the enumeration
//! counters. All are keyed from `VOUCH_STATE_SECRET`, a
//! list of secrets: the first is current (it signs), every one verifies, so
//! a key is rotated by prepending a new one and retiring the old one once
//! what it signed has expired.
//!
//! Each [`Purpose`] gets its own key and framing, derived exactly as the
//! separate signers the keyring replaced derived theirs, so tokens issued by
//! an earlier build keep working through a rolling deploy
//! (`tests/token_compat.rs` pins those bytes). Each [`Sealing`] purpose gets
//! its own AEAD key (XChaCha20-Poly1305, a random 24-byte nonce per token),
//! derived from each secret like the MAC keys. MAC comparisons (constant
//! time), sealing and the expiry rule live here only; the typed wrappers in
//! the submodules only encode and decode their tokens.

pub mod audit;
pub mod counters;
pub mod flow_state;
pub mod links;
mod purpose;
pub mod session;
#[cfg(test)]
mod tests;

pub use purpose::{Purpose, Sealing};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A MAC: HMAC-SHA256.
pub type Tag = [u8; 32];

/// The random nonce at the head of every sealed token.
pub const NONCE_LEN: usize = 24;
/// The authentication tag at the tail of every sealed token.
pub const TAG_LEN: usize = 16;

/// The keyring was given no secret at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no signing key: VOUCH_STATE_SECRET must hold at least one")]
pub struct NoKeys;

/// Why a MAC was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key id names no key on the ring (issued elsewhere, or retired).
    UnknownKey,
    /// No key on the ring made this MAC over these parts.
    BadSignature,
}

/// One secret, prepared for every purpose.
struct Key {
    /// Names the key inside flow-state tokens: hex of the first 4 bytes of
    /// SHA-256(secret), as tokens have always carried it.
    kid: String,
    /// Per purpose (by [`Purpose::index`]): an HMAC state already keyed and
    /// fed the purpose's framing, cloned for each MAC so no key is derived
    /// again per request.
    prepared: [Hmac<Sha256>; Purpose::ALL.len()],
    /// Per sealing purpose (by [`Sealing::index`]): its AEAD, keyed.
    ciphers: [XChaCha20Poly1305; Sealing::ALL.len()],
}

impl Key {
    fn new(secret: &str) -> Self {
        let kid = hex::encode(&Sha256::digest(secret.as_bytes())[..4]);
        let prepared = Purpose::ALL.map(|p| p.prepare(secret.as_bytes(), &kid));
        let ciphers = Sealing::ALL.map(|p| XChaCha20Poly1305::new(&p.key(secret.as_bytes()).into()));
        Self { kid, prepared, ciphers }
    }

    /// The associated data of a sealed token: the purpose's framing, this
    /// key's id and `parts`, joined by newlines (none of them holds one).
    fn aad(&self, purpose: Sealing, parts: &[&[u8]]) -> Vec<u8> {
        let mut aad = [purpose.framing(), self.kid.as_bytes()].join(&b'\n');
        for part in parts {
            aad.push(b'\n');
            aad.extend_from_slice(part);
        }
        aad
    }

    /// The MAC of `parts`, joined by newlines, after the purpose's framing.
    /// Only the last part of any token may hold a newline (the others are
    /// key ids, base64, decimals or a path's prefix), so the joining is
    /// unambiguous.
    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> Tag {
        let mut mac = self.prepared[purpose.index()].clone();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The signing keys, cheap to clone (shared).
#[derive(Clone)]
pub struct Keyring {
    /// Never empty: the first is current, the last the oldest.
    keys: Arc<[Key]>,
}

impl Keyring {
    /// `secrets`: the first signs, every one verifies.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Result<Self, NoKeys> {
        let keys: Arc<[Key]> = secrets.into_iter().map(Key::new).collect();
        if keys.is_empty() {
            return Err(NoKeys);
        }
        Ok(Self { keys })
    }

    /// A ring of one key, no rotation (tests, tools, a memory-only store).
    pub fn single(secret: &str) -> Self {
        Self { keys: Arc::new([Key::new(secret)]) }
    }

    /// The key that issues for `purpose`: the current one, except for caller
    /// subjects, keyed by the oldest so stored counts survive a rotation.
    fn issuer(&self, purpose: Purpose) -> &Key {
        let i = if purpose.keyed_by_oldest() { self.keys.len() - 1 } else { 0 };
        &self.keys[i]
    }

    /// The MAC of `parts` for `purpose`, and the id of the key that made it.
    pub fn sign(&self, purpose: Purpose, parts: &[&[u8]]) -> (&str, Tag) {
        let key = self.issuer(purpose);
        (&key.kid, key.mac(purpose, parts))
    }

    /// Checks `tag` over `parts` for `purpose`: with the key `kid` names when
    /// the token names one, else with every key on the ring.
    pub fn verify(&self, purpose: Purpose, kid: Option<&str>, parts: &[&[u8]], tag: &[u8]) -> Result<(), Refusal> {
        let matches = |key: &Key| bool::from(key.mac(purpose, parts).as_slice().ct_eq(tag));
        let valid = match kid {
            Some(kid) => matches(self.keys.iter().find(|k| k.kid == kid).ok_or(Refusal::UnknownKey)?),
            None => self.keys.iter().any(matches),
        };
        valid.then_some(()).ok_or(Refusal::BadSignature)
    }
}

impl Keyring {
    /// Seals `plaintext` for `purpose` with the current key: `nonce ||
    /// ciphertext || tag`, bound to `parts` (associated data, not carried),
    /// and the id of the key that sealed it. The nonce is random, so two
    /// seals of the same plaintext never give the same bytes.
    pub fn seal(&self, purpose: Sealing, parts: &[&[u8]], plaintext: &[u8]) -> (&str, Vec<u8>) {
        let key = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::thread_rng());
        let aad = key.aad(purpose, parts);
        let sealed = key.ciphers[purpose.index()]
            .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 seals any plaintext under 256 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        (&key.kid, out)
    }

    /// Opens what [`Keyring::seal`] sealed for `purpose` and `parts` with the
    /// key `kid` names.
    pub fn open(&self, purpose: Sealing, kid: &str, parts: &[&[u8]], sealed: &[u8]) -> Result<Vec<u8>, Refusal> {
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(Refusal::UnknownKey)?;
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Refusal::BadSignature);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = key.aad(purpose, parts);
        key.ciphers[purpose.index()]
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| Refusal::BadSignature)
    }
}

/// When something issued at `now` (Unix seconds) for `ttl_secs` expires.
pub fn expires_at(now: u64, ttl_secs: u64) -> u64 {
    now.saturating_add(ttl_secs)
}

/// Whether something valid until `exp` has expired at `now`. It is still
/// valid during the second `exp` itself, as every token always has been:
/// an old and a new instance must agree on the last second.
pub fn expired(exp: u64, now: u64) -> bool {
    exp < now
}

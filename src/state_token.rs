//! Flow state carried in action URLs, signed so the caller cannot forge it.
//!
//! A token is `kid.payload.mac`: the payload is base64url JSON of the
//! [`FlowState`] and an expiry; the MAC is HMAC-SHA256 over the key id, the
//! payload and the CallSid, so a token is only good for the call it was
//! issued to. Several keys verify (rotation); the first signs. Nothing the
//! caller keys is ever in the state.

use crate::flow::FlowState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state token is malformed")]
    Malformed,
    #[error("state token was signed with a key this server does not have")]
    UnknownKey,
    #[error("state token signature does not match (altered, or issued to another call)")]
    BadSignature,
    #[error("state token has expired")]
    Expired,
}

#[derive(Clone)]
pub struct StateSigner {
    keys: Vec<(String, Vec<u8>)>,
    ttl_secs: u64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Expiry, Unix seconds.
    e: u64,
    #[serde(flatten)]
    state: FlowState,
}

/// Tokens longer than this are refused before any work.
const MAX_TOKEN_LEN: usize = 2048;

impl StateSigner {
    /// `keys`: the first signs, every one verifies. Must not be empty.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>, ttl_secs: u64) -> Self {
        let keys = keys
            .into_iter()
            .map(|k| {
                let kid = hex::encode(&Sha256::digest(k.as_bytes())[..4]);
                (kid, k.as_bytes().to_vec())
            })
            .collect();
        Self { keys, ttl_secs }
    }

    fn mac(key: &[u8], kid: &str, payload: &str, call_sid: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"vouch-state-v1\n");
        mac.update(kid.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        mac.update(b"\n");
        mac.update(call_sid.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Signs `state` for `call_sid`, valid until `now + ttl`.
    pub fn seal(&self, state: &FlowState, call_sid: &str, now: u64) -> String {
        let (kid, key) = &self.keys[0];
        let json = serde_json::to_vec(&Payload { e: now + self.ttl_secs, state: state.clone() })
            .expect("flow state always serializes");
        let payload = B64.encode(json);
        let mac = B64.encode(Self::mac(key, kid, &payload, call_sid));
        format!("{kid}.{payload}.{mac}")
    }

    /// Checks and decodes a token issued to `call_sid`.
    pub fn open(&self, token: &str, call_sid: &str, now: u64) -> Result<FlowState, StateError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(StateError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(kid), Some(payload), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StateError::Malformed);
        };
        let given = B64.decode(mac).map_err(|_| StateError::Malformed)?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == kid).ok_or(StateError::UnknownKey)?;
        let expected = Self::mac(key, kid, payload, call_sid);
        if !bool::from(expected.as_slice().ct_eq(&given)) {
            return Err(StateError::BadSignature);
        }
        let json = B64.decode(payload).map_err(|_| StateError::Malformed)?;
        let p: Payload = serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
        if p.e < now {
            return Err(StateError::Expired);
        }
        Ok(p.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Customer, IdvMethod, Stage};

    const SID: &str = "CA0123456789abcdef0123456789abcdef";

    fn state() -> FlowState {
        FlowState {
            line: "support".into(),
            stage: Stage::Verify,
            identify_attempts: 2,
            verify_attempts: 1,
            customer: Some(Customer { id: "12345678".into(), name: "Zoë & <Sons>".into() }),
            method: IdvMethod::Keyed,
            attestation: crate::flow::Attestation::B,
            lockout: true,
        }
    }

    fn signer() -> StateSigner {
        StateSigner::new(["k".repeat(32).as_str()], 600)
    }

    #[test]
    fn round_trips_for_the_same_call() {
        let t = signer().seal(&state(), SID, 1000);
        assert_eq!(signer().open(&t, SID, 1000), Ok(state()));
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {t}");
    }

    #[test]
    fn refuses_another_call_expiry_and_tampering() {
        let s = signer();
        let t = s.seal(&state(), SID, 1000);
        assert_eq!(s.open(&t, "CA0123456789abcdef0123456789abcdee", 1000), Err(StateError::BadSignature));
        assert_eq!(s.open(&t, SID, 1601), Err(StateError::Expired));
        assert_eq!(s.open(&t, SID, 1600), Ok(state()));
        let mut bytes = t.clone().into_bytes();
        let mid = t.find('.').unwrap() + 3;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open(&String::from_utf8(bytes).unwrap(), SID, 1000), Err(StateError::BadSignature));
        assert_eq!(s.open("x.y", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open("", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open(&"a.".repeat(2000), SID, 1000), Err(StateError::Malformed));
    }

    #[test]
    fn old_keys_still_verify_after_rotation() {
        let old = signer();
        let t = old.seal(&state(), SID, 1000);
        let rotated = StateSigner::new(["n".repeat(32).as_str(), "k".repeat(32).as_str()], 600);
        assert_eq!(rotated.open(&t, SID, 1000), Ok(state()));
        let retired = StateSigner::new(["n".repeat(32).as_str()], 600);
        assert_eq!(retired.open(&t, SID, 1000), Err(StateError::UnknownKey));
    }
}

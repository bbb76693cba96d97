//! Flow state carried in action URLs, signed so the caller cannot forge it.
//!
//! A token is `kid.payload.mac`: the payload is base64url JSON of the
//! [`FlowState`] and an expiry; the MAC ([`Purpose::FlowState`]) covers the
//! key id, the payload and the CallSid, so a token is only good for the call
//! it was issued to, and names the key that checks it. Nothing the caller
//! keys is ever in the state.

use super::{expired, expires_at, Keyring, Purpose, Refusal};
use crate::flow::FlowState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

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

impl From<Refusal> for StateError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::UnknownKey => Self::UnknownKey,
            Refusal::BadSignature => Self::BadSignature,
        }
    }
}

/// Seals and opens flow-state tokens.
#[derive(Clone)]
pub struct FlowStates {
    ring: Keyring,
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

impl FlowStates {
    /// Tokens valid for `ttl_secs`, under `ring`'s keys.
    pub fn new(ring: &Keyring, ttl_secs: u64) -> Self {
        Self { ring: ring.clone(), ttl_secs }
    }

    /// Signs `state` for `call_sid`, valid until `now + ttl`.
    pub fn seal(&self, state: &FlowState, call_sid: &str, now: u64) -> String {
        let json = serde_json::to_vec(&Payload { e: expires_at(now, self.ttl_secs), state: state.clone() })
            .expect("flow state always serializes");
        let payload = B64.encode(json);
        let (kid, mac) = self.ring.sign(Purpose::FlowState, &[payload.as_bytes(), call_sid.as_bytes()]);
        format!("{kid}.{payload}.{}", B64.encode(mac))
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
        self.ring.verify(Purpose::FlowState, Some(kid), &[payload.as_bytes(), call_sid.as_bytes()], &given)?;
        let json = B64.decode(payload).map_err(|_| StateError::Malformed)?;
        let p: Payload = serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
        if expired(p.e, now) {
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
    const OLD: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const NEW: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

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

    fn flow_states(keys: &[&str]) -> FlowStates {
        FlowStates::new(&Keyring::new(keys.iter().copied()).unwrap(), 600)
    }

    #[test]
    fn round_trips_for_the_same_call() {
        let s = flow_states(&[OLD]);
        let t = s.seal(&state(), SID, 1000);
        assert_eq!(s.open(&t, SID, 1000), Ok(state()));
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {t}");
    }

    #[test]
    fn refuses_another_call_expiry_and_tampering() {
        let s = flow_states(&[OLD]);
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
        let t = flow_states(&[OLD]).seal(&state(), SID, 1000);
        assert_eq!(flow_states(&[NEW, OLD]).open(&t, SID, 1000), Ok(state()));
        assert_eq!(flow_states(&[NEW]).open(&t, SID, 1000), Err(StateError::UnknownKey), "retired");
    }
}

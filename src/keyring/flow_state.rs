//! Flow state carried in action URLs, sealed so the caller cannot forge it
//! and nobody who sees the URL (Twilio's request logs, a proxy's log) can
//! read it: it names the customer identified so far.
//!
//! A token is `kid.sealed`: `sealed` is base64url of a random 24-byte nonce,
//! the XChaCha20-Poly1305 ciphertext of the JSON of the [`FlowState`] and an
//! expiry, and the tag ([`Sealing::FlowState`]). The key id and the CallSid
//! are associated data, so a token only opens for the call it was issued
//! to, and names the key that opens it. Every token is unique (the nonce is
//! random): the token string can key a single-use claim. Nothing the caller
//! keys is ever in the state.
//!
//! Upgrades: tokens of the build before, `kid.payload.mac` (readable JSON,
//! signed with [`Purpose::FlowState`]), still open until they expire (a
//! state lives minutes), so calls in progress survive a rolling deploy.
//! Nothing issues them any more ([`FlowStates::seal_signed`] exists for the
//! compatibility test only).

use super::{expired, expires_at, Keyring, Purpose, Refusal, Sealing};
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
    #[error("state token does not open (altered, or issued to another call)")]
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

#[derive(Deserialize)]
struct Payload {
    /// Expiry, Unix seconds.
    e: u64,
    #[serde(flatten)]
    state: FlowState,
}

/// [`Payload`] as it is written: the state borrowed, not copied.
#[derive(Serialize)]
struct PayloadRef<'a> {
    e: u64,
    #[serde(flatten)]
    state: &'a FlowState,
}

/// Tokens longer than this are refused before any work.
const MAX_TOKEN_LEN: usize = 2048;

impl FlowStates {
    /// Tokens valid for `ttl_secs`, under `ring`'s keys.
    pub fn new(ring: &Keyring, ttl_secs: u64) -> Self {
        Self { ring: ring.clone(), ttl_secs }
    }

    fn payload(&self, state: &FlowState, now: u64) -> Vec<u8> {
        serde_json::to_vec(&PayloadRef { e: expires_at(now, self.ttl_secs), state })
            .expect("flow state always serializes")
    }

    /// Seals `state` for `call_sid`, valid until `now + ttl`.
    pub fn seal(&self, state: &FlowState, call_sid: &str, now: u64) -> String {
        let (kid, sealed) = self.ring.seal(Sealing::FlowState, &[call_sid.as_bytes()], &self.payload(state, now));
        format!("{kid}.{}", B64.encode(sealed))
    }

    /// The signed, readable token of the build before (`kid.payload.mac`):
    /// only to show that such tokens still open during an upgrade.
    #[doc(hidden)]
    pub fn seal_signed(&self, state: &FlowState, call_sid: &str, now: u64) -> String {
        let payload = B64.encode(self.payload(state, now));
        let (kid, mac) = self.ring.sign(Purpose::FlowState, &[payload.as_bytes(), call_sid.as_bytes()]);
        format!("{kid}.{payload}.{}", B64.encode(mac))
    }

    /// Checks and decodes a token issued to `call_sid`: a sealed one, or a
    /// signed one from the build before.
    pub fn open(&self, token: &str, call_sid: &str, now: u64) -> Result<FlowState, StateError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(StateError::Malformed);
        }
        let parts: Vec<&str> = token.splitn(4, '.').collect();
        let json = match parts.as_slice() {
            [kid, sealed] => {
                let sealed = B64.decode(sealed).map_err(|_| StateError::Malformed)?;
                self.ring.open(Sealing::FlowState, kid, &[call_sid.as_bytes()], &sealed)?
            }
            [kid, payload, mac] => {
                let given = B64.decode(mac).map_err(|_| StateError::Malformed)?;
                self.ring.verify(Purpose::FlowState, Some(kid), &[payload.as_bytes(), call_sid.as_bytes()], &given)?;
                B64.decode(payload).map_err(|_| StateError::Malformed)?
            }
            _ => return Err(StateError::Malformed),
        };
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
            customer: Some(Customer { id: "12345678".into(), name: "Zoë & <Sons>".into(), attributes: Vec::new() }),
            method: IdvMethod::Keyed,
            attestation: crate::flow::Attestation::B,
            lockout: true,
            caller_id: None,
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
    fn a_customers_attributes_are_never_sealed_into_the_state() {
        let s = flow_states(&[OLD]);
        let mut with = state();
        if let Some(c) = with.customer.as_mut() {
            c.attributes = vec![("tier".into(), "Platinum-Secret-Tier".repeat(20))];
        }
        let t = s.seal(&with, SID, 1000);
        assert_eq!(t.len(), s.seal(&state(), SID, 1000).len(), "no longer than without attributes");
        assert_eq!(s.open(&t, SID, 1000), Ok(state()), "opened without them");
    }

    #[test]
    fn refuses_another_call_expiry_and_tampering() {
        let s = flow_states(&[OLD]);
        let t = s.seal(&state(), SID, 1000);
        assert_eq!(s.open(&t, "CA0123456789abcdef0123456789abcdee", 1000), Err(StateError::BadSignature));
        assert_eq!(s.open(&t, SID, 1601), Err(StateError::Expired));
        assert_eq!(s.open(&t, SID, 1600), Ok(state()));
        for at in [t.find('.').unwrap() + 3, t.len() / 2, t.len() - 2] {
            let mut bytes = t.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            assert_eq!(s.open(&String::from_utf8(bytes).unwrap(), SID, 1000), Err(StateError::BadSignature), "{at}");
        }
        let (kid, _) = t.split_once('.').unwrap();
        assert_eq!(s.open(&format!("{kid}.AAAA"), SID, 1000), Err(StateError::BadSignature), "too short");
        assert_eq!(s.open("x.y", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open("x.AAAA", SID, 1000), Err(StateError::UnknownKey));
        assert_eq!(s.open("x", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open("a.b.c.d", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open("", SID, 1000), Err(StateError::Malformed));
        assert_eq!(s.open(&"a.".repeat(2000), SID, 1000), Err(StateError::Malformed));
    }

    #[test]
    fn a_sealed_token_reads_as_nothing_and_never_repeats() {
        let s = flow_states(&[OLD]);
        let a = s.seal(&state(), SID, 1000);
        let b = s.seal(&state(), SID, 1000);
        assert_ne!(a, b, "a random nonce per token");
        let (_, sealed) = a.split_once('.').unwrap();
        let bytes = B64.decode(sealed).unwrap();
        for needle in ["12345678", "Zo", "support", "verify"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} readable in {a}");
        }
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
    }

    #[test]
    fn a_signed_token_of_the_build_before_still_opens() {
        let s = flow_states(&[OLD]);
        let t = s.seal_signed(&state(), SID, 1000);
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(s.open(&t, SID, 1000), Ok(state()));
        assert_eq!(s.open(&t, "CA0123456789abcdef0123456789abcdee", 1000), Err(StateError::BadSignature));
        assert_eq!(s.open(&t, SID, 1601), Err(StateError::Expired));
    }

    #[test]
    fn old_keys_still_verify_after_rotation() {
        let t = flow_states(&[OLD]).seal(&state(), SID, 1000);
        assert_eq!(flow_states(&[NEW, OLD]).open(&t, SID, 1000), Ok(state()));
        assert_eq!(flow_states(&[NEW]).open(&t, SID, 1000), Err(StateError::UnknownKey), "retired");
    }
}

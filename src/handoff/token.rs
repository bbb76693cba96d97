//! The token on a redirect handoff, which the receiving app reads with any
//! standard JOSE library, so it can trust the context without trusting the
//! caller. `aud` is the service line, `sub` the CallSid, and it expires
//! minutes after the redirect. Two forms, per redirect (`context`):
//!
//! - `encrypted` (the default): a compact JWE, `alg` `dir`, `enc` `A256GCM`,
//!   whose plaintext is the claims' JSON. The key is the SHA-256 of
//!   `VOUCH_HANDOFF_SECRET` (32 bytes); the IV is random. The redirect URL,
//!   which Twilio and every proxy log, then names no customer.
//! - `plain`: a JWT (HS256, keyed by the secret itself) whose claims are
//!   readable, beside the same context in plain query parameters.

use crate::flow::HandoffContext;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `iss` of every token.
pub const ISSUER: &str = "vouch";

/// The protected header of every encrypted token. It names no key: the key
/// is the line's handoff secret.
pub const JWE_HEADER: &str = r#"{"alg":"dir","enc":"A256GCM","typ":"JWT"}"#;

/// Why an encrypted token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("not a compact JWE (dir, A256GCM)")]
    Malformed,
    #[error("does not decrypt with this key (altered, or another key)")]
    Undecryptable,
    #[error("claims are invalid, expired, or for another issuer or line")]
    Claims,
}

/// The claims: the context names from PRODUCT.md and the registered claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffClaims {
    pub customer_id: String,
    pub customer_name: String,
    pub idv_status: String,
    pub idv_method: String,
    pub service_line: String,
    pub opted_out: bool,
    /// STIR/SHAKEN attestation of the caller's number (`A`, `B`, `C`, `failed`, `none`).
    #[serde(default)]
    pub ani_attestation: String,
    /// The customer's verification is locked (too many failures across calls).
    #[serde(default)]
    pub lockout: bool,
    pub iss: String,
    /// The service line the token was issued for.
    pub aud: String,
    /// The CallSid.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

/// Issues (and, for Vouch's own demo app, checks) handoff tokens.
#[derive(Clone)]
pub struct HandoffTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// A256GCM keyed by SHA-256(secret), for encrypted tokens.
    cipher: Aes256Gcm,
    ttl_secs: u64,
}

impl HandoffTokens {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        let key: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            cipher: Aes256Gcm::new(&key.into()),
            ttl_secs,
        }
    }

    fn claims(&self, context: &HandoffContext, call_sid: &str, now: u64) -> HandoffClaims {
        HandoffClaims {
            customer_id: context.customer_id.clone().unwrap_or_default(),
            customer_name: context.customer_name.clone().unwrap_or_default(),
            idv_status: context.idv_status.as_str().to_string(),
            idv_method: context.idv_method.as_str().to_string(),
            service_line: context.service_line.clone(),
            opted_out: context.opted_out,
            ani_attestation: context.ani_attestation.as_str().to_string(),
            lockout: context.lockout,
            iss: ISSUER.to_string(),
            aud: context.service_line.clone(),
            sub: call_sid.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
        }
    }

    /// A signed, readable token (JWT, HS256) for `context` on call
    /// `call_sid`, valid from `now` for the TTL. `None` only if signing
    /// fails, which HS256 over these claims cannot.
    pub fn issue(&self, context: &HandoffContext, call_sid: &str, now: u64) -> Option<String> {
        encode(&Header::new(Algorithm::HS256), &self.claims(context, call_sid, now), &self.encoding)
            .map_err(|e| tracing::error!(error = %e, "could not sign a handoff token"))
            .ok()
    }

    /// An encrypted token (compact JWE, `dir` + `A256GCM`) for `context` on
    /// call `call_sid`, valid from `now` for the TTL:
    /// `header..iv.ciphertext.tag`, the encrypted key empty (`dir`), the
    /// protected header's base64url the associated data.
    pub fn issue_encrypted(&self, context: &HandoffContext, call_sid: &str, now: u64) -> String {
        let plaintext = serde_json::to_vec(&self.claims(context, call_sid, now)).expect("claims serialize");
        let header = B64.encode(JWE_HEADER);
        let iv = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        let sealed = self
            .cipher
            .encrypt(&iv, Payload { msg: &plaintext, aad: header.as_bytes() })
            .expect("AES-GCM encrypts any claims");
        let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
        format!("{header}..{}.{}.{}", B64.encode(iv), B64.encode(ciphertext), B64.encode(tag))
    }

    /// Decrypts an encrypted token and checks it as [`HandoffTokens::verify`]
    /// checks a signed one (Vouch's own demo app reads it so).
    pub fn open_encrypted(&self, token: &str, audience: &str, now: u64) -> Result<HandoffClaims, JweError> {
        let parts: Vec<&str> = token.splitn(6, '.').collect();
        let [header, "", iv, ciphertext, tag] = parts.as_slice() else { return Err(JweError::Malformed) };
        let decode = |part: &str| B64.decode(part).map_err(|_| JweError::Malformed);
        let protected: serde_json::Value = serde_json::from_slice(&decode(header)?).map_err(|_| JweError::Malformed)?;
        if protected["alg"] != "dir" || protected["enc"] != "A256GCM" {
            return Err(JweError::Malformed);
        }
        let iv = decode(iv)?;
        if iv.len() != 12 {
            return Err(JweError::Malformed);
        }
        let mut sealed = decode(ciphertext)?;
        sealed.extend(decode(tag)?);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(&iv), Payload { msg: &sealed, aad: header.as_bytes() })
            .map_err(|_| JweError::Undecryptable)?;
        let claims: HandoffClaims = serde_json::from_slice(&plaintext).map_err(|_| JweError::Claims)?;
        let leeway = 5;
        if claims.iss != ISSUER || claims.aud != audience || claims.exp.saturating_add(leeway) < now {
            return Err(JweError::Claims);
        }
        Ok(claims)
    }

    /// Checks a token for `audience` (a line) against the clock: signature,
    /// algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str, audience: &str) -> Result<HandoffClaims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[audience]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        v.leeway = 5;
        decode::<HandoffClaims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    fn ada() -> HandoffContext {
        HandoffContext::example()
    }

    #[test]
    fn a_token_verifies_for_its_line_only_until_it_expires() {
        let t = HandoffTokens::new(&"k".repeat(32), 300);
        let token = t.issue(&ada(), "CA1", now()).unwrap();
        let c = t.verify(&token, "support").unwrap();
        assert_eq!((c.idv_status.as_str(), c.customer_id.as_str(), c.sub.as_str()), ("verified", "12345678", "CA1"));
        assert_eq!(c.exp - c.iat, 300);
        assert!(t.verify(&token, "sales").is_err(), "another line's audience");
        assert!(HandoffTokens::new(&"x".repeat(32), 300).verify(&token, "support").is_err(), "another key");
        let old = t.issue(&ada(), "CA1", now() - 3600).unwrap();
        assert!(t.verify(&old, "support").is_err(), "expired");
        let mut forged = token.clone();
        forged.replace_range(forged.len() - 4.., "AAAA");
        assert!(t.verify(&forged, "support").is_err(), "altered signature");
    }

    #[test]
    fn an_encrypted_token_opens_for_its_line_only_until_it_expires_and_reads_as_nothing() {
        let t = HandoffTokens::new(&"k".repeat(32), 300);
        let now = now();
        let token = t.issue_encrypted(&ada(), "CA1", now);
        assert_ne!(token, t.issue_encrypted(&ada(), "CA1", now), "a random IV per token");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!((parts.len(), parts[1]), (5, ""), "{token}");
        assert_eq!(B64.decode(parts[0]).unwrap(), JWE_HEADER.as_bytes());
        for part in &parts {
            let bytes = B64.decode(part).unwrap();
            for needle in ["12345678", "Ada", "Lovelace"] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in {token}");
            }
        }
        let c = t.open_encrypted(&token, "support", now).unwrap();
        assert_eq!(
            (c.customer_id.as_str(), c.customer_name.as_str(), c.sub.as_str()),
            ("12345678", "Ada Lovelace", "CA1")
        );
        assert_eq!(t.open_encrypted(&token, "sales", now), Err(JweError::Claims), "another line");
        assert_eq!(t.open_encrypted(&token, "support", now + 306), Err(JweError::Claims), "expired");
        let other = HandoffTokens::new(&"x".repeat(32), 300);
        assert_eq!(other.open_encrypted(&token, "support", now), Err(JweError::Undecryptable), "another key");
        let mut forged = token.clone();
        forged.replace_range(forged.len() - 4.., "AAAA");
        assert_eq!(t.open_encrypted(&forged, "support", now), Err(JweError::Undecryptable), "altered tag");
        assert_eq!(t.open_encrypted("a.b.c", "support", now), Err(JweError::Malformed));
        assert!(t.verify(&token, "support").is_err(), "not a JWT");
    }
}

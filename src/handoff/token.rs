//! The token on a redirect handoff: a JWT (HS256) the receiving app checks
//! with any standard library, so it can trust the context in the query
//! without trusting the caller. `aud` is the service line, `sub` the
//! CallSid, and it expires minutes after the redirect.

use crate::flow::HandoffContext;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `iss` of every token.
pub const ISSUER: &str = "vouch";

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
    ttl_secs: u64,
}

impl HandoffTokens {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl_secs,
        }
    }

    /// A token for `context` on call `call_sid`, valid from `now` for the TTL.
    /// `None` only if signing fails, which HS256 over these claims cannot.
    pub fn issue(&self, context: &HandoffContext, call_sid: &str, now: u64) -> Option<String> {
        let claims = HandoffClaims {
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
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| tracing::error!(error = %e, "could not sign a handoff token"))
            .ok()
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
}

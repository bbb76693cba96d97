//! The stand-in for a customer id in the audit log: a keyed hash
//! ([`Purpose::AuditSubject`]), so the log can say "the same customer" (and
//! a supervisor can look a customer up by id) without holding the id. An
//! erasure therefore leaves no id behind in the log. Keyed by the oldest
//! key on the ring, like caller subjects, so entries stay findable while
//! keys are prepended.

use super::{Keyring, Purpose};

impl Keyring {
    /// The audit log's keyed hash of a customer id: `c_` and the first 16
    /// bytes of its MAC, in hex.
    pub fn customer_hash(&self, customer_id: &str) -> String {
        let (_, mac) = self.sign(Purpose::AuditSubject, &[customer_id.trim().as_bytes()]);
        format!("c_{}", hex::encode(&mac[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::counters::CallerSubjects;

    #[test]
    fn a_customer_hash_is_keyed_stable_and_apart_from_caller_hashes() {
        let ring = Keyring::single("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        let h = ring.customer_hash("12345678");
        assert_eq!(h.len(), 34);
        assert!(!h.contains("12345678"));
        assert_eq!(h, ring.customer_hash("12345678"));
        assert_ne!(h, ring.customer_hash("12345679"));
        assert_ne!(h[2..], CallerSubjects::new(&ring).subject("12345678"));
        assert_ne!(h, Keyring::single("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn").customer_hash("12345678"));
        let rotated = Keyring::new(["nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"]).unwrap();
        assert_eq!(rotated.customer_hash("12345678"), h, "the oldest key keys it");
    }
}

//! The stand-in for a caller's number in the enumeration counters: a keyed
//! hash ([`Purpose::CallerSubject`]), so the counters' database identifies
//! a number without holding it. It is keyed by the oldest key on the ring,
//! which stays put while new keys are prepended, so counts stored under a
//! subject survive a rotation (they are lost only once that key is retired).
//!
//! [`CustomerSubjects`] does the same for customer ids
//! ([`Purpose::CustomerSubject`]): an erasure's audit entry names the
//! customer by it, so the erasure can be shown to have happened without
//! keeping whom it was about.

use super::{Keyring, Purpose};

/// Computes caller subjects.
#[derive(Clone)]
pub struct CallerSubjects {
    ring: Keyring,
}

impl CallerSubjects {
    /// Subjects under `ring`'s oldest key.
    pub fn new(ring: &Keyring) -> Self {
        Self { ring: ring.clone() }
    }

    /// The subject for `number`: the first 16 bytes of its MAC, in hex.
    pub fn subject(&self, number: &str) -> String {
        let (_, mac) = self.ring.sign(Purpose::CallerSubject, &[number.as_bytes()]);
        hex::encode(&mac[..16])
    }
}

/// Computes customer subjects: keyed hashes of customer ids.
#[derive(Clone)]
pub struct CustomerSubjects {
    ring: Keyring,
}

impl CustomerSubjects {
    /// Subjects under `ring`'s oldest key.
    pub fn new(ring: &Keyring) -> Self {
        Self { ring: ring.clone() }
    }

    /// The subject for `customer_id`: the first 16 bytes of its MAC, in hex.
    pub fn subject(&self, customer_id: &str) -> String {
        let (_, mac) = self.ring.sign(Purpose::CustomerSubject, &[customer_id.as_bytes()]);
        hex::encode(&mac[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const NEW: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

    #[test]
    fn a_subject_is_a_keyed_hash_that_survives_a_prepended_key() {
        let subjects = CallerSubjects::new(&Keyring::single(OLD));
        let s = subjects.subject("+15551230001");
        assert_eq!(s.len(), 32);
        assert!(!s.contains("5551230001"));
        assert_eq!(s, subjects.subject("+15551230001"));
        assert_ne!(s, subjects.subject("+15551230002"));
        assert_ne!(s, CallerSubjects::new(&Keyring::single(NEW)).subject("+15551230001"), "another key");
        let rotated = CallerSubjects::new(&Keyring::new([NEW, OLD]).unwrap());
        assert_eq!(rotated.subject("+15551230001"), s, "the oldest key keys it");
    }

    #[test]
    fn a_customer_subject_is_keyed_stable_and_not_a_caller_subject() {
        let ring = Keyring::single(OLD);
        let s = CustomerSubjects::new(&ring).subject("12345678");
        assert_eq!(s.len(), 32);
        assert!(!s.contains("12345678"));
        assert_ne!(s, CallerSubjects::new(&ring).subject("12345678"), "a purpose of its own");
        assert_ne!(s, CustomerSubjects::new(&Keyring::single(NEW)).subject("12345678"), "another key");
        let rotated = CustomerSubjects::new(&Keyring::new([NEW, OLD]).unwrap());
        assert_eq!(rotated.subject("12345678"), s, "the oldest key keys it");
    }
}

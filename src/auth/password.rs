//! Password hashing: Argon2id with the crate's defaults (OWASP's
//! recommended 19 MiB, 2 passes), as PHC strings that carry their own
//! parameters and salt, so stronger settings can be adopted hash by hash.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a password into an Argon2id PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash the password: {e}"))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed one).
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time a real check would, so that an unknown user name takes
/// as long to refuse as a wrong password and cannot be told apart by timing.
pub fn verify_nothing(password: &str) {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$dm91Y2gtZHVtbXktc2FsdA$dBDgl+iTLKeb29HuycS2DSUpTBoJehNj2zziP8Zcmfs";
    let _ = verify(password, DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(h, hash("correct horse battery staple").unwrap(), "salted");
    }
}

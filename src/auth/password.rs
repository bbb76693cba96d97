//! Password hashing: Argon2id with the crate's defaults (OWASP's
//! recommended 19 MiB, 2 passes), as PHC strings that carry their own
//! parameters and salt, so stronger settings can be adopted hash by hash.
//!
//! Checking a password needs its hash's memory (19 MiB). [`verify_with`]
//! takes that memory from the caller, so the login checker's few dedicated
//! threads ([`super::checker`]) reuse the blocks they allocated once,
//! instead of each check allocating (and glibc's per-thread arenas keeping)
//! memory of its own.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// A hash with the default parameters that no password matches: checked
/// for an unknown name, so refusing it takes as long as a wrong password.
pub const DUMMY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dm91Y2gtZHVtbXktc2FsdA$dBDgl+iTLKeb29HuycS2DSUpTBoJehNj2zziP8Zcmfs";

/// Hashes a password into an Argon2id PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash the password: {e}"))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed
/// one), allocating the memory for this one check.
pub fn verify(password: &str, phc: &str) -> bool {
    verify_with(&mut Vec::new(), password, phc)
}

/// Like [`verify`], in `memory`: grown to the hash's size if smaller, and
/// kept by the caller for the next check.
pub fn verify_with(memory: &mut Vec<Block>, password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    hashed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
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

    #[test]
    fn reused_memory_verifies_like_fresh_memory() {
        let h = hash("pw").unwrap();
        let mut memory = Vec::new();
        assert!(verify_with(&mut memory, "pw", &h));
        let size = memory.len();
        assert_eq!(size, 19 * 1024, "19 MiB of 1 KiB blocks");
        assert!(!verify_with(&mut memory, "pW", &h));
        assert!(verify_with(&mut memory, "pw", &h));
        assert!(!verify_with(&mut memory, "pw", DUMMY));
        assert_eq!(memory.len(), size, "kept, not grown");
        // A hash made with other parameters (argon2i, smaller memory).
        let other = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(64, 3, 1, None).unwrap())
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, "pw", &other));
        assert!(!verify_with(&mut memory, "px", &other));
    }
}

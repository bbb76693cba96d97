//! Backoff for failed logins, per client address and per typed name: a few
//! failures in a window are free, then each further failure blocks the
//! address (or name) for a doubling delay, up to a cap. A blocked attempt
//! is answered 429 with `Retry-After` and checks no password, so it neither
//! costs Argon2 time nor counts as another failure.
//!
//! The per-name cap is short on purpose (30 s): someone failing at a real
//! agent's name from many addresses slows that agent down but cannot lock
//! them out, since the name opens again within 30 s. Addresses, which an
//! attacker pays for, get a longer cap (5 min). A success clears both.
//! Counts are per process and in memory (bounded): they slow a guesser
//! down, the cap on concurrent checks ([`super::checker`]) bounds the cost.

use sha2::Digest as _;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How failures turn into a block.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures within the window before the first block.
    pub free: u32,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
    /// The longest block.
    pub cap: Duration,
}

/// Per typed name: 5 free failures, blocks up to 30 s.
pub const BY_NAME: Policy = Policy { free: 5, window: Duration::from_secs(900), cap: Duration::from_secs(30) };
/// Per client address: 10 free failures, blocks up to 5 min.
pub const BY_ADDRESS: Policy = Policy { free: 10, window: Duration::from_secs(900), cap: Duration::from_secs(300) };
/// Names or addresses remembered at most (the oldest are forgotten first).
const MAX_TRACKED: usize = 20_000;

#[derive(Debug, Clone, Copy)]
struct Tally {
    failures: u32,
    last: Instant,
    blocked_until: Instant,
}

/// Failures by key, under one policy.
struct Strikes<K> {
    policy: Policy,
    tallies: Mutex<HashMap<K, Tally>>,
}

impl<K: Hash + Eq + Clone> Strikes<K> {
    fn new(policy: Policy) -> Self {
        Self { policy, tallies: Mutex::new(HashMap::new()) }
    }

    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        tallies.get(key).and_then(|t| t.blocked_until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// Counts a failure; the block it starts, if any.
    fn fail(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        if tallies.len() >= MAX_TRACKED && !tallies.contains_key(key) {
            let window = self.policy.window;
            tallies.retain(|_, t| now.saturating_duration_since(t.last) < window);
            if tallies.len() >= MAX_TRACKED {
                if let Some(oldest) = tallies.iter().min_by_key(|(_, t)| t.last).map(|(k, _)| k.clone()) {
                    tallies.remove(&oldest);
                }
            }
        }
        let t = tallies.entry(key.clone()).or_insert(Tally { failures: 0, last: now, blocked_until: now });
        if now.saturating_duration_since(t.last) >= self.policy.window {
            t.failures = 0;
        }
        t.failures = t.failures.saturating_add(1);
        t.last = now;
        let excess = t.failures.checked_sub(self.policy.free + 1)?;
        let block = Duration::from_secs(1u64 << excess.min(20)).min(self.policy.cap);
        t.blocked_until = now + block;
        Some(block)
    }

    fn clear(&self, key: &K) {
        self.tallies.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The login throttle: per address and per name.
pub struct LoginThrottle {
    /// Keyed by the name's SHA-256: people type passwords into the name field.
    by_name: Strikes<[u8; 32]>,
    by_address: Strikes<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(BY_NAME, BY_ADDRESS)
    }
}

impl LoginThrottle {
    pub fn new(by_name: Policy, by_address: Policy) -> Self {
        Self { by_name: Strikes::new(by_name), by_address: Strikes::new(by_address) }
    }

    /// How long `address` or `name` must still wait, if either is blocked
    /// (the longer of the two).
    pub fn blocked(&self, address: IpAddr, name: &str, now: Instant) -> Option<Duration> {
        let a = self.by_address.blocked(&address, now);
        let n = self.by_name.blocked(&name_key(name), now);
        a.max(n)
    }

    /// Counts a failed login; the block it starts for either, if any.
    pub fn fail(&self, address: IpAddr, name: &str, now: Instant) -> Option<Duration> {
        let a = self.by_address.fail(&address, now);
        let n = self.by_name.fail(&name_key(name), now);
        a.max(n)
    }

    /// A success: both start afresh.
    pub fn succeed(&self, address: IpAddr, name: &str) {
        self.by_address.clear(&address);
        self.by_name.clear(&name_key(name));
    }
}

fn name_key(name: &str) -> [u8; 32] {
    sha2::Sha256::digest(name.as_bytes()).into()
}

/// Whole seconds to wait, at least one (for `Retry-After`).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn failures_past_the_free_ones_block_for_a_doubling_capped_time() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.fail(A, "ada", now), None);
        }
        assert_eq!(t.blocked(A, "ada", now), None);
        assert_eq!(t.fail(A, "ada", now), Some(Duration::from_secs(1)));
        assert_eq!(t.blocked(B, "ada", now), Some(Duration::from_secs(1)), "the name, from anywhere");
        assert_eq!(t.blocked(A, "grace", now), None, "the address is under its own limit");
        let later = now + Duration::from_secs(1);
        assert_eq!(t.blocked(B, "ada", later), None);
        assert_eq!(t.fail(B, "ada", later), Some(Duration::from_secs(2)));
        let mut at = later;
        for _ in 0..10 {
            at += Duration::from_secs(60);
            assert!(t.fail(B, "ada", at).unwrap() <= BY_NAME.cap);
        }
        assert_eq!(t.blocked(B, "ada", at), Some(BY_NAME.cap), "capped: never locked out for longer");
        t.succeed(B, "ada");
        assert_eq!(t.blocked(B, "ada", at), None);
        // The window forgets.
        let fresh = at + BY_NAME.window;
        for _ in 0..5 {
            assert_eq!(t.fail(A, "zoe", fresh), None);
        }
    }

    #[test]
    fn an_address_is_blocked_whatever_names_it_tries() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..10 {
            assert_eq!(t.fail(A, &format!("name{i}"), now), None);
        }
        assert_eq!(t.fail(A, "another", now), Some(Duration::from_secs(1)));
        assert_eq!(t.blocked(A, "ada", now), Some(Duration::from_secs(1)));
        assert_eq!(t.blocked(B, "ada", now), None);
        assert_eq!(retry_after_secs(Duration::from_millis(1200)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}

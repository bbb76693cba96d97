//! What a key is for, and how each purpose's key and MAC framing come from
//! a secret. These bytes are a wire format: tokens, links and cookies issued
//! by one build are opened by the next (rolling deploys, links in Flex
//! tasks, cookies in browsers), and caller hashes are stored. So each
//! derivation is exactly what the signer before the keyring used; changing
//! one means a new `…-v2` label and a deploy that accepts both.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a MAC is for. A MAC made for one purpose never checks for another:
/// each has its own key or its own framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Flow state in Gather action URLs ([`super::flow_state`]).
    FlowState,
    /// Screen-pop links ([`super::links`]).
    ScreenPopLink,
    /// Login session cookies ([`super::session`]).
    Session,
    /// The keyed hash standing in for a caller's number in the enumeration
    /// counters ([`super::counters`]).
    CallerSubject,
    /// The keyed hash standing in for a customer id where only a reference
    /// may be kept: the audit entry of an erasure ([`super::counters`]).
    CustomerSubject,
}

impl Purpose {
    /// Every purpose, in [`Purpose::index`] order.
    pub(super) const ALL: [Self; 5] =
        [Self::FlowState, Self::ScreenPopLink, Self::Session, Self::CallerSubject, Self::CustomerSubject];

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// Caller and customer subjects are keyed by the oldest secret, every
    /// other purpose signs with the current one: a stored hash must not
    /// change when a key is prepended, or the counts (or audit entries)
    /// stored under it would no longer match.
    pub(super) fn keyed_by_oldest(self) -> bool {
        matches!(self, Self::CallerSubject | Self::CustomerSubject)
    }

    /// The HMAC state each MAC for this purpose under `secret` starts from.
    ///
    /// Why each is what it is:
    /// - Flow state was the first signer, from before keys were derived: it
    ///   is keyed by the raw secret and kept apart by its framing, which
    ///   also binds the key id the token names.
    /// - Links and sessions came later and got derived keys,
    ///   HMAC(secret, "vouch-…-key-v1"), so needed no framing. No MAC that
    ///   leaves Vouch (flow-state MACs are in URLs) can be such a key: the
    ///   raw-secret purposes' framings never equal those labels.
    /// - Caller and customer subjects are keyed by the raw (oldest) secret
    ///   with framings of their own, distinct from flow state's and from
    ///   each other's.
    pub(super) fn prepare(self, secret: &[u8], kid: &str) -> Hmac<Sha256> {
        match self {
            Self::FlowState => keyed(secret, &[b"vouch-state-v1\n", kid.as_bytes(), b"\n"]),
            Self::ScreenPopLink => keyed(&derive(secret, b"vouch-link-key-v1"), &[]),
            Self::Session => keyed(&derive(secret, b"vouch-session-key-v1"), &[]),
            Self::CallerSubject => keyed(secret, &[b"vouch-caller-v1\n"]),
            Self::CustomerSubject => keyed(secret, &[b"vouch-customer-v1\n"]),
        }
    }
}

/// HMAC keyed by `key`, already fed `framing`.
fn keyed(key: &[u8], framing: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for bytes in framing {
        mac.update(bytes);
    }
    mac
}

/// A key derived from `secret` for one purpose: HMAC(secret, label).
fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    keyed(secret, &[label]).finalize().into_bytes().into()
}
